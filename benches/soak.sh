#!/usr/bin/env bash
# A saturation soak of client_credentials against `serve`: wrk for DURATION (default 10
# minutes) while the server's RSS is sampled every second, then the server must still know
# a token issued before the soak (introspection active, revocation kills it). Fails (exit 5)
# when the RSS ever reaches LIMIT_MIB (default 512). Loopback only, bounded by wrk's -d.
#
#   bash benches/soak.sh                       # 10 minutes, RSS in $OUT/rss.csv
#   DURATION=60s bash benches/soak.sh          # a short one
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10m}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
PORT=${PORT:-18082}
LIMIT_MIB=${LIMIT_MIB:-512}
OUT=${OUT:-target/soak}
BIN=${BIN:-target/release/oauth-harness}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; }
[ "$BIN" != target/release/oauth-harness ] || cargo build --release -q --bin oauth-harness
mkdir -p "$OUT"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

base="http://127.0.0.1:$PORT"
"$BIN" serve --addr "127.0.0.1:$PORT" --test-mode >/dev/null 2>&1 &
pids+=($!); server=$!
for _ in $(seq 100); do curl -s -o /dev/null "$base/.well-known/oauth-authorization-server" && break; sleep 0.05; done

cc() { curl -s -u m2m:m2m-secret -d grant_type=client_credentials -d scope=api "$base/oauth/token" | jq -r .access_token; }
introspect() { curl -s -u web:web-secret --data-urlencode "token=$1" "$base/oauth/introspect" | jq -c '{active, client_id}'; }
before=$(cc)

cat > "$work/cc.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=api"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic bTJtOm0ybS1zZWNyZXQ="
LUA

echo "seconds,rss_kib" > "$OUT/rss.csv"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$work/cc.lua" "$base/oauth/token" > "$work/wrk.txt" &
load=$!
pids+=($load)
start=$SECONDS
while kill -0 "$load" 2>/dev/null; do
  # Elapsed seconds, not a count: under saturation a loop of `sleep 1` takes longer.
  echo "$((SECONDS - start)),$(awk '/VmRSS/ {print $2}' "/proc/$server/status")" >> "$OUT/rss.csv"
  sleep 1
done
wait "$load" || true

rate=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.txt")
total=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
max=$(tail -n +2 "$OUT/rss.csv" | cut -d, -f2 | sort -n | tail -1)
last=$(tail -1 "$OUT/rss.csv" | cut -d, -f2)
echo "client_credentials for $DURATION: $total tokens at $rate req/s"
echo "RSS: max $((max / 1024)) MiB, at the end $((last / 1024)) MiB (limit $LIMIT_MIB MiB; every second in $OUT/rss.csv)"
echo "stats: $(curl -s "$base/_test/stats" | jq -c 'del(.now_ms)')"
echo "a token issued before the soak: $(introspect "$before")"
curl -s -o /dev/null -u m2m:m2m-secret --data-urlencode "token=$before" "$base/oauth/revoke"
echo "after its revocation:          $(introspect "$before")"
after=$(cc)
echo "a token issued after the soak:  $(introspect "$after")"
[ "$(introspect "$before")" = '{"active":false,"client_id":null}' ] || { echo "the revoked token is still active" >&2; exit 4; }
[ "$(introspect "$after" | jq -r .active)" = true ] || { echo "a fresh token is not active" >&2; exit 4; }
if [ "$max" -ge $((LIMIT_MIB * 1024)) ]; then
  echo "RSS reached $((max / 1024)) MiB: over the $LIMIT_MIB MiB limit" >&2
  exit 5
fi
