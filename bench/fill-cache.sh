#!/usr/bin/env bash
# Fills a running instance's answer cache past its byte limit (cache.max_bytes) with the largest
# answers there are: every pair of category and country, per day and per month and in total,
# from each of the last days to now, in JSON and in CSV (those past server.max_groups are
# refused with 422 and counted). Stops after three times the limit in answers, so that the
# cache has evicted and the stale-answer store (which keeps evicted bodies for
# cache.stale_if_error) is full too. Used by bench/run.sh; standalone:
#
#   bench/fill-cache.sh PORT [days, default 30] [limit in bytes, default 67108864]
set -euo pipefail
port=$1
days=${2:-30}
limit=${3:-67108864}
bytes() { curl -fsS "localhost:$port/metrics" | awk '/^stats_cache_bytes/ {print $2 + 0}'; }
n=0
refused=0
total=0
for time_group in "&time_group=day" "&time_group=month" ""; do
  for d in $(seq 1 "$days"); do
    for pair in "group_by=category&second_group_by=country" "group_by=country&second_group_by=category"; do
      for accept in application/json text/csv; do
        read -r status size < <(curl -sS -o /dev/null -w '%{http_code} %{size_download}\n' -H "Accept: $accept" \
          "localhost:$port/api/get_data?model=hourly&$pair$time_group&start_date=$(date -u -d "-$d days" +%F)")
        case $status in
          200) n=$((n + 1)); total=$((total + size)) ;;
          422) refused=$((refused + 1)) ;;
          *) echo "unexpected status $status" >&2; exit 1 ;;
        esac
      done
    done
    if [ "$total" -gt $((3 * limit)) ]; then
      echo "$n answers ($total bytes), $refused refused as too large; cache bytes $(bytes) of $limit"
      exit 0
    fi
  done
done
echo "$n answers ($total bytes), $refused refused as too large; cache bytes $(bytes) of $limit"
