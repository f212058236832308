#!/usr/bin/env bash
# Starts django-oauth-toolkit on 127.0.0.1:$DOT_PORT (default 8765) for the harness:
# a venv with the pinned packages, a fresh SQLite database, the test user and one client
# per harness role, short lifetimes. Secrets are drawn anew for every run and written to
# $DOT_STATE_DIR/env (mode 600), which run.sh and the profile read; nothing is printed.
#
#   examples/targets/django-oauth-toolkit/serve.sh        # foreground; Ctrl-C stops it
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export DOT_STATE_DIR="${DOT_STATE_DIR:-$here/.state}"
export DOT_PORT="${DOT_PORT:-8765}"
venv="${DOT_VENV:-$DOT_STATE_DIR/venv}"
mkdir -p "$DOT_STATE_DIR"

if [ ! -x "$venv/bin/python" ] || ! cmp -s "$here/requirements.txt" "$venv/requirements.txt"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$venv/requirements.txt"
fi

secret() { "$venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(24))'; }
umask 077
{
  echo "export DOT_PORT=$DOT_PORT"
  echo "export DOT_BASE=http://127.0.0.1:$DOT_PORT"
  echo "export DOT_TEST_USER=alice"
  for v in DOT_TEST_PASSWORD DOT_DJANGO_SECRET_KEY DOT_SECRET_TV DOT_SECRET_WEB DOT_SECRET_WEB2 \
           DOT_SECRET_MULTI DOT_SECRET_M2M; do
    echo "export $v=$(secret)"
  done
  # The odd role's secret is fixed by what it tests (characters Basic must encode).
  echo "export DOT_SECRET_ODD='s:e%c r'"
} > "$DOT_STATE_DIR/env"
# shellcheck disable=SC1091
. "$DOT_STATE_DIR/env"

cd "$here"
rm -f "$DOT_STATE_DIR/db.sqlite3"
"$venv/bin/python" manage.py migrate --verbosity 0
"$venv/bin/python" manage.py harness_setup >/dev/null
exec "$venv/bin/python" manage.py runserver "127.0.0.1:$DOT_PORT" --noreload --nothreading 2>>"$DOT_STATE_DIR/server.log"
