#!/usr/bin/env bash
# Where a request's work goes (issue 14): the gateway and the bare ceilings of
# bench/ceilings.sh run under valgrind's callgrind, which counts instructions, not seconds, so
# the figures repeat whatever else the machine is doing. For each route: instructions per
# request in the gateway and in its ceiling (their ratio is the CPU-bound share of the
# throughput ratio), then the gateway's functions by inclusive cost.
#
#   bash bench/profile.sh                 # REQUESTS=2000 per route after 200 to warm up
#   TOP=40 bash bench/profile.sh          # more functions per route
#   NO_BUILD=1 bash bench/profile.sh      # the release binaries as they are
#
# Profiles are kept in $CARGO_TARGET_DIR/profile/ (callgrind_annotate them for more).
# Needs: valgrind, curl, psql, a local Postgres.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_NAME=profile
. bench/lib.sh

REQUESTS=${REQUESTS:-2000}
WARM=${WARM:-200}
TOP=${TOP:-25}
UPSTREAM_PORT=28381 GATEWAY_PORT=28380 AXUM_PORT=28382 PROXY_PORT=28383
BIN=$BENCH_TARGET/release/tenantgate
CHAT=$BENCH_TARGET/release/examples/chat_bench
CEIL=$BENCH_TARGET/release/examples/ceilings
OUT=$BENCH_TARGET/profile

bench_require valgrind callgrind_control callgrind_annotate curl psql
bench_ports_free "$UPSTREAM_PORT" "$GATEWAY_PORT" "$AXUM_PORT" "$PROXY_PORT"
if [ -z "${NO_BUILD:-}" ]; then # NO_BUILD=1: profile the binaries already built
  echo "== building (release)"
  cargo build --release --quiet --bin tenantgate --example chat_bench --example ceilings
fi
mkdir -p "$OUT"
rm -f "$OUT"/callgrind.*

bench_fresh_db tenantgate_profile
bench_gateway_env "$GATEWAY_PORT" "$UPSTREAM_PORT"
bench_tenant bench none
password=$BENCH_PASSWORD

bench_spawn "$BENCH_WORK/upstream.log" "$CHAT" upstream --port "$UPSTREAM_PORT"
# Under callgrind: the gateway and both ceilings, each with its own output file.
grind() {
  local name=$1
  shift
  bench_spawn "$BENCH_WORK/$name.log" valgrind --tool=callgrind --collect-atstart=yes \
    --callgrind-out-file="$OUT/callgrind.$name" "$@"
  eval "PID_$name=$BENCH_PID"
}
grind gateway "$BIN" serve
grind axum "$CEIL" axum --port "$AXUM_PORT" --jwt-secret "$JWT_SECRET_KEY"
grind proxy "$CEIL" proxy --port "$PROXY_PORT" --upstream "http://127.0.0.1:$UPSTREAM_PORT"
for _ in $(seq 1 600); do
  curl -sf -o /dev/null "http://127.0.0.1:$GATEWAY_PORT/health" &&
    curl -sf -o /dev/null "http://127.0.0.1:$AXUM_PORT/health" &&
    curl -s -o /dev/null "http://127.0.0.1:$PROXY_PORT/" && break
  sleep 0.2
done
token=$(curl -sf "http://127.0.0.1:$GATEWAY_PORT/auth/token" -H 'content-type: application/json' \
  -d "{\"email\":\"bench@example.com\",\"password\":\"$password\"}" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
[ -n "$token" ] || bench_fail "no token from the gateway"
BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in one short sentence."}]}'

# hit <count> <url> [post] [token]: <count> requests on one kept-alive connection (one curl).
hit() {
  local count=$1 url=$2 post=${3:-} auth=${4:-} args=() i
  for i in $(seq 1 "$count"); do
    args+=(--next -s -o /dev/null -w '%{http_code}\n' "$url")
    [ -n "$auth" ] && args+=(-H "Authorization: Bearer $auth")
    [ -n "$post" ] && args+=(-H 'content-type: application/json' --data "$BODY")
  done
  curl "${args[@]:1}" | sort | uniq -c | awk '$2 !~ /^2/ { bad = 1 } END { exit bad }' ||
    bench_fail "non-2xx answers on $url"
}

# measure <process> <label> <url> [post] [token]: zeroes the counters after a warm-up, sends
# REQUESTS, dumps; prints instructions per request.
measure() {
  local name=$1 label=$2 pid
  shift 2
  pid=$(eval "echo \$PID_$name")
  hit "$WARM" "$@"
  callgrind_control -z "$pid" >/dev/null
  hit "$REQUESTS" "$@"
  callgrind_control -d "$label" "$pid" >/dev/null
  local file
  file=$(ls -t "$OUT"/callgrind."$name".* | head -1)
  mv "$file" "$OUT/callgrind.$label"
  local total
  total=$(callgrind_annotate "$OUT/callgrind.$label" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
  echo "$label $((total / REQUESTS))" >>"$BENCH_WORK/per-request"
}

G="http://127.0.0.1:$GATEWAY_PORT" A="http://127.0.0.1:$AXUM_PORT" P="http://127.0.0.1:$PROXY_PORT"
echo "== $REQUESTS requests per route after $WARM to warm up, one connection each"
measure gateway gateway-health "$G/health"
measure axum axum-health "$A/health"
measure gateway gateway-tenant "$G/tenant" "" "$token"
measure axum axum-tenant "$A/tenant" "" "$token"
measure gateway gateway-v1 "$G/v1/chat/completions" post "$token"
measure proxy proxy-v1 "$P/v1/chat/completions" post

per() { awk -v l="$1" '$1 == l { print $2 }' "$BENCH_WORK/per-request"; }
printf '\n%-22s %16s %16s %8s\n' "instructions/request" "gateway" "ceiling" "ratio"
for route in health tenant v1; do
  g=$(per "gateway-$route")
  c=$(per "axum-$route")
  [ "$route" = v1 ] && c=$(per "proxy-v1")
  printf '%-22s %16d %16d %7.2fx\n' "/$route" "$g" "$c" "$(awk -v g="$g" -v c="$c" 'BEGIN { print c / g }')"
done
echo "(ratio: ceiling / gateway, the throughput ratio if both were CPU-bound on one core)"
# The runtime's and the framework's own frames contain everything below them; what is listed is
# the gateway's code and the libraries it calls (inclusive), then the hottest functions (self).
NAMED='tenantgate::|tower_http::|reqwest::|serde_json::|url::|idna::|metrics|tracing|moka::|jsonwebtoken|matchit|uuid'
# listing <file> <inclusive yes|no> <regex>: "per cent  function" for the first TOP matches.
listing() {
  callgrind_annotate --inclusive="$2" --threshold=100 "$1" 2>/dev/null |
    awk -v top="$TOP" -v re="$3" '
      /PROGRAM TOTALS/ { total = $1; gsub(",", "", total); next }
      total && /^ *[0-9,]+ / {
        c = $1; gsub(",", "", c); $1 = ""; $2 = ""; sub(/^ +/, "")
        sub(/^[^:]*:/, ""); sub(/ \[[^]]*\]$/, "")
        if (c < 0.95 * total && $0 ~ re && ++k <= top) printf "%6.1f%%  %s\n", 100 * c / total, substr($0, 1, 140)
      }'
}
for route in health tenant v1; do
  echo
  echo "== gateway /$route, inclusive (per cent of the route's instructions)"
  listing "$OUT/callgrind.gateway-$route" yes "$NAMED"
  echo "== gateway /$route, self"
  listing "$OUT/callgrind.gateway-$route" no .
done
