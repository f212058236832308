#!/usr/bin/env bash
# The load generator measured against itself, in one run (ratios, not absolutes):
#  1. harness overhead: the device-polling flow at saturation vs bare goose posting the
#     same poll in a loop (examples/bare_goose.rs), same users, same in-process server;
#  2. 10,000 devices polling at interval 5 s: achieved poll rate vs the ideal 2,000/s,
#     peak RSS of the whole process (generator + in-process server), p99.
# Loopback only; every run is bounded by its run time.
#
#   bash benches/load.sh
#   SECONDS_EACH=20 DEVICES=10000 bash benches/load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${SECONDS_EACH:-10}
USERS=${USERS:-256}
DEVICES=${DEVICES:-10000}
DEVICE_SECONDS=${DEVICE_SECONDS:-30}
command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; }
cargo build --release -q --bin oauth-harness --example bare_goose
BIN=target/release/oauth-harness
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== 1. harness overhead: $USERS users, ${SECONDS_EACH}s each =="
bare=$(target/release/examples/bare_goose "$USERS" "$SECONDS_EACH" 2>/dev/null | tail -1)
echo "$bare"
bare_rps=$(echo "$bare" | sed -E 's/.*= ([0-9.]+) req\/s/\1/')
"$BIN" load benches/load/overhead.yaml --users "$USERS" --run-time "${SECONDS_EACH}s" \
  --no-progress --report-dir "$work/overhead" >/dev/null 2>&1 || true
ours_rps=$(jq '([.requests[] | .count] | add) / .duration_s' "$work/overhead/summary.json")
printf 'device-polling profile: %.0f req/s\n' "$ours_rps"
awk -v o="$ours_rps" -v b="$bare_rps" 'BEGIN { printf "ratio: %.0f%% of bare goose (aim >= 85%%)\n", 100*o/b }'

echo "== 2. $DEVICES devices at interval 5 s, ${DEVICE_SECONDS}s after the ramp =="
/usr/bin/time -f '%M' -o "$work/rss" "$BIN" load benches/load/devices-10k.yaml \
  --users "$DEVICES" --increase-rate "$((DEVICES / 5))" --run-time "${DEVICE_SECONDS}s" \
  --no-progress --report-dir "$work/devices" >/dev/null 2>&1 || true
s="$work/devices/summary.json"
# Ideal: device i starts at i/rate and polls every 5 s until the run's end T (ramp +
# run time), so it sends floor((T - i/rate) / 5) polls.
ideal=$(awk -v n="$DEVICES" -v t="$((5 + DEVICE_SECONDS))" 'BEGIN { r = n / 5; s = 0; for (i = 0; i < n; i++) s += int((t - i / r) / 5); print s }')
jq -r --argjson ideal "$ideal" '
  ([.requests | to_entries[] | select(.key | startswith("token")) | .value.count] | add) as $polls
  | "polls: \($polls) in \(.duration_s | . * 10 | round / 10) s; ideal \($ideal) (2,000/s once all have started)",
    "achieved: \(1000 * $polls / $ideal | round / 10)% of ideal",
    "p99 of polls: \(.requests["token: authorization_pending"].p99_us) µs; slow_down answers: \(.outcomes.slow_down // 0); interval violations: \(.outcomes.interval_violation // 0)"
' "$s"
awk '{ printf "peak RSS: %.0f MiB (aim < 1024)\n", $1/1024 }' "$work/rss"

echo "== 3. in-process builtin vs oauth-harness serve in its own process (token-exchange, $USERS users, ${SECONDS_EACH}s) =="
# The same profile three ways: server in-process (generator and server share both cores),
# server as a separate process on both cores, and server pinned to core 0 with the
# generator on core 1 (neither disturbs the other's core).
te() { jq -r '([.requests[] | .count] | add) as $n | "\($n / .duration_s | round) req/s, p99 \(.requests["token: client_credentials"].p99_us) µs (client_credentials)"' "$1"; }
"$BIN" load token-exchange --users "$USERS" --run-time "${SECONDS_EACH}s" --no-progress \
  --report-dir "$work/te-inproc" >/dev/null 2>&1 || true
echo "in-process:              $(te "$work/te-inproc/summary.json")"
PORT=${PORT:-18090}
for mode in shared pinned; do
  srv=(); gen=()
  if [ "$mode" = pinned ]; then srv=(taskset -c 0); gen=(taskset -c 1); fi
  "${srv[@]}" "$BIN" serve --addr "127.0.0.1:$PORT" --test-mode --device-rate-limit 1000000000 >/dev/null 2>&1 &
  spid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/.well-known/oauth-authorization-server" && break; sleep 0.05; done
  OAUTH_HARNESS_TARGET="http://127.0.0.1:$PORT" HARNESS_SECRET_M2M=m2m-secret HARNESS_SECRET_WEB=web-secret \
  HARNESS_SECRET_WEB2=web2-secret HARNESS_SECRET_TV=tv-secret \
    "${gen[@]}" "$BIN" load token-exchange --target fixtures/targets/builtin-process.yaml \
    --users "$USERS" --run-time "${SECONDS_EACH}s" --no-progress --report-dir "$work/te-$mode" >/dev/null 2>&1 || true
  kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true
  printf 'serve process, %-7s  %s\n' "$mode:" "$(te "$work/te-$mode/summary.json")"
done
