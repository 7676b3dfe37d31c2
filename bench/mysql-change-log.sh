#!/usr/bin/env bash
# The cost of the change log's row triggers on a MySQL/MariaDB bulk load: the same
# `seed-demo --hourly-only` into two fresh databases, one with the triggers `migrate` installs and
# one without them (dropped right after `migrate`), timed from process start to exit; then the
# rows the change log holds, and the time of one more hour rewritten (an ingest's re-delivery)
# with and without the triggers.
#
#   bench/mysql-change-log.sh [days] [rows_per_hour]     (default 7 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
days=${1:-7}
rows=${2:-10000}
admin=${BENCH_MYSQL_ADMIN:-mysql://root@127.0.0.1:3306/test}
cargo build --release --quiet --bin stats-backend
bin=$PWD/target/release/stats-backend
export STATS_CONFIG_DIR=config RUST_LOG=warn STATS__LOG__FORMAT=text
table=hourly_download_data

sql() { # database statement...
  local db=$1
  shift
  mariadb -h127.0.0.1 -uroot -N "$db" -e "$*"
}

seconds() { # command...
  local started
  started=$(date +%s.%N)
  "$@" >/dev/null 2>&1
  awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}'
}

printf 'change log\tseed-demo %s days x %s rows/hour (s)\trows/s\tone day again (s)\tchange-log rows\n' "$days" "$rows"
for mode in triggers none; do
  db=stats_changelog_$mode
  mariadb -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
  export DATABASE_URI="${admin%/*}/$db"
  "$bin" migrate >/dev/null 2>&1
  if [ "$mode" = none ]; then
    for t in ins upd del; do sql "$db" "DROP TRIGGER IF EXISTS \`${table}_changes_$t\`"; done
  fi
  load=$(seconds "$bin" seed-demo --hourly-only --days "$days" --rows-per-hour "$rows")
  # The newest day written again: its rows are deleted and inserted, as a re-delivery would.
  again=$(seconds "$bin" seed-demo --hourly-only --days 1 --rows-per-hour "$rows")
  logged=$(sql "$db" "SELECT COUNT(*) FROM hourly_changes")
  printf '%s\t%s\t%.0f\t%s\t%s\n' "$mode" "$load" "$(awk -v s="$load" -v n=$((days * 24 * rows)) 'BEGIN {print n / s}')" "$again" "$logged"
  mariadb -h127.0.0.1 -uroot -e "DROP DATABASE $db"
done
