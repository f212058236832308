#!/usr/bin/env bash
# The conformance suite against a real server nobody here wrote: django-oauth-toolkit
# 3.4.1 on oauthlib 3.3.1, started on 127.0.0.1 by serve.sh (a venv with the pinned
# packages, a fresh database, the harness's client roles, short lifetimes). Exits 0 when
# exactly the deviations in expected-failures.yaml happen — no more (a new deviation, or a
# false verdict of the harness's), no fewer (a fixed one) — and with no ERROR; then again
# held to OAuth 2.1 (`--expect oauth21`, with expected-failures-oauth21.yaml as well);
# then restarted with a reuse window for rotated refresh tokens, declared with
# `--rt-reuse grace:3` (expected-failures-grace.yaml).
#
#   examples/targets/django-oauth-toolkit/run.sh [extra `oauth-harness run` arguments]
#
# OAUTH_HARNESS names the binary (default: target/debug/oauth-harness, built if missing);
# DOT_PORT the port (default: a free one); reports go to reports/django-oauth-toolkit/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../../lib.sh"
export DOT_STATE_DIR="${DOT_STATE_DIR:-$here/.state}"
mkdir -p "$DOT_STATE_DIR"

if [ -z "${DOT_PORT:-}" ]; then
  DOT_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
export DOT_PORT

server=
trap 'kill "$server" 2>/dev/null; pkill -f "manage.py runserver 127.0.0.1:$DOT_PORT" 2>/dev/null || true' EXIT

# Starts serve.sh (a fresh database and fresh secrets) and waits until it answers; the
# first start installs the venv: give it time, but not for ever.
start_dot() {
  "$here/serve.sh" > "$DOT_STATE_DIR/serve.out" 2>&1 &
  server=$!
  local metadata="http://127.0.0.1:$DOT_PORT/.well-known/oauth-authorization-server/o"
  for _ in $(seq 1 600); do
    if curl -sf -o /dev/null "$metadata"; then break; fi
    if ! kill -0 "$server" 2>/dev/null; then
      echo "django-oauth-toolkit did not start:" >&2
      cat "$DOT_STATE_DIR/serve.out" "$DOT_STATE_DIR/server.log" >&2 2>/dev/null || true
      exit 3
    fi
    sleep 0.5
  done
  curl -sf -o /dev/null "$metadata" || { echo "django-oauth-toolkit did not answer at $metadata" >&2; exit 3; }
  # shellcheck disable=SC1091
  . "$DOT_STATE_DIR/env"
}

start_dot
status=0
judge_server django-oauth-toolkit "$here" "$@" || status=$?

# The same server with a reuse window for rotated refresh tokens (DOT's
# REFRESH_TOKEN_GRACE_PERIOD_SECONDS, 3 s), declared to the harness: the window's own rows
# (RACE-5…8), and the rotation scenario, whose REF-9 the window breaks by design
# (expected-failures-grace.yaml). Reports in reports/django-oauth-toolkit/grace/.
kill "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true
export DOT_REFRESH_GRACE=3
start_dot
cd "$root"
code=0
"$harness" run --target "$here/profile.yaml" --rt-reuse grace:3 \
  --expected-failures "$here/expected-failures-grace.yaml" \
  --fail-on-warnings --report-dir reports/django-oauth-toolkit/grace \
  scenarios/race/refresh_grace_fork.yaml scenarios/race/refresh_grace_benign.yaml \
  scenarios/race/refresh_grace_window.yaml scenarios/race/refresh_grace_generations.yaml \
  scenarios/token/refresh.yaml || code=$?
if [ "$status" -eq 0 ]; then status=$code; fi
exit "$status"
