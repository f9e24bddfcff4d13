#!/usr/bin/env bash
# The web console in a real browser: installs Debian's chromium and
# chromium-driver when they are missing, sets up PostgreSQL and the example
# plugins, then runs host/tests/cli/console.rs with EBB_BROWSER_TEST=1 (it
# fails, instead of skipping, without chromedriver). Screenshots of the
# console land in $CARGO_TARGET_DIR/console-artifacts/; pass --update-docs
# to copy the one with a conflict open to docs/console.png (the README's).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
  echo "browser-test: installing chromium and chromium-driver" >&2
  sudo_=""
  [ "$(id -u)" -eq 0 ] || sudo_="sudo"
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq chromium chromium-driver
fi

bash scripts/pg-setup.sh
bash scripts/build-plugins.sh "$CARGO_TARGET_DIR/plugins"
cargo build -q -p ebb-gateway
EBB_BROWSER_TEST=1 cargo test -p ebb --test cli console:: -- --nocapture

if [ "${1:-}" = "--update-docs" ]; then
  cp "$CARGO_TARGET_DIR/console-artifacts/console-conflict.png" docs/console.png
  echo "browser-test: docs/console.png updated"
fi
