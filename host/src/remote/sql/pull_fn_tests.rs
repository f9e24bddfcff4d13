//! The page statement each table gets as a function of its own
//! (`_ebb.pull_<md5 of the table's name>`): ebb_pull answers with it exactly what the
//! statement planned per call answers, and stops using it when the table's
//! columns change (until the install script runs again). Rows asked for as
//! arrays are the rows a till from before arrays gets as objects.

use serde_json::Value;

use super::install_sql;
use super::testdb::{ScratchDb, example_tables};
use super::tests::{pull, pull_as};
use crate::model::{Cursor, PullPage};

async fn pull_fn(c: &tokio_postgres::Client, table: &str) -> Option<String> {
    c.query_one(
        "SELECT pull_fn FROM public._ebb_tables WHERE tbl = $1",
        &[&table],
    )
    .await
    .expect("_ebb_tables")
    .get(0)
}

fn rows_of(page: &PullPage) -> Vec<Value> {
    page.rows
        .iter()
        .map(|r| serde_json::to_value(&r.row).expect("row"))
        .collect()
}

#[tokio::test]
async fn the_tables_own_function_answers_as_the_statement_planned_per_call() {
    let db = ScratchDb::with_example().await;
    let c = db.connect().await;
    for (table, _) in example_tables() {
        let name = pull_fn(&c, &table).await.expect("a function per table");
        assert!(name.starts_with("pull_") && name.len() == 37, "{name}");
    }
    c.batch_execute(
        "INSERT INTO products (id, name, price_cents) VALUES ('a', 'one', 5), ('b', 'two', 7);
         DELETE FROM products WHERE id = 'a';
         INSERT INTO products (id, name) VALUES ('c', 'three');",
    )
    .await
    .expect("rows");
    let first = pull(&c, "products", &Cursor::default(), 2).await;
    let rest = pull(&c, "products", &first.next, 2).await;
    c.batch_execute(
        "UPDATE public._ebb_tables SET pull_fn = NULL, pull_rows = NULL WHERE tbl = 'products'",
    )
    .await
    .expect("off");
    let planned = pull(&c, "products", &Cursor::default(), 2).await;
    let planned_rest = pull(&c, "products", &planned.next, 2).await;
    for (own, per_call) in [(&first, &planned), (&rest, &planned_rest)] {
        assert_eq!(own.rows, per_call.rows);
        assert_eq!(
            (&own.next, own.has_more),
            (&per_call.next, per_call.has_more)
        );
    }
    assert_eq!(
        first.rows.len() + rest.rows.len(),
        3,
        "two rows and a tombstone"
    );
    assert!(first.has_more && !rest.has_more);
}

#[tokio::test]
async fn a_column_added_later_is_pulled_before_and_after_the_install_runs_again() {
    let db = ScratchDb::with_example().await;
    let c = db.connect().await;
    let before = pull_fn(&c, "customers").await;
    c.batch_execute(
        // A name that would end a dollar-quoted function body.
        r#"ALTER TABLE customers ADD COLUMN "city$b$" text;
           INSERT INTO customers (id, name, "city$b$") VALUES (1, 'ann', 'Oslo');"#,
    )
    .await
    .expect("column");
    let page = pull(&c, "customers", &Cursor::default(), 10).await;
    assert_eq!(rows_of(&page)[0]["city$b$"], "Oslo", "{page:?}");
    c.batch_execute(&install_sql(&example_tables()))
        .await
        .expect("install again");
    assert_eq!(pull_fn(&c, "customers").await, before, "same name");
    let cols: String = c
        .query_one(
            "SELECT pull_cols FROM public._ebb_tables WHERE tbl = 'customers'",
            &[],
        )
        .await
        .expect("cols")
        .get(0);
    assert!(cols.contains(r#"t."city$b$""#), "{cols}");
    let again = pull(&c, "customers", &Cursor::default(), 10).await;
    assert_eq!(rows_of(&again), rows_of(&page));
}

/// Nothing at all after the cursor: the table's probe answers the empty
/// page the page statement gives (the same cursor, nothing more); a read
/// policy changed since the install is still refused, with nothing to
/// send too; a tombstone after the cursor is paged as before.
#[tokio::test]
async fn nothing_after_the_cursor_is_the_page_the_statement_gives() {
    let db = ScratchDb::with_example().await;
    let c = db.connect().await;
    c.batch_execute(
        "INSERT INTO products (id, name, price_cents) VALUES ('a', 'one', 5), ('b', 'two', 7)",
    )
    .await
    .expect("rows");
    let all = pull(&c, "products", &Cursor::default(), 10).await;
    assert_eq!(all.rows.len(), 2);
    // The probe answers: the page function is not even called.
    c.batch_execute("UPDATE public._ebb_tables SET pull_fn = 'no_such' WHERE tbl = 'products'")
        .await
        .expect("page function gone");
    let probed = pull(&c, "products", &all.next, 10).await;
    c.batch_execute(&install_sql(&example_tables()))
        .await
        .expect("install again");
    c.batch_execute("UPDATE public._ebb_tables SET pull_any = NULL WHERE tbl = 'products'")
        .await
        .expect("off");
    let planned = pull(&c, "products", &all.next, 10).await;
    assert!(probed.rows.is_empty() && !probed.has_more);
    assert_eq!(
        (&probed.next, probed.has_more),
        (&planned.next, planned.has_more)
    );
    assert_eq!(probed.next, all.next);
    c.batch_execute(&install_sql(&example_tables()))
        .await
        .expect("install again");

    c.batch_execute(
        "ALTER TABLE products ENABLE ROW LEVEL SECURITY;
         CREATE POLICY everyone ON products USING (true);",
    )
    .await
    .expect("a policy added after the install");
    settle_pull_refused(&c, &all.next).await;
    c.batch_execute("DELETE FROM products WHERE id = 'a'")
        .await
        .expect("a tombstone after the cursor");
    c.batch_execute(&install_sql(&example_tables()))
        .await
        .expect("install again");
    let after = pull(&c, "products", &all.next, 10).await;
    assert_eq!(after.rows.len(), 1);
    assert!(after.rows[0].deleted);
}

/// ebb_pull of products from `cursor` is refused for its changed policies.
async fn settle_pull_refused(c: &tokio_postgres::Client, cursor: &Cursor) {
    super::testdb::settle(c).await;
    let cursor = serde_json::to_value(cursor).expect("cursor json");
    let err = c
        .query_one(
            "SELECT public.ebb_pull('products', $1::jsonb, 10)",
            &[&cursor],
        )
        .await
        .expect_err("refused until the script runs again");
    assert!(
        err.as_db_error()
            .is_some_and(|e| e.message().contains("apply `ebb remote-sql` again")),
        "{err:?}"
    );
}

/// The same pages as objects (a till that does not ask) and as arrays,
/// through the table's own functions and planned per call, tombstones and
/// an empty page included; a table of more columns than arrays take keeps
/// its rows as objects inside them.
#[tokio::test]
async fn rows_as_arrays_are_the_rows_as_objects() {
    let db = ScratchDb::with_example().await;
    let c = db.connect().await;
    c.batch_execute(
        "INSERT INTO products (id, name, price_cents) VALUES ('a', 'one', 5), ('b', 'tw\"o', 7);
         DELETE FROM products WHERE id = 'a';
         INSERT INTO products (id, name) VALUES ('c', 'three');",
    )
    .await
    .expect("rows");
    let objects = |cursor: &Cursor| serde_json::to_value(cursor).expect("cursor");
    let walk = |arrays: bool| {
        let c = &c;
        async move {
            let mut pages = Vec::new();
            let mut at = Cursor::default();
            loop {
                let page = if arrays {
                    pull(c, "products", &at, 2).await
                } else {
                    pull_as(c, "products", objects(&at), 2).await
                };
                at = page.next.clone();
                let more = page.has_more;
                // Each pull settles the server first: the horizon moves.
                pages.push(PullPage {
                    horizon: String::new(),
                    ..page
                });
                if !more {
                    break;
                }
            }
            let empty = pull(c, "products", &at, 2).await;
            pages.push(PullPage {
                horizon: String::new(),
                ..empty
            });
            pages
        }
    };
    let as_objects = walk(false).await;
    assert_eq!(as_objects.iter().map(|p| p.rows.len()).sum::<usize>(), 3);
    assert_eq!(walk(true).await, as_objects);
    c.batch_execute(
        "UPDATE public._ebb_tables SET pull_fn = NULL, pull_rows = NULL WHERE tbl = 'products'",
    )
    .await
    .expect("off");
    assert_eq!(walk(true).await, as_objects, "planned per call");

    // What is sent: arrays with the names once, none for an empty page.
    let answer = |cursor: Value| {
        let c = &c;
        async move {
            let row = c
                .query_one(
                    "SELECT public.ebb_pull('products', $1::jsonb, 10)::jsonb",
                    &[&cursor],
                )
                .await
                .expect("ebb_pull");
            row.get::<_, Value>(0)
        }
    };
    let sent = answer(serde_json::json!({"rows": "arrays"})).await;
    assert_eq!(sent["cols"][0], "id", "{sent}");
    assert!(
        sent["rows"][1].is_array() && sent["rows"][1][5].is_array(),
        "{sent}"
    );
    let old = answer(serde_json::json!({})).await;
    assert!(old["cols"].is_null() && old["rows"][0].is_object(), "{old}");
    let mut after = serde_json::to_value(&as_objects[as_objects.len() - 1].next).unwrap();
    after["rows"] = "arrays".into();
    assert!(
        answer(after).await["cols"].is_null(),
        "an empty page names nothing"
    );

    // 95 columns: more than json_build_array takes.
    let columns: Vec<String> = (1..95).map(|i| format!("c{i} int DEFAULT {i}")).collect();
    c.batch_execute(&format!(
        "CREATE TABLE wide (id text PRIMARY KEY, {});",
        columns.join(", ")
    ))
    .await
    .expect("wide table");
    let tables = [
        example_tables(),
        vec![("wide".to_string(), "id".to_string())],
    ]
    .concat();
    c.batch_execute(&install_sql(&tables))
        .await
        .expect("install");
    c.batch_execute("INSERT INTO wide (id) VALUES ('w')")
        .await
        .expect("row");
    let wide = pull(&c, "wide", &Cursor::default(), 10).await;
    let wide_objects = pull_as(&c, "wide", objects(&Cursor::default()), 10).await;
    assert_eq!(wide.rows, wide_objects.rows);
    assert_eq!(rows_of(&wide)[0]["c94"], 94);
}
