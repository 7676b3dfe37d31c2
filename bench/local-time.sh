#!/usr/bin/env bash
# Local time, cold: for each request, a fresh release process (cache off) and the time of its
# first answer, then the median of 5 more. get_global_sum by local day, week and month in UTC,
# America/New_York, Asia/Kolkata and Asia/Kathmandu, and get_data by category and local day
# over 30 days; against a database bench/run.sh has filled (rollups as they are).
#
#   DATABASE_URI=postgres://postgres@127.0.0.1/stats_bench bench/local-time.sh [port]
set -euo pipefail
cd "$(dirname "$0")/.."
port=${1:-18303}
bin=${BENCH_BIN:-$PWD/target/release/stats-backend}
[ -n "${BENCH_BIN:-}" ] || cargo build --release --quiet --bin stats-backend
export STATS_CONFIG_DIR=config RUST_LOG=warn
start=$(date -u -d '30 days ago' +%F)
requests=()
for zone in UTC America/New_York Asia/Kolkata Asia/Kathmandu; do
  for tg in day week month; do
    requests+=("/api/get_global_sum?model=hourly&time_group=$tg&timezone=$zone")
  done
done
for zone in UTC America/New_York Asia/Kolkata Asia/Kathmandu; do
  requests+=("/api/get_data?model=hourly&group_by=category&time_group=day&timezone=$zone&start_date=$start")
done
printf 'request\tfirst ms\tmedian of 5 ms\n'
for r in "${requests[@]}"; do
  PORT=$port STATS__CACHE__ENABLED=false "$bin" serve >>"${TMPDIR:-/tmp}/bench-local-time.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 200); do curl -fsS "localhost:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  sleep 1.5 # the first probe reads the rollup cutoff
  first=$(curl -fsS -o /dev/null -w '%{time_total}' "localhost:$port$r")
  median=$(for _ in 1 2 3 4 5; do curl -fsS -o /dev/null -w '%{time_total}\n' "localhost:$port$r"; done | sort -n | sed -n 3p)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  awk -v r="$r" -v f="$first" -v m="$median" 'BEGIN {printf "%s\t%.1f\t%.1f\n", r, f * 1000, m * 1000}'
done
