//! How the install script gives each synced table's tombstones the table's
//! read policies: copied with their meaning (subqueries naming the row's
//! columns, restrictive policies, policies for one role), keeping only the
//! columns they read; nothing of a table without row level security but
//! the key; a policy that cannot be copied named. And an install made
//! before tombstones honoured row level security is upgraded in place.

use serde_json::json;
use tokio_postgres::Client;

use super::grants_tests::ensure_api_roles;
use super::install_sql;
use super::testdb::{EXAMPLE_SCHEMA, ScratchDb, example_tables};
use super::tests::{change, pull, push};
use crate::model::{Cursor, PullPage, PushResult};

const CLAIM: &str = "current_setting('request.jwt.claims', true)::json->>'sub'";

/// The install script before this change (one shared tombstone table).
const BEFORE_RLS: &str = include_str!("testdata/before_rls.sql");

/// The columns of `_ebb_deleted.<table>` besides ebb's own.
async fn kept(c: &Client, table: &str) -> Vec<String> {
    c.query(
        "SELECT a.attname::text FROM pg_attribute a
         WHERE a.attrelid = to_regclass('_ebb_deleted.' || $1) AND a.attnum > 0
           AND NOT a.attisdropped AND a.attname NOT LIKE '\\_ebb\\_%' ORDER BY 1",
        &[&table],
    )
    .await
    .expect("columns")
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// Tombstone keys pulled as `role` with JWT `sub` (None: as the owner).
async fn deleted_as(c: &Client, role: Option<(&str, &str)>, table: &str) -> Vec<String> {
    let setup = match role {
        Some((role, sub)) => format!(
            "RESET ROLE; SELECT set_config('request.jwt.claims', '{{\"sub\": \"{sub}\"}}', false);
             SET ROLE {role};"
        ),
        None => "RESET ROLE;".to_string(),
    };
    c.batch_execute(&setup).await.expect("role");
    let page = pull(c, table, &Cursor::default(), 1000).await;
    c.batch_execute("RESET ROLE").await.expect("reset");
    let mut pks: Vec<String> = page
        .rows
        .into_iter()
        .filter(|r| r.deleted)
        .map(|r| r.pk)
        .collect();
    pks.sort();
    pks
}

#[tokio::test]
async fn policies_are_copied_with_their_meaning() {
    let db = ScratchDb::with_example().await;
    let c = db.connect().await;
    ensure_api_roles(&c).await;
    c.batch_execute(&format!(
        "CREATE TABLE members (uid text, shop text);
         INSERT INTO members VALUES ('u1', 'S1');
         GRANT USAGE ON SCHEMA public TO authenticated, anon;
         GRANT SELECT ON members TO authenticated;
         GRANT SELECT ON products, customers TO authenticated, anon;
         ALTER TABLE products ENABLE ROW LEVEL SECURITY;
         -- Deparsed as `products.note` inside the subquery.
         CREATE POLICY shop ON products FOR SELECT TO authenticated
             USING (EXISTS (SELECT 1 FROM members m WHERE m.shop = products.note AND m.uid = {CLAIM}));
         CREATE POLICY priced ON products AS RESTRICTIVE FOR SELECT USING (price_cents > 0);
         CREATE POLICY everything ON products FOR SELECT TO anon USING (true);
         -- Not a read policy: not copied, its column not kept.
         CREATE POLICY edit ON products FOR UPDATE USING (stock > 0);
         -- The whole row: every column is kept.
         ALTER TABLE customers ENABLE ROW LEVEL SECURITY;
         CREATE POLICY phoned ON customers FOR SELECT USING (to_jsonb(customers.*)->>'phone' IS NOT NULL);"
    ))
    .await
    .expect("policies");
    c.batch_execute(&install_sql(&example_tables()))
        .await
        .expect("install again");
    assert_eq!(kept(&c, "products").await, ["note", "price_cents"]);
    assert_eq!(kept(&c, "customers").await, ["id", "name", "phone"]);
    assert!(kept(&c, "debts").await.is_empty(), "no row level security");

    c.batch_execute(
        "INSERT INTO products (id, name, note, price_cents)
         VALUES ('p1', 'x', 'S1', 5), ('p2', 'x', 'S1', 0), ('p3', 'x', 'S2', 5);
         DELETE FROM products;
         INSERT INTO customers VALUES (1, 'a', '1'), (2, 'b', NULL);
         DELETE FROM customers;",
    )
    .await
    .expect("rows");
    assert_eq!(
        deleted_as(&c, Some(("authenticated", "u1")), "products").await,
        ["p1"]
    );
    assert!(
        deleted_as(&c, Some(("authenticated", "u2")), "products")
            .await
            .is_empty()
    );
    assert_eq!(
        deleted_as(&c, Some(("anon", "-")), "products").await,
        ["p1", "p3"]
    );
    assert_eq!(deleted_as(&c, None, "products").await.len(), 3);
    assert_eq!(
        deleted_as(&c, Some(("anon", "-")), "customers").await,
        ["1"]
    );

    // A policy that passes the row to a function taking the table's row
    // type cannot be copied: the script stops and says which.
    c.batch_execute(
        "CREATE FUNCTION public.cheap(p products) RETURNS boolean LANGUAGE sql
             AS 'SELECT p.price_cents < 10';
         CREATE POLICY cheap ON products FOR SELECT USING (public.cheap(products));",
    )
    .await
    .expect("row-type policy");
    let err = c
        .batch_execute(&install_sql(&example_tables()))
        .await
        .expect_err("not copyable");
    c.batch_execute("ROLLBACK").await.expect("rollback");
    let msg = err.as_db_error().map(|e| e.message().to_string());
    assert!(
        msg.as_deref().is_some_and(|m| m
            .contains("policy cheap of public.products cannot decide who sees its deleted rows")),
        "{msg:?}"
    );
}

/// Without row level security a tombstone keeps only the key, and reaches
/// whoever may read the table, as before; a role that may not read the
/// table reads none of its tombstones either.
#[tokio::test]
async fn a_table_without_rls_keeps_only_the_key() {
    let db = ScratchDb::with_example().await;
    let c = db.connect().await;
    ensure_api_roles(&c).await;
    c.batch_execute(
        "GRANT USAGE ON SCHEMA public TO authenticated, anon;
         GRANT SELECT ON products TO authenticated;
         INSERT INTO products (id, name, note) VALUES ('p1', 'x', 'secret');
         DELETE FROM products;",
    )
    .await
    .expect("rows");
    assert!(kept(&c, "products").await.is_empty());
    assert_eq!(
        deleted_as(&c, Some(("authenticated", "u1")), "products").await,
        ["p1"]
    );
    c.batch_execute("SET ROLE anon").await.expect("anon");
    let n: i64 = c
        .query_one("SELECT count(*) FROM _ebb_deleted.products", &[])
        .await
        .expect("readable, filtered")
        .get(0);
    assert_eq!(n, 0);
}

/// An install from before this change keeps working and keeps its
/// tombstones: they move to `_ebb_deleted` with their versions and txids,
/// so a device's cursor neither skips nor repeats one; the old table and
/// its SECURITY DEFINER readers go; a table installed before but not
/// listed now is brought up to date too. Under row level security the
/// moved tombstones, which carry no row values, reach only the owner.
#[tokio::test]
async fn an_install_from_before_rls_is_upgraded_in_place() {
    let db = ScratchDb::create("upgrade").await;
    let c = db.connect().await;
    c.batch_execute(EXAMPLE_SCHEMA).await.expect("schema");
    c.batch_execute(BEFORE_RLS).await.expect("old install");
    c.batch_execute(
        "INSERT INTO products (id, name, note) VALUES ('p1', 'x', 'A'), ('p2', 'x', 'A'), ('p3', 'x', 'A');
         DELETE FROM products WHERE id IN ('p1', 'p2');
         INSERT INTO customers (id, name) VALUES (1, 'a'), (2, 'b');
         DELETE FROM customers WHERE id = 1;",
    )
    .await
    .expect("old writes");
    let whole = pull(&c, "products", &Cursor::default(), 100).await;
    let first = pull(&c, "products", &Cursor::default(), 1).await;
    assert_eq!(whole.rows.len(), 3);
    // A role of the user's own that was given ebb_pull (it returned jsonb).
    c.batch_execute(
        "DO $$ BEGIN
             IF to_regrole('ebb_t_pull_grantee') IS NULL THEN CREATE ROLE ebb_t_pull_grantee; END IF;
         END $$;
         GRANT EXECUTE ON FUNCTION public.ebb_pull(text, jsonb, integer) TO ebb_t_pull_grantee;",
    )
    .await
    .expect("grant");

    c.batch_execute(&install_sql(&[("products".into(), "id".into())]))
        .await
        .expect("upgrade");
    let gone: bool = c
        .query_one(
            "SELECT to_regclass('public._ebb_tombstones') IS NULL
                AND to_regprocedure('public._ebb_tombstone_version(text, text)') IS NULL
                AND to_regprocedure('public._ebb_tombstones_after(text, xid8, xid8, text, integer)') IS NULL
                AND to_regprocedure('public._ebb_after_write()') IS NULL",
            &[],
        )
        .await
        .expect("old objects")
        .get(0);
    assert!(
        gone,
        "the shared tombstone table, its readers and the shared push record are gone"
    );
    let (returns, granted): (String, bool) = c
        .query_one(
            "SELECT p.prorettype::regtype::text,
                    has_function_privilege('ebb_t_pull_grantee', p.oid, 'EXECUTE')
             FROM pg_proc p WHERE p.oid = 'public.ebb_pull(text, jsonb, integer)'::regprocedure",
            &[],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .expect("ebb_pull");
    assert_eq!(returns, "json", "ebb_pull is the new one");
    assert!(granted, "the user's grant on the old ebb_pull carries over");
    let key = |p: &PullPage| {
        p.rows
            .iter()
            .map(|r| (r.pk.clone(), r.version, r.txid.clone(), r.deleted))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        key(&pull(&c, "products", &Cursor::default(), 100).await),
        key(&whole)
    );
    let rest = pull(&c, "products", &first.next, 100).await;
    assert_eq!(key(&rest), key(&whole)[1..]);
    // customers was not listed: its tombstone moved, its triggers work.
    c.batch_execute("DELETE FROM customers WHERE id = 2")
        .await
        .expect("delete");
    assert_eq!(deleted_as(&c, None, "customers").await, ["1", "2"]);

    // Per-till policies from now on: a till sees its new deletes; the
    // moved ones have no `note`, so only the owner still sees them.
    ensure_api_roles(&c).await;
    c.batch_execute(&format!(
        "GRANT USAGE ON SCHEMA public TO authenticated;
         GRANT SELECT, INSERT, UPDATE, DELETE ON products TO authenticated;
         ALTER TABLE products ENABLE ROW LEVEL SECURITY;
         CREATE POLICY per_till ON products USING (note = {CLAIM}) WITH CHECK (note = {CLAIM});"
    ))
    .await
    .expect("policy");
    c.batch_execute(&install_sql(&example_tables()))
        .await
        .expect("install again");
    c.batch_execute(
        "RESET ROLE; SELECT set_config('request.jwt.claims', '{\"sub\": \"A\"}', false);
         SET ROLE authenticated;",
    )
    .await
    .expect("as A");
    let r = push(&c, json!([change("products", "p3", Some(1), None, 1)])).await;
    assert_eq!(r[0], PushResult::Applied { version: 2 });
    assert_eq!(
        deleted_as(&c, Some(("authenticated", "A")), "products").await,
        ["p3"]
    );
    assert_eq!(deleted_as(&c, None, "products").await, ["p1", "p2", "p3"]);
}
