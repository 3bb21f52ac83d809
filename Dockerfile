# syntax=docker/dockerfile:1
# One image for every role: `docker run IMAGE dispatcher|worker|aggregator|migrate|sim|...`.
#
#   docker build -t netraven:0.1.0 .   # the version the deploy files reference (never latest)
#
# Build stage: the workspace, compiled once with the locked dependency versions.
FROM rust:1.92-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p netraven-cli \
 && install -D -m 0755 target/release/netraven /out/netraven

# Runtime stage: Debian slim, CA certificates (TLS to Postgres/RabbitMQ), git (for
# `netraven export git`, which drives git fast-import), no toolchain,
# a non-root user with a fixed uid (Kubernetes runAsNonRoot checks it numerically).
# /keys and /fleet belong to it so that named volumes mounted there are writable.
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 netraven \
 && useradd --system --uid 10001 --gid netraven --home-dir /var/lib/netraven --create-home \
      --shell /usr/sbin/nologin netraven \
 && install -d -o netraven -g netraven /keys /fleet
COPY --from=build /out/netraven /usr/local/bin/netraven
# Metrics listen on every interface inside a container; the defaults are loopback only.
ENV NETRAVEN__DISPATCHER__METRICS_ADDR=0.0.0.0:9464 \
    NETRAVEN__WORKER__METRICS_ADDR=0.0.0.0:9465 \
    NETRAVEN__AGGREGATOR__METRICS_ADDR=0.0.0.0:9466 \
    NETRAVEN__LOG__FORMAT=json
USER 10001:10001
WORKDIR /var/lib/netraven
EXPOSE 9464 9465 9466
# SIGTERM drains a role (stop consuming, finish in-flight within the grace, exit 0).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/netraven"]
CMD ["--help"]
