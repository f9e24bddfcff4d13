//! `ebb_pull_all` against a real PostgreSQL: each table's answer is what
//! `ebb_pull` answers for it from the same cursor, and a bad argument or a
//! table ebb does not sync fails the whole call with ebb_pull's message.
//! `ebb_push_pull`: the push answers as `ebb_push` would, the pages come
//! after it, and a pull half that fails keeps the push.

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

async fn push_pull(client: &tokio_postgres::Client, changes: Value, cursors: Value) -> Value {
    settle(client).await;
    let answer: String = client
        .query_one(
            "SELECT public.ebb_push_pull($1::jsonb, $2::jsonb, 10)::text",
            &[&changes, &cursors],
        )
        .await
        .expect("ebb_push_pull")
        .get(0);
    serde_json::from_str(&answer).expect("json")
}

fn insert(pk: &str, counter: i64) -> Value {
    json!([{"table": "products", "pk": pk, "op": "upsert", "base_version": 0,
            "device": "till-1", "counter": counter, "row": {"id": pk, "name": "tea"}}])
}

#[tokio::test]
async fn a_push_then_the_pages_and_a_failed_pull_half_keeps_the_push() {
    let db = ScratchDb::with_example().await;
    let c = db.connect().await;
    c.batch_execute("INSERT INTO customers (id, name) VALUES (7, 'ann')")
        .await
        .expect("a row written elsewhere");
    let answer = push_pull(
        &c,
        insert("a", 1),
        json!({"customers": null, "products": null}),
    )
    .await;
    assert_eq!(
        answer["results"],
        json!([{"status": "applied", "version": 1}])
    );
    assert!(answer["pull_error"].is_null(), "{answer}");
    let pages: BTreeMap<String, PullPage> =
        serde_json::from_value(answer["pages"].clone()).expect("a page per table");
    assert_eq!(pages["customers"].rows.len(), 1, "{pages:?}");
    assert_eq!(pages["customers"].rows[0].pk, "7");
    // The push stands, as its own call would have left it.
    let retried = push_pull(&c, insert("a", 1), json!({"products": null})).await;
    assert_eq!(
        retried["results"],
        json!([{"status": "applied", "version": 1}])
    );

    // A pull half that fails (a table ebb does not sync) keeps the push.
    let answer = push_pull(&c, insert("b", 2), json!({"secrets": null})).await;
    assert_eq!(
        answer["results"],
        json!([{"status": "applied", "version": 1}])
    );
    assert!(answer["pages"].is_null(), "{answer}");
    let error = answer["pull_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("\"secrets\" is not synced by ebb"),
        "{error}"
    );
    let kept: i64 = c
        .query_one("SELECT count(*) FROM products WHERE id = 'b'", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(kept, 1);
}
