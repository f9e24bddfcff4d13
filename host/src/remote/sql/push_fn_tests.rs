//! The statements a push of one change runs, as functions of each table's
//! own (`_ebb.push_<md5 of the table's name>` and its `_lock`): ebb_push
//! answers with them exactly what the statements planned per call answer,
//! uses the upsert only for a row that carries every writable column of
//! the types it was written for, and stops using it when the table changes
//! (until the install script runs again).

use serde_json::{Value, json};
use tokio_postgres::Client;

use super::install_sql;
use super::testdb::{ScratchDb, example_tables};
use super::tests::{change, push};
use crate::model::PushResult;

async fn push_fn(c: &Client, table: &str) -> Option<String> {
    c.query_one(
        "SELECT push_fn FROM public._ebb_tables WHERE tbl = $1",
        &[&table],
    )
    .await
    .expect("_ebb_tables")
    .get(0)
}

/// Calls of the table's own upsert and lock counted so far by this session
/// (with `track_functions = 'pl'`: counts not yet reported, which may span
/// earlier transactions, so tests compare two readings).
async fn own_calls(c: &Client, name: &str) -> [i64; 3] {
    let row = c
        .query_one(
            "SELECT coalesce(pg_stat_get_xact_function_calls(
                        to_regprocedure(format('_ebb.%I(jsonb, bigint)', $1::text))), 0),
                    coalesce(pg_stat_get_xact_function_calls(
                        to_regprocedure(format('_ebb.%I(text)', $1::text || '_lock'))), 0),
                    coalesce(pg_stat_get_xact_function_calls(
                        to_regprocedure(format('_ebb.%I(jsonb)', $1::text || '_new'))), 0)",
            &[&name],
        )
        .await
        .expect("function calls");
    [row.get(0), row.get(1), row.get(2)]
}

async fn product(c: &Client, id: &str) -> Value {
    c.query_one(
        "SELECT to_jsonb(p) - '_ebb_txid' - 'id' FROM products p WHERE id = $1",
        &[&id],
    )
    .await
    .expect("product")
    .get(0)
}

/// How often `run` made the table's own upsert, lock and insert run
/// (`own_calls`).
async fn calls_in<T>(c: &Client, name: &str, run: impl Future<Output = T>) -> (T, [i64; 3]) {
    c.batch_execute("SET track_functions = 'pl'")
        .await
        .expect("track");
    let before = own_calls(c, name).await;
    let out = run.await;
    let after = own_calls(c, name).await;
    (out, [0, 1, 2].map(|i| after[i] - before[i]))
}

/// An insert, an update of every column, an update of some, and a stale
/// update by another device, of product `id`: the answers.
async fn edits(c: &Client, id: &str, counter: i64) -> Vec<PushResult> {
    let full = |name: &str, stock: i64| {
        Some(json!({"id": id, "name": name, "price_cents": 5, "stock": stock, "note": null}))
    };
    let mut answers = Vec::new();
    for (base, row) in [
        (None, full("one", 1)),
        (Some(1), full("two", 2)),
        (Some(2), Some(json!({"id": id, "name": "three"}))),
        (Some(2), full("stale", 9)),
    ] {
        let n = counter + answers.len() as i64;
        let mut change = change("products", id, base, row, n);
        if n == counter + 3 {
            change.device = "dev-b".into();
        }
        answers.push(push(c, json!([change])).await[0].clone());
    }
    answers
}

#[tokio::test]
async fn the_tables_own_statements_answer_as_those_planned_per_call() {
    let db = ScratchDb::with_example().await;
    let c = db.connect().await;
    for (table, _) in example_tables() {
        let name = push_fn(&c, &table).await.expect("a function per table");
        assert!(name.starts_with("push_") && name.len() == 37, "{name}");
    }
    let name = push_fn(&c, "products").await.expect("products");
    let (own, calls) = calls_in(&c, &name, edits(&c, "a", 1)).await;
    // The insert took the short way with the table's function; the
    // updates locked their row with it, and the one of every column wrote.
    assert_eq!(calls, [1, 3, 1]);
    c.batch_execute("UPDATE public._ebb_tables SET push_fn = NULL WHERE tbl = 'products'")
        .await
        .expect("off");
    let planned = edits(&c, "b", 10).await;
    // The same answers, but for the key the conflicting row names.
    let keyless = |answers: &[PushResult]| {
        let mut answers = serde_json::to_value(answers).expect("answers");
        answers[3]["row"].as_object_mut().expect("row").remove("id");
        answers
    };
    assert_eq!(keyless(&own), keyless(&planned));
    assert!(
        matches!(own[2], PushResult::Applied { version: 3 }),
        "{own:?}"
    );
    assert!(
        matches!(own[3], PushResult::Conflict { version: 3, .. }),
        "{own:?}"
    );
    let (a, b) = (product(&c, "a").await, product(&c, "b").await);
    assert_eq!(a["name"], "three", "{a}");
    assert_eq!(a["stock"], 2, "a partial row keeps the other columns: {a}");
    assert_eq!(
        (
            a["name"].clone(),
            a["stock"].clone(),
            a["_ebb_version"].clone()
        ),
        (
            b["name"].clone(),
            b["stock"].clone(),
            b["_ebb_version"].clone()
        )
    );
    // An integer key is locked by its own function too.
    let customers = push_fn(&c, "customers").await.expect("customers");
    let row = |n: &str| Some(json!({"id": 42, "name": n, "phone": null}));
    let first = push(&c, json!([change("customers", "42", None, row("ann"), 30)])).await;
    assert_eq!(first[0], PushResult::Applied { version: 1 });
    let update = push(
        &c,
        json!([change("customers", "42", Some(1), row("bo"), 31)]),
    );
    let (answer, calls) = calls_in(&c, &customers, update).await;
    assert_eq!(answer[0], PushResult::Applied { version: 2 });
    assert_eq!(calls, [1, 1, 0]);
}

#[tokio::test]
async fn a_column_added_later_is_written_before_and_after_the_install_runs_again() {
    let db = ScratchDb::with_example().await;
    let c = db.connect().await;
    let name = push_fn(&c, "products").await.expect("products");
    // The upsert's own variable's name, one that would end a dollar-quoted
    // body, and the alias the row is read by: the column is written, never
    // the variable, and the row is read whole.
    c.batch_execute(
        r#"ALTER TABLE products ADD COLUMN written text, ADD COLUMN "n$b$" text, ADD COLUMN t text"#,
    )
    .await
    .expect("columns");
    let row = |n: &str| {
        Some(
            json!({"id": if n == "new" { "b" } else { "a" }, "name": n, "price_cents": 5,
                    "stock": 1, "note": null, "written": n, "n$b$": n, "t": n}),
        )
    };
    let written = |n: &str| json!({"written": n, "n$b$": n});
    let insert = push(&c, json!([change("products", "a", None, row("one"), 1)]));
    let (first, calls) = calls_in(&c, &name, insert).await;
    assert_eq!(first[0], PushResult::Applied { version: 1 });
    assert_eq!(calls, [0, 0, 0], "written for other columns");
    let update = push(&c, json!([change("products", "a", Some(1), row("two"), 2)]));
    let (second, calls) = calls_in(&c, &name, update).await;
    assert_eq!(second[0], PushResult::Applied { version: 2 });
    assert_eq!(calls, [0, 1, 0], "written for other columns");
    let got = product(&c, "a").await;
    assert_eq!(
        json!({"written": got["written"], "n$b$": got["n$b$"]}),
        written("two")
    );

    c.batch_execute(&install_sql(&example_tables()))
        .await
        .expect("install again");
    assert_eq!(
        push_fn(&c, "products").await.as_deref(),
        Some(name.as_str())
    );
    let update = push(
        &c,
        json!([change("products", "a", Some(2), row("three"), 3)]),
    );
    let (third, calls) = calls_in(&c, &name, update).await;
    assert_eq!(third[0], PushResult::Applied { version: 3 });
    assert_eq!(calls, [1, 1, 0]);
    let insert = push(&c, json!([change("products", "b", None, row("new"), 5)]));
    let (fresh, calls) = calls_in(&c, &name, insert).await;
    assert_eq!(fresh[0], PushResult::Applied { version: 1 });
    assert_eq!(calls, [0, 0, 1]);
    assert_eq!(product(&c, "b").await["written"], "new");
    let got = product(&c, "a").await;
    assert_eq!(
        json!({"written": got["written"], "n$b$": got["n$b$"]}),
        written("three")
    );

    // A column's type changed since: the statement planned per call.
    c.batch_execute("ALTER TABLE products ALTER COLUMN written TYPE varchar(20)")
        .await
        .expect("type");
    let update = push(
        &c,
        json!([change("products", "a", Some(3), row("four"), 4)]),
    );
    let (fourth, calls) = calls_in(&c, &name, update).await;
    assert_eq!(fourth[0], PushResult::Applied { version: 4 });
    assert_eq!(calls, [0, 1, 0], "written for another type");
    assert_eq!(product(&c, "a").await["written"], "four");
    let mut fresh = row("four").expect("row");
    fresh["id"] = json!("c");
    let insert = push(&c, json!([change("products", "c", None, Some(fresh), 50)]));
    let (answer, calls) = calls_in(&c, &name, insert).await;
    assert_eq!(answer[0], PushResult::Applied { version: 1 });
    assert_eq!(
        calls,
        [0, 0, 0],
        "inserted by the statement planned per call"
    );
    // And locked by the statement planned per call: the row is read whole
    // there too (its version, not the column t), so this is no conflict.
    c.batch_execute("UPDATE public._ebb_tables SET push_fn = NULL WHERE tbl = 'products'")
        .await
        .expect("off");
    let fifth = push(
        &c,
        json!([change("products", "a", Some(4), row("five"), 6)]),
    )
    .await;
    assert_eq!(fifth[0], PushResult::Applied { version: 5 });
    let mut stale = change("products", "a", Some(4), row("six"), 7);
    stale.device = "dev-b".into();
    let stale = push(&c, json!([stale])).await;
    assert!(
        matches!(stale[0], PushResult::Conflict { version: 5, .. }),
        "{stale:?}"
    );
    // A trigger of the user's that skips the write: lost twice, answered
    // with the row that is there (read whole, not its column t).
    c.batch_execute(
        "CREATE FUNCTION skip_seven() RETURNS trigger LANGUAGE plpgsql AS $f$
         BEGIN IF NEW.name = 'seven' THEN RETURN NULL; END IF; RETURN NEW; END $f$;
         CREATE TRIGGER skip_seven BEFORE UPDATE ON products
             FOR EACH ROW EXECUTE FUNCTION skip_seven();",
    )
    .await
    .expect("trigger");
    let skipped = push(
        &c,
        json!([change("products", "a", Some(5), row("seven"), 8)]),
    )
    .await;
    match &skipped[0] {
        PushResult::Conflict {
            version: 5,
            row: Some(there),
            ..
        } => assert_eq!(
            (&there["name"], &there["t"]),
            (&json!("five"), &json!("five"))
        ),
        other => panic!("{other:?}"),
    }
}
