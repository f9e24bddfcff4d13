#!/usr/bin/env bash
# The main job on the example point-of-sale app, on a fresh machine:
# PostgreSQL set up, the example plugins and ebb built, the server schema and
# ebb's remote SQL applied, `ebb-gateway` serving PostgREST's RPC contract on
# 127.0.0.1:54321, then two devices: the shop's till (example/app.db, seeded)
# pushes everything, a second till starts empty and pulls it all, both
# report their status.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
state="$root/.ebb"
mkdir -p "$state"
pg="host=/var/run/postgresql user=postgres"
database="${EBB_DEMO_DATABASE:-ebb_demo}"

command -v python3 >/dev/null || { echo "demo: python3 is needed (it creates the example SQLite files)" >&2; exit 1; }
bash scripts/pg-setup.sh
bash scripts/build-plugins.sh "$root/target/plugins"
cargo build --release --locked -p ebb -p ebb-gateway
ebb="$target_dir/release/ebb"
gateway_bin="$target_dir/release/ebb-gateway"

# The demo's API key: random, kept in .ebb/ (git-ignored), never printed.
[ -s "$state/demo-key" ] || { head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$state/demo-key"; }
export EBB_API_KEY="$(cat "$state/demo-key")"

# The demo starts from scratch each time: a fresh server database and app.
psql "$pg dbname=postgres" -qc "drop database if exists $database with (force)"
psql "$pg dbname=postgres" -qc "create database $database"
psql "$pg dbname=$database" -q -v ON_ERROR_STOP=1 -f example/server.sql
echo "demo: created database $database with the example schema (example/server.sql)"
"$ebb" remote-sql | psql "$pg dbname=$database" -q -v ON_ERROR_STOP=1 >/dev/null
echo "demo: ebb's remote SQL applied (ebb remote-sql | psql)"

# The gateway logs in as the superuser but runs every request as a plain
# role (as PostgREST does with Supabase's `authenticated`), so grants and row
# level security decide what the tills may read and write.
role=ebb_demo_till
psql "$pg dbname=$database" -q -v ON_ERROR_STOP=1 <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role') THEN CREATE ROLE $role NOLOGIN; END IF;
END \$\$;
GRANT SELECT ON public._ebb_tables TO $role;
GRANT SELECT, INSERT, UPDATE, DELETE ON products, customers, debts, debt_payments TO $role;
SQL
echo "demo: the gateway runs requests as role $role (grants and RLS apply)"

"$gateway_bin" --listen 127.0.0.1:54321 --database "$pg dbname=$database" --role "$role" \
  >"$state/gateway.log" 2>&1 &
gateway=$!
trap 'kill $gateway 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  (echo >/dev/tcp/127.0.0.1/54321) 2>/dev/null && break
  sleep 0.1
done

rm -f example/app.db example/app.db-wal example/app.db-shm
python3 - <<'PY'
import sqlite3
db = sqlite3.connect("example/app.db")
db.executescript(open("example/app.sql").read())
db.executescript(open("example/seed.sql").read())
db.commit()
PY
echo "demo: created example/app.db from example/app.sql and example/seed.sql"

echo; echo "== till 1: ebb check"
"$ebb" check
echo; echo "== till 1: ebb sync --once (pushes the shop's data)"
"$ebb" sync --once
echo; echo "== till 1: ebb status"
"$ebb" status

# A second till: the same policies, an empty copy of the app's schema.
till2="$state/till2"
mkdir -p "$till2"
rm -f "$till2/app.db" "$till2/app.db-wal" "$till2/app.db-shm"
python3 -c "import sqlite3,sys; db=sqlite3.connect(sys.argv[1]); db.executescript(open('example/app.sql').read())" "$till2/app.db"
sed -e "s|^database = .*|database = \"$till2/app.db\"|" \
    -e "s|\"target/plugins/|\"$root/target/plugins/|g" \
    -e "s|\"schemas/|\"$root/schemas/|g" policies.toml >"$till2/policies.toml"
echo; echo "== till 2: ebb sync --once (initial pull)"
"$ebb" --config "$till2/policies.toml" sync --once
echo; echo "== till 2: ebb status"
"$ebb" --config "$till2/policies.toml" status
# Both tills sell the same product while offline: till 1 sells 3, till 2
# sells 2. The stock resolver plugin merges the two sales by delta.
product=$(python3 -c "import sqlite3; print(sqlite3.connect('example/app.db').execute('select id from products order by id limit 1').fetchone()[0])")
stock() { python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select stock from products where id = ?', (sys.argv[2],)).fetchone()[0])" "$1" "$product"; }
sell() { python3 -c "import sqlite3,sys; db=sqlite3.connect(sys.argv[1]); db.execute('update products set stock = stock - ? where id = ?', (int(sys.argv[2]), sys.argv[3])); db.commit()" "$1" "$2" "$product"; }
before=$(stock example/app.db)
sell example/app.db 3
sell "$till2/app.db" 2
echo; echo "== both tills sold product $product offline (stock was $before): till 1 sold 3, till 2 sold 2"
"$ebb" sync --once
"$ebb" --config "$till2/policies.toml" sync --once
"$ebb" sync --once
want=$((before - 5))
for db in example/app.db "$till2/app.db"; do
  got=$(stock "$db")
  [ "$got" = "$want" ] || { echo "demo: $db has stock $got, expected $want" >&2; exit 1; }
done
echo "demo: stock is $want on both tills (the stock_resolver plugin added both sales)"

# Both tills and the server must now hold the same synced rows.
count() { python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from ' + sys.argv[2]).fetchone()[0])" "$1" "$2"; }
for table in products customers debts debt_payments; do
  one=$(count example/app.db "$table"); two=$(count "$till2/app.db" "$table")
  server=$(psql "$pg dbname=$database" -tAc "select count(*) from $table")
  if [ "$one" != "$two" ] || [ "$one" != "$server" ]; then
    echo "demo: $table differs: till 1 has $one rows, till 2 $two, the server $server" >&2
    exit 1
  fi
  echo "demo: $table: $one rows on till 1, till 2 and the server"
done
for table in users licenses; do
  echo "demo: $table: $(count example/app.db "$table") rows on till 1, $(count "$till2/app.db" "$table") on till 2 (never synced)"
done
echo; echo "demo: done. Gateway log: $state/gateway.log"
