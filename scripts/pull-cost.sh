#!/usr/bin/env bash
# Prints the server time of one `ebb_pull` of an empty page, of the read
# policy check it makes on every call (`_ebb.rls_print`) and of one
# `ebb_pull_all` over every synced table, each the mean of
# 200 calls in one session: what an idle round costs the server per table.
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
