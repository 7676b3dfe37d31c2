# syntax=docker/dockerfile:1
# Build: docker build -t stats-backend .      Run: docker run -p 8080:8080 -e DATABASE_URI=... stats-backend
#
# Base images are pinned by digest so that a rebuild uses the same bytes; to move to newer
# ones, read the current digests with `docker buildx imagetools inspect IMAGE:TAG` and replace
# both. scripts/replay-dockerfile.sh runs these steps outside a container.

FROM rust:1.95-slim-bookworm@sha256:d7482085ff5b415f84dba5647ae71606650bdef00db7aeb69f4b3d170c3e4082 AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY entity entity
COPY migration migration
COPY src src
COPY config config
# The registry and the target directory live in build caches, so a source change recompiles
# only the project and a manifest change only what it touches. The binary is copied out of the
# cache mount in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin stats-backend \
    && install -D target/release/stats-backend /out/stats-backend

# glibc, libgcc and CA certificates, no shell: the binary links only libc, libm and libgcc_s.
FROM gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f
WORKDIR /app
COPY --from=build /out/stats-backend /app/stats-backend
COPY config /app/config
ENV STATS_ENV=production \
    STATS_CONFIG_DIR=/app/config \
    STATS__DATABASE__SQLITE_PATH=/tmp/stats-demo.sqlite3 \
    PORT=8080
EXPOSE 8080
# Numeric, so that a platform checking runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/app/stats-backend", "healthcheck"]
ENTRYPOINT ["/app/stats-backend"]
CMD ["serve"]
