#!/usr/bin/env bash
# The gateway's added latency on POST /v1/chat/completions, against a tiny local upstream.
#
# Starts `chat_bench upstream` (a fast OpenAI stand-in) and the gateway (release build) on a
# fresh database with one tenant on `retriever: none` (prompt injection only), then measures,
# in the same run, calling the upstream directly and through the gateway:
#   - non-streaming latency at 1 connection (median, p99) and throughput at 32 connections (wrk);
#   - time to the first streamed chunk (chat_bench first-chunk, one kept-alive connection).
# Prints a table with the differences and ratios, and the issue's goals.
#
# Needs: a local Postgres (BENCH_ADMIN_DATABASE_URL), wrk (apt-get install -y wrk), curl.
# Settings (environment): DURATION (seconds per wrk run, 10), UPSTREAM_PORT (28181),
# GATEWAY_PORT (28180), BENCH_PIN=1 to pin the gateway to CPU 1 and upstream + load tool to
# CPU 0 with taskset (default: no pinning, everything shares the machine), BENCH_GATEWAY_WORKERS=N
# to run the gateway with N tokio worker threads (TOKIO_WORKER_THREADS; default: one per CPU).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
UPSTREAM_PORT=${UPSTREAM_PORT:-28181}
GATEWAY_PORT=${GATEWAY_PORT:-28180}
ADMIN_URL=${BENCH_ADMIN_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB_NAME=tenantgate_bench
BIN=target/release/tenantgate
TOOL=target/release/examples/chat_bench

for tool in wrk curl psql; do
  command -v "$tool" >/dev/null || { echo "chat_latency: $tool is required" >&2; exit 1; }
done

for port in "$UPSTREAM_PORT" "$GATEWAY_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "chat_latency: port $port is already in use (set UPSTREAM_PORT / GATEWAY_PORT)" >&2; exit 1
  fi
done

echo "== building (release)"
cargo build --release --quiet --bin tenantgate --example chat_bench

pin_gateway=() pin_load=()
if [ "${BENCH_PIN:-0}" = 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  pin_gateway=(taskset -c 1) pin_load=(taskset -c 0)
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== fresh database $DB_NAME"
psql "$ADMIN_URL" -qX -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" -c "CREATE DATABASE $DB_NAME" >/dev/null
export DATABASE_URL="${ADMIN_URL%/*}/$DB_NAME"
SECRET_KEY=$("$BIN" gen-secret)
JWT_SECRET_KEY=$("$BIN" gen-secret)
export SECRET_KEY JWT_SECRET_KEY
export OPENAI_API_KEY=sk-bench-upstream-key
export OPENAI_BASE_URL="http://127.0.0.1:$UPSTREAM_PORT/v1"
export CHAT_MODEL=gpt-4o-mini HOST=127.0.0.1 PORT=$GATEWAY_PORT LOG_LEVEL=warn
"$BIN" migrate >/dev/null
"$BIN" tenants create --id bench --name "Bench" --retriever none \
  --system-prompt "You are the benchmark tenant's assistant. Answer briefly." >/dev/null
password="bench-Password-$RANDOM-$RANDOM"
printf '%s\n' "$password" | "$BIN" users create --email bench@example.com --password-stdin --tenant bench >/dev/null

echo "== starting the upstream stand-in and the gateway"
"${pin_load[@]}" "$TOOL" upstream --port "$UPSTREAM_PORT" 2>"$work/upstream.log" &
pids+=($!)
gateway_env=()
[ -n "${BENCH_GATEWAY_WORKERS:-}" ] && gateway_env=(env "TOKIO_WORKER_THREADS=$BENCH_GATEWAY_WORKERS")
"${pin_gateway[@]}" "${gateway_env[@]}" "$BIN" serve >"$work/gateway.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  if curl -sf "http://127.0.0.1:$GATEWAY_PORT/health" >/dev/null &&
     curl -s -o /dev/null "http://127.0.0.1:$UPSTREAM_PORT/"; then break; fi
  sleep 0.1
done

token=$(curl -sf "http://127.0.0.1:$GATEWAY_PORT/auth/token" -H 'content-type: application/json' \
  -d "{\"email\":\"bench@example.com\",\"password\":\"$password\"}" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
DIRECT="http://127.0.0.1:$UPSTREAM_PORT/v1/chat/completions"
GATEWAY="http://127.0.0.1:$GATEWAY_PORT/v1/chat/completions"
BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in one short sentence."}]}'

check=$(curl -s -w ' %{http_code}' "$GATEWAY" -H "authorization: Bearer $token" -H 'content-type: application/json' -d "$BODY")
case "$check" in
  *chat.completion*' 200') ;;
  *) echo "chat_latency: the gateway did not answer a completion: $check" >&2; cat "$work/gateway.log" >&2; exit 1 ;;
esac

cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
LUA

# wrk <connections> <threads> <url> [auth header] → "median_us p99_us requests_per_second"
run_wrk() {
  local conns=$1 threads=$2 url=$3 auth=${4:-} out
  local args=(-t"$threads" -c"$conns" -d"${DURATION}s" --latency -s "$work/post.lua")
  [ -n "$auth" ] && args+=(-H "Authorization: Bearer $auth")
  out=$("${pin_load[@]}" wrk "${args[@]}" "$url")
  if grep -q 'Non-2xx' <<<"$out"; then
    echo "chat_latency: errors during the run:" >&2; echo "$out" >&2
    echo "chat_latency: $url now answers:" >&2
    curl -s -w ' %{http_code}\n' "$url" ${auth:+-H "authorization: Bearer $auth"} -H 'content-type: application/json' -d "$BODY" >&2
    tail -5 "$work/gateway.log" >&2
    exit 1
  fi
  awk '
    function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; if (v ~ /s$/) return v * 1000000; return v }
    $1 == "50%" { p50 = us($2) } $1 == "99%" { p99 = us($2) } $1 == "Requests/sec:" { rps = $2 }
    END { printf "%.1f %.1f %.0f\n", p50, p99, rps }' <<<"$out"
}

first_chunk() {
  local url=$1 auth=${2:-} args=(--url "$1")
  [ -n "$auth" ] && args+=(--token "$auth")
  "${pin_load[@]}" "$TOOL" first-chunk "${args[@]}" | sed -E 's/.*median=([0-9.]+).*/\1/'
}

echo "== warming up"
DURATION=2 run_wrk 4 1 "$DIRECT" >/dev/null
DURATION=2 run_wrk 4 1 "$GATEWAY" "$token" >/dev/null

echo "== measuring (${DURATION}s per run; pinning: ${BENCH_PIN:-0}; gateway workers: ${BENCH_GATEWAY_WORKERS:-default})"
read -r d1_p50 d1_p99 d1_rps < <(run_wrk 1 1 "$DIRECT")
read -r g1_p50 g1_p99 g1_rps < <(run_wrk 1 1 "$GATEWAY" "$token")
read -r d32_p50 d32_p99 d32_rps < <(run_wrk 32 2 "$DIRECT")
read -r g32_p50 g32_p99 g32_rps < <(run_wrk 32 2 "$GATEWAY" "$token")
d_first=$(first_chunk "$DIRECT")
g_first=$(first_chunk "$GATEWAY" "$token")

awk -v d1="$d1_p50" -v g1="$g1_p50" -v d1q="$d1_p99" -v g1q="$g1_p99" \
    -v d1r="$d1_rps" -v g1r="$g1_rps" -v d32="$d32_p50" -v g32="$g32_p50" \
    -v d32r="$d32_rps" -v g32r="$g32_rps" -v df="$d_first" -v gf="$g_first" 'BEGIN {
  printf "\n%-38s %12s %12s %14s\n", "non-streaming /v1/chat/completions", "direct", "gateway", "difference"
  printf "%-38s %9.1f us %9.1f us %+11.1f us\n", "median latency, 1 connection", d1, g1, g1 - d1
  printf "%-38s %9.1f us %9.1f us %+11.1f us\n", "p99 latency, 1 connection", d1q, g1q, g1q - d1q
  printf "%-38s %10.0f/s %10.0f/s %13.2fx\n", "throughput, 1 connection", d1r, g1r, g1r / d1r
  printf "%-38s %9.1f us %9.1f us %+11.1f us\n", "median latency, 32 connections", d32, g32, g32 - d32
  printf "%-38s %10.0f/s %10.0f/s %13.2fx\n", "throughput, 32 connections", d32r, g32r, g32r / d32r
  printf "%-38s %9.1f us %9.1f us %+11.1f us\n", "streamed: time to first chunk (median)", df, gf, gf - df
  printf "\ngoal: <= 200 us added at the median, 1 connection: %s (%+.1f us)\n", (g1 - d1 <= 200 ? "met" : "MISSED"), g1 - d1
  printf "goal: >= 1/4 of the upstream throughput at 32 connections: %s (%.2f)\n", (g32r / d32r >= 0.25 ? "met" : "MISSED"), g32r / d32r
}'
