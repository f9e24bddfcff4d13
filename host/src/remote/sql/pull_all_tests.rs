//! `ebb_pull_all` against a real PostgreSQL: each table's answer is what
//! `ebb_pull` answers for it from the same cursor, and a bad argument or a
//! table ebb does not sync fails the whole call with ebb_pull's message.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::testdb::{ScratchDb, settle};
use super::tests::pull;
use crate::model::{Cursor, PullPage};

async fn pull_all(client: &tokio_postgres::Client, cursors: Value, page: i32) -> Value {
    settle(client).await;
    client
        .query_one(
            "SELECT public.ebb_pull_all($1::jsonb, $2)",
            &[&cursors, &page],
        )
        .await
        .expect("ebb_pull_all")
        .get(0)
}

#[tokio::test]
async fn every_table_answers_as_its_own_pull_from_the_same_cursor() {
    let db = ScratchDb::with_example().await;
    let c = db.connect().await;
    c.batch_execute(
        "INSERT INTO products (id, name) VALUES ('a', 'one'), ('b', 'two'), ('c', 'three');
         INSERT INTO customers (id, name) VALUES (7, 'ann');",
    )
    .await
    .expect("rows");
    let first = pull(&c, "products", &Cursor::default(), 2).await;
    assert!(first.has_more);
    let cursors = json!({"products": first.next, "customers": null, "debts": {}});
    let answer = pull_all(&c, cursors, 2).await;
    let mut pages: BTreeMap<String, PullPage> =
        serde_json::from_value(answer).expect("a page per table");
    // Each `pull` below waits for its own write to settle: a later horizon.
    let horizon = |page: PullPage| PullPage {
        horizon: String::new(),
        ..page
    };
    pages = pages.into_iter().map(|(t, p)| (t, horizon(p))).collect();
    assert_eq!(
        pages.keys().collect::<Vec<_>>(),
        ["customers", "debts", "products"]
    );
    let products = horizon(pull(&c, "products", &first.next, 2).await);
    assert_eq!(pages["products"], products);
    assert_eq!(
        pages["products"].rows.len(),
        1,
        "only the row after the cursor"
    );
    let customers = horizon(pull(&c, "customers", &Cursor::default(), 2).await);
    assert_eq!(pages["customers"], customers);
    assert_eq!(customers.rows[0].pk, "7");
    assert!(pages["debts"].rows.is_empty() && !pages["debts"].has_more);
    let none = pull_all(&c, json!({}), 5).await;
    assert_eq!(none, json!({}));
}

#[tokio::test]
async fn a_bad_argument_or_an_unsynced_table_fails_the_whole_call() {
    let db = ScratchDb::with_example().await;
    let c = db.connect().await;
    let call = |cursors: Value, page: i32| {
        let c = &c;
        async move {
            c.query_one(
                "SELECT public.ebb_pull_all($1::jsonb, $2)",
                &[&cursors, &page],
            )
            .await
            .expect_err("refused")
            .as_db_error()
            .map(|e| (e.code().code().to_string(), e.message().to_string()))
            .expect("a database error")
        }
    };
    let (code, message) = call(json!(["products"]), 5).await;
    assert_eq!(code, "22023");
    assert!(message.contains("cursors must be"), "{message}");
    let (code, message) = call(json!({"products": null, "secrets": null}), 5).await;
    assert_eq!(code, "22023");
    assert!(
        message.contains("\"secrets\" is not synced by ebb"),
        "{message}"
    );
    let (code, message) = call(json!({"products": null}), 0).await;
    assert_eq!(code, "22023");
    assert!(message.contains("page must be at least 1"), "{message}");
}
