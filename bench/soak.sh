#!/usr/bin/env bash
# Soak run: mixed dashboard traffic at 64 connections against the release build, once with the
# cache and once without, on loopback only, bounded in time. Prints errors, throughput, memory
# and the pool state after each run.
#
#   DATABASE_URI=postgres://postgres@127.0.0.1/soak bench/soak.sh [seconds per run, default 120]
#
# Needs wrk (Debian package `wrk`) and a database filled with `stats-backend seed-demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-120}
port=${SOAK_PORT:-18200}
: "${DATABASE_URI:?set DATABASE_URI to a seeded database}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet --bin stats-backend
bin=target/release/stats-backend

run() {
  local label=$1 cache=$2
  STATS__CACHE__ENABLED=$cache PORT=$port STATS__SERVER__WORKERS=2 RUST_LOG=warn "$bin" serve &
  local pid=$!
  for _ in $(seq 1 100); do curl -fsS "localhost:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  local rss_log; rss_log=$(mktemp)
  ( while kill -0 "$pid" 2>/dev/null; do grep VmRSS "/proc/$pid/status" | awk '{print $2}' >>"$rss_log"; sleep 1; done ) &
  local sampler=$!
  echo "== $label: 64 connections for ${duration}s =="
  wrk -t2 -c64 -d"${duration}s" --latency -s bench/dashboard.lua "http://127.0.0.1:$port" | grep -E "Requests/sec|Non-2xx|Socket errors|requests in|50%|99%"
  echo "rss first/last/max (kB): $(head -n1 "$rss_log") / $(tail -n1 "$rss_log") / $(sort -n "$rss_log" | tail -n1)"
  echo "peak rss (VmHWM): $(grep VmHWM "/proc/$pid/status" | awk '{print $2, $3}')"
  curl -fsS "localhost:$port/metrics" | grep -E "^stats_(db_pool|cache_entries|cache_bytes)" || true
  curl -fsS -o /dev/null -w "readyz after the run: %{http_code}\n" "localhost:$port/readyz"
  kill -TERM "$pid"; wait "$pid"; echo "exit status after SIGTERM: $?"
  kill "$sampler" 2>/dev/null || true; rm -f "$rss_log"
}

run "cache on" true
run "cache off" false
