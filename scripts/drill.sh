#!/usr/bin/env bash
# Scale-out drill: three replicas behind haproxy and PgBouncer (transaction mode), Redis for
# shared limits. See docs/scale-out.md. DRILL_SHORT=1 for the short variant CI runs.
# Builds the debug binary when missing; every process it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
export TENANTGATE_BIN="${TENANTGATE_BIN:-$PWD/target/debug/tenantgate}"
if [ ! -x "$TENANTGATE_BIN" ]; then
  cargo build --bin tenantgate
fi
exec timeout --signal=TERM --kill-after=10 "${DRILL_TIMEOUT_SECONDS:-150}" python3 scripts/drill.py
