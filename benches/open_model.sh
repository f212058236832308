#!/usr/bin/env bash
# The open model measured (issue #19), in one run:
#  1. token-grants flows at RATE arrivals/s against `oauth-harness serve` in its own
#     process (a live target through fixtures/targets/builtin-process.yaml): achieved
#     rate against intended (aim: within 2%), dropped arrivals, start lag, p99;
#  2. the same server model stalled: scenarios/load/stall-open.yaml and stall-closed.yaml
#     against the in-process builtin, whose token endpoint pauses 2 s mid-run: the open
#     model's p99 shows the pause, the closed model's hides it.
# Loopback only; every run is bounded by its run time.
#
#   bash benches/open_model.sh
#   RATE=2000 SECONDS_EACH=30 bash benches/open_model.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${RATE:-2000}
SECONDS_EACH=${SECONDS_EACH:-30}
PORT=${PORT:-18431}
command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; }
cargo build --release -q --bin oauth-harness
BIN=target/release/oauth-harness
work=$(mktemp -d)
"$BIN" serve --addr "127.0.0.1:$PORT" --test-mode >/dev/null 2>&1 &
srv=$!
trap 'kill $srv 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/.well-known/oauth-authorization-server" && break; sleep 0.05; done
export OAUTH_HARNESS_TARGET="http://127.0.0.1:$PORT"
export HARNESS_SECRET_TV=tv-secret HARNESS_SECRET_WEB=web-secret HARNESS_SECRET_WEB2=web2-secret \
  HARNESS_SECRET_MULTI=multi-secret HARNESS_SECRET_M2M=m2m-secret HARNESS_SECRET_ODD='s:e%c r' \
  HARNESS_USER_PASSWORD=alice-password

echo "== 1. token-grants at $RATE flows/s for ${SECONDS_EACH}s against serve (its own process) =="
"$BIN" load token-grants --target fixtures/targets/builtin-process.yaml \
  --arrival-rate "$RATE/s" --run-time "${SECONDS_EACH}s" --no-progress \
  --report-dir "$work/rate" >/dev/null 2>&1 || true
jq -r '.arrivals as $a
  | "intended \($a.intended_rate | . * 10 | round / 10)/s, achieved \($a.achieved_rate | . * 10 | round / 10)/s: \(100 * $a.achieved_rate / $a.intended_rate | . * 100 | round / 100)% (aim >= 98%)",
    "started \($a.started) of \($a.intended) due, dropped \($a.dropped), in flight at most \($a.peak_in_flight)",
    "start lag p50 \($a.start_lag.p50_us) µs, p99 \($a.start_lag.p99_us) µs, max \($a.start_lag.max_us) µs",
    "requests \([.requests[] | .count] | add) at \(([.requests[] | .count] | add) / .duration_s | round)/s; p99 token: authorization_code \(.requests["token: authorization_code"].p99_us) µs, consent (the hook's requests to the server) \((.requests["authorize"] // .requests["consent hook"]).p99_us) µs"
' "$work/rate/summary.json"

echo "== 2. a 2 s stall of the token endpoint, open model vs closed model (in-process builtin) =="
for m in open closed; do
  "$BIN" load "scenarios/load/stall-$m.yaml" --no-progress --report-dir "$work/stall-$m" >/dev/null 2>&1 || true
  jq -r --arg m "$m" '
    ([.requests | to_entries[] | select(.key | startswith("token")) | .value]) as $t
    | "\($m): \([$t[] | .count] | add) token requests; p50 \([$t[] | .p50_us] | max) µs, p99 \([$t[] | .p99_us] | max) µs, max \([$t[] | .max_us] | max) µs"
  ' "$work/stall-$m/summary.json"
done
