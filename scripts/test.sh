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
cargo test --workspace --locked "$@"
