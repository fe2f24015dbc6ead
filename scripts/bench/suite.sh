#!/usr/bin/env bash
# The whole benchmark suite on one backend, from a fresh database:
#   scripts/bench/suite.sh sqlite|postgres [VEHICLES] [READINGS_PER_DAY]
# (defaults: 10,000 vehicles in one tenant, 365 days, 2 readings a day).
#  1. `bench generate` (peak RSS by /usr/bin/time), then the raw insert
#     baseline of as many readings (scripts/bench/raw_readings.py);
#  2. a tenant of 5 vehicles with 5 years of history, for the vehicle page;
#  3. `serve`, waiting for the start-up maintenance job, then HTTP load
#     (scripts/bench/http.sh) on the big tenant and the summary endpoint
#     on the 5-year one;
#  4. `bench reevaluate` (the due re-evaluation: the hourly pass, the first
#     pass of the next days, and a pass a year on where every state moves),
#     `admin rebuild-rollups`;
#  5. the 50,000-row Fuelly import (scripts/bench/import.sh).
# RESUME=1 reuses the database of an earlier run (after a failure in step 3 or later).
# BATCH=N sets the telemetry items per ingest transaction (default 2,000, as the
# telematics job; the API takes up to 10,000 a request).
# ORDER=time sends the telemetry as a live feed does (every vehicle's readings of
# one time together, schedules in place: `bench generate --order time`), and the raw
# baseline inserts its rows in the same order across as many vehicles; the default
# is vehicle by vehicle (a backfill).
# SCHEDULES_FROM=start (with ORDER=time) counts the schedules from the meters the
# history starts with, so the feed drives them through due soon to overdue
# (`bench generate --schedules-from start`); the default counts from its end.
# GENERATE_ONLY=1 stops after steps 1 and 2; RAW_BASELINE=0 skips the raw insert
# baseline (the 100 M-event fleet: `RAW_BASELINE=0 GENERATE_ONLY=1 suite.sh postgres
# 10000 17`, then the measurements with `RESUME=1 suite.sh postgres`).
# Every step writes JSON under target/bench/; the log is target/bench/suite-<backend>-<time>.log.
# MOTORPOOL_BIN=path runs another build (an A/B of two commits' binaries).
# Needs: a release build (cargo build --release), wrk, sqlite3 and psql;
# PostgreSQL on 127.0.0.1:5432 with trust auth for `postgres`.
set -euo pipefail
BACKEND=$1; VEHICLES=${2:-10000}; PER_DAY=${3:-2}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
B=${MOTORPOOL_BIN:-$ROOT/target/release/motorpool}
PORT=18093
mkdir -p target/bench /tmp/bench
LOG=target/bench/suite-$BACKEND-$(date +%s).log
exec > >(tee -a "$LOG") 2>&1
echo "suite: $BACKEND, $VEHICLES vehicles, $PER_DAY readings a day, ${ORDER:-vehicle} order, commit $(git rev-parse --short HEAD)"

# RESUME=1 keeps the database of an earlier run and starts at step 3.
RESUME=${RESUME:-0}
case $BACKEND in
  sqlite)
    [ "$RESUME" = 1 ] || rm -f /tmp/bench/suite.db*
    URL=sqlite:///tmp/bench/suite.db
    jobs_sql() { sqlite3 /tmp/bench/suite.db "$1"; } ;;
  postgres)
    DB=motorpool_suite
    if [ "$RESUME" != 1 ]; then
      psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" postgres
      psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $DB" postgres
    fi
    "$B" --database-url "postgres://postgres@127.0.0.1/$DB" migrate --app-role motorpool_bench >/dev/null 2>&1
    URL=postgres://motorpool_bench@127.0.0.1/$DB
    jobs_sql() { psql -At -h 127.0.0.1 -U postgres -c "$1" "$DB"; } ;;
  *) echo "backend: sqlite or postgres" >&2; exit 2 ;;
esac
export MOTORPOOL_DATABASE_URL=$URL MOTORPOOL_LOG_FORMAT=json RUST_LOG=warn

if [ "$RESUME" != 1 ]; then
echo "--- 1. generate"
ANALYZER=
if [ "$BACKEND" = postgres ] && [ "$(psql -At -h 127.0.0.1 -U postgres -c 'SHOW autovacuum' postgres)" = off ]; then
  # Without autovacuum the tables keep the statistics of their empty start,
  # and every pooled connection keeps the plans made from them (a seq scan
  # of each vehicle's fills took the import phase from 40 ms to over 200 ms
  # a vehicle by 3,000 vehicles). Stand in for it: ANALYZE once a minute.
  echo "(autovacuum is off: analyzing once a minute while generating)"
  ( while sleep 60; do psql -q -h 127.0.0.1 -U postgres -c "ANALYZE" "$DB" || true; done ) &
  ANALYZER=$!
fi
/usr/bin/time -f 'peak RSS %M kB, %e s' "$B" bench generate --vehicles "$VEHICLES" --days 365 \
  --per-tenant "$VEHICLES" --seed 1 --readings-per-day "$PER_DAY" --batch "${BATCH:-2000}" \
  --order "${ORDER:-vehicle}" ${SCHEDULES_FROM:+--schedules-from "$SCHEDULES_FROM"}
[ -z "$ANALYZER" ] || kill "$ANALYZER"
READINGS=$(python3 -c 'import glob, json, os, sys; f = max(glob.glob("target/bench/generate-*.json"), key=os.path.getmtime); print(json.load(open(f))["readings"])')
if [ "${RAW_BASELINE:-1}" != 0 ]; then
  echo "--- raw insert baseline of $READINGS readings"
  if [ "${ORDER:-vehicle}" = time ]; then export ORDER VEHICLES; fi
  python3 scripts/bench/raw_readings.py "$BACKEND" "$READINGS" | tee -a target/bench/raw-readings.jsonl
fi

echo "--- 2. a 5-year history"
"$B" bench generate --vehicles 5 --days 1825 --per-tenant 5 --seed 2 --prefix history --out-dir target/bench/history
"$B" admin create-user --email bench@example.com --tenant bench-1 >/dev/null
"$B" admin add-member --tenant history-1 --email bench@example.com --role owner >/dev/null
fi
if [ "${GENERATE_ONLY:-0}" = 1 ]; then echo "suite: generated (GENERATE_ONLY=1): $LOG"; exit 0; fi
TOKEN=$("$B" admin create-token --tenant bench-1 --email bench@example.com --name load --role-ceiling owner | grep -o 'mpt_[A-Za-z0-9_-]*' | head -1)
HISTORY_TOKEN=$("$B" admin create-token --tenant history-1 --email bench@example.com --name load --role-ceiling owner | grep -o 'mpt_[A-Za-z0-9_-]*' | head -1)

if [ "$BACKEND" = postgres ]; then
  # Statistics after the bulk load (autovacuum gets there eventually): with
  # the stale ones, PostgreSQL read one vehicle through the wrong index.
  # Without autovacuum, also clear the dead row versions the load's updates
  # left (vehicles' meters, fills' segments, the rollups): the 5-year
  # vehicle page spent its time stepping over them (991 -> 1,140 req/s).
  if [ "$(psql -At -h 127.0.0.1 -U postgres -c 'SHOW autovacuum' postgres)" = off ]; then
    psql -q -h 127.0.0.1 -U postgres -c "VACUUM (ANALYZE) vehicles, fuel_entries, maintenance_schedules,
      vehicle_daily_meters, vehicle_monthly_distance, vehicle_monthly_spend, fault_cycles" "$DB"
  fi
  psql -q -h 127.0.0.1 -U postgres -c "ANALYZE" "$DB"
fi
echo "--- 3. HTTP"
"$B" serve --listen 127.0.0.1:$PORT > /tmp/bench/suite-serve.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf http://127.0.0.1:$PORT/healthz >/dev/null && break; sleep 0.2; done
# The start-up maintenance job re-evaluates every schedule: measure after it.
for _ in $(seq 30); do
  [ "$(jobs_sql "SELECT count(*) FROM jobs WHERE kind = 'maintenance_due'")" != 0 ] && break
  sleep 1
done
for _ in $(seq 600); do
  [ "$(jobs_sql "SELECT count(*) FROM jobs WHERE kind = 'maintenance_due' AND state IN ('queued', 'running')")" = 0 ] && break
  sleep 1
done
scripts/bench/http.sh http://127.0.0.1:$PORT "$TOKEN" 10 64 3 || echo "(some runs failed: see above)"
ENDPOINTS=summary scripts/bench/http.sh http://127.0.0.1:$PORT "$HISTORY_TOKEN" 10 64 3 || echo "(some runs failed: see above)"
kill $SERVER; wait $SERVER 2>/dev/null || true

echo "--- 4. full due re-evaluation, rollup rebuild"
"$B" bench reevaluate --runs 3
# The first pass of each of the next three days:
"$B" bench reevaluate --runs 3 --days-ahead 1
# A year on, every schedule is overdue: every state moves, every vehicle is rescored.
"$B" bench reevaluate --runs 1 --days-ahead 400
"$B" admin rebuild-rollups

echo "--- 5. the 50,000-row import"
scripts/bench/import.sh "$BACKEND" 50000 3
echo "suite done: $LOG"
