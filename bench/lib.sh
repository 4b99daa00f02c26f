# Shared setup of the bench scripts (sourced, not run): tool and port checks, a fresh database,
# the gateway's environment, and background processes stopped on exit.
#
#   . bench/lib.sh
#   bench_require wrk curl psql
#   bench_ports_free 28180 28181
#   bench_fresh_db tenantgate_bench        # exports DATABASE_URL, dropped again on exit
#   bench_gateway_env 28180 28181          # secrets, the upstream stand-in, HOST/PORT, LOG_LEVEL
#   bench_tenant bench none                # migrate, tenant `bench`, user bench@example.com
#   bench_spawn "$work/gateway.log" "$BIN" serve   # pid in $BENCH_PID, killed on exit
#
# Callers set BENCH_NAME (the prefix of messages) and may read BENCH_WORK (a temporary folder).

BENCH_NAME=${BENCH_NAME:-bench}
export PGOPTIONS=${PGOPTIONS:---client-min-messages=warning}
BENCH_ADMIN_URL=${BENCH_ADMIN_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
BENCH_TARGET=${CARGO_TARGET_DIR:-target}
BENCH_WORK=$(mktemp -d)
BENCH_PIDS=()
BENCH_DB=

bench_cleanup() {
  for pid in "${BENCH_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$BENCH_DB" ]; then
    psql "$BENCH_ADMIN_URL" -qX -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$BENCH_WORK"
}
trap bench_cleanup EXIT

bench_fail() { echo "$BENCH_NAME: $*" >&2; exit 1; }

bench_require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || bench_fail "$tool is required (apt-get install -y $tool)"
  done
}

bench_ports_free() {
  local port
  for port in "$@"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      bench_fail "port $port is already in use"
    fi
  done
}

bench_fresh_db() {
  BENCH_DB=$1
  psql "$BENCH_ADMIN_URL" -qX -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" \
    -c "CREATE DATABASE $BENCH_DB" >/dev/null
  export DATABASE_URL="${BENCH_ADMIN_URL%/*}/$BENCH_DB"
}

# bench_gateway_env <gateway port> <upstream port>: needs $BIN (the tenantgate binary).
bench_gateway_env() {
  SECRET_KEY=$("$BIN" gen-secret)
  JWT_SECRET_KEY=$("$BIN" gen-secret)
  export SECRET_KEY JWT_SECRET_KEY
  export OPENAI_API_KEY=sk-bench-upstream-key
  export OPENAI_BASE_URL="http://127.0.0.1:$2/v1"
  export CHAT_MODEL=gpt-4o-mini HOST=127.0.0.1 PORT=$1 LOG_LEVEL=warn
}

# bench_tenant <id> <retriever>: migrates, creates the tenant and its user <id>@example.com;
# the user's password in $BENCH_PASSWORD. Needs $BIN and the environment of bench_gateway_env.
bench_tenant() {
  "$BIN" migrate >/dev/null
  "$BIN" tenants create --id "$1" --name "${1^}" --retriever "$2" \
    --system-prompt "You are the $1 tenant's assistant. Answer briefly." >/dev/null
  BENCH_PASSWORD="$1-Password-$RANDOM-$RANDOM"
  printf '%s\n' "$BENCH_PASSWORD" | "$BIN" users create --email "$1@example.com" \
    --password-stdin --tenant "$1" >/dev/null
}

# bench_spawn <log file> <command...>: runs it in the background; its pid in $BENCH_PID.
bench_spawn() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 &
  BENCH_PID=$!
  BENCH_PIDS+=("$BENCH_PID")
}

# bench_wait_http <url>: waits up to 10 s for any HTTP answer.
bench_wait_http() {
  local _
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.1
  done
  bench_fail "nothing answers on $1"
}
