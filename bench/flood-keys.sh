#!/usr/bin/env bash
# A flood of distinct keys: wrk sends get_data requests that each carry a new ~3.9 kB filter
# list (bench/flood-keys.lua), so every answer is a new cache entry whose key outweighs its
# body. Prints the cache's weighed bytes and the process's resident memory before, after and
# at its peak, against cache.max_bytes. Needs wrk (Debian package `wrk`).
#
#   bench/flood-keys.sh [seconds, default 30] [cache.max_bytes, default 16777216] [binary]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
limit=${2:-16777216}
bin=${3:-target/release/stats-backend}
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export STATS_CONFIG_DIR=config RUST_LOG=warn
# A small embedded demo: the flood's answers match nothing, so the data size does not matter.
STATS__DATABASE__SQLITE_PATH="$dir/demo.sqlite3" STATS__DEMO__DAYS=2 STATS__DEMO__ROWS_PER_HOUR=50 \
  STATS__CACHE__MAX_BYTES=$limit PORT=$port "$bin" serve >"$dir/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 120); do curl -fsS "localhost:$port/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
rss() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
bytes() { curl -fsS "localhost:$port/metrics" | awk '/^stats_cache_bytes/ {print $2 + 0}'; }
entries() { curl -fsS "localhost:$port/metrics" | awk '/^stats_cache_entries/ {print $2 + 0}'; }
before=$(rss VmRSS)
wrk -t2 -c16 -d"${seconds}s" -s bench/flood-keys.lua "http://localhost:$port" | grep -E "requests in|Requests/sec|Non-2xx"
sleep 1
echo "cache.max_bytes: $limit"
echo "cache after: $(entries) entries, $(bytes) bytes weighed"
echo "RSS before: ${before} kB, after: $(rss VmRSS) kB, peak (VmHWM): $(rss VmHWM) kB"
