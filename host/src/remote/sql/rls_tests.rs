//! Deletes under row level security, against a real PostgreSQL set up like
//! Supabase with per-till policies (each till's JWT `sub` names the
//! products it may see): a tombstone reaches exactly the roles that could
//! see the row, through ebb_pull and through ebb_push's answers; the
//! policies are copied with their meaning; a policy changed after the
//! install stops pulls until the script is applied again.

use serde_json::{Value, json};
use tokio_postgres::Client;

use super::grants_tests::ensure_api_roles;
use super::install_sql;
use super::testdb::{ScratchDb, example_tables};
use super::tests::{change, pull, push};
use crate::model::{Cursor, PullPage, PushResult};

/// The till's `sub`, as PostgREST sets it from a verified JWT.
const CLAIM: &str = "current_setting('request.jwt.claims', true)::json->>'sub'";

/// The example database with products readable and writable by each till
/// only where `note` names it, the install script applied again to copy
/// the policy, and rows a1 and a2 of till A, b1 and b2 of till B.
async fn per_till() -> (ScratchDb, Client) {
    let db = ScratchDb::with_example().await;
    let c = db.connect().await;
    ensure_api_roles(&c).await;
    c.batch_execute(&format!(
        "GRANT USAGE ON SCHEMA public TO authenticated;
         GRANT SELECT, INSERT, UPDATE, DELETE ON products TO authenticated;
         ALTER TABLE products ENABLE ROW LEVEL SECURITY;
         CREATE POLICY per_till ON products USING (note = {CLAIM}) WITH CHECK (note = {CLAIM});
         INSERT INTO products (id, name, note)
         VALUES ('a1', 'x', 'A'), ('a2', 'x', 'A'), ('b1', 'x', 'B'), ('b2', 'x', 'B');"
    ))
    .await
    .expect("policy");
    c.batch_execute(&install_sql(&example_tables()))
        .await
        .expect("install again");
    (db, c)
}

/// Runs what follows as till `sub` (Supabase's `authenticated` role).
async fn as_till(c: &Client, sub: &str) {
    c.batch_execute(&format!(
        "RESET ROLE; SELECT set_config('request.jwt.claims', '{{\"sub\": \"{sub}\"}}', false);
         SET ROLE authenticated;"
    ))
    .await
    .expect("as till");
}

/// The keys of `page`'s tombstones, sorted.
fn deleted(page: &PullPage) -> Vec<String> {
    let mut pks: Vec<String> = page
        .rows
        .iter()
        .filter(|r| r.deleted)
        .map(|r| r.pk.clone())
        .collect();
    pks.sort();
    pks
}

async fn deleted_for(c: &Client, sub: &str) -> Vec<String> {
    as_till(c, sub).await;
    deleted(&pull(c, "products", &Cursor::default(), 1000).await)
}

fn product(id: &str, note: &str) -> Option<Value> {
    Some(json!({"id": id, "name": "x", "note": note}))
}

/// The proof: a role that sees no row of another till learned its
/// deleted keys, versions and txids from ebb_pull. Now every way a row goes
/// (a device's delete, a server-side DELETE, TRUNCATE, a key changed)
/// leaves a tombstone only its own till sees.
#[tokio::test]
async fn deletes_reach_only_the_roles_that_could_see_the_row() {
    let (_db, c) = per_till().await;
    as_till(&c, "A").await;
    let gone = push(&c, json!([change("products", "a1", Some(1), None, 1)])).await;
    assert_eq!(gone[0], PushResult::Applied { version: 2 });
    c.batch_execute(
        "RESET ROLE;
         DELETE FROM products WHERE id = 'b1';
         UPDATE products SET id = 'a3' WHERE id = 'a2';
         INSERT INTO products (id, name, note) VALUES ('a9', 'x', 'A'), ('b9', 'x', 'B');
         TRUNCATE products;",
    )
    .await
    .expect("server-side deletes");
    assert_eq!(deleted_for(&c, "A").await, ["a1", "a2", "a3", "a9"]);
    assert_eq!(deleted_for(&c, "B").await, ["b1", "b2", "b9"]);
    assert!(deleted_for(&c, "C").await.is_empty());
    // Read directly (a SQL session), the same policies apply.
    as_till(&c, "B").await;
    let n: i64 = c
        .query_one("SELECT count(*) FROM _ebb_deleted.products", &[])
        .await
        .expect("direct read")
        .get(0);
    assert_eq!(n, 3);
    // The owner, and BYPASSRLS roles, see every tombstone.
    c.batch_execute("RESET ROLE").await.expect("reset");
    let all = deleted(&pull(&c, "products", &Cursor::default(), 1000).await);
    assert_eq!(all.len(), 7, "{all:?}");
    // Applying the script again (same policies) keeps what they read.
    c.batch_execute(&install_sql(&example_tables()))
        .await
        .expect("install again");
    assert_eq!(deleted_for(&c, "A").await, ["a1", "a2", "a3", "a9"]);
}

/// ebb_push's answers about a key the caller cannot see say nothing of
/// another till's row or delete: no tombstone version in a conflict, no
/// `own` write of a device the caller names. (What remains: re-inserting
/// such a key continues its version count, so the caller learns that the
/// key was used; keys nobody can guess, as uuids, leave nothing to learn.)
#[tokio::test]
async fn push_answers_name_only_what_the_caller_sees() {
    let (_db, c) = per_till().await;
    as_till(&c, "B").await;
    let mut edit = change("products", "b2", Some(1), product("b2", "B"), 7);
    edit.device = "dev-b".into();
    assert_eq!(
        push(&c, json!([edit])).await[0],
        PushResult::Applied { version: 2 }
    );
    c.batch_execute("RESET ROLE; DELETE FROM products WHERE id = 'b1'")
        .await
        .expect("delete b1");

    as_till(&c, "A").await;
    let unseen = PushResult::Conflict {
        version: 0,
        row: None,
        deleted: true,
        own: None,
    };
    // An edit of B's deleted row: before, a conflict naming its version.
    let r = push(
        &c,
        json!([change("products", "b1", Some(1), product("b1", "A"), 1)]),
    )
    .await;
    assert_eq!(r[0], unseen);
    // Claiming B's device, with a later counter on the base B wrote on:
    // before, a conflict naming B's write (`own`) and the row's version.
    let mut claim = change("products", "b2", Some(1), product("b2", "A"), 8);
    claim.device = "dev-b".into();
    assert_eq!(push(&c, json!([claim])).await[0], unseen);
    // Deleting it: nothing to do, and nothing said.
    let r = push(&c, json!([change("products", "b1", Some(1), None, 2)])).await;
    assert_eq!(r[0], PushResult::Applied { version: 0 });
    // The helpers that answered about any row over REST are gone from
    // `public`, the schema PostgREST serves (trigger functions cannot be
    // called).
    let served: Vec<String> = c
        .query(
            "SELECT p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'public' AND p.proname LIKE '\\_ebb\\_%'
               AND p.prorettype <> 'trigger'::regtype ORDER BY 1",
            &[],
        )
        .await
        .expect("functions")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(served, ["_ebb_push_one", "_ebb_strip"]);

    // B itself still gets the full answer about its own deleted row.
    as_till(&c, "B").await;
    let r = push(
        &c,
        json!([change("products", "b1", Some(1), product("b1", "B"), 3)]),
    )
    .await;
    assert!(
        matches!(
            r[0],
            PushResult::Conflict {
                version: 2,
                deleted: true,
                ..
            }
        ),
        "{r:?}"
    );
    // What remains: A inserting that key continues its count.
    as_till(&c, "A").await;
    let r = push(
        &c,
        json!([change("products", "b1", None, product("b1", "A"), 4)]),
    )
    .await;
    assert_eq!(r[0], PushResult::Applied { version: 3 });
}

/// A policy added or changed after the install would be applied to
/// tombstones only once copied: until the script runs again, ebb_pull
/// refuses the table with a message that says what to do (the other
/// tables go on).
#[tokio::test]
async fn a_policy_changed_after_install_stops_pulls_until_the_script_is_applied() {
    let (_db, c) = per_till().await;
    c.batch_execute("RESET ROLE").await.expect("reset");
    for change in [
        "ALTER POLICY per_till ON products USING (note = 'everyone')",
        "CREATE POLICY extra ON products FOR SELECT USING (price_cents > 0)",
        "ALTER TABLE products DISABLE ROW LEVEL SECURITY",
    ] {
        c.batch_execute(change).await.expect(change);
        let err = c
            .query_one("SELECT public.ebb_pull('products', NULL, 10)", &[])
            .await
            .expect_err("refused until applied again");
        let db = err.as_db_error().expect("a database error");
        assert_eq!(db.code().code(), "P0001", "{change}");
        assert!(
            db.message().contains("apply `ebb remote-sql` again"),
            "{}",
            db.message()
        );
        c.query_one("SELECT public.ebb_pull('customers', NULL, 10)", &[])
            .await
            .expect("other tables still pull");
        c.batch_execute(&install_sql(&example_tables()))
            .await
            .expect("install again");
        c.query_one("SELECT public.ebb_pull('products', NULL, 10)", &[])
            .await
            .expect("pulls again");
    }
}
