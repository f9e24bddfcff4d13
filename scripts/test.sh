#!/usr/bin/env bash
# Runs every test of ebb on a fresh machine: sets up PostgreSQL, builds the
# example plugins to WebAssembly components, then the whole workspace's
# tests (unit tests, the plugin SDK and examples natively, and the
# end-to-end suite against real PostgreSQL through the real gateway).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
# A one-off build gains nothing from incremental state (gigabytes on disk).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

# A clean build of the workspace's tests needs about 4 GB; say so up front
# rather than let the linker die with a bus error on a full disk.
mkdir -p "$CARGO_TARGET_DIR"
free_kb=$(df -Pk "$CARGO_TARGET_DIR" | awk 'NR == 2 { print $4 }')
if [ "${free_kb:-0}" -lt 4000000 ]; then
  echo "test: warning: only $((free_kb / 1024)) MB free under $CARGO_TARGET_DIR; a clean build needs about 4 GB" >&2
fi

bash scripts/pg-setup.sh
bash scripts/build-plugins.sh
# The console's browser test (host/tests/cli/console.rs) needs Debian's
# chromium and chromium-driver; without them (no apt, no root) it skips.
if ! command -v chromedriver >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" -eq 0 ]; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } >/dev/null \
    || echo "test: could not install chromium; the console's browser test will skip" >&2
fi
if command -v chromedriver >/dev/null; then export EBB_BROWSER_TEST=1; fi
# cargo prints one "test result" line per test binary (the last one is often
# a crate's empty doc-tests); close with the sum of them all.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked "$@" 2>&1 | tee "$log"
# The RPC contract cases again, against an ebb-gateway process reached as an
# outside PostgREST: the path scripts/contract.sh takes with a Supabase project.
bash scripts/contract.sh --gateway 2>&1 | tee -a "$log"
# Windows: ebb.exe cross-built with mingw and run under Wine through a real
# round against ebb-gateway, plus the library's unit tests for Windows
# (prints its own summary; not counted in the total below).
bash scripts/windows-smoke.sh
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "total: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
