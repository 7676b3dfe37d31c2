#!/usr/bin/env bash
# Fills a running instance's answer cache past its byte limit (cache.max_bytes) with the largest
# answers there are: every pair of category and country, per day and per month and in total,
# from each of the last days to now, in JSON and in CSV. Stops once the cache holds more than
# 90 % of the limit (read from /metrics). Used by bench/run.sh; standalone:
#
#   bench/fill-cache.sh PORT [days, default 30] [limit in bytes, default 67108864]
set -euo pipefail
port=$1
days=${2:-30}
limit=${3:-67108864}
bytes() { curl -fsS "localhost:$port/metrics" | awk '/^stats_cache_bytes/ {print $2 + 0}'; }
n=0
for time_group in "&time_group=day" "&time_group=month" ""; do
  for d in $(seq 1 "$days"); do
    for pair in "group_by=category&second_group_by=country" "group_by=country&second_group_by=category"; do
      for accept in application/json text/csv; do
        curl -fsS -o /dev/null -H "Accept: $accept" \
          "localhost:$port/api/get_data?model=hourly&$pair$time_group&start_date=$(date -u -d "-$d days" +%F)"
        n=$((n + 1))
      done
    done
    if awk -v b="$(bytes)" -v l="$limit" 'BEGIN {exit !(b > 0.9 * l)}'; then
      echo "$n answers requested; cache bytes $(bytes) of $limit"
      exit 0
    fi
  done
done
echo "$n answers requested; cache bytes $(bytes) of $limit (not full: fewer answers than the limit)"
