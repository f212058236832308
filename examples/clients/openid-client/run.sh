#!/usr/bin/env bash
# openid-client 6.9.1 (npm, pinned in package-lock.json) judged by `oauth-harness client`:
# its device flow and its code flow with PKCE on a loopback redirect (client.mjs), each
# over every client scenario (the other flow's are SKIPPED). Exits 0 when exactly the
# deviations in expected-failures.yaml happen — no more, no fewer — and with no ERROR.
#
#   examples/clients/openid-client/run.sh
#
# OAUTH_HARNESS names the binary (default: target/debug/oauth-harness, built if missing);
# reports go to reports/clients/openid-client-{device,code}/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../../lib.sh"
npm_ci "$here" openid-client
judge_client openid-client "$here/expected-failures.yaml" --dpop node "$here/client.mjs"
