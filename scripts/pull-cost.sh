#!/usr/bin/env bash
# Prints the server time of one `ebb_pull` of an empty page, of the read
# policy check it makes on every call (`_ebb.rls_print`) and of one
# `ebb_pull_all` over every synced table, each the mean of
# 200 calls in one session: what an idle round costs the server per table;
# then what one edit costs it: `ebb_push` of one update, and the same
# update through `ebb_push_pull` with every table's first page (empty),
# and `ebb_push` of one new row (a sale).
# Uses a database of its own (ebb_probe_<pid>), dropped at the end.
# Needs PostgreSQL (scripts/pg-setup.sh) and a built `ebb` (EBB, default
# target/release/ebb).
set -euo pipefail
cd "$(dirname "$0")/.."
ebb="${EBB:-target/release/ebb}"
db="ebb_probe_$$"
psql=(psql -h /var/run/postgresql -U postgres -v ON_ERROR_STOP=1 -qAt)
"${psql[@]}" -c "CREATE DATABASE $db"
trap '"${psql[@]}" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
"${psql[@]}" -d "$db" -f example/server.sql >/dev/null
"$ebb" --config policies.toml remote-sql | "${psql[@]}" -d "$db" >/dev/null
mean() {
  "${psql[@]}" -d "$db" -c "DO \$\$ DECLARE t0 timestamptz := clock_timestamp(); v text;
    BEGIN FOR i IN 1..200 LOOP v := ($2)::text; END LOOP;
    RAISE NOTICE '%', format('%-28s %s ms a call', '$1',
      round(extract(epoch FROM clock_timestamp() - t0) * 1000 / 200, 3)); END \$\$" 2>&1 |
    sed 's/^NOTICE:  //'
}
mean "ebb_pull, empty page" "ebb_pull('products', NULL, 2000)"
mean "_ebb.rls_print" "_ebb.rls_print('products'::regclass)"
mean "ebb_pull_all, every table" "ebb_pull_all((SELECT jsonb_object_agg(tbl, NULL) FROM _ebb_tables), 2000)"
# One edit: an update of one of 1,000 products on the version it is at.
"${psql[@]}" -d "$db" -c "INSERT INTO products (id, sku, name, category, price_cents, stock, updated_at)
  SELECT 'p' || i, 'BEV-' || i, 'Product ' || i, 'beverages', 100, 50, '2025-01-31T14:05:00Z'
  FROM generate_series(1, 1000) i"
edit() {
  "${psql[@]}" -d "$db" -c "DO \$\$ DECLARE t0 timestamptz := clock_timestamp(); v text; ver bigint; c jsonb;
      far jsonb := (SELECT jsonb_object_agg(tbl, jsonb_build_object('txid', '999999999', 'pk', '')) FROM _ebb_tables);
    BEGIN FOR i IN 1..200 LOOP
      SELECT _ebb_version INTO ver FROM products WHERE id = 'p' || (i % 1000 + 1);
      c := jsonb_build_array(jsonb_build_object('table', 'products', 'pk', 'p' || (i % 1000 + 1),
        'op', 'upsert', 'base_version', ver, 'device', 'probe', 'counter', $2 + i,
        'row', jsonb_build_object('id', 'p' || (i % 1000 + 1), 'sku', 'BEV-' || (i % 1000 + 1),
          'name', 'Product', 'category', 'beverages', 'price_cents', 100,
          'sale_price_cents', NULL, 'stock', i, 'updated_at', '2025-01-31T14:05:00Z')));
      v := ($3)::text;
    END LOOP;
    RAISE NOTICE '%', format('%-28s %s ms a call', '$1',
      round(extract(epoch FROM clock_timestamp() - t0) * 1000 / 200, 3)); END \$\$" 2>&1 |
    sed 's/^NOTICE:  //'
}
edit "ebb_push, one update" 1000 "ebb_push(c)"
edit "ebb_push_pull, one update" 2000 "ebb_push_pull(c, far, 2000)"
# One new sale: an insert of a row the server has never seen.
"${psql[@]}" -d "$db" -c "DO \$\$ DECLARE t0 timestamptz := clock_timestamp(); v text;
  BEGIN FOR i IN 1..200 LOOP
    v := ebb_push(jsonb_build_array(jsonb_build_object('table', 'products', 'pk', 'n' || i,
      'op', 'upsert', 'base_version', NULL, 'device', 'probe', 'counter', 3000 + i,
      'row', jsonb_build_object('id', 'n' || i, 'sku', 'NEW-' || i, 'name', 'Product',
        'category', 'beverages', 'price_cents', 100, 'sale_price_cents', NULL, 'stock', 1,
        'updated_at', '2025-01-31T14:05:00Z'))))::text;
  END LOOP;
  RAISE NOTICE '%', format('%-28s %s ms a call', 'ebb_push, one new row',
    round(extract(epoch FROM clock_timestamp() - t0) * 1000 / 200, 3)); END \$\$" 2>&1 |
  sed 's/^NOTICE:  //'
