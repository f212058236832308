# Sourced by the examples' run.sh scripts (bash, `set -euo pipefail`).
#
#   root      the repository
#   harness   the binary: $OAUTH_HARNESS, else target/debug/oauth-harness (built if missing)
#   npm_ci DIR PACKAGE     the pinned npm packages of DIR, exactly as its lockfile says
#                          (exit 3 without node and npm)
#   pip_venv DIR           DIR/.venv with DIR/requirements.txt's pins (made when stale)
#   judge_server NAME DIR [ARGS…]
#                          `oauth-harness run` against DIR/profile.yaml twice: under the
#                          profile's contract with DIR/expected-failures.yaml, and under
#                          `--expect oauth21` with that file and
#                          DIR/expected-failures-oauth21.yaml; each passes only with
#                          exactly its listed deviations; reports in reports/NAME/ and
#                          reports/NAME/oauth21/; the worse exit status
#   judge_client NAME EXPECTED [--dpop] COMMAND…
#                          `oauth-harness client` over every client scenario, once with
#                          COMMAND device and once with COMMAND code, each passing only
#                          with exactly EXPECTED's deviations; reports in
#                          reports/clients/NAME-{device,code}/; the worse exit status
#                          (--dpop: the client signs DPoP proofs when
#                          OAUTH_HARNESS_DPOP=1, and the DPoP scenarios judge it)
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
harness="${OAUTH_HARNESS:-}"
if [ -z "$harness" ]; then
  (cd "$root" && cargo build --quiet --bin oauth-harness)
  harness="$root/target/debug/oauth-harness"
fi

npm_ci() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "$2 needs node and npm (apt-get install nodejs npm)" >&2
    exit 3
  fi
  if [ ! -f "$1/node_modules/$2/package.json" ]; then
    (cd "$1" && npm ci --no-audit --no-fund --silent)
  fi
}

pip_venv() {
  local venv="$1/.venv"
  if [ ! -x "$venv/bin/python" ] || ! cmp -s "$1/requirements.txt" "$venv/requirements.txt"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$1/requirements.txt"
    cp "$1/requirements.txt" "$venv/requirements.txt"
  fi
}

judge_server() {
  local name="$1" dir="$2" status=0 code
  shift 2
  cd "$root"
  "$harness" run --target "$dir/profile.yaml" \
    --expected-failures "$dir/expected-failures.yaml" \
    --fail-on-warnings --report-dir "reports/$name" "$@" || status=$?
  # The same server held to OAuth 2.1 (draft-ietf-oauth-v2-1-16, matrix §22): its
  # deviations from the draft are listed apart, each pinned on the draft's sentence; those
  # from the RFCs stand (a row OAuth 2.1 does not apply is not held against the list).
  code=0
  "$harness" run --target "$dir/profile.yaml" --expect oauth21 \
    --expected-failures "$dir/expected-failures.yaml" \
    --expected-failures "$dir/expected-failures-oauth21.yaml" \
    --fail-on-warnings --report-dir "reports/$name/oauth21" "$@" || code=$?
  if [ "$status" -eq 0 ]; then status=$code; fi
  return "$status"
}

judge_client() {
  local name="$1" expected="$2" status=0 flow dpop=()
  shift 2
  if [ "${1:-}" = --dpop ]; then
    dpop=(--dpop)
    shift
  fi
  for flow in device code; do
    (cd "$root" && "$harness" client "${dpop[@]}" \
      --expected-failures "$expected" \
      --fail-on-warnings \
      --report-dir "reports/clients/$name-$flow" \
      -- "$@" "$flow") || status=$?
  done
  return "$status"
}
