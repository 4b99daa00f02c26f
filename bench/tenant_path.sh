#!/usr/bin/env bash
# HTTP throughput of the tenant path: `GET /tenant` with a valid token vs `GET /health`, on the
# same server in the same run. The gateway is pinned to core 0, wrk to core 1, 32 connections.
#
#   bash bench/tenant_path.sh            # 10 s per route
#   DURATION=30s bash bench/tenant_path.sh
#
# Needs wrk (apt-get install -y wrk) and Postgres (DATABASE_URL's server, default local).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
PORT="${PORT:-18123}"
SERVER="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DB_URL="${SERVER%/*}/tenantgate_wrk"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)" >&2; exit 1; }

cargo build --release --quiet
BIN=target/release/tenantgate
psql "$SERVER" -qc "DROP DATABASE IF EXISTS tenantgate_wrk WITH (FORCE)" -c "CREATE DATABASE tenantgate_wrk" >/dev/null

export DATABASE_URL="$DB_URL" SECRET_KEY="$($BIN gen-secret)" JWT_SECRET_KEY="wrk-bench-secret-0123456789-abcdefghijklmnop"
export HOST=127.0.0.1 PORT LOG_LEVEL=warn
$BIN migrate >/dev/null
$BIN tenants create --id acme --name Acme --system-prompt "Be brief." >/dev/null
TOKEN=$(python3 - <<PY
import base64, hashlib, hmac, json, time
b = lambda d: base64.urlsafe_b64encode(json.dumps(d, separators=(",", ":")).encode()).rstrip(b"=")
signing = b({"alg": "HS256", "typ": "JWT"}) + b"." + b({"sub": "wrk", "tenant_id": "acme", "exp": int(time.time()) + 3600})
sig = base64.urlsafe_b64encode(hmac.new(b"$JWT_SECRET_KEY", signing, hashlib.sha256).digest()).rstrip(b"=")
print((signing + b"." + sig).decode())
PY
)

taskset -c 0 $BIN serve &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null; wait $SERVER_PID 2>/dev/null; psql "$SERVER" -qc "DROP DATABASE IF EXISTS tenantgate_wrk WITH (FORCE)" >/dev/null' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null && break; sleep 0.05; done
curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/tenant" >/dev/null || { echo "tenant route failed" >&2; exit 1; }

run() { # $1 = name, rest = wrk args
  local name=$1; shift
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "$@" | tee "/tmp/wrk-$name.txt" >/dev/null
  awk '/Requests\/sec/ {print $2}' "/tmp/wrk-$name.txt"
}
# Warm up both routes (caches, connection pools), then measure.
taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d2s "http://127.0.0.1:$PORT/health" >/dev/null
taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d2s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/tenant" >/dev/null
HEALTH=$(run health "http://127.0.0.1:$PORT/health")
TENANT=$(run tenant -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/tenant")
p50() { awk '/ 50%/ {print $2}' "/tmp/wrk-$1.txt"; }
echo "connections=$CONNECTIONS duration=$DURATION (server on core 0, wrk on core 1)"
printf '%-10s %12s req/s   p50 %s\n' "/health" "$HEALTH" "$(p50 health)"
printf '%-10s %12s req/s   p50 %s\n' "/tenant" "$TENANT" "$(p50 tenant)"
python3 -c "print(f'ratio /tenant : /health = {float($TENANT)/float($HEALTH):.3f}')"
