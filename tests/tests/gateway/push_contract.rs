//! The push guarantees through the gateway: round trip, conflicts,
//! idempotent retries, per-change rejection.

use std::collections::BTreeSet;

use serde_json::json;

use super::{delete, start, upsert};
use ebb::model::{Cursor, PushResult};

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
            own: None,
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
            deleted: true,
            own: None,
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
        .expect("connect")
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
