# syntax=docker/dockerfile:1
# AgentGate: a static-ish release binary on a small Debian runtime, run as a non-root user.
#
# Build:   docker build -t agentgate .
# Run:     docker run -p 3000:3000 -v agentgate-data:/data agentgate
# The build steps (the builder stage's RUN lines) are also executed without Docker by
# scripts/docker-build-native.sh, which CI runs (there is no Docker engine there).

FROM rust:1.95-slim-bookworm AS builder
# Paths only through these variables (or relative to WORKDIR), so the native run can place them elsewhere.
ENV CARGO_TARGET_DIR=/src/target \
    OUT=/out
WORKDIR /src
# Everything the workspace build reads; .dockerignore keeps target/, data/ and node_modules out.
COPY . .
RUN cargo build --release --locked -p agentgate
RUN mkdir -p "$OUT" && cp "$CARGO_TARGET_DIR/release/agentgate" "$OUT/agentgate" && "$OUT/agentgate" --version

FROM debian:bookworm-slim
# ca-certificates: webhook and channel deliveries use HTTPS.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 agentgate \
    && useradd --system --uid 10001 --gid agentgate --home-dir /data --shell /usr/sbin/nologin agentgate \
    && mkdir -p /data \
    && chown agentgate:agentgate /data
COPY --from=builder /out/agentgate /usr/local/bin/agentgate
ENV HOST=0.0.0.0 \
    PORT=3000 \
    DATABASE_URL=/data/agentgate.db \
    LOG_FORMAT=json
VOLUME ["/data"]
WORKDIR /data
USER agentgate:agentgate
EXPOSE 3000
# The binary checks itself (no curl in the image): GET /health on its own port.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["agentgate", "healthcheck"]
ENTRYPOINT ["agentgate"]
CMD ["serve"]
