# syntax=docker/dockerfile:1
# tenantgate: multi-stage build. Dependencies are compiled in their own layer (rebuilt only when
# Cargo.toml/Cargo.lock change); the runtime image is Debian slim with the one binary, run as a
# non-root user, listening on $PORT (Railway sets it; 8000 otherwise).

ARG RUST_VERSION=1.95
FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /app

# 1. Dependencies only: a dummy crate with the real manifests.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches \
    && echo 'fn main() {}' > src/main.rs \
    && echo '' > src/lib.rs \
    && echo 'fn main() {}' > benches/tenant_path.rs \
    && cargo build --release --locked \
    && rm -rf src benches

# 2. The application (migrations are embedded at compile time).
COPY src ./src
COPY migrations ./migrations
COPY benches ./benches
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && strip target/release/tenantgate

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin tenantgate
COPY --from=build /app/target/release/tenantgate /usr/local/bin/tenantgate
USER tenantgate
ENV HOST=0.0.0.0 \
    PORT=8000 \
    LOG_FORMAT=json
EXPOSE 8000
ENTRYPOINT ["tenantgate"]
CMD ["serve"]
