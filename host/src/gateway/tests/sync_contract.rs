//! The sync guarantees through the gateway: round trip, conflicts,
//! idempotent retries, per-change rejection, lossless pulls across
//! out-of-order commits, tombstones for server and cascaded deletes, and
//! byte-exact values.

use std::collections::BTreeSet;

use serde_json::json;

use super::{WAIT, delete, start, upsert};
use crate::model::{Cursor, PushResult};

#[tokio::test]
async fn push_then_pull_round_trip_with_paging() {
    let gw = start().await;
    let changes: Vec<_> = (1..=5)
        .map(|i| {
            upsert(
                "customers",
                &i.to_string(),
                None,
                json!({"id": i, "name": format!("c{i}")}),
                "dev-a",
                i,
            )
        })
        .collect();
    let results = gw.push(&changes).await;
    assert_eq!(results, vec![PushResult::Applied { version: 1 }; 5]);

    let rows = gw.pull_all("customers", 2).await;
    let pks: Vec<&str> = rows.iter().map(|r| r.pk.as_str()).collect();
    assert_eq!(
        pks.iter().copied().collect::<BTreeSet<_>>().len(),
        5,
        "{pks:?}"
    );
    assert_eq!(pks.len(), 5, "no row twice: {pks:?}");
    for r in &rows {
        assert_eq!(
            (r.version, r.deleted, r.origin.as_deref()),
            (1, false, Some("dev-a"))
        );
        let row = r.row.as_ref().expect("live row");
        assert_eq!(row["name"], json!(format!("c{}", r.pk)));
        assert!(row.keys().all(|k| !k.starts_with("_ebb_")));
    }
    // From the last cursor there is nothing new.
    let last = gw
        .pull(
            "customers",
            &Cursor {
                txid: rows[4].txid.clone(),
                pk: rows[4].pk.clone(),
            },
            2,
        )
        .await;
    assert!(last.rows.is_empty() && !last.has_more);
    assert_eq!(
        last.next,
        Cursor {
            txid: rows[4].txid.clone(),
            pk: rows[4].pk.clone()
        }
    );
}

#[tokio::test]
async fn stale_base_versions_conflict_and_current_ones_apply() {
    let gw = start().await;
    let ann = json!({"id": "p1", "name": "Tea", "price_cents": 250});
    assert_eq!(
        gw.push(&[upsert("products", "p1", None, ann, "a", 1)])
            .await[0],
        PushResult::Applied { version: 1 }
    );
    // Device b never saw the row and inserts the same key.
    let r = gw
        .push(&[upsert(
            "products",
            "p1",
            None,
            json!({"id": "p1", "name": "Chai"}),
            "b",
            1,
        )])
        .await;
    match &r[0] {
        PushResult::Conflict {
            version: 1,
            row: Some(row),
            deleted: false,
        } => assert_eq!(row["name"], "Tea"),
        other => panic!("{other:?}"),
    }
    // b merges and pushes on version 1; a's next edit on version 1 is stale.
    let r = gw
        .push(&[upsert(
            "products",
            "p1",
            Some(1),
            json!({"id": "p1", "name": "Chai"}),
            "b",
            2,
        )])
        .await;
    assert_eq!(r[0], PushResult::Applied { version: 2 });
    let r = gw
        .push(&[upsert(
            "products",
            "p1",
            Some(1),
            json!({"id": "p1", "name": "Green"}),
            "a",
            2,
        )])
        .await;
    assert!(
        matches!(&r[0], PushResult::Conflict { version: 2, .. }),
        "{r:?}"
    );
    // Deleting on a stale base conflicts; on the current one applies.
    let r = gw.push(&[delete("products", "p1", Some(1), "a", 3)]).await;
    assert!(
        matches!(&r[0], PushResult::Conflict { version: 2, .. }),
        "{r:?}"
    );
    let r = gw.push(&[delete("products", "p1", Some(2), "a", 4)]).await;
    assert_eq!(r[0], PushResult::Applied { version: 3 });
    // An edit based on the deleted row's last version learns it is gone.
    let r = gw
        .push(&[upsert(
            "products",
            "p1",
            Some(2),
            json!({"id": "p1", "name": "X"}),
            "b",
            3,
        )])
        .await;
    assert_eq!(
        r[0],
        PushResult::Conflict {
            version: 3,
            row: None,
            deleted: true
        }
    );
}

#[tokio::test]
async fn a_retried_batch_gets_the_same_answer() {
    let gw = start().await;
    let batch = vec![
        upsert(
            "customers",
            "1",
            None,
            json!({"id": 1, "name": "Ann"}),
            "dev-a",
            10,
        ),
        upsert(
            "customers",
            "2",
            None,
            json!({"id": 2, "name": "Bob"}),
            "dev-a",
            11,
        ),
        delete("customers", "3", None, "dev-a", 12),
    ];
    let first = gw.push(&batch).await;
    assert_eq!(
        first,
        vec![
            PushResult::Applied { version: 1 },
            PushResult::Applied { version: 1 },
            PushResult::Applied { version: 0 }
        ]
    );
    // The response was "lost": the same batch again, after someone else
    // moved customer 1 on.
    gw.db
        .connect()
        .await
        .batch_execute("UPDATE customers SET name = 'server' WHERE id = 1")
        .await
        .expect("server edit");
    let again = gw.push(&batch).await;
    assert_eq!(again, first);
    // A newer change from the same device is judged afresh.
    let newer = gw
        .push(&[upsert(
            "customers",
            "1",
            Some(1),
            json!({"id": 1, "name": "A"}),
            "dev-a",
            13,
        )])
        .await;
    assert!(
        matches!(newer[0], PushResult::Conflict { version: 2, .. }),
        "{newer:?}"
    );
}

#[tokio::test]
async fn a_rejected_change_does_not_fail_the_batch() {
    let gw = start().await;
    let debt = "6f1c8a0e-0000-4000-8000-000000000001";
    let r = gw
        .push(&[
            upsert(
                "customers",
                "1",
                None,
                json!({"id": 1, "name": "Ann"}),
                "d",
                1,
            ),
            upsert(
                "debts",
                debt,
                None,
                json!({"customer_id": 999, "amount_cents": 5}),
                "d",
                2,
            ),
            upsert(
                "debts",
                "not-a-uuid",
                None,
                json!({"customer_id": 1, "amount_cents": 5}),
                "d",
                3,
            ),
            upsert(
                "debts",
                debt,
                None,
                json!({"customer_id": 1, "amount_cents": -1}),
                "d",
                4,
            ),
            upsert("users", "1", None, json!({"id": 1}), "d", 5),
            upsert(
                "customers",
                "2",
                None,
                json!({"id": 2, "name": "Bob"}),
                "d",
                6,
            ),
        ])
        .await;
    let codes: Vec<Option<&str>> = r
        .iter()
        .map(|p| match p {
            PushResult::Rejected { code, .. } => Some(code.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        codes,
        vec![
            None,
            Some("23503"),
            Some("22P02"),
            Some("23514"),
            Some("42P01"),
            None
        ]
    );
    assert_eq!(r[5], PushResult::Applied { version: 1 });
    if let PushResult::Rejected { message, .. } = &r[4] {
        assert!(message.contains("not synced"), "{message}");
    }
    let names: Vec<String> = gw
        .pull_all("customers", 10)
        .await
        .into_iter()
        .map(|r| r.pk)
        .collect();
    assert_eq!(names, vec!["1".to_string(), "2".to_string()]);
}

/// A transaction that started first and commits last is still pulled: the
/// horizon holds back every row newer than the oldest open transaction, so
/// the cursor never passes it.
#[tokio::test]
async fn a_transaction_that_commits_late_is_not_skipped() {
    let gw = start().await;
    let mut slow = gw.db.connect().await;
    let tx = slow.transaction().await.expect("begin");
    tx.execute("INSERT INTO customers (id, name) VALUES (100, 'slow')", &[])
        .await
        .expect("insert");
    let slow_txid: String = tx
        .query_one("SELECT pg_current_xact_id()::text", &[])
        .await
        .expect("txid")
        .get(0);

    let r = gw
        .push(&[upsert(
            "customers",
            "200",
            None,
            json!({"id": 200, "name": "fast"}),
            "d",
            1,
        )])
        .await;
    assert_eq!(r[0], PushResult::Applied { version: 1 });
    let early = gw.pull_now("customers", &Cursor::default(), 100).await;
    assert!(
        early.rows.is_empty(),
        "rows newer than an open transaction leaked: {:?}",
        early.rows
    );
    let horizon: u64 = early.horizon.parse().expect("horizon");
    assert!(horizon <= slow_txid.parse::<u64>().expect("txid"));

    tx.commit().await.expect("commit");
    let later = tokio::time::timeout(WAIT * 12, gw.pull("customers", &early.next, 100))
        .await
        .expect("horizon moves once the transaction ends");
    let pks: Vec<&str> = later.rows.iter().map(|r| r.pk.as_str()).collect();
    assert_eq!(
        pks,
        vec!["100", "200"],
        "ordered by txid: the slow one first"
    );
    assert_eq!(later.rows[0].origin, None);
}

#[tokio::test]
async fn deletes_made_on_the_server_and_cascades_leave_tombstones() {
    let gw = start().await;
    let debt = "6f1c8a0e-0000-4000-8000-000000000001";
    let pay = [
        "6f1c8a0e-0000-4000-8000-0000000000a1",
        "6f1c8a0e-0000-4000-8000-0000000000a2",
    ];
    let r = gw
        .push(&[
            upsert(
                "customers",
                "1",
                None,
                json!({"id": 1, "name": "Ann"}),
                "d",
                1,
            ),
            upsert(
                "debts",
                debt,
                None,
                json!({"customer_id": 1, "amount_cents": 500}),
                "d",
                2,
            ),
            upsert(
                "debt_payments",
                pay[0],
                None,
                json!({"debt_id": debt, "amount_cents": 100}),
                "d",
                3,
            ),
            upsert(
                "debt_payments",
                pay[1],
                None,
                json!({"debt_id": debt, "amount_cents": 200}),
                "d",
                4,
            ),
        ])
        .await;
    assert!(
        r.iter()
            .all(|p| matches!(p, PushResult::Applied { version: 1 })),
        "{r:?}"
    );
    let before = gw.pull("debt_payments", &Cursor::default(), 10).await;
    gw.db
        .connect()
        .await
        .batch_execute(&format!("DELETE FROM debts WHERE id = '{debt}'"))
        .await
        .expect("server delete");
    let after = gw.pull("debt_payments", &before.next, 10).await;
    let seen: BTreeSet<(String, bool, i64)> = after
        .rows
        .iter()
        .map(|r| (r.pk.clone(), r.deleted, r.version))
        .collect();
    assert_eq!(seen, pay.iter().map(|p| (p.to_string(), true, 2)).collect());
    assert!(
        after
            .rows
            .iter()
            .all(|r| r.row.is_none() && r.origin.is_none())
    );
    let debts = gw.pull("debts", &Cursor::default(), 10).await;
    assert_eq!(debts.rows.len(), 1);
    assert!(debts.rows[0].deleted && debts.rows[0].pk == debt);
}

#[tokio::test]
async fn values_come_back_byte_exact() {
    let gw = start().await;
    let tricky =
        "naïve ☕ 🎉 \"dq\" 'sq' \\back\\slash\n\ttab \u{1} \u{202e}rtl\u{202c} 𝄞 \u{feff}";
    let megabyte: String = "0123456789abcdef€".repeat(1024 * 1024 / 19);
    let row = json!({"id": "q'\"1", "name": tricky, "note": megabyte, "price_cents": 9_007_199_254_740_993_i64});
    let r = gw
        .push(&[upsert("products", "q'\"1", None, row.clone(), "d", 1)])
        .await;
    assert_eq!(r[0], PushResult::Applied { version: 1 });
    let page = gw.pull("products", &Cursor::default(), 10).await;
    let got = page.rows[0].row.as_ref().expect("row");
    assert_eq!(page.rows[0].pk, "q'\"1");
    assert_eq!(got["name"].as_str(), Some(tricky));
    assert_eq!(got["note"].as_str(), Some(megabyte.as_str()));
    assert_eq!(got["price_cents"].as_i64(), Some(9_007_199_254_740_993));
}
