#!/usr/bin/env bash
# Growth: the same requests on a short and a long history at the same density, side by side.
# For each size: seed the demo data into its own PostgreSQL database, build the rollups
# (timed), the rollups' size on disk, then for each request three fresh release processes
# (cache off), the first answer of each, and the median of the three; finally one new hour is
# written and the incremental refresh that follows is timed.
#
#   bench/growth.sh [short_days] [long_days] [rows_per_hour]     (default 30 365 2000)
#   BENCH_SKIP_SEED=1 reuses the databases of an earlier run.
set -euo pipefail
cd "$(dirname "$0")/.."
short=${1:-30}
long=${2:-365}
rows=${3:-2000}
port=18304
admin=${BENCH_POSTGRES_ADMIN:-postgres://postgres@127.0.0.1:5432/test}
cargo build --release --quiet --bin stats-backend
bin=$PWD/target/release/stats-backend
export STATS_CONFIG_DIR=config RUST_LOG=warn STATS__LOG__FORMAT=text
log=${TMPDIR:-/tmp}/bench-growth.log

week_ago=$(date -u -d '7 days ago' +%F)
requests=(
  "/api/get_data?model=hourly&group_by=category"
  "/api/get_data?model=hourly&group_by=country"
  "/api/get_data?model=hourly&group_by=archive"
  "/api/get_data?model=hourly&group_by=download_type"
  "/api/get_data?model=hourly&group_by=archive&time_group=month"
  "/api/get_data?model=hourly&group_by=category&country=germany"
  "/api/get_data?model=hourly&group_by=country&time_group=year"
  "/api/get_global_sum?model=hourly&time_group=hour"
  "/api/get_global_sum?model=hourly&time_group=day"
  "/api/get_global_sum?model=hourly&time_group=month"
  "/api/get_data?model=hourly&group_by=archive&time_group=hour&start_date=$week_ago"
  "/api/get_data?model=hourly&group_by=country&time_group=hour&start_date=$week_ago"
  "/api/get_data?model=hourly&group_by=category&second_group_by=country"
  "/api/get_data?model=hourly&group_by=country&time_group=day"
)

db_url() { echo "${admin%/*}/stats_growth_$1"; }

seed() { # days
  local url
  url=$(db_url "$1")
  psql "$admin" -qc "DROP DATABASE IF EXISTS stats_growth_$1" -c "CREATE DATABASE stats_growth_$1"
  echo "seeding $1 days x $rows rows/hour ..." >&2
  DATABASE_URI=$url RUST_LOG=info "$bin" seed-demo --days "$1" --rows-per-hour "$rows" 2>&1 \
    | grep -o 'seeded.*' >&2 || true
}

refresh() { # days; prints seconds
  local started
  started=$(date +%s.%N)
  DATABASE_URI=$(db_url "$1") "$bin" refresh-rollups >>"$log" 2>&1
  awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}'
}

first_answer() { # days request; prints ms of a fresh process's first answer
  DATABASE_URI=$(db_url "$1") PORT=$port STATS__CACHE__ENABLED=false "$bin" serve >>"$log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 300); do curl -fsS "localhost:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fsS -o /dev/null -w '%{time_total} %{size_download}\n' "localhost:$port$2"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

median_of_3() { # days request; prints "ms bytes"
  for _ in 1 2 3; do first_answer "$1" "$2"; done | sort -n | sed -n 2p \
    | awk '{printf "%.1f %d\n", $1 * 1000, $2}'
}

rollup_bytes() { # days
  psql "$(db_url "$1")" -Atc "SELECT pg_size_pretty(SUM(pg_total_relation_size(c.oid))) FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'
    AND c.relname LIKE 'rollup\_%'"
}

table_bytes() { # days
  psql "$(db_url "$1")" -Atc "SELECT pg_size_pretty(pg_total_relation_size('hourly_download_data'))"
}

new_hour() { # days: copies the newest hour one hour later, as an ingest would write it
  psql "$(db_url "$1")" -qc "INSERT INTO hourly_download_data
      (country, download_type, archive, category, primary_count, cross_count, start_dttm)
    SELECT country, download_type, archive, category, primary_count, cross_count,
           start_dttm + INTERVAL '1 hour'
    FROM hourly_download_data
    WHERE start_dttm = (SELECT MAX(start_dttm) FROM hourly_download_data)"
}

declare -A full_refresh incremental
for d in "$short" "$long"; do
  if [ "${BENCH_SKIP_SEED:-0}" != 1 ]; then
    seed "$d"
    full_refresh[$d]=$(refresh "$d")
  else
    full_refresh[$d]="(kept)"
  fi
done

echo
echo "### Growth ($short vs $long days x $rows rows/hour, PostgreSQL, rollups refreshed)"
echo
echo "| request | $short days ms | $long days ms | growth | answer bytes ($long days) |"
echo "|---|---|---|---|---|"
for r in "${requests[@]}"; do
  read -r a _ < <(median_of_3 "$short" "$r")
  read -r b bytes < <(median_of_3 "$long" "$r")
  growth=$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2fx", b / a}')
  echo "| \`${r#/api/}\` | $a | $b | $growth | $bytes |"
done
echo
echo "| | $short days | $long days |"
echo "|---|---|---|"
echo "| hourly table on disk | $(table_bytes "$short") | $(table_bytes "$long") |"
echo "| rollups on disk | $(rollup_bytes "$short") | $(rollup_bytes "$long") |"
echo "| first refresh-rollups, s | ${full_refresh[$short]} | ${full_refresh[$long]} |"
for d in "$short" "$long"; do
  new_hour "$d"
  incremental[$d]=$(refresh "$d")
done
echo "| refresh-rollups after one new hour, s | ${incremental[$short]} | ${incremental[$long]} |"
