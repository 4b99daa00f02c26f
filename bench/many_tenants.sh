#!/usr/bin/env bash
# 100,000 tenants loaded once, then warm: RSS and the cold-load time (bench/many_tenants.rs).
#   bash bench/many_tenants.sh              # TENANTS=100000
# Needs a local Postgres (BENCH_ADMIN_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --example many_tenants
exec "${CARGO_TARGET_DIR:-target}/release/examples/many_tenants"
