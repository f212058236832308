#!/usr/bin/env bash
# The conformance suite against panva's oidc-provider 9.13.3 (npm, pinned in
# package-lock.json), a server nobody here wrote, on 127.0.0.1 as server.mjs configures it.
# The suite's roles are registered for the run (RFC 7591), the test user is played in
# oidc-provider's own pages by the form recipes of profile.yaml (no program), and there is
# no protected API. Exits 0 when exactly the deviations in expected-failures.yaml happen —
# no more, no fewer — and with no ERROR; then again held to OAuth 2.1 (`--expect oauth21`,
# with expected-failures-oauth21.yaml as well), and once more demanding DPoP nonces.
#
#   examples/targets/oidc-provider/run.sh [extra `oauth-harness run` arguments]
#
# OAUTH_HARNESS names the binary (default: target/debug/oauth-harness, built if missing);
# OP_PORT the port (default: a free one); reports go to reports/oidc-provider/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../../lib.sh"
# The pinned packages, exactly as the lockfile says.
npm_ci "$here" oidc-provider
if [ -z "${OP_PORT:-}" ]; then
  OP_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
export OP_PORT OP_BASE="http://127.0.0.1:$OP_PORT"
# Where the harness publishes the pkj-uri role's key for oidc-provider to fetch (the
# client's jwks_uri, RFC 7591 §2): another free port on the loopback interface.
OP_JWKS_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export OP_JWKS_BASE="http://127.0.0.1:$OP_JWKS_PORT"
# devInteractions accepts any password; the harness still holds it as a secret.
export OP_TEST_PASSWORD="${OP_TEST_PASSWORD:-harness-password-$RANDOM$RANDOM}"

mkdir -p "$root/reports/oidc-provider"
node "$here/server.mjs" > "$root/reports/oidc-provider/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if curl -sf -o /dev/null "$OP_BASE/.well-known/openid-configuration"; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then
    echo "oidc-provider did not start:" >&2
    cat "$root/reports/oidc-provider/server.log" >&2
    exit 3
  fi
  sleep 0.2
done

status=0
judge_server oidc-provider "$here" "$@" || status=$?

# The same server demanding DPoP nonces (RFC 9449 §8: features.dPoP.nonceSecret and
# requireNonce), declared to the harness with `--dpop-nonce as`: the DPoP scenarios alone
# (expected-failures-dpop-nonce.yaml). Reports in reports/oidc-provider/dpop-nonce/.
kill "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true
OP_DPOP_NONCE=1 node "$here/server.mjs" > "$root/reports/oidc-provider/server-dpop-nonce.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  if curl -sf -o /dev/null "$OP_BASE/.well-known/openid-configuration"; then break; fi
  sleep 0.2
done
cd "$root"
code=0
"$harness" run --target "$here/profile.yaml" --dpop-nonce as \
  --expected-failures "$here/expected-failures-dpop-nonce.yaml" \
  --fail-on-warnings --report-dir reports/oidc-provider/dpop-nonce scenarios/dpop/ || code=$?
if [ "$status" -eq 0 ]; then status=$code; fi
exit "$status"
