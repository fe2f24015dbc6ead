#!/usr/bin/env bash
# The 50,000-row Fuelly import, end to end, RUNS times on a fresh database.
#   scripts/bench/import.sh sqlite|postgres [ROWS] [RUNS]
# Each run: a fresh database (SQLite file, or a PostgreSQL database migrated
# by the owner with the app role `motorpool_bench`, row-level security on),
# a tenant `bench` with a car `Bench`, then `motorpool import` timed by
# /usr/bin/time. One JSON line per run in target/bench/import-<unix time>.jsonl.
set -euo pipefail
BACKEND=$1; ROWS=${2:-50000}; RUNS=${3:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${MOTORPOOL_BIN:-$ROOT/target/release/motorpool}
OUT=$ROOT/target/bench/import-$(date +%s).jsonl
mkdir -p "$ROOT/target/bench" /tmp/bench
FILE=/tmp/bench/fuelly-$ROWS.csv
python3 "$ROOT/scripts/bench/fuelly_file.py" "$ROWS" > "$FILE"
for run in $(seq "$RUNS"); do
  case $BACKEND in
    sqlite)
      rm -f /tmp/bench/import.db*
      URL=sqlite:///tmp/bench/import.db ;;
    postgres)
      DB=motorpool_import_bench
      psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" postgres
      psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $DB" postgres
      "$B" --database-url "postgres://postgres@127.0.0.1/$DB" migrate --app-role motorpool_bench >/dev/null
      URL=postgres://motorpool_bench@127.0.0.1/$DB ;;
    *) echo "backend: sqlite or postgres" >&2; exit 2 ;;
  esac
  bash "$ROOT/scripts/bench/import-setup.sh" "$URL" 18080 >/dev/null
  MOTORPOOL_DATABASE_URL=$URL /usr/bin/time -f '%e %M' -o /tmp/bench/import.time \
    "$B" import "$FILE" --tenant bench --vehicle Bench > /tmp/bench/import.out 2>&1
  read -r SECS RSS_KB < /tmp/bench/import.time
  echo "{\"bench\": \"import\", \"backend\": \"$BACKEND\", \"rows\": $ROWS, \"run\": $run, \"seconds\": $SECS, \"peak_rss_kb\": $RSS_KB, \"commit\": \"$(git -C "$ROOT" rev-parse --short HEAD)\"}" | tee -a "$OUT"
done
python3 - "$OUT" <<'EOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
s = [r["seconds"] for r in runs]
print(f"median {statistics.median(s):.2f} s, spread {min(s):.2f}-{max(s):.2f} s over {len(s)} runs")
EOF
echo "results in $OUT"
