//! The pull guarantees through the gateway: no row lost to out-of-order
//! commits, tombstones for server-side and cascaded deletes, byte-exact
//! values.

use std::collections::BTreeSet;

use serde_json::json;

use super::{WAIT, start, upsert};
use ebb::model::{Cursor, PushResult};

/// A transaction that started first and commits last is still pulled: the
/// horizon holds back every row newer than the oldest open transaction, so
/// the cursor never passes it.
#[tokio::test]
async fn a_transaction_that_commits_late_is_not_skipped() {
    let gw = start().await;
    let mut slow = gw.db.connect().await.expect("connect");
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
        .expect("connect")
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
