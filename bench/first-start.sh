#!/usr/bin/env bash
# Time until a fresh install answers: `stats-backend serve` with no configuration, from process
# start to the first 200 of `get_data?group_by=archive`, three times each for
#   first start   (no demo file: create, fill, roll up),
#   later start   (the file is up to date),
#   after a pause (the newest 6 hours are missing: top them up and refresh the rollups).
#
#   bench/first-start.sh [binary, default target/release/stats-backend] [port, default 18181]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-target/release/stats-backend}")
port=${2:-18181}
config=$(pwd)/config
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

start_once() {
  local started ended pid
  started=$(date +%s.%N)
  (cd "$dir" && exec env -u DATABASE_URI -u DATABASE_URL PORT="$port" STATS_CONFIG_DIR="$config" \
      STATS__LOG__FORMAT=json "$bin" serve >"$dir/serve.log" 2>&1) &
  pid=$!
  until curl -fs -o /dev/null "localhost:$port/api/get_data?model=hourly&group_by=archive"; do
    kill -0 "$pid" 2>/dev/null || { cat "$dir/serve.log"; exit 1; }
    sleep 0.02
  done
  ended=$(date +%s.%N)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$ended - $started" | bc
}

drop_newest_hours() {
  python3 - "$dir/stats-demo.sqlite3" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
(newest,) = db.execute("SELECT MAX(start_dttm) FROM hourly_download_data").fetchone()
db.execute("DELETE FROM hourly_download_data WHERE start_dttm > datetime(?, '-6 hours')", (newest,))
db.commit()
PY
}

echo "binary: $bin"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
for run in 1 2 3; do
  rm -f "$dir"/stats-demo.sqlite3*
  printf 'first start     run %s: %6.2f s\n' "$run" "$(start_once)"
done
grep -o '"message":"demo data ready[^"]*"' "$dir/serve.log" || true
printf 'demo file: %s MB\n' "$(( $(stat -c %s "$dir/stats-demo.sqlite3") / 1000000 ))"
for run in 1 2 3; do
  printf 'later start     run %s: %6.2f s\n' "$run" "$(start_once)"
done
for run in 1 2 3; do
  drop_newest_hours
  printf 'after a pause   run %s: %6.2f s\n' "$run" "$(start_once)"
done
