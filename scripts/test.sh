#!/usr/bin/env bash
# Runs every test of ebb on a fresh machine: sets up PostgreSQL, builds the
# example plugins to WebAssembly components, then the whole workspace's
# tests (unit tests, the plugin SDK and examples natively, and the
# end-to-end suite against real PostgreSQL through the real gateway).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

bash scripts/pg-setup.sh
bash scripts/build-plugins.sh
# cargo prints one "test result" line per test binary (the last one is often
# a crate's empty doc-tests); close with the sum of them all.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked "$@" 2>&1 | tee "$log"
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "total: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
