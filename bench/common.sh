# Shared by the benchmark scripts (sourced, not run): the database `stats_bench` on the chosen
# backend, the release build, and the seeding (skipped with BENCH_SKIP_SEED=1).
#   $backend, $days, $rows must be set; sets $url, $bin, reset(), seed(); exports DATABASE_URI.
case "$backend" in
  postgres)
    admin=${BENCH_POSTGRES_ADMIN:-postgres://postgres@127.0.0.1:5432/test}
    url="${admin%/*}/stats_bench"
    reset() { psql "$admin" -qc "DROP DATABASE IF EXISTS stats_bench" -c "CREATE DATABASE stats_bench"; } ;;
  mysql)
    admin=${BENCH_MYSQL_ADMIN:-mysql://root@127.0.0.1:3306/test}
    url="${admin%/*}/stats_bench"
    reset() { mariadb -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS stats_bench; CREATE DATABASE stats_bench CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"; } ;;
  sqlite)
    url="sqlite://$PWD/target/stats-bench.sqlite3?mode=rwc"
    reset() { rm -f target/stats-bench.sqlite3*; } ;;
  *) echo "backend: postgres, mysql or sqlite" >&2; exit 2 ;;
esac

cargo build --release --quiet --bin stats-backend
bin=$PWD/target/release/stats-backend
export DATABASE_URI=$url STATS_CONFIG_DIR=config RUST_LOG=warn STATS__LOG__FORMAT=text

# Drops and fills stats_bench with the demo data (hourly rows, legacy months, submissions,
# edge requests), unless BENCH_SKIP_SEED=1.
seed() {
  [ "${BENCH_SKIP_SEED:-0}" = 1 ] && return 0
  reset
  echo "seeding $days days x $rows rows/hour into $backend ..."
  RUST_LOG=info "$bin" seed-demo --days "$days" --rows-per-hour "$rows" 2>&1 | grep -o 'seeded.*' || true
  "$bin" migrate >/dev/null 2>&1
}
