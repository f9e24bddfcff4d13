#!/usr/bin/env bash
# The point-of-sale app (example/pos) from `ebb init` to two syncing tills,
# as a new user would take it: prints the transcript. Needs PostgreSQL
# (scripts/pg-setup.sh) and a built ebb and ebb-gateway (cargo build -p ebb
# -p ebb-gateway); creates and drops its own database ebb_proof_pos. The same is asserted by
# host/tests/cli/pos_tills.rs.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
export REPO
EBB="${EBB:-${CARGO_TARGET_DIR:-$REPO/target}/debug/ebb}"
GATEWAY="${GATEWAY:-$(dirname "$EBB")/ebb-gateway}"
WORK="$(mktemp -d)"
cd "$WORK"
export EBB_API_KEY=proof-key-$(date +%s)
mk() { python3 - "$1" "$2" <<'PY'
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executescript(open(os.environ['REPO'] + '/example/pos/pos.sql').read())
if sys.argv[2] == 'seed':
    db.executescript(open(os.environ['REPO'] + '/example/pos/seed.sql').read())
db.commit()
PY
}
mkdir -p till1 till2
mk till1/pos.db seed; mk till2/pos.db empty
echo '$ ebb init --db pos.db        (till 1)'
(cd till1 && $EBB init --db pos.db)
echo
echo '# the edits ebb init suggests: uncomment the five blocks it offers, set the server'
python3 - <<'PY'
text = open('till1/policies.toml').read()
out, open_ = [], False
for line in text.splitlines():
    if line == '': open_ = False
    if line.startswith('# [tables.'):
        open_ = line[len('# [tables.'):-1] in ('categories','products','sales','sale_items','settings')
    if open_ and line.startswith('# ') and not line[2:].startswith(('validate','resolver')):
        line = line[2:]
    out.append(line)
text = '\n'.join(out) + '\n'
text = text.replace('url = "https://your-project.supabase.co"', 'url = "http://127.0.0.1:54399"')
open('till1/policies.toml','w').write(text)
PY
cp till1/policies.toml till2/; cp -r till1/schemas till2/
DB=ebb_proof_pos
psql -q "host=/var/run/postgresql user=postgres dbname=postgres" -c "drop database if exists $DB" -c "create database $DB" >/dev/null
psql -q "host=/var/run/postgresql user=postgres dbname=$DB" -v ON_ERROR_STOP=1 -f $REPO/example/pos/server.sql >/dev/null
echo '$ ebb remote-sql | psql   (once, on the server)'
(cd till1 && $EBB remote-sql) | psql -q "host=/var/run/postgresql user=postgres dbname=$DB" -v ON_ERROR_STOP=1 >/dev/null 2>&1 && echo "(applied)"
$GATEWAY --listen 127.0.0.1:54399 --database "host=/var/run/postgresql user=postgres dbname=$DB" > gateway.log 2>&1 &
GW=$!
trap 'kill $GW 2>/dev/null; rm -rf "$WORK"' EXIT
sleep 1
for t in till1 till2; do
  echo; echo "\$ ebb check        ($t)"; (cd $t && $EBB check) || true
done
for t in till1 till2; do
  echo; echo "\$ ebb sync --once  ($t)"; (cd $t && $EBB sync --once)
done
sell() { python3 - "$1" "$2" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1]); n0 = int(sys.argv[2])
names = ['Espresso','Orange juice','Crisps','Croissant','Sourdough loaf']
for n in range(n0, n0 + 5):
    cur = db.cursor()
    cur.execute("INSERT INTO sales (total, payment) VALUES (0, ?)", ('cash' if n % 2 == 0 else 'card',))
    sale = cur.lastrowid; total = 0.0
    for line in range(1 + n % 3):
        name = names[(n * 7 + line * 3) % 5]; qty = 1 + (n + line) % 2
        pid, price = cur.execute("SELECT id, price FROM products WHERE name = ?", (name,)).fetchone()
        cur.execute("INSERT INTO sale_items (sale_id, product_id, quantity, price) VALUES (?,?,?,?)", (sale, pid, qty, price))
        cur.execute("UPDATE products SET stock = stock - ? WHERE id = ?", (qty, pid))
        total += price * qty
    cur.execute("UPDATE sales SET total = ? WHERE id = ?", (total, sale))
db.commit()
PY
}
echo; echo '# 4 rounds: each till sells 5 offline (sales with 1-3 items, stock taken down), then both sync'
for r in 0 1 2 3; do
  sell till1/pos.db $((r*10)); sell till2/pos.db $((r*10+5))
  for t in till2 till1; do (cd $t && $EBB sync --once | head -1 | sed "s/^/$t round $r: /"); done
done
for t in till2 till1 till2; do (cd $t && $EBB sync --once >/dev/null); done
echo; echo '# what each side holds'
for t in till1 till2; do
  python3 - $t <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1] + '/pos.db')
s = db.execute("select count(*) from sales").fetchone()[0]
i = db.execute("select count(*) from sale_items").fetchone()[0]
orphans = db.execute("select count(*) from sale_items i left join sales s on s.id = i.sale_id left join products p on p.id = i.product_id where s.id is null or p.id is null").fetchone()[0]
ids = db.execute("select min(id), max(id) from sales").fetchone()
stock = db.execute("select group_concat(name || '=' || stock, ', ') from (select * from products order by name)").fetchone()[0]
print(f"{sys.argv[1]}: {s} sales, {i} items, {orphans} items with a missing sale or product, sale ids {ids[0]}..{ids[1]}; stock {stock}")
PY
done
psql -qtA "host=/var/run/postgresql user=postgres dbname=$DB" -c "select 'server: ' || (select count(*) from sales) || ' sales, ' || (select count(*) from sale_items) || ' items; stock ' || (select string_agg(name || '=' || stock, ', ' order by name) from products)"
echo; echo '$ ebb status       (till2)'; (cd till2 && $EBB status) || true
psql -q "host=/var/run/postgresql user=postgres dbname=postgres" -c "drop database $DB" >/dev/null 2>&1 || true
