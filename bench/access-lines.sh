#!/usr/bin/env bash
# What the access line costs a cached answer: the service's instructions per request under
# callgrind (repeatable whatever else the machine does) and wrk's throughput at 64 connections,
# each with the access lines on (the default, log.level = info) and off (access=warn). Logs go
# to a file, in JSON, as they do when standard error is not a terminal.
#
#   bench/access-lines.sh [request] [requests under callgrind]
#       (default: /api/get_global_sum?model=hourly&time_group=month 2000)
#
# Uses DATABASE_URI when set, else the embedded demo database. Needs valgrind, wrk and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
request=${1:-/api/get_global_sum?model=hourly&time_group=month}
count=${2:-2000}
port=18305
for tool in valgrind callgrind_control wrk curl; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (Debian: valgrind, wrk, curl)" >&2; exit 1; }
done
cargo build --release --quiet --bin stats-backend
bin=$PWD/target/release/stats-backend
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export STATS__LOG__FORMAT=json

wait_ready() { for _ in $(seq 1 600); do curl -fsS "localhost:$port/readyz" >/dev/null 2>&1 && return; sleep 0.2; done; }

# One curl process, one keep-alive connection, $1 requests.
requests() {
  for _ in $(seq 1 "$1"); do printf 'url = "http://127.0.0.1:%s%s"\noutput = /dev/null\n' "$port" "$request"; done >"$work/curl.cfg"
  curl -fsS -K "$work/curl.cfg"
}

instructions() { # RUST_LOG; prints instructions per request
  PORT=$port RUST_LOG=$1 STATS__SERVER__WORKERS=1 valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$work/cg.%p" "$bin" serve >"$work/serve.log" 2>&1 &
  local pid=$!
  wait_ready
  requests 200 # the answer is cached and every lazy start-up cost is paid
  callgrind_control -i on "$pid" >/dev/null
  requests "$count"
  callgrind_control -i off "$pid" >/dev/null
  callgrind_control -d "$pid" >/dev/null
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local total
  total=$(cat "$work"/cg."$pid".* 2>/dev/null | awk '/^totals:/ {s += $2} END {print s}')
  rm -f "$work"/cg."$pid"*
  echo $((total / count))
}

throughput() { # RUST_LOG; prints req/s of three 10 s runs and the last p99
  PORT=$port RUST_LOG=$1 "$bin" serve >"$work/serve.log" 2>&1 &
  local pid=$!
  wait_ready
  curl -fsS -o /dev/null "localhost:$port$request"
  local runs=""
  for _ in 1 2 3; do
    runs+=$(wrk -t2 -c64 -d10s --latency "http://127.0.0.1:$port$request" \
      | awk '$1=="99%" {p=$2} /Requests\/sec/ {printf "%.0f (p99 %s) ", $2, p}')
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$runs"
}

echo "request: $request"
echo
echo "| access lines | instructions per request (callgrind, $count requests) | req/s @64, three runs |"
echo "|---|---|---|"
for level in info info,access=warn; do
  label=on; [ "$level" = info ] || label=off
  echo "| $label | $(instructions "$level") | $(throughput "$level")|"
done
