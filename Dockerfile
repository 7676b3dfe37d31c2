# syntax=docker/dockerfile:1
# Build: docker build -t stats-backend .      Run: docker run -p 8080:8080 -e DATABASE_URI=... stats-backend

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, in their own layer: rebuilt only when a manifest or the lock file changes.
COPY Cargo.toml Cargo.lock ./
COPY entity/Cargo.toml entity/
COPY migration/Cargo.toml migration/
RUN mkdir -p src entity/src migration/src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs entity/src/lib.rs migration/src/lib.rs \
    && cargo build --release --locked --bin stats-backend \
    && rm -rf src entity/src migration/src
# Then the project itself.
COPY src src
COPY entity/src entity/src
COPY migration/src migration/src
RUN touch src/main.rs src/lib.rs entity/src/lib.rs migration/src/lib.rs \
    && cargo build --release --locked --bin stats-backend

# glibc, libgcc and CA certificates, no shell: the binary links only libc, libm and libgcc_s.
FROM gcr.io/distroless/cc-debian12:nonroot
WORKDIR /app
COPY --from=build /src/target/release/stats-backend /app/stats-backend
COPY config /app/config
ENV STATS_ENV=production \
    STATS_CONFIG_DIR=/app/config \
    STATS__DATABASE__SQLITE_PATH=/tmp/stats-demo.sqlite3 \
    PORT=8080
EXPOSE 8080
USER nonroot
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["/app/stats-backend", "healthcheck"]
ENTRYPOINT ["/app/stats-backend"]
CMD ["serve"]
