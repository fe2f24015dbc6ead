#!/usr/bin/env bash
# HTTP load runs against a running server holding a `bench generate` fleet.
#   scripts/bench/http.sh BASE_URL TOKEN [DURATION_SECONDS] [CONNECTIONS] [RUNS]
# Runs wrk (Debian package `wrk`) RUNS times (default 3) per endpoint and
# writes one JSON line per run to target/bench/http-<unix time>.jsonl, then
# prints the median and spread per endpoint. ENDPOINTS (environment) picks
# which, default all of:
#   vehicle   GET one vehicle
#   list      the vehicle list, most at risk first (50)
#   overview  the fleet overview
#   due       the tenant-wide maintenance due list (50)
#   report    the cost report, a year of months, 500 vehicles a page, at
#             REPORT_CONNECTIONS (default 8: reports are run by a few people
#             at once, not polled by every user)
#   summary   the vehicle page's data (summary) for the first vehicle, over
#             the default year unless SUMMARY_QUERY gives one (such as
#             `?from=2025-11-16&to=2026-11-16`: the default year, to tomorrow, is
#             month-aligned on the last day of a month, and reads no raw record)
# Every response must be 2xx: a run with errors or non-2xx answers fails.
set -euo pipefail
BASE=$1; TOKEN=$2; SECONDS_PER_RUN=${3:-10}; CONNECTIONS=${4:-64}; RUNS=${5:-3}
ENDPOINTS=${ENDPOINTS:-vehicle list overview due report summary}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=target/bench/http-$(date +%s).jsonl
mkdir -p target/bench
AUTH="Authorization: Bearer $TOKEN"
VEHICLE=$(curl -sf -H "$AUTH" "$BASE/api/v1/vehicles?limit=1" | python3 -c 'import sys, json; print(json.load(sys.stdin)["items"][0]["id"])')
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
for name in $ENDPOINTS; do
  case $name in
    vehicle) path="/api/v1/vehicles/$VEHICLE" ;;
    list) path="/api/v1/vehicles?sort=-risk&limit=50" ;;
    overview) path="/api/v1/fleet/overview" ;;
    due) path="/api/v1/maintenance/due?limit=50" ;;
    report) path="/api/v1/reports/cost-per-distance?limit=500" ;;
    summary) path="/api/v1/vehicles/$VEHICLE/summary${SUMMARY_QUERY:-}" ;;
    *) echo "unknown endpoint $name" >&2; exit 2 ;;
  esac
  curl -sf -o /dev/null -H "$AUTH" "$BASE$path" || { echo "$name: $path does not answer 2xx" >&2; exit 1; }
  conns=$CONNECTIONS
  if [ "$name" = report ]; then conns=${REPORT_CONNECTIONS:-8}; fi
  for run in $(seq "$RUNS"); do
    line=$(wrk -t2 -c"$conns" -d"${SECONDS_PER_RUN}s" --timeout 10s -H "$AUTH" -s "$HERE/wrk-json.lua" "$BASE$path" | tail -1)
    echo "{\"endpoint\": \"$name\", \"path\": \"$path\", \"run\": $run, \"connections\": $conns, \"commit\": \"$COMMIT\", \"result\": $line}" | tee -a "$OUT"
  done
done
python3 - "$OUT" <<'EOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
bad = [r for r in runs if r["result"]["errors"] or r["result"]["non_2xx"]]
by = {}
for r in runs:
    by.setdefault(r["endpoint"], []).append(r["result"])
print(f"{'endpoint':10} {'req/s median (min-max)':28} {'p99 ms median (min-max)':28}")
for name, rs in by.items():
    rps = [r["requests_per_second"] for r in rs]
    p99 = [r["p99_ms"] for r in rs]
    print(f"{name:10} {statistics.median(rps):8.0f} ({min(rps):.0f}-{max(rps):.0f}){'':8} "
          f"{statistics.median(p99):8.1f} ({min(p99):.1f}-{max(p99):.1f})")
if bad:
    sys.exit(f"{len(bad)} runs had errors or non-2xx answers")
EOF
echo "results in $OUT"
