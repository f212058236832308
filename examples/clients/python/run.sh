#!/usr/bin/env bash
# Python clients judged by `oauth-harness client` (client.py): Authlib's OAuth2Session in
# the code flow with PKCE on a loopback redirect, and a device loop on oauthlib, each over
# every client scenario (the other flow's are SKIPPED). The packages come from PyPI at the
# versions requirements.txt pins, in a venv of their own (.venv, made on first run).
# Exits 0 when exactly the deviations in expected-failures.yaml happen — no more, no
# fewer — and with no ERROR.
#
#   examples/clients/python/run.sh
#
# OAUTH_HARNESS names the binary (default: target/debug/oauth-harness, built if missing);
# reports go to reports/clients/python-{device,code}/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../../lib.sh"
pip_venv "$here"
judge_client python "$here/expected-failures.yaml" "$here/.venv/bin/python" "$here/client.py"
