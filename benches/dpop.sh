#!/usr/bin/env bash
# What DPoP (RFC 9449) costs, as ratios measured in one run (these machines are noisy):
#  1. the reference server: client_credentials with a proof to verify and a token to bind,
#     against Bearer, in one process, proofs signed before each DPoP round
#     (examples/dpop_bench.rs; aim: DPoP >= 50% of Bearer);
#  2. the load generator signing an ES256 proof per request (`dpop: true`) against
#     `serve` in its own process, against the same profile without, with the generator's
#     and the server's CPU seconds (aim: >= 85% of the Bearer rate; the signing is not the
#     bottleneck when the generator's CPU share stays below the server's); and once more
#     against a `serve` that does not verify proofs (`--fault dpop-skip-signature`), so
#     that the server's ES256 verification is out of the way and what is left of the
#     difference is the generator's signing.
# Loopback only; every run is bounded by its run time.
#
#   bash benches/dpop.sh
#   SECONDS_EACH=20 CONNECTIONS=64 bash benches/dpop.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${SECONDS_EACH:-10}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-2}
PORT=${PORT:-18095}
command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; }
cargo build --release -q --bin oauth-harness --example dpop_bench
BIN=target/release/oauth-harness
work=$(mktemp -d)
spid=
cleanup() { for p in "$spid" "${upid:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT

echo "== 1. the reference server: client_credentials, DPoP vs Bearer =="
target/release/examples/dpop_bench "$SECONDS_EACH" "$CONNECTIONS" "$ROUNDS"

echo "== 2. the load generator: a proof signed per request vs none, against serve =="
"$BIN" serve --addr "127.0.0.1:$PORT" --test-mode >/dev/null 2>&1 &
spid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/.well-known/oauth-authorization-server" && break; sleep 0.05; done
ticks=$(getconf CLK_TCK)
cpu_of() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# The same server without verifying proofs (a fault switch), beside the first.
"$BIN" serve --addr "127.0.0.1:$((PORT + 1))" --test-mode --fault dpop-skip-signature >/dev/null 2>&1 &
upid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$((PORT + 1))/.well-known/oauth-authorization-server" && break; sleep 0.05; done
for side in bearer dpop dpop-unverified; do
  profile=$side port=$PORT pid=$spid
  if [ "$side" = dpop-unverified ]; then profile=dpop port=$((PORT + 1)) pid=$upid; fi
  s0=$(cpu_of "$pid")
  # The generator's CPU: the children's user + system seconds that bash's `times` reports.
  gen=$(OAUTH_HARNESS_TARGET="http://127.0.0.1:$port" HARNESS_SECRET_M2M=m2m-secret HARNESS_SECRET_WEB=web-secret \
        HARNESS_SECRET_WEB2=web2-secret HARNESS_SECRET_TV=tv-secret HARNESS_SECRET_PARC=parc-secret \
        HARNESS_SECRET_CSJ=csj-secret-0123456789abcdef0123456789abcdef HARNESS_SECRET_MULTI=multi-secret \
        HARNESS_SECRET_ODD='s:e%c r' HARNESS_USER_PASSWORD=alice-password \
        bash -c "\"$BIN\" load benches/load/cc-$profile.yaml --target fixtures/targets/builtin-process.yaml \
          --run-time ${SECONDS_EACH}s --no-progress --report-dir \"$work/$side\" >/dev/null 2>&1; times" | tail -1 |
        awk '{ split($1, u, "m"); split($2, s, "m"); sub("s", "", u[2]); sub("s", "", s[2]); print u[1] * 60 + u[2] + s[1] * 60 + s[2] }')
  s1=$(cpu_of "$pid")
  rate=$(jq '.requests["token: client_credentials"].count / .duration_s' "$work/$side/summary.json")
  failed=$(jq '.outcomes.client_credentials_failed // 0' "$work/$side/summary.json")
  server=$(awk -v a="$s0" -v b="$s1" -v t="$ticks" 'BEGIN { print (b - a) / t }')
  printf '%-16s %8.0f tokens/s (%s failed); CPU: generator %.1f s, server %.1f s\n' "$side" "$rate" "$failed" "$gen" "$server"
  echo "$rate" > "$work/$side.rate"
done
kill "$upid" 2>/dev/null || true
awk -v d="$(cat "$work/dpop.rate")" -v u="$(cat "$work/dpop-unverified.rate")" -v b="$(cat "$work/bearer.rate")" \
  'BEGIN { printf "generator with DPoP / without: %.0f%% against a verifying server, %.0f%% against one that does not verify (aim >= 85%%)\n", 100 * d / b, 100 * u / b }'
