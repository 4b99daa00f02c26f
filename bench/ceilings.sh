#!/usr/bin/env bash
# The gateway against its bare ceilings, in one run, one method (issue 14):
#   - /health and /tenant: the gateway vs a bare axum server (HS256 verified on every request,
#     tenants in a HashMap; bench/ceilings.rs `axum`);
#   - POST /v1/chat/completions at 32 connections: the gateway vs a bare hyper reverse proxy
#     (bench/ceilings.rs `proxy`), both in front of the same stand-in upstream
#     (bench/chat_bench.rs `upstream`);
#   - added latency: the gateway vs calling the stand-in directly, median at 1 connection, and
#     time to the first streamed chunk.
# Servers (gateway, ceilings) are pinned to CPU 1, wrk and the stand-in to CPU 0. Each pair is
# measured ROUNDS times, alternating, and the median of each side is compared.
#
#   bash bench/ceilings.sh                 # ROUNDS=3, DURATION=5 (seconds per wrk run)
#
# Needs: a local Postgres (BENCH_ADMIN_DATABASE_URL), wrk (apt-get install -y wrk), curl.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
UPSTREAM_PORT=${UPSTREAM_PORT:-28281}
GATEWAY_PORT=${GATEWAY_PORT:-28280}
AXUM_PORT=${AXUM_PORT:-28282}
PROXY_PORT=${PROXY_PORT:-28283}
ADMIN_URL=${BENCH_ADMIN_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB_NAME=tenantgate_ceilings
TARGET=${CARGO_TARGET_DIR:-target}
BIN=$TARGET/release/tenantgate
CHAT=$TARGET/release/examples/chat_bench
CEIL=$TARGET/release/examples/ceilings

for tool in wrk curl psql; do
  command -v "$tool" >/dev/null || { echo "ceilings: $tool is required (apt-get install -y $tool)" >&2; exit 1; }
done
for port in "$UPSTREAM_PORT" "$GATEWAY_PORT" "$AXUM_PORT" "$PROXY_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "ceilings: port $port is already in use" >&2; exit 1
  fi
done

echo "== building (release)"
cargo build --release --quiet --bin tenantgate --example chat_bench --example ceilings

pin_server=() pin_load=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  pin_server=(taskset -c 1) pin_load=(taskset -c 0)
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$ADMIN_URL" -qX -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

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

"${pin_load[@]}" "$CHAT" upstream --port "$UPSTREAM_PORT" 2>"$work/upstream.log" & pids+=($!)
"${pin_server[@]}" "$BIN" serve >"$work/gateway.log" 2>&1 & pids+=($!)
"${pin_server[@]}" "$CEIL" axum --port "$AXUM_PORT" --jwt-secret "$JWT_SECRET_KEY" & pids+=($!)
"${pin_server[@]}" "$CEIL" proxy --port "$PROXY_PORT" --upstream "http://127.0.0.1:$UPSTREAM_PORT" & pids+=($!)
for _ in $(seq 1 100); do
  if curl -sf "http://127.0.0.1:$GATEWAY_PORT/health" >/dev/null &&
     curl -sf "http://127.0.0.1:$AXUM_PORT/health" >/dev/null &&
     curl -s -o /dev/null "http://127.0.0.1:$PROXY_PORT/"; then break; fi
  sleep 0.1
done
token=$(curl -sf "http://127.0.0.1:$GATEWAY_PORT/auth/token" -H 'content-type: application/json' \
  -d "{\"email\":\"bench@example.com\",\"password\":\"$password\"}" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
for url in "http://127.0.0.1:$GATEWAY_PORT/tenant" "http://127.0.0.1:$AXUM_PORT/tenant"; do
  curl -sf -o /dev/null -H "Authorization: Bearer $token" "$url" || { echo "ceilings: $url refused the token" >&2; exit 1; }
done

BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in one short sentence."}]}'
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
LUA

# wrk <connections> <url> [post] [token] → "p50_us rps"; fails on any non-2xx answer.
run_wrk() {
  local conns=$1 url=$2 post=${3:-} auth=${4:-} out
  local args=(-t1 -c"$conns" -d"${DURATION}s" --latency)
  [ -n "$post" ] && args+=(-s "$work/post.lua")
  [ -n "$auth" ] && args+=(-H "Authorization: Bearer $auth")
  out=$("${pin_load[@]}" wrk "${args[@]}" "$url")
  if grep -q 'Non-2xx\|Socket errors' <<<"$out"; then
    echo "ceilings: errors on $url:" >&2; echo "$out" >&2; exit 1
  fi
  awk 'function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; if (v ~ /s$/) return v * 1000000; return v }
    $1 == "50%" { p50 = us($2) } $1 == "Requests/sec:" { rps = $2 }
    END { printf "%.1f %.0f\n", p50, rps }' <<<"$out"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

G="http://127.0.0.1:$GATEWAY_PORT" A="http://127.0.0.1:$AXUM_PORT"
P="http://127.0.0.1:$PROXY_PORT" D="http://127.0.0.1:$UPSTREAM_PORT"
echo "== warming up"
DURATION=2 run_wrk 32 "$G/tenant" "" "$token" >/dev/null
DURATION=2 run_wrk 32 "$A/tenant" "" "$token" >/dev/null
DURATION=2 run_wrk 32 "$G/v1/chat/completions" post "$token" >/dev/null
DURATION=2 run_wrk 32 "$P/v1/chat/completions" post >/dev/null

echo "== measuring: $ROUNDS rounds x ${DURATION}s per run, servers on CPU 1, wrk and the stand-in on CPU 0"
for name in gh ah gt at gv pv d1 g1; do : >"$work/$name"; done
for _ in $(seq 1 "$ROUNDS"); do
  run_wrk 32 "$G/health" | cut -d' ' -f2 >>"$work/gh"
  run_wrk 32 "$A/health" | cut -d' ' -f2 >>"$work/ah"
  run_wrk 32 "$G/tenant" "" "$token" | cut -d' ' -f2 >>"$work/gt"
  run_wrk 32 "$A/tenant" "" "$token" | cut -d' ' -f2 >>"$work/at"
  run_wrk 32 "$G/v1/chat/completions" post "$token" | cut -d' ' -f2 >>"$work/gv"
  run_wrk 32 "$P/v1/chat/completions" post | cut -d' ' -f2 >>"$work/pv"
  run_wrk 1 "$D/v1/chat/completions" post | cut -d' ' -f1 >>"$work/d1"
  run_wrk 1 "$G/v1/chat/completions" post "$token" | cut -d' ' -f1 >>"$work/g1"
done
first() { "${pin_load[@]}" "$CHAT" first-chunk "$@" | sed -E 's/.*median=([0-9.]+).*/\1/'; }
df=$(first --url "$D/v1/chat/completions")
gf=$(first --url "$G/v1/chat/completions" --token "$token")

awk -v gh="$(median <"$work/gh")" -v ah="$(median <"$work/ah")" \
    -v gt="$(median <"$work/gt")" -v at="$(median <"$work/at")" \
    -v gv="$(median <"$work/gv")" -v pv="$(median <"$work/pv")" \
    -v d1="$(median <"$work/d1")" -v g1="$(median <"$work/g1")" -v df="$df" -v gf="$gf" 'BEGIN {
  printf "\n%-40s %12s %12s %10s %8s\n", "", "gateway", "ceiling", "ratio", "goal"
  printf "%-40s %10.0f/s %10.0f/s %9.2fx %7s\n", "/health, 32 connections (vs bare axum)", gh, ah, gh / ah, ">=0.95"
  printf "%-40s %10.0f/s %10.0f/s %9.2fx %7s\n", "/tenant, 32 connections (vs bare axum)", gt, at, gt / at, ">=1.00"
  printf "%-40s %10.0f/s %10.0f/s %9.2fx %7s\n", "/v1/chat/completions, 32 conn. (vs proxy)", gv, pv, gv / pv, ">=0.80"
  printf "\n%-40s %12s %12s %10s %8s\n", "", "gateway", "direct", "added", "goal"
  printf "%-40s %9.1f us %9.1f us %7.1f us %7s\n", "/v1 median latency, 1 connection", g1, d1, g1 - d1, "<=100"
  printf "%-40s %9.1f us %9.1f us %7.1f us %7s\n", "streamed: time to first chunk (median)", gf, df, gf - df, "<=150"
  printf "\nmet: /health %s, /tenant %s, /v1 throughput %s, added p50 %s, first chunk %s\n",
    (gh / ah >= 0.95 ? "yes" : "NO"), (gt / at >= 1.0 ? "yes" : "NO"), (gv / pv >= 0.8 ? "yes" : "NO"),
    (g1 - d1 <= 100 ? "yes" : "NO"), (gf - df <= 150 ? "yes" : "NO")
}'
