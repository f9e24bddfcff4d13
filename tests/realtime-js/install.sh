#!/usr/bin/env bash
# Installs @supabase/realtime-js (and the ws package node 20 needs) into
# tests/realtime-js/node_modules once; tests/tests/realtime/supabase_js.rs
# runs it before receive.mjs. EBB_REALTIME_JS_VERSION overrides the pinned
# version.
set -euo pipefail
cd "$(dirname "$0")"
version="${EBB_REALTIME_JS_VERSION:-2.88.0}"
if [ -f "node_modules/@supabase/realtime-js/package.json" ] &&
   grep -q "\"version\": \"$version\"" node_modules/@supabase/realtime-js/package.json; then
    exit 0
fi
npm install --no-save --no-audit --no-fund --loglevel=error \
    "@supabase/realtime-js@$version" "ws@8" >&2
