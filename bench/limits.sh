#!/usr/bin/env bash
# What request limits cost on the tenant path: `GET /tenant` (valid token) with limits off, with
# limits counted in the process (no REDIS_URL), and with limits counted in Redis, in one run.
# Three gateways (one per mode) on core 0, wrk on core 1, 32 connections; the modes are measured
# in turn, ROUNDS times, so a burst of load from elsewhere hits every mode alike; the summary is
# the median of the per-round ratios. The limit is
# far above what the run sends, so every request is counted and none refused.
#
#   bash bench/limits.sh                  # 5 s per measurement, 2 rounds
#   DURATION=10s ROUNDS=3 bash bench/limits.sh
#
# Needs wrk (apt-get install -y wrk), Postgres (DATABASE_URL's server, default local) and Redis
# (REDIS_URL, default redis://127.0.0.1:6379; keys under a prefix of their own).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-5s}"
ROUNDS="${ROUNDS:-2}"
CONNECTIONS="${CONNECTIONS:-32}"
BASE_PORT="${BASE_PORT:-18130}"
SERVER="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
REDIS="${REDIS_URL:-redis://127.0.0.1:6379}"
DB_URL="${SERVER%/*}/tenantgate_limits_bench"
LIMIT=1000000000
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)" >&2; exit 1; }

# TENANTGATE_BIN: a release binary already built (skips the build).
BIN="${TENANTGATE_BIN:-}"
if [ -z "$BIN" ]; then
  cargo build --release --quiet --bin tenantgate
  BIN=target/release/tenantgate
fi
psql "$SERVER" -qc "DROP DATABASE IF EXISTS tenantgate_limits_bench WITH (FORCE)" \
  -c "CREATE DATABASE tenantgate_limits_bench" >/dev/null

export DATABASE_URL="$DB_URL" SECRET_KEY="$($BIN gen-secret)"
export JWT_SECRET_KEY="limits-bench-secret-0123456789-abcdefghijklmnop"
export HOST=127.0.0.1 LOG_LEVEL=warn
$BIN migrate >/dev/null
$BIN tenants create --id acme --name Acme >/dev/null
TOKEN=$(python3 - <<PY
import base64, hashlib, hmac, json, time
b = lambda d: base64.urlsafe_b64encode(json.dumps(d, separators=(",", ":")).encode()).rstrip(b"=")
signing = b({"alg": "HS256", "typ": "JWT"}) + b"." + b({"sub": "wrk", "tenant_id": "acme", "exp": int(time.time()) + 3600})
sig = base64.urlsafe_b64encode(hmac.new(b"$JWT_SECRET_KEY", signing, hashlib.sha256).digest()).rstrip(b"=")
print((signing + b"." + sig).decode())
PY
)

MODES=(off local redis)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql "$SERVER" -qc "DROP DATABASE IF EXISTS tenantgate_limits_bench WITH (FORCE)" >/dev/null
}
trap cleanup EXIT
PREFIX="limits-bench-$$:"
for i in "${!MODES[@]}"; do
  port=$((BASE_PORT + i))
  case "${MODES[$i]}" in
    off) env PORT=$port taskset -c 0 $BIN serve & ;;
    local) env PORT=$port TENANT_REQUESTS_PER_MINUTE=$LIMIT taskset -c 0 $BIN serve & ;;
    redis) env PORT=$port TENANT_REQUESTS_PER_MINUTE=$LIMIT REDIS_URL="$REDIS" \
             REDIS_KEY_PREFIX="$PREFIX" taskset -c 0 $BIN serve & ;;
  esac
  PIDS+=($!)
done
for i in "${!MODES[@]}"; do
  port=$((BASE_PORT + i))
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.05; done
  headers=$(curl -sf -D - -o /dev/null -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$port/tenant") \
    || { echo "tenant route failed on ${MODES[$i]}" >&2; exit 1; }
  # Limits on: the response says so (x-ratelimit-limit-requests); off: no such header.
  if [ "${MODES[$i]}" = off ] && grep -qi '^x-ratelimit-limit-requests' <<<"$headers"; then
    echo "limits are on in the 'off' gateway" >&2; exit 1
  fi
  if [ "${MODES[$i]}" != off ] && ! grep -qi '^x-ratelimit-limit-requests' <<<"$headers"; then
    echo "limits are off in the '${MODES[$i]}' gateway" >&2; exit 1
  fi
  # Warm-up: caches, pools, the Redis connection.
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d2s -H "Authorization: Bearer $TOKEN" \
    "http://127.0.0.1:$port/tenant" >/dev/null
done

declare -A RPS
for round in $(seq 1 "$ROUNDS"); do
  for i in "${!MODES[@]}"; do
    mode=${MODES[$i]}
    out=$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency \
      -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$((BASE_PORT + i))/tenant")
    if grep -q "Non-2xx" <<<"$out"; then echo "$mode: non-2xx answers" >&2; echo "$out" >&2; exit 1; fi
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '/ 50%/ {print $2}' <<<"$out")
    RPS[$mode]="${RPS[$mode]:-}${RPS[$mode]:+,}$rps"
    printf 'round %s  %-6s %12s req/s   p50 %s\n' "$round" "$mode" "$rps" "$p50"
  done
done
echo "connections=$CONNECTIONS duration=$DURATION rounds=$ROUNDS (gateways on core 0, wrk on core 1)"
# Each round's ratio pairs measurements taken seconds apart; the median of those ratios is
# what load from elsewhere disturbs least.
python3 - "${RPS[off]}" "${RPS[local]}" "${RPS[redis]}" <<'PY'
import statistics, sys
off, local, redis = ([float(x) for x in arg.split(",")] for arg in sys.argv[1:])
for name, runs in [("off", off), ("local", local), ("redis", redis)]:
    ratios = [r / o for r, o in zip(runs, off)]
    print(f"{name:6} median {statistics.median(runs):9.0f} req/s   "
          f"ratio to off: median {statistics.median(ratios):.3f} "
          f"(rounds: {', '.join(f'{x:.2f}' for x in ratios)})")
PY
