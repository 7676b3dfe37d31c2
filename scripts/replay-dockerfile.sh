#!/usr/bin/env bash
# The Dockerfile's steps without a container engine: the same build command, the same file
# layout under a scratch /app, the same environment and the same numeric user (65532), then
# the image's HEALTHCHECK and a readiness request. Stops the service at the end.
#
#   scripts/replay-dockerfile.sh [port]
set -euo pipefail
cd "$(dirname "$0")/.."
port=${1:-18080}
root=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$root"' EXIT

echo "== build stage: cargo build --release --locked --bin stats-backend"
cargo build --release --locked --bin stats-backend
install -D target/release/stats-backend "$root/out/stats-backend"

echo "== runtime stage: /app with the binary and config/, user 65532:65532"
mkdir -p "$root/app" "$root/tmp"
cp "$root/out/stats-backend" "$root/app/stats-backend"
cp -r config "$root/app/config"
chmod -R a+rX "$root/app"
chmod 1777 "$root/tmp"
chmod a+x "$root"

started=$(date +%s.%N)
setpriv --reuid 65532 --regid 65532 --clear-groups \
    env -i STATS_ENV=production STATS_CONFIG_DIR="$root/app/config" \
    STATS__DATABASE__SQLITE_PATH="$root/tmp/stats-demo.sqlite3" PORT="$port" \
    "$root/app/stats-backend" serve >"$root/serve.log" 2>&1 &
pid=$!

echo "== HEALTHCHECK: stats-backend healthcheck (every 0.2 s until healthy)"
for _ in $(seq 1 300); do
    if PORT=$port STATS_CONFIG_DIR="$root/app/config" "$root/app/stats-backend" healthcheck >/dev/null 2>&1; then
        break
    fi
    kill -0 "$pid" 2>/dev/null || { cat "$root/serve.log"; exit 1; }
    sleep 0.2
done
ready=$(date +%s.%N)
PORT=$port STATS_CONFIG_DIR="$root/app/config" "$root/app/stats-backend" healthcheck
printf 'healthy %.1f s after start, running as uid %s\n' \
    "$(echo "$ready - $started" | bc)" "$(ps -o uid= -p "$pid" | tr -d ' ')"
echo "== GET /readyz"
curl -fsS "http://127.0.0.1:$port/readyz"
echo
echo "== first log lines (JSON: standard error is not a terminal)"
head -n 3 "$root/serve.log"
