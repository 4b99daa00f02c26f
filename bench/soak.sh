#!/usr/bin/env bash
# The soak (issue 14): DURATION seconds (600) of mixed traffic at a fixed rate against the
# gateway (release build) with the stand-in upstream (bench/chat_bench.rs `upstream`), on a
# fresh database with one built-in-retriever tenant holding a few documents.
#
# Routes, open loop (requests are sent on schedule whether or not earlier ones have answered;
# latency counts from the scheduled time): GET /tenant, POST /search, POST /chat (plain and
# streamed), POST /v1/chat/completions, GET /admin/tenants and /admin/tenants/soak (admin
# reads), POST /auth/token (logins), GET and POST /documents.
#
# The gateway's RSS is read from /proc/<pid>/status every RSS_EVERY seconds. At the end
# bench/soak.py prints a table per route (count, unexpected statuses, p50, p99 in the first and
# the last minute) and the RSS at the end of the warm-up and at the end, draws
# $SOAK_OUT/soak.png (RSS and p99 per route over time; matplotlib from a venv made on first
# use, see below) and writes $SOAK_OUT/soak.csv. It exits non-zero when a criterion fails:
#   - any unexpected status (or transport error);
#   - RSS growing by 10 % or more from the end of the warm-up to the end (medians of the 30 s
#     right after the warm-up and of the last 30 s: the allocator hands memory back in steps);
#   - a route's last-minute p99 above max(2 × its first-minute p99 after warm-up, +5 ms).
#
#   bash bench/soak.sh                      # DURATION=600 RATE=100 WARMUP=60
#   DURATION=120 WARMUP=30 bash bench/soak.sh
#
# Settings (environment): DURATION, RATE (requests per second, all routes together), WARMUP
# (seconds; the first minute of the p99 comparison starts after it), RSS_EVERY (2),
# SOAK_OUT (bench/soak), SOAK_PYTHON (a python3 with matplotlib; default: the venv
# $CARGO_TARGET_DIR/soak-venv, created with `pip install matplotlib` when missing),
# GATEWAY_PORT (28380), UPSTREAM_PORT (28381), CARGO_TARGET_DIR (target), SOAK_PROFILE
# (release; `debug` to check the script quickly against the debug build).
# Needs: a local Postgres (BENCH_ADMIN_DATABASE_URL), curl, python3 (with venv and pip to draw).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-600}
RATE=${RATE:-100}
WARMUP=${WARMUP:-60}
RSS_EVERY=${RSS_EVERY:-2}
SOAK_OUT=${SOAK_OUT:-bench/soak}
GATEWAY_PORT=${GATEWAY_PORT:-28380}
UPSTREAM_PORT=${UPSTREAM_PORT:-28381}
BENCH_NAME=soak
. bench/lib.sh
# SOAK_PROFILE=debug runs the debug build (a quick check of the script, not a measurement).
SOAK_PROFILE=${SOAK_PROFILE:-release}
BIN=$BENCH_TARGET/$SOAK_PROFILE/tenantgate
CHAT=$BENCH_TARGET/$SOAK_PROFILE/examples/chat_bench

bench_require curl psql python3
bench_ports_free "$GATEWAY_PORT" "$UPSTREAM_PORT"

if [ -z "${SOAK_PYTHON:-}" ]; then
  venv=$BENCH_TARGET/soak-venv
  if ! "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
    echo "== a venv with matplotlib for the plot ($venv)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet matplotlib
  fi
  SOAK_PYTHON=$venv/bin/python
fi

echo "== building ($SOAK_PROFILE)"
if [ "$SOAK_PROFILE" = release ]; then
  cargo build --release --quiet --bin tenantgate --example chat_bench
else
  cargo build --quiet --bin tenantgate --example chat_bench
fi

echo "== fresh database tenantgate_soak"
bench_fresh_db tenantgate_soak
bench_gateway_env "$GATEWAY_PORT" "$UPSTREAM_PORT"
bench_tenant soak builtin
password=$BENCH_PASSWORD
printf '%s\n' "$password" | "$BIN" users create --email root@example.com --password-stdin --superuser >/dev/null
api_key=$("$BIN" api-keys create --tenant soak --name soak | tail -1)

echo "== starting the upstream stand-in and the gateway"
bench_spawn "$BENCH_WORK/upstream.log" "$CHAT" upstream --port "$UPSTREAM_PORT" --stream-gap-ms 2
bench_spawn "$BENCH_WORK/gateway.log" "$BIN" serve
gateway_pid=$BENCH_PID
bench_wait_http "http://127.0.0.1:$GATEWAY_PORT/health"
bench_wait_http "http://127.0.0.1:$UPSTREAM_PORT/"

echo "== soak: ${DURATION}s at ${RATE} req/s (warm-up ${WARMUP}s)"
mkdir -p "$SOAK_OUT"
status=0
SOAK_PASSWORD=$password SOAK_API_KEY=$api_key "$SOAK_PYTHON" bench/soak.py \
  --base "http://127.0.0.1:$GATEWAY_PORT" --pid "$gateway_pid" \
  --duration "$DURATION" --rate "$RATE" --warmup "$WARMUP" --rss-every "$RSS_EVERY" \
  --out "$SOAK_OUT" || status=$?
if [ "$status" -ne 0 ]; then
  echo "== the gateway's last log lines" >&2
  tail -20 "$BENCH_WORK/gateway.log" >&2
fi
exit "$status"
