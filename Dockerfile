# syntax=docker/dockerfile:1
# oauth-harness in a container: the binary, the shipped scenarios and fixtures, on a
# slim Debian, as a non-root user. Build and smoke-test it with deploy/docker-smoke.sh.
#
#   docker build -t oauth-harness .
#   docker run --rm oauth-harness run                      # the suite against the builtin
#   docker run --rm -v "$PWD/ci:/ci" -e OAUTH_HARNESS_TARGET=https://auth.example \
#       oauth-harness run --target /ci/target.yaml --report-dir /ci/reports
ARG RUST_VERSION=1.95
ARG DEBIAN=trixie

FROM rust:${RUST_VERSION}-slim-${DEBIAN} AS build
WORKDIR /src
COPY . .
# The registry and the target folder are cache mounts: a rebuild compiles only what
# changed. The binary leaves the cache for the next stage.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin oauth-harness \
 && install -D target/release/oauth-harness /out/oauth-harness

FROM debian:${DEBIAN}-slim
# CA certificates for live targets over TLS; nothing else: the binary needs only libc
# and libgcc (TLS is rustls).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --create-home --home-dir /home/harness harness
COPY --from=build /out/oauth-harness /usr/local/bin/oauth-harness
WORKDIR /opt/oauth-harness
# The suite and its fixtures, read-only; `run` finds scenarios/ here. Reports go to
# reports/, the one folder the user owns (mount a volume there to keep them).
COPY scenarios ./scenarios
COPY fixtures ./fixtures
RUN install -d -o harness -g harness /opt/oauth-harness/reports
USER 10001:10001
# In CI mode response snapshots are compared, never written into the read-only suite.
ENV CI=true
ENTRYPOINT ["oauth-harness"]
CMD ["run"]
