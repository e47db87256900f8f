# kakao-webhooks: build in one stage, run from a small image as a non-root user.

FROM rust:1-bookworm AS build
WORKDIR /src
# Dependencies first, in their own cached layer: only Cargo.toml/Cargo.lock.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY . .
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin kakao-webhooks

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data kakao \
    && mkdir -p /data && chown kakao /data
COPY --from=build /src/target/release/kakao-webhooks /usr/local/bin/kakao-webhooks
USER kakao
WORKDIR /data
ENV BIND_ADDR=0.0.0.0:8080 \
    DATABASE_URL=sqlite:///data/kakao-webhooks.db \
    LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080
# No curl in the image: the binary asks its own /health.
HEALTHCHECK --interval=10s --timeout=4s --start-period=10s --retries=3 \
    CMD ["kakao-webhooks", "healthcheck"]
ENTRYPOINT ["kakao-webhooks"]
CMD ["serve"]
