//! Tests of claim, settle and recovery (a child module of `queue`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::prelude::*;
use serde_json::json;

use super::super::testutil::{exec, open_temp, queue, specs};
use super::*;

fn keys(claimed: &[Claimed]) -> Vec<(String, String, Op)> {
    claimed
        .iter()
        .map(|c| (c.change.table.clone(), c.change.pk.clone(), c.change.op))
        .collect()
}

fn applied(local: &mut Local, c: &Claimed, version: i64) {
    let outcome = Settle::Applied {
        version,
        row: c.change.row.clone(),
    };
    local
        .settle(&c.change.table, &c.change.pk, c.change.counter, outcome)
        .unwrap();
}

#[test]
fn claim_orders_parents_first_and_deletes_last_in_reverse() {
    let (_dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    exec(
        &local,
        "INSERT INTO parents (id, name) VALUES (9, 'gone');
         INSERT INTO items (id, qty) VALUES ('old', 1);
         DELETE FROM items WHERE id = 'old';
         DELETE FROM parents WHERE id = 9;
         INSERT INTO parents (id, name) VALUES (1, 'p');
         INSERT INTO items (id, parent_id, qty) VALUES ('a', 1, 1);",
    );
    let claimed = local.claim(&specs(), 10, 0, None).unwrap();
    let up = |t: &str, k: &str| (t.to_string(), k.to_string(), Op::Upsert);
    let del = |t: &str, k: &str| (t.to_string(), k.to_string(), Op::Delete);
    assert_eq!(
        keys(&claimed),
        [
            up("parents", "1"),
            up("items", "a"),
            del("items", "old"),
            del("parents", "9")
        ]
    );
    let first = &claimed[0].change;
    assert_eq!(first.device, local.device_id());
    assert_eq!(first.row.as_ref().unwrap()["name"], json!("p"));
    assert_eq!(first.base_version, None);
    assert!(claimed.iter().all(|c| c.attempts == 0));
    assert_eq!(queue(&local, "items", "a").state, "inflight");
    assert!(local.claim(&specs(), 10, 0, None).unwrap().is_empty());
}

#[test]
fn claim_respects_limit_and_tables() {
    let (_dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    exec(
        &local,
        "INSERT INTO parents (id) VALUES (1), (2), (3); INSERT INTO items (id) VALUES ('i');",
    );
    assert_eq!(local.claim(&specs()[1..], 10, 0, None).unwrap().len(), 1);
    let two = local.claim(&specs(), 2, 0, None).unwrap();
    assert_eq!(
        keys(&two).iter().map(|k| k.1.as_str()).collect::<Vec<_>>(),
        ["1", "2"]
    );
}

#[test]
fn applied_settle_records_version_and_base() {
    let (_dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    exec(&local, "INSERT INTO parents (id, name) VALUES (1, 'a')");
    let claimed = local.claim(&specs(), 10, 0, None).unwrap();
    applied(&mut local, &claimed[0], 7);
    assert!(local.queue_item("parents", "1").unwrap().is_none());
    let state = local.row_state("parents", "1").unwrap().unwrap();
    assert_eq!(state.version, 7);
    assert_eq!(state.base, claimed[0].change.row);
    exec(&local, "UPDATE parents SET name = 'b' WHERE id = 1");
    let next = local.claim(&specs(), 10, 0, None).unwrap();
    assert_eq!(next[0].change.base_version, Some(7));
}

#[test]
fn edit_while_inflight_goes_back_to_pending() {
    let (_dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    exec(&local, "INSERT INTO parents (id, name) VALUES (1, 'a')");
    let claimed = local.claim(&specs(), 10, 0, None).unwrap();
    exec(
        &local,
        "UPDATE parents SET name = 'edited in flight' WHERE id = 1",
    );
    let item = queue(&local, "parents", "1");
    assert_eq!(item.state, "inflight");
    assert!(item.counter > claimed[0].change.counter);
    applied(&mut local, &claimed[0], 3);
    let item = queue(&local, "parents", "1");
    assert_eq!(item.state, "pending");
    assert_eq!(local.row_state("parents", "1").unwrap().unwrap().version, 3);
    let again = local.claim(&specs(), 10, 0, None).unwrap();
    assert_eq!(
        again[0].change.row.as_ref().unwrap()["name"],
        json!("edited in flight")
    );
    assert_eq!(again[0].change.base_version, Some(3));
}

#[test]
fn retry_then_dead_then_revive() {
    let (_dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    exec(&local, "INSERT INTO parents (id, name) VALUES (1, 'a')");
    let c = local.claim(&specs(), 10, 0, None).unwrap().remove(0).change;
    let retry = Settle::Retry {
        attempts: 1,
        next_attempt_at: 100,
        error: "timeout".into(),
    };
    local.settle("parents", "1", c.counter, retry).unwrap();
    let item = queue(&local, "parents", "1");
    assert_eq!((item.state.as_str(), item.attempts), ("retry", 1));
    assert_eq!(
        (item.next_attempt_at, item.error.as_deref()),
        (Some(100), Some("timeout"))
    );
    assert!(local.claim(&specs(), 10, 99, None).unwrap().is_empty());
    let again = local.claim(&specs(), 10, 100, None).unwrap();
    assert_eq!(again[0].attempts, 1);

    let dead = Settle::Dead {
        attempts: 5,
        error: "gave up".into(),
    };
    local.settle("parents", "1", c.counter, dead).unwrap();
    assert_eq!(queue(&local, "parents", "1").state, "dead");
    let revive = Some(Duration::from_secs(10));
    assert!(
        local
            .claim(&specs(), 10, 1_000_000, None)
            .unwrap()
            .is_empty()
    );
    assert!(
        local
            .claim(&specs(), 10, 10_099, revive)
            .unwrap()
            .is_empty()
    );
    let revived = local.claim(&specs(), 10, 10_100, revive).unwrap();
    assert_eq!(revived[0].attempts, 0);
    assert_eq!(queue(&local, "parents", "1").attempts, 0);
}

#[test]
fn invalid_release_and_edits_reset_attempts() {
    let (_dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    exec(&local, "INSERT INTO parents (id, name) VALUES (1, 'a')");
    let c = local.claim(&specs(), 10, 0, None).unwrap().remove(0).change;
    let retry = Settle::Retry {
        attempts: 2,
        next_attempt_at: 0,
        error: "x".into(),
    };
    local.settle("parents", "1", c.counter, retry).unwrap();
    let c = local.claim(&specs(), 10, 0, None).unwrap().remove(0).change;
    local
        .settle("parents", "1", c.counter, Settle::Release)
        .unwrap();
    let item = queue(&local, "parents", "1");
    assert_eq!((item.state.as_str(), item.attempts), ("pending", 2));
    let c = local.claim(&specs(), 10, 0, None).unwrap().remove(0).change;
    let invalid = Settle::Invalid {
        error: "[\"name too short\"]".into(),
    };
    local.settle("parents", "1", c.counter, invalid).unwrap();
    assert_eq!(queue(&local, "parents", "1").state, "invalid");
    assert!(local.claim(&specs(), 10, 0, None).unwrap().is_empty());
    exec(&local, "UPDATE parents SET name = 'fixed' WHERE id = 1");
    let item = queue(&local, "parents", "1");
    assert_eq!(
        (item.state.as_str(), item.attempts, item.error),
        ("pending", 0, None)
    );
    // a failure reported for a counter that has since moved: pending, fresh attempts
    let c = local.claim(&specs(), 10, 0, None).unwrap().remove(0).change;
    exec(&local, "UPDATE parents SET name = 'again' WHERE id = 1");
    let dead = Settle::Dead {
        attempts: 9,
        error: "x".into(),
    };
    local.settle("parents", "1", c.counter, dead).unwrap();
    let item = queue(&local, "parents", "1");
    assert_eq!((item.state.as_str(), item.attempts), ("pending", 0));
}

#[test]
fn vanished_row_is_sent_as_delete_and_stuck_items_recover() {
    let (_dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    exec(
        &local,
        "INSERT INTO parents (id, name) VALUES (1, 'a'), (2, 'b');
         UPDATE _ebb_guard SET active = 1;
         DELETE FROM parents WHERE id = 1;
         UPDATE _ebb_guard SET active = 0;",
    );
    let claimed = local.claim(&specs(), 10, 500, None).unwrap();
    let up = |k: &str| ("parents".to_string(), k.to_string(), Op::Upsert);
    let del = |k: &str| ("parents".to_string(), k.to_string(), Op::Delete);
    assert_eq!(keys(&claimed), [up("2"), del("1")]);
    assert_eq!(claimed[1].change.row, None);
    assert_eq!(local.recover_inflight(500).unwrap(), 0);
    assert_eq!(local.recover_inflight(501).unwrap(), 2);
    assert_eq!(queue(&local, "parents", "1").state, "pending");
    let listed = local.queue_items(&["pending"], 1).unwrap();
    assert_eq!(listed.len(), 1);
    assert!(
        local
            .queue_items(&["dead", "invalid"], 10)
            .unwrap()
            .is_empty()
    );
}

#[derive(Debug, Clone)]
enum Step {
    Upsert(u8),
    Delete(u8),
    Claim,
    SettleAll,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..6).prop_map(Step::Upsert),
        2 => (0u8..6).prop_map(Step::Delete),
        1 => Just(Step::Claim),
        1 => Just(Step::SettleAll),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The queue always holds exactly the rows edited since their last
    /// applied push, whatever the interleaving of edits, claims and settles.
    #[test]
    fn queue_holds_exactly_the_unsynced_edits(steps in proptest::collection::vec(step(), 1..40)) {
        let (_dir, mut local) = open_temp();
        local.install(&specs()).unwrap();
        let mut dirty = BTreeSet::new();
        let mut claimed: Vec<(usize, Claimed)> = Vec::new();
        let mut last_edit: BTreeMap<String, usize> = BTreeMap::new();
        for (at, step) in steps.into_iter().enumerate() {
            match step {
                Step::Upsert(k) => {
                    exec(&local, &format!(
                        "INSERT INTO parents (id, name) VALUES ({k}, 'v')
                         ON CONFLICT (id) DO UPDATE SET name = name || 'x'"));
                    dirty.insert(k.to_string());
                    last_edit.insert(k.to_string(), at);
                }
                Step::Delete(k) => {
                    let gone = local.conn.execute("DELETE FROM parents WHERE id = ?1", [k]).unwrap();
                    if gone > 0 {
                        dirty.insert(k.to_string());
                        last_edit.insert(k.to_string(), at);
                    }
                }
                Step::Claim => {
                    let new = local.claim(&specs(), 100, 0, None).unwrap();
                    claimed.extend(new.into_iter().map(|c| (at, c)));
                }
                Step::SettleAll => {
                    for (claimed_at, c) in claimed.drain(..) {
                        applied(&mut local, &c, 1);
                        if last_edit.get(&c.change.pk).is_some_and(|e| *e < claimed_at) {
                            dirty.remove(&c.change.pk);
                        }
                    }
                }
            }
            let queued: BTreeSet<String> = local.queue_items(&[], 1000).unwrap()
                .into_iter().map(|i| i.pk).collect();
            prop_assert_eq!(&queued, &dirty);
        }
    }
}

#[test]
fn values_that_cannot_travel_exactly_are_claimed_as_unrepresentable() {
    let (_dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    // A TEXT value whose bytes are not UTF-8, a BLOB in the column declared
    // TEXT (TEXT affinity keeps a BLOB a BLOB), and a row that is fine (a
    // BLOB in the BLOB column travels as base64).
    exec(
        &local,
        "INSERT INTO items (id, qty, note) VALUES ('bytes', 1, CAST(X'41FFFE42' AS TEXT));
         INSERT INTO items (id, qty, note, price) VALUES ('blob', 1, X'010203', 9e999);
         INSERT INTO items (id, qty, note, photo) VALUES ('fine', 1, 'ok', X'00FF');",
    );
    let claimed = local.claim(&specs(), 10, 0, None).unwrap();
    let by = |pk: &str| {
        claimed
            .iter()
            .find(|c| c.change.pk == pk)
            .unwrap_or_else(|| panic!("{pk} not claimed"))
    };
    assert_eq!(
        by("bytes").unrepresentable.as_deref(),
        Some("table items, pk \"bytes\": column note holds bytes that are not UTF-8 text")
    );
    assert_eq!(
        by("blob").unrepresentable.as_deref(),
        Some(
            "table items, pk \"blob\": column price holds an infinite REAL, which JSON \
             cannot carry; column note is declared TEXT but holds a BLOB (3 bytes): \
             declare the column BLOB"
        )
    );
    // Still an upsert of the row (held, not turned into a delete), shown as
    // the display form would show it.
    let held = &by("bytes").change;
    assert_eq!(held.op, Op::Upsert);
    assert_eq!(
        held.row.as_ref().unwrap()["note"],
        json!("A\u{fffd}\u{fffd}B")
    );
    let fine = by("fine");
    assert_eq!(fine.unrepresentable, None);
    let row = fine.change.row.as_ref().unwrap();
    assert_eq!(
        (&row["note"], &row["photo"]),
        (&json!("ok"), &json!("AP8="))
    );
    assert_eq!(queue(&local, "items", "bytes").state, "inflight");
}
