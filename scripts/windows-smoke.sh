#!/usr/bin/env bash
# The Windows smoke test: ebb.exe, cross-built by scripts/build-windows.sh,
# run under Wine through real rounds of the example app against the gateway
# on loopback, with each till's SQLite file, plugins and key file named by
# Z:\ paths with backslashes in its policies.toml:
#
#   till 1 (seeded): ebb.exe check, sync --once (pushes everything)
#   till 2 (empty):  sync --once (pulls everything), adds a customer, pushes it
#   till 1:          sync --once (pulls it), policy run (a wasmtime plugin call,
#                    valid and invalid rows), status, device (a copied file gets a
#                    new device id), run stopped by Ctrl-C between rounds,
#                    then as a service: install, sc start, a round, sc stop,
#                    uninstall
#   the ebb library's unit tests (the Windows file identity among them), built
#   for the Windows target and run under Wine
#
# Self-contained and idempotent: installs mingw-w64 and Wine (Debian's wine64)
# when missing, sets up PostgreSQL (scripts/pg-setup.sh), builds the example
# plugins and the gateway, and starts from a fresh server database and fresh
# tills each run. Wine 8 has no ProcessPrng (bcryptprimitives.dll), which
# Rust's standard library takes its randomness from: the test then builds
# scripts/windows/bcryptprimitives.c with mingw into its Wine prefix's
# system32, forwarding ProcessPrng to RtlGenRandom.
#
# Environment: CARGO_TARGET_DIR (Linux builds, plugins; default target/),
# EBB_WINDOWS_TARGET_DIR (the cross build and the Wine prefix; default
# CARGO_TARGET_DIR), EBB_GATEWAY (a gateway binary to use), EBB_EXE (an
# ebb.exe already built: skips scripts/build-windows.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
win_dir="${EBB_WINDOWS_TARGET_DIR:-$CARGO_TARGET_DIR}"
triple=x86_64-pc-windows-gnu
pg="host=/var/run/postgresql user=postgres"
database=ebb_windows_smoke
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
started=$(date +%s)

say() { echo "windows-smoke: $*"; }
fail() { echo "windows-smoke: FAIL: $*" >&2; exit 1; }
step() { echo; echo "== $*"; }

# --- ebb.exe --------------------------------------------------------------
if [ -n "${EBB_EXE:-}" ]; then
  exe=$EBB_EXE
  build_line="ebb.exe given as $exe (EBB_EXE), not built"
else
  build_log=$(mktemp)
  EBB_WINDOWS_TARGET_DIR="$win_dir" bash scripts/build-windows.sh | tee "$build_log"
  exe=$(tail -n 1 "$build_log")
  build_line=$(grep '^build-windows: built in' "$build_log" || true)
  rm -f "$build_log"
fi
[ -f "$exe" ] || fail "scripts/build-windows.sh did not produce ebb.exe"
build_done=$(date +%s)

# --- Wine -----------------------------------------------------------------
wine=""
for candidate in "$(command -v wine64 || true)" /usr/lib/wine/wine64 "$(command -v wine || true)"; do
  [ -n "$candidate" ] && [ -x "$candidate" ] && { wine=$candidate; break; }
done
if [ -z "$wine" ]; then
  say "installing Wine (Debian's wine64)"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wine64 wine >/dev/null
  wine=/usr/lib/wine/wine64
  [ -x "$wine" ] || wine=$(command -v wine64 || command -v wine)
fi
wineserver=$(command -v wineserver || echo /usr/lib/wine/wineserver)
export WINEPREFIX="$win_dir/wine-prefix" WINEARCH=win64 WINEDEBUG=-all
# No Mono or Gecko download prompts: ebb needs neither.
export WINEDLLOVERRIDES="mscoree,mshtml="
mkdir -p "$WINEPREFIX"
if [ ! -f "$WINEPREFIX/system.reg" ]; then
  say "creating the Wine prefix"
  "$wine" wineboot --init >/dev/null 2>&1
  "$wineserver" -w 2>/dev/null || true
fi
# One Wine server for all the runs below (each run would start its own).
"$wineserver" -p 2>/dev/null || true
trap '"$wineserver" -k 2>/dev/null || true' EXIT
say "$("$wine" --version 2>/dev/null || echo Wine), prefix $WINEPREFIX"

# Rust's std imports ProcessPrng from bcryptprimitives.dll; Wine 8 has no
# such DLL. Probe, and supply the shim if ebb.exe cannot start.
shim="$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
if [ ! -f "$shim" ] && ! "$wine" "$exe" --version >/dev/null 2>&1; then
  probe=$(WINEDEBUG=err+module "$wine" "$exe" --version 2>&1 || true)
  if grep -q bcryptprimitives <<<"$probe"; then
    say "this Wine has no bcryptprimitives.dll (ProcessPrng), which Rust's std needs: building the shim scripts/windows/bcryptprimitives.c into the prefix's system32"
    x86_64-w64-mingw32-gcc -shared -O2 -Wall -o "$shim" scripts/windows/bcryptprimitives.c -ladvapi32
  else
    fail "ebb.exe does not start under Wine: $probe"
  fi
fi
[ -f "$shim" ] && say "ProcessPrng comes from the shim (RtlGenRandom) in $shim"
ebb_version=$("$wine" "$exe" --version 2>/dev/null | tr -d '\r') || fail "ebb.exe --version failed under Wine"
say "$ebb_version runs under Wine"

# A Linux path as Windows sees it under Wine (drive Z: is /).
winpath() { printf 'Z:%s' "${1//\//\\}"; }
# A Wine command with its output in a file, not a pipe: Wine's service
# manager may hand it on to a service it starts, and a pipe would then
# never close.
wine_to() { local out=$1; shift; "$wine" "$@" </dev/null >"$out" 2>&1; }
# ebb.exe under Wine; stdout only ("\r" dropped), stderr to the terminal.
ebb() { "$wine" "$exe" "$@" | tr -d '\r'; return "${PIPESTATUS[0]}"; }
# The same for a command that changes nothing (a plugin call), run once
# more when Wine itself dies of SIGSEGV (exit 139): Wine 8 now and then
# crashes under wasmtime's JIT and its signal handlers (one run in four
# here); an ebb.exe that crashes every time still fails.
ebb_read() {
  local code=0
  ebb "$@" || code=$?
  if [ "$code" = 139 ]; then
    say "Wine crashed (SIGSEGV) running: ebb.exe $*; once more"
    code=0
    ebb "$@" || code=$?
  fi
  return "$code"
}

# --- the server -----------------------------------------------------------
bash scripts/pg-setup.sh
bash scripts/build-plugins.sh "$CARGO_TARGET_DIR/plugins" >/dev/null
gateway_bin="${EBB_GATEWAY:-$CARGO_TARGET_DIR/debug/ebb-gateway}"
[ -x "$gateway_bin" ] || cargo build --locked -p ebb-gateway
gateway=("$gateway_bin")

smoke="$win_dir/windows-smoke"
rm -rf "$smoke"
mkdir -p "$smoke/till1" "$smoke/till2" "$smoke/plugins"
head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$smoke/api_key"
EBB_API_KEY="$(cat "$smoke/api_key")"
export EBB_API_KEY
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ops_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# --- the tills --------------------------------------------------------------
# Plugins and the key beside the tills, all named by Z:\ paths.
cp "$CARGO_TARGET_DIR"/plugins/*.wasm "$smoke/plugins/"
sqlite() { python3 -c "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.executescript(sys.stdin.read()); db.commit()" "$1"; }
count() { python3 -c "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from ' + sys.argv[2]).fetchone()[0])" "$1" "$2"; }
cat example/app.sql example/seed.sql | sqlite "$smoke/till1/app.db"
sqlite "$smoke/till2/app.db" <example/app.sql
for till in till1 till2; do
  # Windows paths in TOML literal strings (single quotes: backslashes as
  # written), as a till's installer would write them.
  python3 - policies.toml "$smoke/$till/policies.toml" "$(winpath "$smoke")" "$(winpath "$root")" \
    "$till" "$port" "$ops_port" <<'PY'
import re, sys
source, out, smoke, root, till, port, ops_port = sys.argv[1:]
text = open(source).read()
rules = [
    (r"(?m)^database = .*$", lambda m: f"database = '{smoke}\\{till}\\app.db'"),
    (r'"target/plugins/([a-z_]+\.wasm)"', lambda m: f"'{smoke}\\plugins\\{m[1]}'"),
    (r'"schemas/([a-z_]+\.schema\.json)"', lambda m: f"'{root}\\schemas\\{m[1]}'"),
    (r"(?m)^api_key_env = .*$", lambda m: f"api_key_file = '{smoke}\\api_key'"),
    (r"127\.0\.0\.1:54321", lambda m: f"127.0.0.1:{port}"),
    (r"(?m)^listen = .*$", lambda m: f'listen = "127.0.0.1:{ops_port}"'),
]
for pattern, replacement in rules:
    text, n = re.subn(pattern, replacement, text)
    if n == 0:
        sys.exit(f"policies.toml: nothing matched {pattern}")
open(out, "w").write(text)
PY
done
grep -q "^database = 'Z:" "$smoke/till1/policies.toml" || fail "the tills' policies.toml was not rewritten"
till1=$(winpath "$smoke/till1/policies.toml")
till2=$(winpath "$smoke/till2/policies.toml")

# --- the server database and the gateway ------------------------------------
psql "$pg dbname=postgres" -qc "drop database if exists $database with (force)"
psql "$pg dbname=postgres" -qc "create database $database"
psql "$pg dbname=$database" -q -v ON_ERROR_STOP=1 -f example/server.sql
# The remote SQL as ebb.exe prints it.
ebb --config "$till1" remote-sql |
  psql "$pg dbname=$database" -q -v ON_ERROR_STOP=1 >/dev/null
role=ebb_windows_smoke_till
psql "$pg dbname=$database" -q -v ON_ERROR_STOP=1 <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role') THEN CREATE ROLE $role NOLOGIN; END IF;
END \$\$;
GRANT SELECT ON public._ebb_tables TO $role;
GRANT SELECT, INSERT, UPDATE, DELETE ON products, customers, debts, debt_payments TO $role;
SQL
"${gateway[@]}" --listen "127.0.0.1:$port" --database "$pg dbname=$database" --role "$role" \
  >"$smoke/gateway.log" 2>&1 &
gateway_pid=$!
trap 'kill $gateway_pid 2>/dev/null || true; "$wineserver" -k 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
  sleep 0.1
done
say "gateway (${gateway[*]}) on 127.0.0.1:$port"

# --- the rounds ---------------------------------------------------------------
step "till 1: policies.toml names $(grep '^database' "$smoke/till1/policies.toml")"

synced="products customers debts debt_payments"
rows() { local n=0; for t in $synced; do n=$((n + $(count "$1" "$t"))); done; echo "$n"; }
# One round as JSON; prints "pushed pulled" and fails unless it completed.
round() {
  local report
  report=$(ebb --config "$1" sync --once --json) || fail "ebb.exe sync --once ($1) exited $?"
  python3 -c 'import json, sys
r = json.loads(sys.argv[1])
if r.get("error"): sys.exit("round ended early: " + r["error"])
print(r["pushed"], r["pulled"])' "$report" || fail "ebb.exe sync --once ($1): $report"
}

step "till 1: ebb.exe check"
ebb --config "$till1" check || fail "ebb.exe check exited $?"

step "till 1: ebb.exe sync --once (pushes the shop's data)"
counts=$(round "$till1")
read -r push1 pull1 <<<"$counts"
want=$(rows "$smoke/till1/app.db")
[ "$push1" = "$want" ] || fail "till 1 pushed $push1 changes, expected $want (its rows)"
server_rows=0
for t in $synced; do server_rows=$((server_rows + $(psql "$pg dbname=$database" -tAc "select count(*) from $t"))); done
[ "$server_rows" = "$want" ] || fail "the server holds $server_rows rows after the push, expected $want"
say "till 1 pushed $push1, pulled $pull1; the server holds $server_rows rows"

step "till 2 (empty): ebb.exe sync --once (pulls everything)"
counts=$(round "$till2")
read -r push2 pull2 <<<"$counts"
[ "$pull2" = "$want" ] || fail "till 2 pulled $pull2 rows, expected $want"
[ "$(rows "$smoke/till2/app.db")" = "$want" ] || fail "till 2 holds $(rows "$smoke/till2/app.db") rows, expected $want"
say "till 2 pushed $push2, pulled $pull2"

step "till 2 adds a customer and pushes it; till 1 pulls it"
customer=$(python3 -c 'import uuid; print(uuid.uuid4())')
# Writes by Linux between ebb.exe runs only: Wine's locks are not Linux's.
python3 - "$smoke/till2/app.db" "$customer" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("insert into customers (id, name, phone, updated_at) values (?, 'Windows smoke', '555-0100', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))", (sys.argv[2],))
db.commit()
PY
counts=$(round "$till2")
read -r push3 pull3 <<<"$counts"
[ "$push3" = 1 ] || fail "till 2 pushed $push3 changes, expected 1 (the new customer)"
counts=$(round "$till1")
read -r push4 pull4 <<<"$counts"
[ "$pull4" = 1 ] || fail "till 1 pulled $pull4 rows, expected 1 (the new customer)"
[ "$(python3 -c "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from customers where id = ?', (sys.argv[2],)).fetchone()[0])" "$smoke/till1/app.db" "$customer")" = 1 ] ||
  fail "the customer pushed by till 2 is not on till 1"
say "till 2 pushed $push3, till 1 pulled $pull4: customer $customer is on both"

step "till 1: ebb.exe policy run (wasmtime on Windows: the products validator)"
python3 - "$smoke/till1/app.db" "$smoke" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.row_factory = sqlite3.Row
row = {k: v for k, v in dict(db.execute("select * from products where sale_price_cents is null limit 1").fetchone()).items() if not k.startswith("_ebb")}
json.dump(row, open(sys.argv[2] + "/valid.json", "w"))
row["sale_price_cents"] = row["price_cents"] + 100
json.dump(row, open(sys.argv[2] + "/invalid.json", "w"))
PY
validator=$(winpath "$smoke/plugins/products_validator.wasm")
ebb_read --config "$till1" policy run "$validator" --validate "$(winpath "$smoke/valid.json")" ||
  fail "the validator refused a valid row (exit $?)"
set +e
ebb_read --config "$till1" policy run "$validator" --validate "$(winpath "$smoke/invalid.json")"
code=$?
set -e
[ "$code" = 1 ] || fail "the validator did not answer invalid for a sale price above the price (exit $code)"
say "the plugin answered valid, then invalid (exit 1)"

step "till 1: ebb.exe status"
ebb --config "$till1" status || fail "ebb.exe status exited $? (not healthy)"

step "copy detection: till 2's file copied gets a new device id"
original=$(ebb --config "$till2" device)
mkdir -p "$smoke/copy"
cp "$smoke/till2/app.db" "$smoke/copy/app.db"
sed -e "s|$(winpath "$smoke/till2/app.db" | sed 's/\\/\\\\/g')|$(winpath "$smoke/copy/app.db" | sed 's/\\/\\\\/g')|" \
  "$smoke/till2/policies.toml" >"$smoke/copy/policies.toml"
copied=$(ebb --config "$(winpath "$smoke/copy/policies.toml")" device)
again=$(ebb --config "$till2" device)
[ -n "$original" ] && [ "$copied" != "$original" ] || fail "the copy kept device id $original"
[ "$again" = "$original" ] || fail "the original's device id changed from $original to $again"
mv "$smoke/till2/app.db" "$smoke/till2/moved.db"
mv "$smoke/till2/moved.db" "$smoke/till2/app.db"
[ "$(ebb --config "$till2" device)" = "$original" ] || fail "a renamed file got a new device id"
say "original $original, copy $copied; a rename kept the id"

step "till 1: ebb.exe run, stopped by Ctrl-C between rounds"
"$wine" "$exe" --config "$till1" run >"$smoke/run.log" 2>&1 &
run_pid=$!
for _ in $(seq 1 600); do
  grep -q 'round' "$smoke/run.log" && break
  kill -0 "$run_pid" 2>/dev/null || break
  sleep 0.1
done
grep -q 'round' "$smoke/run.log" || { cat "$smoke/run.log"; fail "ebb.exe run logged no round"; }
# A second ebb.exe on the same database while `run` has it open (WAL, with
# Windows byte-range locks as Wine keeps them): a round, then status.
counts=$(round "$till1")
ebb --config "$till1" status >/dev/null || fail "ebb.exe status beside ebb.exe run exited $?"
say "beside the running ebb.exe run, a second ebb.exe synced ($counts) and read its status"
# Wine turns SIGINT into the console's CTRL_C_EVENT.
kill -INT "$run_pid"
set +e
wait "$run_pid"
code=$?
set -e
tr -d '\r' <"$smoke/run.log" | tail -n 3
[ "$code" = 0 ] && grep -q 'stopped' "$smoke/run.log" || fail "ebb.exe run did not stop cleanly on Ctrl-C (exit $code)"
say "ebb.exe run stopped on Ctrl-C after its round, exit 0"

step "till 1 as a Windows service: ebb.exe service install, sc start, sc stop, ebb.exe service uninstall"
service=ebb-smoke
sc_state() { wine_to "$smoke/sc.txt" sc query "$service" || true; tr -d '\r' <"$smoke/sc.txt" | awk '/STATE/ { print $4 }'; }
# A service left by an interrupted run would refuse the install.
wine_to "$smoke/uninstall.txt" "$exe" service uninstall --name "$service" || true
wine_to "$smoke/install.txt" "$exe" --config "$till1" service install --name "$service" \
  --log "$(winpath "$smoke/service.log")" || { cat "$smoke/install.txt"; fail "ebb.exe service install failed"; }
tr -d '\r' <"$smoke/install.txt"
wine_to "$smoke/sc.txt" sc start "$service" || { cat "$smoke/sc.txt"; fail "sc start $service failed"; }
for _ in $(seq 1 300); do
  grep -q 'INFO round' "$smoke/service.log" 2>/dev/null && break
  sleep 0.2
done
grep -q 'INFO round' "$smoke/service.log" 2>/dev/null || { cat "$smoke/service.log" "$smoke/sc.txt"; fail "the service ran no round"; }
[ "$(sc_state)" = RUNNING ] || fail "the service is not RUNNING after its round"
wine_to "$smoke/sc.txt" sc stop "$service" || { cat "$smoke/sc.txt"; fail "sc stop $service failed"; }
for _ in $(seq 1 300); do
  [ "$(sc_state)" = STOPPED ] && break
  sleep 0.2
done
[ "$(sc_state)" = STOPPED ] || fail "the service did not report STOPPED after sc stop"
grep -q 'INFO stopped' "$smoke/service.log" || fail "the service did not log stopped"
tr -d '\r' <"$smoke/service.log" | grep -E 'service running|INFO round|INFO stopped'
wine_to "$smoke/uninstall.txt" "$exe" service uninstall --name "$service" ||
  { cat "$smoke/uninstall.txt"; fail "ebb.exe service uninstall failed"; }
tr -d '\r' <"$smoke/uninstall.txt"
say "the service ran a round under Wine's service manager, stopped on sc stop and was removed"

smoke_done=$(date +%s)

# --- the host library's unit tests under Wine ---------------------------------
step "the ebb library's unit tests, built for Windows, under Wine"
tests_started=$(date +%s)
test_exe=$(CARGO_TARGET_DIR="$win_dir" cargo test --release --locked --no-run -p ebb --lib \
  --target "$triple" --message-format=json 2>/dev/null |
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "ebb" and m["profile"]["test"]:
        print(m["executable"])')
[ -n "$test_exe" ] || fail "the Windows test binary of the ebb library did not build"
# Temporary files on Z: (the tests join paths baked in at build time, such
# as /work/main/host/tests/wat, onto them; on C: those name C:\work\...).
mkdir -p "$smoke/tmp"
for var in TEMP TMP; do
  wine_to "$smoke/reg.txt" reg add 'HKCU\Environment' /v "$var" /t REG_SZ /d "$(winpath "$smoke/tmp")" /f
done
# remote::sql is skipped: it runs the install SQL on PostgreSQL through its
# Unix socket with peer authentication, which a Windows process cannot use.
"$wine" "$test_exe" --skip remote::sql </dev/null 2>&1 | tr -d '\r' >"$smoke/unit.log" || true
grep -E '^test .*(FAILED|identity)|^test result' "$smoke/unit.log"
grep -q 'the_windows_file_id_survives_a_rename_and_not_a_copy \.\.\. ok' "$smoke/unit.log" ||
  fail "the Windows file identity test did not pass under Wine ($smoke/unit.log)"
grep -q '^test result: ok' "$smoke/unit.log" || fail "unit tests failed under Wine ($smoke/unit.log)"
unit_line=$(grep '^test result' "$smoke/unit.log")
tests_done=$(date +%s)

echo
say "not run under Wine: Ctrl-Break and the console closing (Wine turns SIGINT into Ctrl-C only), Windows shutting down, the service's virtual account (Wine ignores accounts) and delayed start (Wine has none), real NTFS creation times (Wine reports the last write time, so the file index alone tells a copy there), and NTFS's own byte-range locks on the -wal/-shm files (two ebb.exe processes shared the database above through Wine's LockFileEx, which its server keeps over a Linux filesystem)"
say "${build_line#build-windows: }"
say "unit tests under Wine: ${unit_line#test result: } (remote::sql skipped: PostgreSQL over a Unix socket)"
say "round counts: till 1 pushed $push1 and pulled $pull1; till 2 pulled $pull2; till 2 pushed $push3, till 1 pulled $pull4"
say "passed in $((tests_done - started))s: build $((build_done - started))s, smoke $((smoke_done - build_done))s, unit tests $((tests_done - tests_started))s"
