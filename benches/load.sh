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
USERS=${USERS:-64}
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
jq -r --argjson devices "$DEVICES" '
  ([.requests | to_entries[] | select(.key | startswith("token")) | .value.count] | add) as $polls
  | (.duration_s) as $d
  # Devices start over 5 s, so on average each runs 2.5 s less than the run.
  | ($devices / 5 * ($d - 2.5)) as $ideal
  | "polls: \($polls) in \($d | . * 10 | round / 10) s; ideal \($ideal | round) (2,000/s once all started)",
    "achieved: \(100 * $polls / $ideal | round)% of ideal",
    "p99 of polls: \(.requests["token: authorization_pending"].p99_us) µs; slow_down answers: \(.outcomes.slow_down // 0); interval violations: \(.outcomes.interval_violation // 0)"
' "$s"
awk '{ printf "peak RSS: %.0f MiB (aim < 1024)\n", $1/1024 }' "$work/rss"
