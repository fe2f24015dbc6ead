#!/usr/bin/env bash
# HTTP load runs against a running server holding a `bench generate` fleet.
#   scripts/bench/http.sh BASE_URL TOKEN [DURATION_SECONDS] [CONNECTIONS] [RUNS]
# Runs wrk (Debian package `wrk`) RUNS times (default 3) per endpoint and
# writes one JSON line per run to target/bench/http-<unix time>.jsonl:
# GET one vehicle, the vehicle list sorted by risk, the fleet overview.
set -euo pipefail
BASE=$1; TOKEN=$2; SECONDS_PER_RUN=${3:-10}; CONNECTIONS=${4:-64}; RUNS=${5:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=target/bench/http-$(date +%s).jsonl
mkdir -p target/bench
AUTH="Authorization: Bearer $TOKEN"
VEHICLE=$(curl -sf -H "$AUTH" "$BASE/api/v1/vehicles?limit=1" | python3 -c 'import sys, json; print(json.load(sys.stdin)["items"][0]["id"])')
for name in vehicle list overview; do
  case $name in
    vehicle) path="/api/v1/vehicles/$VEHICLE" ;;
    list) path="/api/v1/vehicles?sort=-risk&limit=50" ;;
    overview) path="/api/v1/fleet/overview" ;;
  esac
  for run in $(seq "$RUNS"); do
    line=$(wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" -H "$AUTH" -s "$HERE/wrk-json.lua" "$BASE$path" | tail -1)
    echo "{\"endpoint\": \"$name\", \"run\": $run, \"connections\": $CONNECTIONS, \"result\": $line}" | tee -a "$OUT"
  done
done
echo "results in $OUT"
