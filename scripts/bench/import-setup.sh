# usage: setup.sh <database-url> <port>; prints the vehicle id
# Creates user bench@example.com in tenant `bench` and a car named Bench (mi) through the API.
set -e
B=${MOTORPOOL_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/target/release/motorpool}
export MOTORPOOL_DATABASE_URL=$1
$B admin create-user --email bench@example.com --tenant bench >/dev/null 2>&1
TOKEN=$($B admin create-token --tenant bench --email bench@example.com --name bench --role-ceiling owner 2>/dev/null | grep -o 'mpt_[A-Za-z0-9_-]*' | head -1)
$B serve --listen 127.0.0.1:$2 >/tmp/bench/serve.log 2>&1 &
PID=$!
for i in $(seq 50); do curl -sf http://127.0.0.1:$2/healthz >/dev/null && break; sleep 0.2; done
curl -sS -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d '{"name":"Bench","vehicle_type":"car","fuel_types":["gasoline"],"odometer_unit":"mi"}' \
  http://127.0.0.1:$2/api/v1/vehicles
kill $PID; wait $PID || true
