#!/usr/bin/env bash
# Builds the image from the Dockerfile and smoke-tests it: the version, the conformance
# suite against the built-in server (exit 0, reports written as the non-root user), a
# bad path (exit 1), a bad scenario (exit 2), and the user it runs as (not root).
# Where no Docker engine answers it says so and exits 0 without building.
#
#   deploy/docker-smoke.sh            # TAG=oauth-harness:smoke by default
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
  echo "skipped: no Docker engine answers here (\`docker info\` fails); the image was not built" >&2
  exit 0
fi
tag=${TAG:-oauth-harness:smoke}
docker build -t "$tag" .
fail() { echo "docker smoke test failed: $*" >&2; exit 1; }
expect() { # expect CODE -- docker run args...
  local want=$1; shift 2
  set +e; docker run --rm "$@"; local got=$?; set -e
  [ "$got" = "$want" ] || fail "docker run $* exited $got, expected $want"
}
docker run --rm "$tag" --version
uid=$(docker run --rm --entrypoint id "$tag" -u)
[ "$uid" != 0 ] || fail "the image runs as root"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 777 "$work"
expect 0 -- -v "$work:/opt/oauth-harness/reports" "$tag" run
[ -s "$work/junit.xml" ] || fail "no junit.xml written"
expect 1 -- "$tag" run /no/such/folder
printf 'name: broken\nsteps: 3\n' > "$work/bad.yaml"
expect 2 -- -v "$work:/w:ro" "$tag" run /w/bad.yaml
echo "docker smoke test passed: $tag (uid $uid)"
