#!/usr/bin/env bash
# The measurements behind the default worker count and pool size: wrk at 64 connections
# against the release build for each setting, once with the cache on (workers matter) and once
# with it off (every request reads the database, so the pool matters).
#
#   DATABASE_URI=postgres://postgres@127.0.0.1/stats_bench bench/tune.sh [seconds per run]
#
# Needs wrk and a database filled by bench/run.sh (with rollups, so that uncached requests are
# short enough to load the pool rather than one scan).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
port=${TUNE_PORT:-18304}
: "${DATABASE_URI:?set DATABASE_URI to a seeded database}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet --bin stats-backend
bin=$PWD/target/release/stats-backend
export STATS_CONFIG_DIR=config RUST_LOG=warn

run() { # label, then settings as environment assignments; wrk runs the dashboard mix
  local label=$1
  shift
  env "$@" PORT=$port "$bin" serve >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 1 200); do curl -fsS "localhost:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  sleep 1
  local result
  result=$(wrk -t2 -c64 -d"${seconds}s" --latency -s bench/dashboard.lua "http://127.0.0.1:$port")
  printf '| %s | %s | %s | %s | %s |\n' "$label" \
    "$(echo "$result" | awk '/Requests\/sec/ {printf "%.0f", $2}')" \
    "$(echo "$result" | awk '$1=="50%" {print $2}')" \
    "$(echo "$result" | awk '$1=="99%" {print $2}')" \
    "$(echo "$result" | grep -E "Non-2xx|Socket errors" | tr '\n' ' ')"
  kill -TERM $pid
  wait $pid || true
}

echo "| cache on: server.workers | req/s | p50 | p99 | errors |"
echo "|---|---|---|---|---|"
for workers in 1 2 4 8; do
  run "$workers" STATS__SERVER__WORKERS=$workers
done
echo
echo "| cache off: database.max_connections | req/s | p50 | p99 | errors |"
echo "|---|---|---|---|---|"
for pool in 2 4 8 16 32; do
  run "$pool" STATS__CACHE__ENABLED=false STATS__DATABASE__MAX_CONNECTIONS=$pool \
    STATS__DATABASE__MIN_CONNECTIONS=$pool
done
