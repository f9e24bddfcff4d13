//! `ebb_push`'s run of fresh inserts (push_batch.sql): two or more new
//! rows of one table written by one statement must get exactly the answers
//! one by one would have given, and leave the records an exact retry needs.

use serde_json::{Value, json};

use super::testdb::ScratchDb;
use super::tests::{change, push};
use crate::model::PushResult;

fn customer(id: &str, name: Option<&str>) -> Option<Value> {
    Some(json!({"id": id, "name": name, "phone": "555"}))
}

/// A clean run: every row written at version 1 with this device as origin,
/// each change recorded, so the exact retry of the batch gets the same
/// answers and a later edit on version 1 goes on top.
#[tokio::test]
async fn a_run_of_new_rows_is_written_and_recorded() {
    let db = ScratchDb::with_example().await;
    let c = db.connect().await;
    let changes: Vec<_> = (1..=100)
        .map(|i| {
            change(
                "customers",
                &i.to_string(),
                None,
                customer(&i.to_string(), Some("n")),
                i,
            )
        })
        .collect();
    let answers = push(&c, json!(changes)).await;
    assert_eq!(answers, vec![PushResult::Applied { version: 1 }; 100]);
    let (rows, origins, recorded): (i64, i64, i64) = c
        .query_one(
            "SELECT (SELECT count(*) FROM customers WHERE _ebb_version = 1),
                    (SELECT count(*) FROM customers WHERE _ebb_origin = 'dev-a'),
                    (SELECT count(*) FROM _ebb_applied
                     WHERE device = 'dev-a' AND tbl = 'customers' AND counter = pk::bigint
                       AND base = 0 AND result = '{\"status\": \"applied\", \"version\": 1}')",
            &[],
        )
        .await
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .expect("counts");
    assert_eq!((rows, origins, recorded), (100, 100, 100));
    // One statement wrote them (one by one, each change has its own
    // subtransaction, so its own xmin).
    let writers: i64 = c
        .query_one("SELECT count(DISTINCT xmin::text) FROM customers", &[])
        .await
        .expect("xmin")
        .get(0);
    assert_eq!(writers, 1, "the run was written by one statement");
    // The answer was lost: the same batch again gets the same answers.
    assert_eq!(push(&c, json!(changes)).await, answers);
    let edit = change(
        "customers",
        "7",
        Some(1),
        customer("7", Some("edited")),
        101,
    );
    assert_eq!(
        push(&c, json!([edit])).await[0],
        PushResult::Applied { version: 2 }
    );
    // The setting naming the run is cleared for the rest of the transaction.
    let left: String = c
        .query_one(
            "SELECT coalesce(current_setting('ebb.push', true), '')",
            &[],
        )
        .await
        .expect("setting")
        .get(0);
    assert_eq!(left, "");
}

/// A run with a row of each kind the one statement cannot decide: a key
/// deleted on the server, a key spelled otherwise, a row breaking a constraint,
/// a key that exists. The run is undone and each change answered on its
/// own; the rest of the run is still applied, and recorded.
#[tokio::test]
async fn a_run_with_a_row_it_cannot_decide_goes_one_by_one() {
    let db = ScratchDb::with_example().await;
    let c = db.connect().await;
    c.batch_execute(
        "INSERT INTO customers (id, name) VALUES (3, 'gone'), (5, 'there');
         DELETE FROM customers WHERE id = 3;",
    )
    .await
    .expect("server writes");
    let changes = json!([
        change("customers", "1", None, customer("1", Some("a")), 1),
        change("customers", "2", None, customer("2", Some("b")), 2),
        change("customers", "3", None, customer("3", Some("back")), 3),
        change(
            "customers",
            "0042",
            None,
            customer("0042", Some("spelled")),
            4
        ),
        change("customers", "6", None, customer("6", None), 5),
        change("customers", "5", None, customer("5", Some("mine")), 6),
        change("customers", "7", None, customer("7", Some("g")), 7),
    ]);
    let answers = push(&c, changes.clone()).await;
    assert_eq!(answers[0], PushResult::Applied { version: 1 });
    assert_eq!(answers[1], PushResult::Applied { version: 1 });
    // Deleted on the server since: a conflict with the delete.
    assert!(
        matches!(
            &answers[2],
            PushResult::Conflict {
                version: 2,
                deleted: true,
                ..
            }
        ),
        "{:?}",
        answers[2]
    );
    assert!(
        matches!(&answers[3], PushResult::Rejected { code, .. } if code == "22023"),
        "{:?}",
        answers[3]
    );
    assert!(
        matches!(&answers[4], PushResult::Rejected { code, .. } if code == "23502"),
        "{:?}",
        answers[4]
    );
    assert!(
        matches!(&answers[5], PushResult::Conflict { version: 1, .. }),
        "{:?}",
        answers[5]
    );
    assert_eq!(answers[6], PushResult::Applied { version: 1 });
    let names: Vec<(i64, String)> = c
        .query("SELECT id, name FROM customers ORDER BY id", &[])
        .await
        .expect("rows")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let expected: Vec<(i64, String)> = vec![
        (1, "a".into()),
        (2, "b".into()),
        (5, "there".into()),
        (7, "g".into()),
    ];
    assert_eq!(names, expected);
    // Retried as a whole: the applied ones replay, the others are judged
    // again alike (a refusal's message names the transaction: codes only).
    let codes = |answers: Vec<PushResult>| -> Vec<PushResult> {
        answers
            .into_iter()
            .map(|a| match a {
                PushResult::Rejected { code, .. } => PushResult::Rejected {
                    code,
                    message: String::new(),
                },
                other => other,
            })
            .collect()
    };
    assert_eq!(codes(push(&c, changes).await), codes(answers));
}

/// Rows that leave a column out get its default, in a run as one by one;
/// a run whose rows carry different columns is written one by one.
#[tokio::test]
async fn columns_left_out_take_their_defaults() {
    let db = ScratchDb::with_example().await;
    let c = db.connect().await;
    c.batch_execute("ALTER TABLE products ALTER COLUMN note SET DEFAULT 'none'")
        .await
        .expect("default");
    let row = |id: &str, extra: Value| {
        let mut row = json!({"id": id, "name": "n", "price_cents": 5, "stock": 1});
        row.as_object_mut()
            .expect("object")
            .extend(extra.as_object().cloned().expect("extra"));
        Some(row)
    };
    let changes = json!([
        change("products", "a", None, row("a", json!({})), 1),
        change("products", "b", None, row("b", json!({})), 2),
        change("products", "c", None, row("c", json!({"note": "set"})), 3),
        change("products", "d", None, row("d", json!({})), 4),
    ]);
    assert_eq!(
        push(&c, changes).await,
        vec![PushResult::Applied { version: 1 }; 4]
    );
    let notes: Vec<(String, Option<String>)> = c
        .query("SELECT id, note FROM products ORDER BY id", &[])
        .await
        .expect("rows")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let note = |s: &str| Some(s.to_string());
    assert_eq!(
        notes,
        [
            ("a".into(), note("none")),
            ("b".into(), note("none")),
            ("c".into(), note("set")),
            ("d".into(), note("none")),
        ]
    );
}

/// A batch that is not one run (a change that is not an object, then a run
/// of each of two tables): the bad change is refused alone, each run is
/// written whole, and a row whose own key differs from its change's is
/// written under the change's key, as one by one.
#[tokio::test]
async fn runs_of_two_tables_after_a_change_that_is_no_object() {
    let db = ScratchDb::with_example().await;
    let c = db.connect().await;
    let product = |id: &str| Some(json!({"id": id, "name": "n", "price_cents": 5, "stock": 1}));
    let changes = json!([
        42,
        change("customers", "1", None, customer("99", Some("a")), 1),
        change("customers", "2", None, customer("2", Some("b")), 2),
        change("products", "p1", None, product("p1"), 3),
        change("products", "p2", None, product("p2"), 4),
    ]);
    let answers = push(&c, changes.clone()).await;
    assert!(
        matches!(&answers[0], PushResult::Rejected { code, .. } if code == "22023"),
        "{:?}",
        answers[0]
    );
    assert_eq!(answers[1..], vec![PushResult::Applied { version: 1 }; 4]);
    let (customers, products, recorded, writers): (Vec<i64>, i64, i64, i64) = c
        .query_one(
            "SELECT (SELECT array_agg(id ORDER BY id) FROM customers),
                    (SELECT count(*) FROM products WHERE _ebb_version = 1),
                    (SELECT count(*) FROM _ebb_applied WHERE device = 'dev-a' AND base = 0),
                    (SELECT count(DISTINCT xmin::text) FROM products)",
            &[],
        )
        .await
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .expect("counts");
    assert_eq!(
        (customers, products, recorded, writers),
        (vec![1, 2], 2, 4, 1)
    );
    assert_eq!(push(&c, changes).await[1..], answers[1..]);
}
