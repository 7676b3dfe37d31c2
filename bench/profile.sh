#!/usr/bin/env bash
# Where the warm tail latency goes: runs wrk at 64 connections against the cached release build
# for one dashboard request and, in the middle of the run, records the scheduler with
# `perf sched`. Prints wrk's latency distribution, the CPU time each program got (wrk, the
# service, PostgreSQL) and how long the service's threads sat runnable waiting for a core.
#
#   DATABASE_URI=postgres://postgres@127.0.0.1/stats_bench bench/profile.sh ['/api/...'] [seconds]
#
# Needs wrk and perf (Debian packages `wrk`, `linux-perf`), root or perf_event_paranoid <= 1 for
# the scheduler tracepoints, and a database filled by bench/run.sh or `stats-backend seed-demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
request=${1:-/api/get_todays_downloads?model=hourly&timezone=America/New_York}
seconds=${2:-20}
port=${PROFILE_PORT:-18303}
: "${DATABASE_URI:?set DATABASE_URI to a seeded database}"
for tool in wrk perf; do
  command -v $tool >/dev/null || { echo "$tool is needed" >&2; exit 1; }
done
cargo build --release --quiet --bin stats-backend
bin=$PWD/target/release/stats-backend
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

STATS_CONFIG_DIR=config PORT=$port RUST_LOG=warn "$bin" serve >"$out/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do curl -fsS "localhost:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS -o /dev/null "localhost:$port$request"

cpu_ticks() { # total utime+stime of the processes named $1, in clock ticks
  local total=0 p
  for p in $(pgrep -x "$1" || true); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo $total
}

wrk -t2 -c64 -d"${seconds}s" --latency "http://127.0.0.1:$port$request" >"$out/wrk.txt" &
wrk_pid=$!
sleep $((seconds / 4))
window=$((seconds / 2))
before_service=$(awk '{print $14 + $15}' "/proc/$pid/stat")
before_wrk=$(cpu_ticks wrk)
before_pg=$(cpu_ticks postgres)
started=$(date +%s.%N)
perf sched record -a -o "$out/sched.data" -- sleep "$window" >/dev/null 2>&1
after_service=$(awk '{print $14 + $15}' "/proc/$pid/stat")
after_wrk=$(cpu_ticks wrk)
after_pg=$(cpu_ticks postgres)
elapsed=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')
wait $wrk_pid
kill -TERM $pid; wait $pid || true

hz=$(getconf CLK_TCK)
cores=$(nproc)
share() { awk -v t="$1" -v hz="$hz" -v w="$elapsed" -v c="$cores" 'BEGIN {printf "%5.2f s of %.1f s x %d cores (%4.1f %%)", t / hz, w, c, 100 * t / hz / w / c}'; }
echo "== wrk, 64 connections, ${seconds}s: $request"
grep -E "Requests/sec|50%|75%|90%|99%|Non-2xx|Socket errors" "$out/wrk.txt"
echo
echo "== CPU time while the scheduler was recorded"
echo "service:    $(share $((after_service - before_service)))"
echo "wrk:        $(share $((after_wrk - before_wrk)))"
echo "postgres:   $(share $((after_pg - before_pg)))"
echo
echo "== scheduling delay (runnable, waiting for a core) by task, worst first"
perf sched latency -i "$out/sched.data" --sort max 2>/dev/null |
  grep -E "Task|----|actix|tokio|stats-backend|wrk|postgres|TOTAL" | head -n 16
echo
echo "== service threads: how often a wake-up waited for a core longer than 1 / 5 / 10 ms"
perf sched timehist -i "$out/sched.data" --pid "$pid" 2>/dev/null |
  awk 'NR > 3 && $5 ~ /^[0-9.]+$/ {n++; d = $5 + 0; if (d > 1) a++; if (d > 5) b++; if (d > 10) c++; if (d > m) m = d}
       END {printf "%d wake-ups: %d > 1 ms, %d > 5 ms, %d > 10 ms; longest %.2f ms\n", n, a, b, c, m}'
