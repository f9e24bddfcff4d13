//! Tests of the install script against a real PostgreSQL: triggers,
//! tombstones, versions, idempotent install, and the JSON the functions
//! return read back through `crate::model`. HTTP-level behaviour is held by
//! the gateway's contract suite.

use serde_json::{Value, json};

use super::testdb::{EXAMPLE_SCHEMA, ScratchDb, example_tables, settle};
use super::{install_sql, literal, uninstall_sql};
use crate::model::{Change, Cursor, Op, PullPage, PushResult};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/remote.sql");

#[test]
fn install_script_matches_golden_file() {
    let sql = install_sql(&example_tables());
    if std::env::var_os("EBB_BLESS").is_some() {
        std::fs::write(GOLDEN, &sql).expect("write golden file");
    }
    let golden = std::fs::read_to_string(GOLDEN).expect("golden file (EBB_BLESS=1 to create)");
    assert!(
        golden == sql,
        "remote SQL changed: review, then EBB_BLESS=1 cargo test"
    );
}

#[test]
fn literals_double_quotes_and_nothing_else() {
    assert_eq!(literal("plain"), "'plain'");
    assert_eq!(literal("o'brien"), "'o''brien'");
    assert_eq!(literal(r"back\slash"), r"'back\slash'");
    let sql = install_sql(&[("we'ird".into(), "i'd".into())]);
    assert!(sql.contains("SELECT pg_temp._ebb_install_table('we''ird', 'i''d');"));
}

pub(super) async fn push(client: &tokio_postgres::Client, changes: Value) -> Vec<PushResult> {
    let row = client
        .query_one("SELECT public.ebb_push($1::jsonb)", &[&changes])
        .await
        .expect("ebb_push");
    let out: Value = row.get(0);
    serde_json::from_value(out["results"].clone()).expect("results are model::PushResult")
}

/// Pulls after everything written so far is below the horizon, rows as
/// arrays (as the till asks).
pub(super) async fn pull(
    client: &tokio_postgres::Client,
    table: &str,
    cursor: &Cursor,
    page: i32,
) -> PullPage {
    let mut cursor = serde_json::to_value(cursor).expect("cursor json");
    cursor["rows"] = "arrays".into();
    pull_as(client, table, cursor, page).await
}

/// [`pull`] with the cursor `cursor` as sent (a till from before arrays
/// sends `{"txid", "pk"}` alone).
pub(super) async fn pull_as(
    client: &tokio_postgres::Client,
    table: &str,
    cursor: Value,
    page: i32,
) -> PullPage {
    settle(client).await;
    let row = client
        .query_one(
            "SELECT public.ebb_pull($1, $2::jsonb, $3)",
            &[&table, &cursor, &page],
        )
        .await
        .expect("ebb_pull");
    serde_json::from_value(row.get::<_, Value>(0)).expect("page is model::PullPage")
}

pub(super) fn change(
    table: &str,
    pk: &str,
    base: Option<i64>,
    row: Option<Value>,
    counter: i64,
) -> Change {
    Change {
        table: table.into(),
        pk: pk.into(),
        op: if row.is_some() {
            Op::Upsert
        } else {
            Op::Delete
        },
        base_version: base,
        row: row.map(|r| r.as_object().cloned().expect("row object")),
        device: "dev-a".into(),
        counter,
    }
}

#[tokio::test]
async fn server_output_round_trips_through_model_types() {
    let db = ScratchDb::with_example().await;
    let c = db.connect().await;
    // The second change is another device's (one device's own later edit
    // on the same base goes on top of its first: see push_tests).
    let mut other = change(
        "customers",
        "1",
        None,
        Some(json!({"id": 1, "name": "Bob"})),
        2,
    );
    other.device = "dev-b".into();
    let changes = vec![
        change(
            "customers",
            "1",
            None,
            Some(json!({"id": 1, "name": "Ann"})),
            1,
        ),
        other,
        change(
            "debts",
            "6f1c8a0e-0000-4000-8000-000000000001",
            None,
            Some(json!({"customer_id": 42, "amount_cents": 5})),
            3,
        ),
    ];
    let results = push(&c, serde_json::to_value(&changes).expect("json")).await;
    assert_eq!(results[0], PushResult::Applied { version: 1 });
    match &results[1] {
        PushResult::Conflict {
            version: 1,
            row: Some(row),
            deleted: false,
            own: None,
        } => {
            assert_eq!(row.get("name"), Some(&json!("Ann")));
            assert!(row.keys().all(|k| !k.starts_with("_ebb_")), "{row:?}");
        }
        other => panic!("expected conflict, got {other:?}"),
    }
    match &results[2] {
        PushResult::Rejected { code, message } => {
            assert_eq!(code, "23503");
            assert!(message.contains("debts_customer_id_fkey"), "{message}");
        }
        other => panic!("expected rejection, got {other:?}"),
    }
    let page = pull(&c, "customers", &Cursor::default(), 10).await;
    assert_eq!(page.rows.len(), 1);
    let r = &page.rows[0];
    assert_eq!((r.pk.as_str(), r.version, r.deleted), ("1", 1, false));
    assert_eq!(r.origin.as_deref(), Some("dev-a"));
    assert_eq!(
        page.next,
        Cursor {
            txid: r.txid.clone(),
            pk: "1".into()
        }
    );
    assert!(!page.has_more);
    let txid: u64 = r.txid.parse().expect("txid is decimal");
    let horizon: u64 = page.horizon.parse().expect("horizon is decimal");
    assert!(txid < horizon);
}

#[tokio::test]
async fn install_is_idempotent_and_versions_existing_rows() {
    let db = ScratchDb::create("idem").await;
    let c = db.connect().await;
    c.batch_execute(EXAMPLE_SCHEMA).await.expect("schema");
    c.batch_execute("INSERT INTO products (id, name) VALUES ('old', 'before ebb')")
        .await
        .expect("seed");
    let sql = install_sql(&example_tables());
    c.batch_execute(&sql).await.expect("first install");
    c.batch_execute(&sql).await.expect("second install");
    let row = c
        .query_one("SELECT _ebb_version FROM products WHERE id = 'old'", &[])
        .await
        .expect("row");
    assert_eq!(
        row.get::<_, i64>(0),
        1,
        "a row from before ebb is version 1"
    );
    let n: i64 = c
        .query_one("SELECT count(*) FROM _ebb_tables", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(n, 4);
    // A device inserting the same key is told the row exists.
    let r = push(
        &c,
        json!([change(
            "products",
            "old",
            None,
            Some(json!({"id": "old", "name": "x"})),
            1
        )]),
    )
    .await;
    assert!(
        matches!(r[0], PushResult::Conflict { version: 1, .. }),
        "{r:?}"
    );

    c.batch_execute(&uninstall_sql()).await.expect("uninstall");
    let cols: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_attribute WHERE attname LIKE '\\_ebb\\_%' AND NOT attisdropped
             AND attrelid = 'products'::regclass",
            &[],
        )
        .await
        .expect("cols")
        .get(0);
    assert_eq!(cols, 0);
    c.batch_execute(&sql)
        .await
        .expect("install after uninstall");
}

#[tokio::test]
async fn install_refuses_missing_table_and_missing_key() {
    let db = ScratchDb::create("refuse").await;
    let c = db.connect().await;
    let err = c
        .batch_execute(&install_sql(&[("ghost".into(), "id".into())]))
        .await
        .expect_err("missing table");
    c.batch_execute("ROLLBACK").await.expect("rollback");
    let msg = err
        .as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_default();
    assert!(msg.contains("public.ghost does not exist"), "{msg}");
    c.batch_execute("CREATE TABLE loose (id int, name text)")
        .await
        .expect("table");
    let err = c
        .batch_execute(&install_sql(&[("loose".into(), "id".into())]))
        .await
        .expect_err("no key");
    let msg = err
        .as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_default();
    assert!(msg.contains("is not a primary key"), "{msg}");
}

#[tokio::test]
async fn versions_never_go_back_after_delete_and_reinsert() {
    let db = ScratchDb::with_example().await;
    let c = db.connect().await;
    c.batch_execute(
        "INSERT INTO customers (id, name) VALUES (5, 'a');
         UPDATE customers SET name = 'b' WHERE id = 5;
         DELETE FROM customers WHERE id = 5;",
    )
    .await
    .expect("writes");
    let tomb: i64 = c
        .query_one(
            "SELECT _ebb_version FROM _ebb_deleted.customers WHERE _ebb_pk = '5'",
            &[],
        )
        .await
        .expect("tombstone")
        .get(0);
    assert_eq!(tomb, 3);
    c.batch_execute("INSERT INTO customers (id, name) VALUES (5, 'again')")
        .await
        .expect("reinsert");
    let row = c
        .query_one(
            "SELECT _ebb_version, _ebb_origin FROM customers WHERE id = 5",
            &[],
        )
        .await
        .expect("row");
    assert_eq!(row.get::<_, i64>(0), 4);
    assert_eq!(
        row.get::<_, Option<String>>(1),
        None,
        "server writes have no origin"
    );
    let left: i64 = c
        .query_one("SELECT count(*) FROM _ebb_deleted.customers", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(left, 0, "re-insert revives the key");
}

#[tokio::test]
async fn changing_a_primary_key_leaves_a_tombstone_for_the_old_key() {
    let db = ScratchDb::with_example().await;
    let c = db.connect().await;
    c.batch_execute(
        "INSERT INTO products (id, name) VALUES ('a', 'x');
         UPDATE products SET id = 'b' WHERE id = 'a';",
    )
    .await
    .expect("writes");
    let page = pull(&c, "products", &Cursor::default(), 10).await;
    let seen: Vec<(String, bool, i64)> = page
        .rows
        .iter()
        .map(|r| (r.pk.clone(), r.deleted, r.version))
        .collect();
    assert!(seen.contains(&("a".into(), true, 2)), "{seen:?}");
    assert!(seen.contains(&("b".into(), false, 2)), "{seen:?}");
}

/// Why tombstones live in their own table: a BEFORE DELETE trigger that
/// turns a delete into an UPDATE (the `_ebb_deleted` column design) makes
/// PostgreSQL skip the cascaded delete silently, leaving a child that points
/// at a parent that is gone; a DO INSTEAD rule makes the cascade fail. Our
/// AFTER DELETE triggers keep the cascade and record every child.
#[tokio::test]
async fn soft_delete_breaks_cascade_and_tombstones_do_not() {
    let db = ScratchDb::create("cascade").await;
    let c = db.connect().await;
    c.batch_execute(
        "CREATE TABLE parent (id int PRIMARY KEY);
         CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent(id) ON DELETE CASCADE,
                             _deleted boolean NOT NULL DEFAULT false);
         CREATE FUNCTION soft() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN UPDATE child SET _deleted = true WHERE id = OLD.id; RETURN NULL; END $$;
         CREATE TRIGGER soft BEFORE DELETE ON child FOR EACH ROW EXECUTE FUNCTION soft();
         INSERT INTO parent VALUES (1); INSERT INTO child VALUES (10, 1);",
    )
    .await
    .expect("setup");
    c.batch_execute("DELETE FROM parent WHERE id = 1")
        .await
        .expect("no error is raised");
    let orphans: i64 = c
        .query_one(
            "SELECT count(*) FROM child WHERE NOT EXISTS (SELECT 1 FROM parent p WHERE p.id = child.parent_id)",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(orphans, 1, "the soft-delete trigger leaves an orphan");

    c.batch_execute(
        "DROP TRIGGER soft ON child;
         CREATE RULE soft AS ON DELETE TO child DO INSTEAD UPDATE child SET _deleted = true WHERE id = OLD.id;
         INSERT INTO parent VALUES (2); INSERT INTO child VALUES (20, 2);",
    )
    .await
    .expect("rule");
    let err = c
        .batch_execute("DELETE FROM parent WHERE id = 2")
        .await
        .expect_err("the rule breaks the cascade");
    let msg = err
        .as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_default();
    assert!(msg.contains("gave unexpected result"), "{msg}");

    let db = ScratchDb::with_example().await;
    let c = db.connect().await;
    c.batch_execute(
        "INSERT INTO customers VALUES (1, 'Ann');
         INSERT INTO debts VALUES ('00000000-0000-4000-8000-000000000001', 1, 100);
         INSERT INTO debt_payments VALUES ('00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-000000000001', 10),
                                          ('00000000-0000-4000-8000-0000000000a2', '00000000-0000-4000-8000-000000000001', 20);
         DELETE FROM debts;",
    )
    .await
    .expect("cascade");
    let page = pull(&c, "debt_payments", &Cursor::default(), 10).await;
    assert_eq!(page.rows.len(), 2);
    assert!(
        page.rows
            .iter()
            .all(|r| r.deleted && r.row.is_none() && r.version == 2)
    );
    assert!(page.rows.iter().all(|r| r.origin.is_none()));
}
