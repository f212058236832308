#!/usr/bin/env bash
# The `oauth2` crate 5.0 judged by `oauth-harness client`: its device flow and its code
# flow with PKCE on a loopback redirect, as examples/oauth2_client/main.rs writes them from
# the crate's documentation, each over every client scenario (the other flow's are
# SKIPPED). Exits 0 when exactly the deviations in expected-failures.yaml happen — no
# more, no fewer — and with no ERROR.
#
#   examples/clients/oauth2-crate/run.sh
#
# OAUTH_HARNESS names the binary (default: target/debug/oauth-harness, built if missing);
# the example is built with cargo when missing; reports go to
# reports/clients/oauth2-crate-{device,code}/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../../lib.sh"
example="$root/target/debug/examples/oauth2_client"
if [ ! -x "$example" ]; then
  (cd "$root" && cargo build --quiet --example oauth2_client)
fi
judge_client oauth2-crate "$here/expected-failures.yaml" "$example"
