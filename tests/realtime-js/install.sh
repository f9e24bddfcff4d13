#!/usr/bin/env bash
# Installs @supabase/realtime-js (and the ws package node 20 needs) into
# tests/realtime-js/node_modules once; tests/tests/realtime/supabase_js.rs
# runs it before receive.mjs. EBB_REALTIME_JS_VERSION overrides the pinned
# version. Tests run it in parallel: one installs under a lock while the
# others wait, then find it done (two npm runs in one folder undo each
# other's work).
set -euo pipefail
cd "$(dirname "$0")"
version="${EBB_REALTIME_JS_VERSION:-2.88.0}"
installed() {
    [ -f node_modules/ws/package.json ] &&
    [ -f node_modules/@supabase/realtime-js/package.json ] &&
    grep -q "\"version\": \"$version\"" node_modules/@supabase/realtime-js/package.json
}
installed && exit 0
exec 9>.install.lock
flock 9
installed && exit 0
npm install --no-save --no-audit --no-fund --loglevel=error \
    "@supabase/realtime-js@$version" "ws@8" >&2
installed || { echo "install.sh: npm finished but realtime-js $version or ws is missing" >&2; exit 1; }
