#!/usr/bin/env bash
# The benchmark: seeds a database with synthetic data, starts the release build, and prints for
# each of the dashboard's requests the cold latency (cache off), the raw SQL time of the same
# query run directly, warm latency p50/p99 and throughput at 16 and 64 connections, and the
# service's peak memory; first without rollups, then with them. Loopback only, bounded in time.
#
#   bench/run.sh [postgres|mysql|sqlite] [days] [rows per hour]     (default: postgres 30 10000)
#
# Needs wrk (Debian package `wrk`), curl, and for postgres/mysql the local servers
# (BENCH_POSTGRES_ADMIN / BENCH_MYSQL_ADMIN name an admin URL; the database stats_bench is
# dropped and created). BENCH_SKIP_SEED=1 reuses the data of the previous run.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-postgres}
days=${2:-30}
rows=${3:-10000}
warm_seconds=${BENCH_WARM_SECONDS:-10}
cold_port=18301
pool=16 # database.max_connections by default
warm_port=18302
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }

source bench/common.sh
seed

yesterday=$(date -u -d yesterday +%F)
requests=(
  "/api/get_data?model=hourly&group_by=archive"
  "/api/get_data?model=hourly&group_by=category"
  "/api/get_data?model=hourly&group_by=country"
  "/api/get_global_sum?model=hourly&time_group=month"
  "/api/get_todays_downloads?model=hourly&timezone=America/New_York"
)

start() { # port cache_enabled
  # Its output goes to a file: this function runs in $(...), which would wait for it.
  PORT=$1 STATS__CACHE__ENABLED=$2 "$bin" serve >>target/bench-server.log 2>&1 &
  local pid=$!
  for _ in $(seq 1 200); do curl -fsS "localhost:$1/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  sleep 1.5 # the first probe reads the rollup cutoff
  echo "$pid"
}

median_ms() { sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]*1000}'; }

cache_size() { curl -fsS "localhost:$warm_port/metrics" | awk '/^stats_cache_(entries|bytes)/ {printf "%s=%s ", $1, $2}'; }

cold_figures() { # request; prints: first-use ms, cold ms, raw SQL ms
  local r=$1 first cold sql
  time_once() { curl -fsS -o /dev/null -w '%{time_total}\n' "localhost:$cold_port$r"; }
  # The first run of a statement on each pooled connection also prepares it and fills the
  # fresh PostgreSQL backend's catalog caches: shown apart ("first"), then every pooled
  # connection runs it once, and "cold" is the median of 11 after that. The cache stays off.
  first=$(time_once | median_ms)
  for _ in $(seq 2 "$pool"); do time_once >/dev/null; done
  cold=$(for _ in $(seq 1 11); do time_once; done | median_ms)
  sql=$("$bin" sql --runs 11 "$r" 2>/dev/null | grep -o 'median_ms=[0-9.]*' | cut -d= -f2)
  echo "$first $cold $sql"
}

measure() { # label
  echo
  echo "### $1 ($backend, $days days x $rows rows/hour)"
  echo
  echo "| request | cold ms, first | cold ms | raw SQL ms | warm p50 / p99 ms @16 | req/s @16 | warm p50 / p99 ms @64 | req/s @64 |"
  echo "|---|---|---|---|---|---|---|---|"
  local cold_pid warm_pid
  cold_pid=$(start $cold_port false)
  warm_pid=$(start $warm_port true)
  for r in "${requests[@]}"; do
    local first cold sql w16 w64
    read -r first cold sql < <(cold_figures "$r")
    curl -fsS -o /dev/null "localhost:$warm_port$r"
    w16=$(wrk -t2 -c16 -d"${warm_seconds}s" --latency "http://127.0.0.1:$warm_port$r")
    w64=$(wrk -t2 -c64 -d"${warm_seconds}s" --latency "http://127.0.0.1:$warm_port$r")
    lat() { echo "$1" | awk '$1=="50%"{p50=$2} $1=="99%"{p99=$2} END {print p50 " / " p99}'; }
    rps() { echo "$1" | awk '/Requests\/sec/ {printf "%.0f", $2}'; }
    errs() { echo "$1" | grep -E "Non-2xx|Socket errors" | tr '\n' ' '; }
    echo "| \`${r#/api/}\` | $first | $cold | $sql | $(lat "$w16") | $(rps "$w16") $(errs "$w16")| $(lat "$w64") | $(rps "$w64") $(errs "$w64")|"
  done
  echo
  echo "peak memory of the cached instance (VmHWM): $(grep VmHWM /proc/"$warm_pid"/status | awk '{print $2, $3}'); cache: $(cache_size)"
  if [ "$1" = "with rollups" ]; then
    local filled
    filled=$(bench/fill-cache.sh "$warm_port" "$days")
    echo "after filling the cache ($filled): peak memory (VmHWM) $(grep VmHWM /proc/"$warm_pid"/status | awk '{print $2, $3}'); cache: $(cache_size)"
  fi
  echo
  echo "The daily endpoint for a whole local day (yesterday, $yesterday) in zones around the world:"
  echo
  echo "| zone | cold ms, first | cold ms | raw SQL ms |"
  echo "|---|---|---|---|"
  local zone
  for zone in UTC America/New_York Europe/Berlin Asia/Kolkata Asia/Kathmandu Pacific/Kiritimati Pacific/Pago_Pago; do
    read -r first cold sql < <(cold_figures "/api/get_daily_downloads?model=hourly&timezone=$zone&date=$yesterday")
    echo "| $zone | $first | $cold | $sql |"
  done
  kill -TERM "$cold_pid" "$warm_pid"; wait "$cold_pid" "$warm_pid" 2>/dev/null || true
}

measure "without rollups"
echo
echo "refreshing rollups ..."
RUST_LOG=info "$bin" refresh-rollups 2>&1 | grep -o 'rollups refreshed.*' || true
measure "with rollups"
