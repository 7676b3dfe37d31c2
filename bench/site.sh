#!/usr/bin/env bash
# The /stats site and the dashboard at /: for each page, CSV endpoint and dashboard view, the first request of a fresh
# process (cache on, as served: what a scaled-from-zero instance answers), then warm
# throughput of the pages with wrk at 64 connections. On the database bench/run.sh fills
# (seed-demo also writes the demo's edge requests), with its rollups refreshed.
#
#   bench/site.sh [postgres|mysql|sqlite] [days] [rows per hour]   (default: postgres 30 10000)
#
# BENCH_SKIP_SEED=1 reuses the data in stats_bench (for example after bench/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-postgres}
days=${2:-30}
rows=${3:-10000}
port=18310
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
source bench/common.sh
seed
if [ "${BENCH_SKIP_SEED:-0}" != 1 ]; then
  RUST_LOG=info "$bin" refresh-rollups 2>&1 | grep -o 'rollups refreshed.*' || true
fi

today=$(TZ=America/New_York date +%Y%m%d)
yesterday=$(TZ=America/New_York date -d yesterday +%Y%m%d)
latest=$(TZ=America/New_York date -d '-1 hour' +%Y%m%d%H)
paths=(
  "/stats/main"
  "/stats/today"
  "/stats/today?date=$yesterday"
  "/stats/monthly_downloads"
  "/stats/monthly_submissions"
  "/stats/get_hourly_requests?date=$today"
  "/stats/get_monthly_downloads?latest_hour=$latest"
  "/stats/get_monthly_submissions"
  "/?view=daily&timezone=America/New_York"
  "/?view=daily&timezone=Asia/Kathmandu&date=$(date -u -d yesterday +%F)"
  "/?view=monthly"
  "/?view=submissions"
  "/?view=country"
  "/?view=category&metric=total"
  "/?view=archive"
)

pid=
stop() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; pid=; }
trap stop EXIT
start() {
  PORT=$port "$bin" serve >>target/bench-site.log 2>&1 &
  pid=$!
  until curl -fs -o /dev/null "localhost:$port/healthz"; do sleep 0.05; done
}

echo "data: $backend, $days days x $rows rows/hour; $(nproc) cores; $(date -u +%FT%TZ)"
printf '%-52s %10s %8s\n' "first request of a fresh process" "ms" "bytes"
for path in "${paths[@]}"; do
  start
  read -r seconds size < <(curl -fsS -o /dev/null -w '%{time_total} %{size_download}\n' "localhost:$port$path")
  printf '%-52s %10.1f %8s\n' "$path" "$(echo "$seconds * 1000" | bc)" "$size"
  stop
done

start
echo
printf '%-52s %10s %10s %10s\n' "warm, wrk 2 threads 64 connections 10 s" "req/s" "p50" "p99"
for path in "${paths[@]:0:5}" "/?view=daily&timezone=America/New_York" "/?view=country"; do
  curl -fsS -o /dev/null "localhost:$port$path"
  out=$(wrk -t2 -c64 -d10s --latency "http://localhost:$port$path")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  printf '%-52s %10s %10s %10s\n' "$path" "$rps" "$p50" "$p99"
done
