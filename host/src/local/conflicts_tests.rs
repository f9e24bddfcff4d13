//! Tests of conflict recording and resolution (a child module of `conflicts`).

use serde_json::json;

use super::super::testutil::{exec, open_temp, queue, specs};
use super::super::{Action, ApplyOp, TableSpec};
use super::*;

fn row(value: serde_json::Value) -> Row {
    value.as_object().cloned().expect("object")
}

fn parents() -> TableSpec {
    specs().remove(0)
}

/// A local edit of parents/1 in conflict with a remote row at version 5.
fn conflicted(local: &mut Local, remote: Option<Row>) -> (i64, i64) {
    local.install(&specs()).unwrap();
    exec(local, "INSERT INTO parents (id, name) VALUES (1, 'mine')");
    let counter = queue(local, "parents", "1").counter;
    let op = ApplyOp {
        pk: "1".into(),
        expect_counter: Some(counter),
        action: Action::Conflict {
            local: Some(row(json!({"id": 1, "name": "mine"}))),
            remote,
            base: Some(row(json!({"id": 1, "name": "base"}))),
            remote_version: 5,
            policy: "manual".into(),
            reason: "name changed on both sides".into(),
        },
    };
    local.apply(&parents(), &[op], None, 10).unwrap();
    let open = local.conflicts(false).unwrap();
    assert_eq!(open.len(), 1);
    (open[0].id, counter)
}

#[test]
fn take_local_requeues_with_a_new_counter() {
    let (_dir, mut local) = open_temp();
    let theirs = row(json!({"id": 1, "name": "theirs"}));
    let (id, counter) = conflicted(&mut local, Some(theirs.clone()));
    let record = local.conflict(id).unwrap();
    assert_eq!(record.local.unwrap()["name"], json!("mine"));
    assert_eq!(record.base.unwrap()["name"], json!("base"));
    local.resolve_conflict(id, Choice::Local, 20).unwrap();
    let item = queue(&local, "parents", "1");
    assert_eq!((item.state.as_str(), item.op), ("pending", Op::Upsert));
    assert!(item.counter > counter);
    let state = local.row_state("parents", "1").unwrap().unwrap();
    assert_eq!((state.version, state.base), (5, Some(theirs)));
    assert_eq!(
        local.read_row(&parents(), "1").unwrap().unwrap()["name"],
        json!("mine")
    );
    let done = local.conflict(id).unwrap();
    assert_eq!(
        (done.resolved_at, done.resolution.as_deref()),
        (Some(20), Some("local"))
    );
    assert!(local.conflicts(false).unwrap().is_empty());
    assert_eq!(local.conflicts(true).unwrap().len(), 1);
    let claimed = local.claim(&specs(), 10, 0, None).unwrap();
    assert_eq!(claimed[0].change.base_version, Some(5));
}

#[test]
fn take_remote_writes_it_uncaptured() {
    let (_dir, mut local) = open_temp();
    let theirs = row(json!({"id": 1, "name": "theirs"}));
    let (id, _) = conflicted(&mut local, Some(theirs.clone()));
    local.resolve_conflict(id, Choice::Remote, 20).unwrap();
    assert!(local.queue_item("parents", "1").unwrap().is_none());
    assert_eq!(local.read_row(&parents(), "1").unwrap(), Some(theirs));
    assert_eq!(local.row_state("parents", "1").unwrap().unwrap().version, 5);
    let err = local.resolve_conflict(id, Choice::Remote, 30).unwrap_err();
    assert!(matches!(err, LocalError::NotFound { .. }), "{err}");
}

#[test]
fn take_remote_deletion_deletes() {
    let (_dir, mut local) = open_temp();
    let (id, _) = conflicted(&mut local, None);
    local.resolve_conflict(id, Choice::Remote, 20).unwrap();
    assert!(local.read_row(&parents(), "1").unwrap().is_none());
    assert!(local.queue_item("parents", "1").unwrap().is_none());
    let state = local.row_state("parents", "1").unwrap().unwrap();
    assert_eq!((state.version, state.base), (5, None));
}

#[test]
fn a_given_row_is_written_and_pushed() {
    let (_dir, mut local) = open_temp();
    let (id, counter) = conflicted(&mut local, Some(row(json!({"id": 1, "name": "theirs"}))));
    let chosen = row(json!({"id": 1, "name": "both"}));
    local
        .resolve_conflict(id, Choice::Row(chosen.clone()), 20)
        .unwrap();
    assert_eq!(local.read_row(&parents(), "1").unwrap(), Some(chosen));
    let item = queue(&local, "parents", "1");
    assert_eq!(item.state, "pending");
    assert!(item.counter > counter);
    assert_eq!(
        local.conflict(id).unwrap().resolution.as_deref(),
        Some("row")
    );
    let wrong_key = row(json!({"id": 2, "name": "x"}));
    let (_dir2, mut other) = open_temp();
    let (id2, _) = conflicted(&mut other, None);
    let err = other
        .resolve_conflict(id2, Choice::Row(wrong_key), 20)
        .unwrap_err();
    assert!(matches!(err, LocalError::BadPrimaryKey { .. }), "{err}");
    assert!(
        other.conflict(id2).unwrap().resolved_at.is_none(),
        "rolled back"
    );
}

#[test]
fn unknown_conflict_is_not_found() {
    let (_dir, mut local) = open_temp();
    assert!(matches!(
        local.conflict(42),
        Err(LocalError::NotFound { .. })
    ));
    assert!(matches!(
        local.resolve_conflict(42, Choice::Local, 0),
        Err(LocalError::NotFound { .. })
    ));
}

#[test]
fn corrupt_rows_are_reported() {
    let (_dir, mut local) = open_temp();
    let (id, _) = conflicted(&mut local, None);
    exec(&local, "UPDATE _ebb_conflicts SET local = '{not json'");
    assert!(matches!(
        local.conflict(id),
        Err(LocalError::Corrupt { .. })
    ));
    exec(
        &local,
        "INSERT INTO _ebb_rows (tbl, pk, version, base) VALUES ('parents', '9', 1, '[1]')",
    );
    assert!(matches!(
        local.row_state("parents", "9"),
        Err(LocalError::Corrupt { .. })
    ));
}

#[test]
fn settled_rows_close_their_open_conflicts() {
    let (_dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    let parents = specs().remove(0);
    exec(
        &local,
        "INSERT INTO parents (id, name) VALUES (1, 'a'), (2, 'b')",
    );
    let mut ids = Vec::new();
    for pk in ["1", "2"] {
        let counter = queue(&local, "parents", pk).counter;
        let op = ApplyOp {
            pk: pk.into(),
            expect_counter: Some(counter),
            action: Action::Conflict {
                local: None,
                remote: Some(row(json!({"id": 1, "name": "old remote"}))),
                base: None,
                remote_version: 2,
                policy: "manual".into(),
                reason: "both".into(),
            },
        };
        local.apply(&parents, &[op], None, 10).unwrap();
        ids.push(
            local
                .conflicts(false)
                .unwrap()
                .iter()
                .find(|c| c.pk == pk)
                .unwrap()
                .id,
        );
    }
    let c1 = queue(&local, "parents", "1").counter;
    let c2 = queue(&local, "parents", "2").counter;
    let ops = [
        ApplyOp {
            pk: "1".into(),
            expect_counter: Some(c1),
            action: Action::Write {
                row: Some(row(json!({"id": 1, "name": "new"}))),
                version: 3,
            },
        },
        ApplyOp {
            pk: "2".into(),
            expect_counter: Some(c2),
            action: Action::Keep {
                version: 3,
                base: None,
            },
        },
    ];
    local.apply(&parents, &ops, None, 20).unwrap();
    assert!(local.conflicts(false).unwrap().is_empty());
    for id in &ids {
        let c = local.conflict(*id).unwrap();
        assert_eq!(
            (c.resolution.as_deref(), c.resolved_at),
            (Some("superseded"), Some(20))
        );
    }
    assert_eq!(
        queue(&local, "parents", "2").state,
        "pending",
        "kept: pushed"
    );
    let err = local
        .resolve_conflict(ids[0], Choice::Remote, 30)
        .unwrap_err();
    assert!(matches!(err, LocalError::NotFound { .. }), "{err}");
    assert_eq!(
        local.read_row(&parents, "1").unwrap().unwrap()["name"],
        json!("new"),
        "the stale remote row is never written back"
    );
}

#[test]
fn resolving_refuses_a_row_no_longer_in_conflict() {
    let (_dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    let items = specs().remove(1);
    local
        .apply(
            &items,
            &[ApplyOp {
                pk: "c".into(),
                expect_counter: None,
                action: Action::Write {
                    row: Some(row(json!({"id": "c", "parent_id": 5}))),
                    version: 3,
                },
            }],
            None,
            1,
        )
        .unwrap();
    let id = local.conflicts(false).unwrap()[0].id;
    exec(&local, "UPDATE _ebb_queue SET state = 'pending'");
    let err = local.resolve_conflict(id, Choice::Remote, 2).unwrap_err();
    assert!(
        matches!(&err, LocalError::NotInConflict { id: i, state: Some(s), .. } if *i == id && s == "pending"),
        "{err}"
    );
    exec(&local, "DELETE FROM _ebb_queue");
    let err = local.resolve_conflict(id, Choice::Local, 2).unwrap_err();
    assert!(
        matches!(err, LocalError::NotInConflict { state: None, .. }),
        "{err}"
    );
    assert!(local.conflict(id).unwrap().resolved_at.is_none());
}

const DAY: i64 = 86_400_000;
const KEEP: Option<std::time::Duration> = Some(std::time::Duration::from_secs(90 * 86_400));

/// A conflict the policy settled on its own, resolved at `at`.
fn decided(local: &mut Local, pk: &str, at: i64) {
    let facts = Incoming {
        local: None,
        remote: None,
        base: None,
        remote_version: 1,
        policy: "server_wins",
        reason: "settled by the table's policy",
    };
    local
        .record_decision("items", pk, facts, "take-remote", Some("local"), at)
        .unwrap();
}

/// (pk, resolution) of every conflict, open or not, oldest first.
fn kept(local: &Local) -> Vec<(String, Option<String>)> {
    let all = local.conflicts(true).unwrap();
    all.into_iter().map(|c| (c.pk, c.resolution)).collect()
}

/// A row pulled for items/c whose parent 5 is missing: held, open.
fn held(local: &mut Local, now: i64) {
    let write = ApplyOp {
        pk: "c".into(),
        expect_counter: None,
        action: Action::Write {
            row: Some(row(json!({"id": "c", "parent_id": 5}))),
            version: 3,
        },
    };
    let items = specs().remove(1);
    local.apply(&items, &[write], None, now).unwrap();
}

#[test]
fn pruning_deletes_only_settled_conflicts_past_retention() {
    let (_dir, mut local) = open_temp();
    let now = 200 * DAY;
    // parents/1: a conflict a person settled long ago ...
    let (settled, _) = conflicted(&mut local, None);
    local.resolve_conflict(settled, Choice::Remote, 20).unwrap();
    // ... and an open one on the same row, recorded just as long ago.
    let (open, _) = conflicted(&mut local, None);
    assert_ne!(open, settled);
    held(&mut local, 1);
    decided(&mut local, "old", 10);
    decided(&mut local, "just-past", now - 90 * DAY - 1);
    decided(&mut local, "at-cutoff", now - 90 * DAY);
    decided(&mut local, "recent", now - DAY);
    assert_eq!(local.conflicts(true).unwrap().len(), 7);

    assert_eq!(local.prune_conflicts(KEEP, now).unwrap(), 3);
    let take = Some("take-remote".to_string());
    assert_eq!(
        kept(&local),
        [
            ("1".to_string(), None),
            ("c".to_string(), None),
            ("at-cutoff".to_string(), take.clone()),
            ("recent".to_string(), take),
        ]
    );
    let still_open = local.conflicts(false).unwrap();
    assert_eq!(still_open.len(), 2);
    assert_eq!(still_open[0].id, open);
    assert!(still_open[1].held, "the held conflict stays");
    assert_eq!(local.prune_conflicts(KEEP, now).unwrap(), 0);
}

#[test]
fn keeping_forever_deletes_nothing() {
    let (_dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    decided(&mut local, "old", 10);
    assert_eq!(local.prune_conflicts(None, 1000 * DAY).unwrap(), 0);
    assert_eq!(local.conflicts(true).unwrap().len(), 1);
}

#[test]
fn pruning_many_goes_in_batches_and_takes_them_all() {
    let (_dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    let count = 2 * PRUNE_BATCH + 7;
    for i in 0..count {
        decided(&mut local, &format!("r{i}"), i);
    }
    decided(&mut local, "recent", 100 * DAY);
    let pruned = local.prune_conflicts(KEEP, 100 * DAY).unwrap();
    assert_eq!(pruned as i64, count);
    assert_eq!(
        kept(&local),
        [("recent".to_string(), Some("take-remote".to_string()))]
    );
}

#[test]
fn pruning_keeps_the_newest_id_so_ids_are_never_reused() {
    let (_dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    decided(&mut local, "a", 10);
    decided(&mut local, "b", 20);
    let newest = local.conflicts(true).unwrap()[1].id;
    assert_eq!(local.prune_conflicts(KEEP, 1000 * DAY).unwrap(), 1);
    assert_eq!(kept(&local)[0].0, "b");
    decided(&mut local, "c", 1000 * DAY);
    assert!(local.conflicts(true).unwrap()[1].id > newest);
}
