//! Contract cases of `ebb_push`: what each change is answered (applied,
//! replayed, fast-forwarded, a conflict with or without `own`, rejected).

use ebb::model::{Change, OwnWrite, PushResult};
use ebb::remote::Remote;
use ebb_tests::sim::Backoffice;
use serde_json::json;

use super::{applied, customer, delete, pull_all, push_one, row, upsert};

contract!(
    fresh_insert,
    update_on_base,
    stale_base_conflicts_with_the_current_row,
    retry_gets_the_same_answer,
    lost_answer_then_a_newer_edit_fast_forwards,
    lost_answer_and_another_writer_conflict_with_own,
    reinsert_after_delete_continues_the_version,
    a_broken_constraint_rejects_that_row_alone,
);

async fn fresh_insert<R: Remote, B: Backoffice>(remote: &R, server: &B) {
    let c = customer("k1", "Ada");
    assert_eq!(
        push_one(remote, upsert("k1", None, c.clone(), "a", 1)).await,
        applied(1)
    );
    assert_eq!(server.version("customers", "k1").await.unwrap(), Some(1));
    let (rows, _) = pull_all(remote, server, "customers", 10).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!((r.pk.as_str(), r.version, r.deleted), ("k1", 1, false));
    assert_eq!(r.origin.as_deref(), Some("a"));
    assert_eq!(r.row.as_ref(), Some(&c));
}

async fn update_on_base<R: Remote, B: Backoffice>(remote: &R, server: &B) {
    push_one(remote, upsert("k1", None, customer("k1", "Ada"), "a", 1)).await;
    let edited = customer("k1", "Ada L.");
    assert_eq!(
        push_one(remote, upsert("k1", Some(1), edited.clone(), "b", 7)).await,
        applied(2)
    );
    let rows = server.rows("customers").await.unwrap();
    assert_eq!(rows, vec![edited]);
}

async fn stale_base_conflicts_with_the_current_row<R: Remote, B: Backoffice>(
    remote: &R,
    server: &B,
) {
    push_one(remote, upsert("k1", None, customer("k1", "Ada"), "a", 1)).await;
    let now = customer("k1", "Ada L.");
    push_one(remote, upsert("k1", Some(1), now.clone(), "a", 2)).await;
    let answer = push_one(remote, upsert("k1", Some(1), customer("k1", "Bea"), "b", 1)).await;
    assert_eq!(
        answer,
        PushResult::Conflict {
            version: 2,
            row: Some(now.clone()),
            deleted: false,
            own: None
        }
    );
    // A fresh insert of a key the server has is a conflict too.
    let answer = push_one(remote, upsert("k1", None, customer("k1", "Cy"), "c", 1)).await;
    assert!(
        matches!(
            answer,
            PushResult::Conflict {
                version: 2,
                own: None,
                ..
            }
        ),
        "{answer:?}"
    );
    assert_eq!(server.rows("customers").await.unwrap(), vec![now]);
}

async fn retry_gets_the_same_answer<R: Remote, B: Backoffice>(remote: &R, server: &B) {
    let batch = [
        upsert("k1", None, customer("k1", "Ada"), "a", 1),
        upsert("k2", None, customer("k2", "Bo"), "a", 2),
    ];
    let first = remote.push(&batch).await.unwrap();
    assert_eq!(first, vec![applied(1), applied(1)]);
    assert_eq!(remote.push(&batch).await.unwrap(), first, "a retried batch");
    let edit = upsert("k1", Some(1), customer("k1", "Ada L."), "a", 3);
    assert_eq!(push_one(remote, edit.clone()).await, applied(2));
    // Another writer goes on top; the retry still gets its own answer.
    push_one(remote, upsert("k1", Some(2), customer("k1", "Bea"), "b", 1)).await;
    assert_eq!(push_one(remote, edit).await, applied(2));
    assert_eq!(server.version("customers", "k1").await.unwrap(), Some(3));
    // The same counter with other content is not a retry.
    let other = upsert("k1", Some(1), customer("k1", "Zed"), "a", 3);
    assert!(matches!(
        push_one(remote, other).await,
        PushResult::Conflict { version: 3, .. }
    ));
}

async fn lost_answer_then_a_newer_edit_fast_forwards<R: Remote, B: Backoffice>(
    remote: &R,
    server: &B,
) {
    push_one(remote, upsert("k1", None, customer("k1", "Ada"), "a", 1)).await;
    // Applied at 2; the device never hears of it.
    push_one(
        remote,
        upsert("k1", Some(1), customer("k1", "Ada L."), "a", 2),
    )
    .await;
    let newer = customer("k1", "Ada Lovelace");
    assert_eq!(
        push_one(remote, upsert("k1", Some(1), newer.clone(), "a", 3)).await,
        applied(3)
    );
    assert_eq!(server.rows("customers").await.unwrap(), vec![newer]);
}

async fn lost_answer_and_another_writer_conflict_with_own<R: Remote, B: Backoffice>(
    remote: &R,
    server: &B,
) {
    push_one(remote, upsert("k1", None, customer("k1", "Ada"), "a", 1)).await;
    push_one(
        remote,
        upsert("k1", Some(1), customer("k1", "Ada L."), "a", 2),
    )
    .await; // lost
    let theirs = customer("k1", "Bea");
    push_one(remote, upsert("k1", Some(2), theirs.clone(), "b", 1)).await;
    let answer = push_one(
        remote,
        upsert("k1", Some(1), customer("k1", "Ada X"), "a", 3),
    )
    .await;
    assert_eq!(
        answer,
        PushResult::Conflict {
            version: 3,
            row: Some(theirs.clone()),
            deleted: false,
            own: Some(OwnWrite {
                counter: 2,
                version: 2
            }),
        }
    );
    // The same after a back office edit on top.
    server
        .update("customers", "k1", &row(json!({"notes": "x"})))
        .await
        .unwrap();
    let answer = push_one(
        remote,
        upsert("k1", Some(1), customer("k1", "Ada Y"), "a", 4),
    )
    .await;
    assert!(
        matches!(
            answer,
            PushResult::Conflict {
                version: 4,
                own: Some(OwnWrite {
                    counter: 2,
                    version: 2
                }),
                ..
            }
        ),
        "{answer:?}"
    );
    // Another device on the same stale base gets no `own`.
    let answer = push_one(remote, upsert("k1", Some(1), customer("k1", "Cy"), "c", 9)).await;
    assert!(
        matches!(answer, PushResult::Conflict { own: None, .. }),
        "{answer:?}"
    );
}

async fn reinsert_after_delete_continues_the_version<R: Remote, B: Backoffice>(
    remote: &R,
    server: &B,
) {
    push_one(remote, upsert("k1", None, customer("k1", "Ada"), "a", 1)).await;
    push_one(remote, delete("k1", Some(1), "a", 2)).await;
    // A device that never saw the delete inserts the key fresh: conflict.
    let answer = push_one(remote, upsert("k1", None, customer("k1", "Bo"), "b", 1)).await;
    assert_eq!(
        answer,
        PushResult::Conflict {
            version: 2,
            row: None,
            deleted: true,
            own: None
        }
    );
    let again = customer("k1", "Ada again");
    assert_eq!(
        push_one(remote, upsert("k1", Some(2), again.clone(), "a", 3)).await,
        applied(3)
    );
    assert_eq!(server.version("customers", "k1").await.unwrap(), Some(3));
    let (rows, _) = pull_all(remote, server, "customers", 10).await;
    assert_eq!(rows.len(), 1, "the tombstone is gone: {rows:?}");
    assert_eq!(
        (rows[0].version, rows[0].deleted, rows[0].row.as_ref()),
        (3, false, Some(&again))
    );
}

async fn a_broken_constraint_rejects_that_row_alone<R: Remote, B: Backoffice>(
    remote: &R,
    server: &B,
) {
    push_one(remote, upsert("c1", None, customer("c1", "Ada"), "a", 1)).await;
    let debt = |pk: &str, amount: i64| {
        row(
            json!({"id": pk, "customer_id": "c1", "amount_cents": amount, "amount_paid_cents": 0,
                   "status": "open", "note": null, "updated_at": "2025-01-31T14:05:00Z"}),
        )
    };
    let in_table = |table: &str, c: Change| Change {
        table: table.into(),
        ..c
    };
    let payment = row(json!({"id": "p1", "debt_id": "nope", "amount_cents": 5,
                              "paid_at": "2025-01-31T14:05:00Z"}));
    let batch = [
        in_table("debts", upsert("d1", None, debt("d1", 500), "a", 2)),
        in_table("debts", upsert("d2", None, debt("d2", -5), "a", 3)),
        in_table("debt_payments", upsert("p1", None, payment, "a", 4)),
    ];
    let results = remote.push(&batch).await.unwrap();
    let codes: Vec<Option<&str>> = results
        .iter()
        .map(|r| match r {
            PushResult::Rejected { code, .. } => Some(code.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        codes,
        vec![None, Some("23514"), Some("23503")],
        "{results:?}"
    );
    assert_eq!(results[0], applied(1));
    let debts = server.rows("debts").await.unwrap();
    assert_eq!(debts, vec![debt("d1", 500)]);
    assert!(server.rows("debt_payments").await.unwrap().is_empty());
}
