#!/usr/bin/env bash
# Runs ebb's RPC contract suite (tests/tests/sim/contract*.rs: what ebb_push
# and ebb_pull answer, case by case) against a PostgREST of your choice, or
# with --gateway against a fresh `ebb-gateway` process as CI does.
#
#   EBB_POSTGREST_URL=https://PROJECT.supabase.co/rest/v1 \
#   EBB_POSTGREST_DB=postgres://postgres:PASSWORD@db.PROJECT.supabase.co:5432/postgres \
#   EBB_POSTGREST_KEY=<anon or service key> [EBB_POSTGREST_TOKEN=<a user's JWT>] \
#   scripts/contract.sh --setup
#
# EBB_POSTGREST_DB must be a SCRATCH database: --setup creates the example
# tables (example/server.sql) and installs ebb on them (`ebb remote-sql`),
# and every case empties those tables and ebb's bookkeeping before it runs.
# Without --setup the tables must already be there. Secrets are read from
# the environment and never printed.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
setup=0 gateway=0
for arg in "$@"; do
  case "$arg" in
    --setup) setup=1 ;;
    --gateway) gateway=1 setup=1 ;;
    *) echo "contract: unknown argument $arg (use --setup or --gateway)" >&2; exit 2 ;;
  esac
done

cargo build --locked -q -p ebb -p ebb-gateway
ebb="$CARGO_TARGET_DIR/debug/ebb"

if [ "$gateway" = 1 ]; then
  bash scripts/pg-setup.sh
  pg="host=/var/run/postgresql user=postgres"
  database="ebb_t_contract_$$"
  psql "$pg dbname=postgres" -qc "create database $database"
  key="contract-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  log=$(mktemp)
  EBB_API_KEY="$key" "$CARGO_TARGET_DIR/debug/ebb-gateway" --listen "127.0.0.1:$port" \
    --database "$pg dbname=$database" >"$log" 2>&1 &
  pid=$!
  trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; psql "$pg dbname=postgres" -qc "drop database if exists $database with (force)"; rm -f "$log"' EXIT
  for _ in $(seq 1 100); do
    (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
    sleep 0.1
  done
  export EBB_POSTGREST_URL="http://127.0.0.1:$port/rest/v1"
  export EBB_POSTGREST_DB="$pg dbname=$database"
  export EBB_POSTGREST_KEY="$key"
fi

: "${EBB_POSTGREST_URL:?set EBB_POSTGREST_URL to the PostgREST root (on Supabase https://PROJECT.supabase.co/rest/v1)}"
: "${EBB_POSTGREST_DB:?set EBB_POSTGREST_DB to a connection string of the scratch database behind it}"

if [ "$setup" = 1 ]; then
  psql "$EBB_POSTGREST_DB" -q -v ON_ERROR_STOP=1 -f example/server.sql >/dev/null
  "$ebb" --config policies.toml remote-sql | psql "$EBB_POSTGREST_DB" -q -v ON_ERROR_STOP=1 >/dev/null
  # A running PostgREST caches the schema: tell it the functions are there.
  psql "$EBB_POSTGREST_DB" -q -c "NOTIFY pgrst, 'reload schema'" >/dev/null
  sleep 1
  echo "contract: example tables and ebb installed"
fi

echo "contract: running every case against $EBB_POSTGREST_URL"
cargo test --locked -q -p ebb-tests --test sim -- --ignored --test-threads=1 ::postgrest
