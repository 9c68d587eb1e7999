# monlab as a container image: `docker build -t monlab .`, or `docker-compose up` for the
# whole stack (service, Prometheus, Alertmanager, Grafana).
#
# Two stages: the Rust toolchain builds the release binary, and only the binary goes into a
# slim Debian image that runs it as an unprivileged user.

FROM rust:1-bookworm AS build
WORKDIR /src
# The whole context (minus .dockerignore) in one step: Cargo.toml's test and bench targets
# point into the tree, and a dependency-only layer would need dummy sources for all of them.
# The cost is a full rebuild of the dependencies whenever a source file changes.
COPY . .
# build.rs labels monlab_build_info with the git commit, but .git is not in the context:
# pass it in with `--build-arg GIT_COMMIT=$(git rev-parse --short=12 HEAD)` (docker-compose
# forwards GIT_COMMIT from the shell). Without it the label says "unknown".
ARG GIT_COMMIT=""
RUN if [ -n "$GIT_COMMIT" ]; then export MONLAB_GIT_COMMIT="$GIT_COMMIT"; fi \
    && cargo build --release --locked \
    && install -m 0755 target/release/monlab /monlab

FROM debian:bookworm-slim
# Nothing but ca-certificates on top of the base image (the binary needs only libc; the
# certificates are for outgoing TLS, should a subcommand ever talk https).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 monlab \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin monlab
COPY --from=build /monlab /usr/local/bin/monlab
USER 10001:10001
# Inside a container the service must listen on every interface, not the loopback default.
ENV MONLAB_LISTEN=0.0.0.0:8080
EXPOSE 8080
# No HEALTHCHECK: the image has no HTTP client, and every probe would count as traffic in
# monlab_http_requests_total, moving the idle request rate that MonlabHighErrorRatio's
# traffic floor is tuned to. Orchestrators should probe /healthz (live) and /readyz (ready).
ENTRYPOINT ["monlab"]
CMD ["serve"]
