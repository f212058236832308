#!/usr/bin/env bash
# Throughput and latency of the reference server's token endpoint under wrk, side by side
# with a trivial axum handler in the same run, and the memory held by outstanding device
# codes. Loopback only; every load is bounded by wrk's -d.
#
#   bash benches/token_endpoint.sh            # defaults: -t2 -c32 -d10s
#   DURATION=30s CONNECTIONS=64 bash benches/token_endpoint.sh
#   PIN=1 bash benches/token_endpoint.sh      # servers on core 0, wrk (-t1) on core 1:
#                                             # latency without the generator in the way
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
PORT_OURS=${PORT_OURS:-18080}
PORT_TRIVIAL=${PORT_TRIVIAL:-18081}
PIN=${PIN:-0}
SERVER_CPU=()
LOAD_CPU=()
if [ "$PIN" = 1 ]; then
  SERVER_CPU=(taskset -c 0)
  LOAD_CPU=(taskset -c 1)
  THREADS=1
fi

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; }
# BIN=path measures another build of the server (e.g. before and after a change, one
# after the other in the same session); the trivial handler is built once.
TRIVIAL=target/release/examples/trivial_server
if [ -z "${BIN:-}" ]; then
  cargo build --release -q --bin oauth-harness --example trivial_server
elif [ ! -x "$TRIVIAL" ]; then
  cargo build --release -q --example trivial_server
fi
BIN=${BIN:-target/release/oauth-harness}

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

wait_up() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done; echo "server at $1 did not start" >&2; exit 3; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# Polls must come at least `interval` apart per device code to be answered
# authorization_pending rather than slow_down: a 1-second interval and more codes than
# wrk can poll in a second. Everything else is the builtin fixture.
sed -e 's/^  device_interval: .*/  device_interval: 1/' -e 's/^  device_code_ttl: .*/  device_code_ttl: 86400/' \
    fixtures/clients.yaml > "$work/clients.yaml"
"${SERVER_CPU[@]}" "$BIN" serve --addr "127.0.0.1:$PORT_OURS" --test-mode --clients "$work/clients.yaml" >/dev/null 2>&1 &
pids+=($!); ours=$!
"${SERVER_CPU[@]}" "$TRIVIAL" "127.0.0.1:$PORT_TRIVIAL" >/dev/null 2>&1 &
pids+=($!)
wait_up "http://127.0.0.1:$PORT_OURS/.well-known/oauth-authorization-server"
wait_up "http://127.0.0.1:$PORT_TRIVIAL/"

# Memory: RSS before and after 100,000 outstanding device codes (created without echoing
# them back, so the reply's own JSON does not count), then 300,000 codes for the poll run.
rss0=$(rss_kib "$ours")
curl -s -X POST "http://127.0.0.1:$PORT_OURS/_test/device/bulk" -H 'Content-Type: application/json' \
  -d '{"client_id":"noorle-cli","count":100000,"return_codes":false}' >/dev/null
rss1=$(rss_kib "$ours")
curl -s -X POST "http://127.0.0.1:$PORT_OURS/_test/device/bulk" -H 'Content-Type: application/json' \
  -d '{"client_id":"noorle-cli","count":300000}' | jq -r '.devices[].device_code' > "$work/codes"

# Each wrk thread formats its share of the polls once, before the run: formatting every
# request in Lua while the run goes (wrk.format per request) took enough CPU from the
# shared cores to cost the server ~15% of its rate and push the poll's p99 past 2 ms.
cat > "$work/poll.lua" <<'LUA'
local requests = {}
local n = 0
local threads = 0
function setup(thread) thread:set("id", threads); threads = threads + 1 end
function init(args)
  local step = tonumber(os.getenv("THREADS"))
  local i = 0
  for code in io.lines(os.getenv("CODES")) do
    if i % step == id then
      requests[#requests + 1] = wrk.format("POST", "/oauth/token",
        {["Content-Type"] = "application/x-www-form-urlencoded"},
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=noorle-cli&device_code=" .. code)
    end
    i = i + 1
  end
end
function request()
  n = n % #requests + 1
  return requests[n]
end
LUA
cat > "$work/cc.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=api"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic bTJtOm0ybS1zZWNyZXQ="
LUA
cat > "$work/trivial.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=api"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA

bench() { # name url script
  local out rate p99
  out=$(CODES="$work/codes" THREADS=$THREADS "${LOAD_CPU[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$3" "$2")
  rate=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  printf '%-32s %12s req/s   p99 %8s   non-2xx %s\n' "$1" "$rate" "$p99" "${non2xx:-0}"
  echo "$rate" > "$work/$1.rate"
}

echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $(nproc) cores, loopback, pinned: $PIN"
bench trivial "http://127.0.0.1:$PORT_TRIVIAL/" "$work/trivial.lua"
bench pending_poll "http://127.0.0.1:$PORT_OURS/oauth/token" "$work/poll.lua"
bench client_credentials "http://127.0.0.1:$PORT_OURS/oauth/token" "$work/cc.lua"
bench trivial_again "http://127.0.0.1:$PORT_TRIVIAL/" "$work/trivial.lua"

audit=$(curl -s "http://127.0.0.1:$PORT_OURS/_test/audit")
polls=$(jq '.clients["noorle-cli"].polls' <<<"$audit")
early=$(jq '.clients["noorle-cli"].early_polls' <<<"$audit")
base=$(awk '{s+=$1} END {print s/NR}' "$work/trivial.rate" "$work/trivial_again.rate")
ratio() { awk -v a="$(cat "$work/$1.rate")" -v b="$base" 'BEGIN {printf "%.0f%%", 100*a/b}'; }
echo
echo "pending poll:       $(ratio pending_poll) of the trivial handler (mean of the two trivial runs)"
echo "client_credentials: $(ratio client_credentials) of the trivial handler"
echo "polls answered slow_down instead of authorization_pending: $early of $polls (must be 0)"
echo "memory: RSS $((rss0/1024)) MiB empty, $((rss1/1024)) MiB with 100,000 outstanding device codes (+$(((rss1-rss0)/1024)) MiB)"
