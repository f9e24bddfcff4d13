//! Tests of the round's plain decisions.

use super::*;
use crate::model::Op;
use serde_json::json;

fn row(v: serde_json::Value) -> Row {
    v.as_object().cloned().unwrap_or_default()
}

fn pulled_row(version: i64, content: Option<Row>) -> PulledRow {
    PulledRow {
        pk: "p1".into(),
        version,
        txid: "10".into(),
        deleted: content.is_none(),
        origin: None,
        row: content,
    }
}

fn queued() -> QueueItem {
    QueueItem {
        table: "t".into(),
        pk: "p1".into(),
        op: Op::Upsert,
        counter: 7,
        state: "pending".into(),
        attempts: 0,
        error: None,
        queued_at: 0,
        next_attempt_at: None,
    }
}

#[test]
fn known_versions_are_skipped() {
    let known = RowState {
        version: 3,
        base: None,
    };
    let r = pulled_row(3, Some(row(json!({"id": "p1"}))));
    let here = Here {
        known: Some(&known),
        ..Here::default()
    };
    assert_eq!(pulled("me", r.clone(), here), PullStep::Skip);
}

#[test]
fn without_a_local_edit_the_remote_row_is_taken() {
    let content = row(json!({"id": "p1", "n": 1}));
    let r = pulled_row(4, Some(content.clone()));
    let step = pulled("me", r.clone(), Here::default());
    assert_eq!(
        step,
        PullStep::Take(Action::Write {
            row: Some(content),
            version: 4,
        })
    );
}

#[test]
fn a_tombstone_deletes() {
    let r = pulled_row(5, None);
    let PullStep::Take(Action::Write { row, .. }) = pulled("me", r.clone(), Here::default()) else {
        panic!("expected a write");
    };
    assert_eq!(row, None);
}

#[test]
fn a_queued_edit_makes_a_conflict() {
    let base = row(json!({"id": "p1", "n": 1}));
    let known = RowState {
        version: 1,
        base: Some(base.clone()),
    };
    let local = row(json!({"id": "p1", "n": 2}));
    let remote = row(json!({"id": "p1", "n": 3}));
    let r = pulled_row(2, Some(remote.clone()));
    let q = queued();
    let here = Here {
        known: Some(&known),
        queued: Some(&q),
        row: Some(&local),
        ..Here::default()
    };
    let step = pulled("me", r.clone(), here);
    assert_eq!(
        step,
        PullStep::Resolve(ConflictInput {
            local: Some(local),
            remote: Some(remote),
            base: Some(base)
        })
    );
}

#[test]
fn identical_content_is_no_conflict_unless_counters_merge() {
    let base = row(json!({"id": "p1", "n": 26}));
    let known = RowState {
        version: 1,
        base: Some(base),
    };
    let same = row(json!({"id": "p1", "n": 25}));
    let r = pulled_row(2, Some(same.clone()));
    let q = queued();
    let here = Here {
        known: Some(&known),
        queued: Some(&q),
        row: Some(&same),
        ..Here::default()
    };
    assert!(matches!(
        pulled("me", r.clone(), here),
        PullStep::Take(Action::Write { .. })
    ));
    let counting = Here {
        merges_deltas: true,
        ..here
    };
    assert!(matches!(
        pulled("me", r.clone(), counting),
        PullStep::Resolve(_)
    ));
}

#[test]
fn a_row_whose_own_change_is_in_doubt_waits() {
    let local = row(json!({"id": "p1", "n": 20}));
    let r = pulled_row(3, Some(row(json!({"id": "p1", "n": 18}))));
    let q = queued();
    let here = Here {
        queued: Some(&q),
        row: Some(&local),
        in_doubt: true,
        ..Here::default()
    };
    assert_eq!(pulled("me", r.clone(), here), PullStep::Defer(r.clone()));
    // Nothing queued: nothing to merge, the row is taken.
    let idle = Here {
        queued: None,
        ..here
    };
    assert!(matches!(pulled("me", r.clone(), idle), PullStep::Take(_)));
}

#[test]
fn our_own_write_coming_back_keeps_the_newer_edit() {
    let mine = row(json!({"id": "p1", "n": 1}));
    let mut r = pulled_row(2, Some(mine.clone()));
    r.origin = Some("me".into());
    let newer = row(json!({"id": "p1", "n": 2}));
    let q = queued();
    let here = Here {
        queued: Some(&q),
        row: Some(&newer),
        ..Here::default()
    };
    assert_eq!(
        pulled("me", r.clone(), here),
        PullStep::Take(Action::Keep {
            version: 2,
            base: Some(mine.clone())
        })
    );
    // Someone else's row: an edit conflict on a row both knew, a key
    // collision on one created on both sides.
    r.origin = Some("someone else".into());
    let known = RowState {
        version: 1,
        base: Some(mine.clone()),
    };
    let edited = Here {
        known: Some(&known),
        ..here
    };
    assert!(matches!(
        pulled("me", r.clone(), edited),
        PullStep::Resolve(_)
    ));
    assert!(matches!(
        pulled("me", r.clone(), here),
        PullStep::Collide(_)
    ));
}

#[test]
fn discarded_writes_are_named_by_side() {
    let base = row(json!({"id": "p1", "name": "a", "stock": 26}));
    let input = |local: Option<Row>, remote: Option<Row>| ConflictInput {
        local,
        remote,
        base: Some(base.clone()),
    };
    let renamed = row(json!({"id": "p1", "name": "b", "stock": 26}));
    let sold = row(json!({"id": "p1", "name": "a", "stock": 25}));
    // Server wins over a local rename: the local write is gone.
    let c = input(Some(renamed.clone()), Some(sold.clone()));
    assert_eq!(
        overwritten(&c, &Decision::TakeRemote),
        Overwrote {
            local: true,
            remote: false
        }
    );
    // A merge that keeps both changes discards nothing.
    let both = row(json!({"id": "p1", "name": "b", "stock": 25}));
    assert_eq!(
        overwritten(&c, &Decision::Merged(Some(both))),
        Overwrote::default()
    );
    // Delete against edit: whichever side loses is counted.
    let gone = input(None, Some(sold.clone()));
    assert!(overwritten(&gone, &Decision::TakeRemote).local);
    assert!(overwritten(&gone, &Decision::TakeLocal).remote);
    // Counters merged by deltas keep both sides' sales.
    let other = row(json!({"id": "p1", "name": "a", "stock": 24}));
    let c = input(Some(sold), Some(other));
    let merged = row(json!({"id": "p1", "name": "a", "stock": 23}));
    assert_eq!(
        overwritten(&c, &Decision::Merged(Some(merged))),
        Overwrote::default()
    );
    assert_eq!(
        overwritten(&c, &Decision::Manual("x".into())),
        Overwrote::default()
    );
}

#[test]
fn automatic_decisions_have_a_history_text() {
    let merged = Decision::Merged(Some(row(json!({"n": 5}))));
    assert_eq!(decision_text(&merged).as_deref(), Some(r#"merged {"n":5}"#));
    assert_eq!(
        decision_text(&Decision::TakeLocal).as_deref(),
        Some("take-local")
    );
    assert_eq!(decision_text(&Decision::Manual("x".into())), None);
}

#[test]
fn decisions_map_to_actions() {
    let input = ConflictInput {
        local: Some(row(json!({"n": 2}))),
        remote: Some(row(json!({"n": 3}))),
        base: None,
    };
    let keep = settle(Decision::TakeLocal, input.clone(), 9, "client_wins".into());
    assert_eq!(
        keep,
        Action::Keep {
            version: 9,
            base: Some(row(json!({"n": 3})))
        }
    );
    let manual = settle(Decision::Manual("why".into()), input, 9, "manual".into());
    let Action::Conflict {
        reason,
        remote_version,
        ..
    } = manual
    else {
        panic!("expected a conflict");
    };
    assert_eq!((reason.as_str(), remote_version), ("why", 9));
}
