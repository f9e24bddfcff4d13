//! Contract cases of `ebb_pull`: tombstones, order, paging, cursors,
//! origin, and the horizon an open transaction holds.

use ebb::model::{Change, Cursor};
use ebb::remote::Remote;
use ebb_tests::sim::Backoffice;
use serde_json::json;

use super::{applied, customer, delete, pull_all, push_one, row, upsert};

contract!(
    delete_leaves_a_tombstone,
    pull_pages_in_order_after_the_cursor,
    origin_names_the_writer,
    an_open_transaction_holds_the_horizon,
);

async fn delete_leaves_a_tombstone<R: Remote, B: Backoffice>(remote: &R, server: &B) {
    push_one(remote, upsert("k1", None, customer("k1", "Ada"), "a", 1)).await;
    push_one(remote, upsert("k2", None, customer("k2", "Bo"), "a", 2)).await;
    assert_eq!(
        push_one(remote, delete("k1", Some(1), "a", 3)).await,
        applied(2)
    );
    // Deleting what is gone, or never was, is done.
    assert_eq!(
        push_one(remote, delete("k1", Some(1), "b", 1)).await,
        applied(2)
    );
    assert_eq!(
        push_one(remote, delete("nope", None, "b", 2)).await,
        applied(0)
    );
    assert!(server.delete("customers", "k2").await.unwrap());
    let (rows, _) = pull_all(remote, server, "customers", 10).await;
    let gone: Vec<(&str, i64, bool, Option<&str>, bool)> = rows
        .iter()
        .map(|r| {
            (
                r.pk.as_str(),
                r.version,
                r.deleted,
                r.origin.as_deref(),
                r.row.is_none(),
            )
        })
        .collect();
    assert_eq!(
        gone,
        vec![
            ("k1", 2, true, Some("a"), true),
            ("k2", 2, true, None, true)
        ]
    );
    assert_eq!(server.version("customers", "k1").await.unwrap(), None);
}

async fn pull_pages_in_order_after_the_cursor<R: Remote, B: Backoffice>(remote: &R, server: &B) {
    let batch: Vec<Change> = ["k5", "k3", "k1", "k4", "k2"]
        .iter()
        .enumerate()
        .map(|(i, k)| upsert(k, None, customer(k, "x"), "a", i as i64 + 1))
        .collect();
    remote.push(&batch).await.unwrap();
    push_one(remote, upsert("k0", None, customer("k0", "y"), "b", 1)).await;
    push_one(remote, upsert("k9", None, customer("k9", "z"), "b", 2)).await;
    server
        .update("customers", "k3", &row(json!({"notes": "moved"})))
        .await
        .unwrap();
    let (rows, pages) = pull_all(remote, server, "customers", 2).await;
    let keys: Vec<&str> = rows.iter().map(|r| r.pk.as_str()).collect();
    // One transaction's rows by key, then later transactions; an edited
    // row shows once, at its newest transaction.
    assert_eq!(keys, vec!["k1", "k2", "k4", "k5", "k0", "k9", "k3"]);
    let order: Vec<(u64, &str)> = rows
        .iter()
        .map(|r| (r.txid.parse().unwrap(), r.pk.as_str()))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert_eq!(pages.len(), 4);
    for (i, p) in pages.iter().enumerate() {
        assert_eq!(p.has_more, i < 3, "page {i}");
        let last = p.rows.last().unwrap();
        assert_eq!(
            p.next,
            Cursor {
                txid: last.txid.clone(),
                pk: last.pk.clone()
            }
        );
    }
    let end = pages[3].next.clone();
    let after = remote.pull("customers", &end, 2).await.unwrap();
    assert!(after.rows.is_empty() && !after.has_more, "{after:?}");
    assert_eq!(after.next, end);
    let first = remote
        .pull("customers", &Cursor::default(), 2)
        .await
        .unwrap();
    assert_eq!(first.rows, pages[0].rows, "the same page again");
}

async fn origin_names_the_writer<R: Remote, B: Backoffice>(remote: &R, server: &B) {
    push_one(
        remote,
        upsert("k1", None, customer("k1", "Ada"), "till-a", 1),
    )
    .await;
    push_one(
        remote,
        upsert("k2", None, customer("k2", "Bo"), "till-a", 2),
    )
    .await;
    push_one(
        remote,
        upsert("k1", Some(1), customer("k1", "Ada L."), "till-b", 1),
    )
    .await;
    server
        .update("customers", "k2", &row(json!({"notes": "n"})))
        .await
        .unwrap();
    server
        .insert("customers", &customer("k3", "Cy"))
        .await
        .unwrap();
    let (rows, _) = pull_all(remote, server, "customers", 10).await;
    let origins: Vec<(&str, Option<&str>)> = rows
        .iter()
        .map(|r| (r.pk.as_str(), r.origin.as_deref()))
        .collect();
    assert_eq!(
        origins,
        vec![("k1", Some("till-b")), ("k2", None), ("k3", None)]
    );
}

async fn an_open_transaction_holds_the_horizon<R: Remote, B: Backoffice>(remote: &R, server: &B) {
    push_one(remote, upsert("k1", None, customer("k1", "Ada"), "a", 1)).await;
    let (before, _) = pull_all(remote, server, "customers", 10).await;
    let cursor = Cursor {
        txid: before[0].txid.clone(),
        pk: before[0].pk.clone(),
    };
    server
        .hold("customers", &customer("k2", "Slow"))
        .await
        .unwrap();
    push_one(remote, upsert("k3", None, customer("k3", "Quick"), "a", 2)).await;
    let held = remote.pull("customers", &cursor, 10).await.unwrap();
    assert!(
        held.rows.is_empty(),
        "nothing past the open transaction: {:?}",
        held.rows
    );
    assert!(held.in_flight);
    assert_eq!(held.next, cursor);
    server.release().await.unwrap();
    server.settle().await.unwrap();
    let after = remote.pull("customers", &cursor, 10).await.unwrap();
    let keys: Vec<&str> = after.rows.iter().map(|r| r.pk.as_str()).collect();
    assert_eq!(
        keys,
        vec!["k2", "k3"],
        "the slow row first: it started first"
    );
}
