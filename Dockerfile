# kakao-webhooks: build the binary, run it from a small image as a non-root user.
#
# BuildKit's cache mounts keep cargo's registry and target folder between
# builds, so a source edit recompiles this crate only, and adding a bench,
# example or test never breaks the build (no dummy manifest to keep in step).

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,id=kakao-webhooks-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=kakao-webhooks-target,target=/src/target \
    cargo build --release --locked --bin kakao-webhooks \
    && cp target/release/kakao-webhooks /usr/local/bin/kakao-webhooks

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
    && useradd --system --uid 10001 --home-dir /data kakao \
    && mkdir -p /data && chown kakao /data
COPY --from=build /usr/local/bin/kakao-webhooks /usr/local/bin/kakao-webhooks
USER kakao
WORKDIR /data
# Closed by default: Kakao's webhooks on 8080, the app's API, the console
# and /metrics on 9090 (publish it only to your app's network). The server
# refuses to start until SKILL_SECRET (or SKILL_ALLOW_ANY_CALLER=true) is
# set, and an INTERNAL_API_TOKEN must be at least 32 characters.
ENV BIND_ADDR=0.0.0.0:8080 \
    INTERNAL_BIND_ADDR=0.0.0.0:9090 \
    DATABASE_URL=sqlite:///data/kakao-webhooks.db \
    LOG_FORMAT=json
# No transparent huge pages for the allocator, also on hosts that give them to
# every process ("always"): a 2 MiB page per arena region held 20 MiB more at
# idle (BENCHMARKS.md, issue 17, seventh session).
ENV MIMALLOC_ALLOW_THP=0
VOLUME ["/data"]
EXPOSE 8080 9090
# No curl in the image: the binary asks its own /health.
HEALTHCHECK --interval=10s --timeout=4s --start-period=10s --retries=3 \
    CMD ["kakao-webhooks", "healthcheck"]
ENTRYPOINT ["kakao-webhooks"]
CMD ["serve"]
