#!/usr/bin/env bash
# Builds what ships (the `dist` profile: stripped, thin LTO) and prints the
# size of the till's `ebb` and of `ebb-gateway`, and how many crates each
# carries (normal dependencies, from `cargo tree`). The till must carry no
# Postgres client and no JWT/RSA code; this script fails if it does.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --locked -q --profile dist -p ebb -p ebb-gateway
crates() { cargo tree --locked -q -p "$1" -e normal --prefix none | sed 's/ (\*)//; s/ (proc-macro)//' | sort -u | wc -l; }
for bin in ebb ebb-gateway; do
  bytes=$(stat -c %s "$CARGO_TARGET_DIR/dist/$bin")
  mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
  printf '%-12s %6s MB  %10d bytes  %s crates\n' "$bin" "$mb" "$bytes" "$(crates "$bin")"
done
forbidden=$(cargo tree --locked -q -p ebb -e normal --prefix none | grep -E '^(tokio-postgres|postgres-protocol|deadpool-postgres|jsonwebtoken|rsa) ' || true)
if [ -n "$forbidden" ]; then
  echo "size: the till carries what it must not:" >&2
  echo "$forbidden" >&2
  exit 1
fi
echo "size: the till (ebb) carries no Postgres client, JWT or RSA code"
