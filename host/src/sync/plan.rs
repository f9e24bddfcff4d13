//! The decisions of a sync round as plain functions: what a pulled row
//! does to the local side, and what a policy's decision becomes. No I/O:
//! the driver (`push`, `pull`) reads state, asks these, and writes.

use crate::local::{Action, QueueItem, RowState};
use crate::model::{PulledRow, Row};
use crate::policy::{ConflictInput, Decision};

/// What to do with one pulled row.
#[derive(Debug, Clone, PartialEq)]
pub enum PullStep {
    /// Already known (our own push coming back, or an older version).
    Skip,
    /// No local edit stands in the way: take the remote row.
    Take(Action),
    /// A local edit is queued for this row: a conflict for the policy.
    Resolve(ConflictInput),
    /// This device's own change of the row is in doubt (sent, answer
    /// lost): set the row aside until the row's next push settles it.
    Defer,
}

/// What the device knows about one row when a pulled version arrives.
#[derive(Debug, Clone, Copy, Default)]
pub struct Here<'a> {
    /// The last remote version seen and its content.
    pub known: Option<&'a RowState>,
    /// The row's queued local edit.
    pub queued: Option<&'a QueueItem>,
    /// The current local row (read only when something is queued).
    pub row: Option<&'a Row>,
    /// A change of the row was sent and no answer settled it.
    pub in_doubt: bool,
    /// The table's policy merges counters by deltas (`Policies::merges_deltas`).
    pub merges_deltas: bool,
}

/// Decides what a pulled row does, given what the device knows about it.
/// `device` is this device's id: a row it wrote itself is no conflict.
pub fn pulled(device: &str, row: &PulledRow, here: Here<'_>) -> PullStep {
    if here.known.is_some_and(|k| k.version >= row.version) {
        return PullStep::Skip;
    }
    let remote = if row.deleted { None } else { row.row.clone() };
    let take = Action::Write {
        row: remote.clone(),
        version: row.version,
        base: remote.clone(),
    };
    if here.queued.is_none() {
        return PullStep::Take(take);
    }
    let equal = here.row == remote.as_ref();
    // Our own earlier write (its answer was lost) is the newest version:
    // the same content is settled; a newer edit on top stands, based on
    // the version we wrote.
    if row.origin.as_deref() == Some(device) {
        if equal {
            return PullStep::Take(take);
        }
        return PullStep::Take(Action::Keep {
            version: row.version,
            base: remote,
        });
    }
    // Someone else wrote on top of what may be our own applied write: the
    // base we hold may miss it, so merging now could count it twice.
    if here.in_doubt {
        return PullStep::Defer;
    }
    // Equal content is settled, unless counters merge by deltas: two
    // tills each selling one of 26 both end at 25, and the base says 24.
    if equal && !here.merges_deltas {
        return PullStep::Take(take);
    }
    PullStep::Resolve(ConflictInput {
        local: here.row.cloned(),
        remote,
        base: here.known.and_then(|k| k.base.clone()),
    })
}

/// How a decision a policy took on its own is kept in the conflict
/// history (`None` for manual: that one is an open conflict). `ebb policy
/// replay` compares a plugin's answers with these texts.
pub fn decision_text(decision: &Decision) -> Option<String> {
    match decision {
        Decision::TakeLocal => Some("take-local".into()),
        Decision::TakeRemote => Some("take-remote".into()),
        Decision::Merged(row) => Some(format!(
            "merged {}",
            row.clone()
                .map_or(serde_json::Value::Null, serde_json::Value::Object)
        )),
        Decision::Manual(_) => None,
    }
}

/// Turns a policy's decision on a conflict into the local action.
/// `remote` is the remote row at `version` (`None` when deleted there).
pub fn settle(decision: Decision, input: ConflictInput, version: i64, policy: String) -> Action {
    let ConflictInput {
        local,
        remote,
        base,
    } = input;
    match decision {
        Decision::TakeRemote => Action::Write {
            row: remote.clone(),
            version,
            base: remote,
        },
        Decision::TakeLocal => Action::Keep {
            version,
            base: remote,
        },
        Decision::Merged(row) => Action::WriteAndPush {
            row,
            version,
            base: remote,
        },
        Decision::Manual(reason) => Action::Conflict {
            local,
            remote,
            base,
            remote_version: version,
            policy,
            reason,
        },
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!(pulled("me", &r, here), PullStep::Skip);
    }

    #[test]
    fn without_a_local_edit_the_remote_row_is_taken() {
        let content = row(json!({"id": "p1", "n": 1}));
        let r = pulled_row(4, Some(content.clone()));
        let step = pulled("me", &r, Here::default());
        assert_eq!(
            step,
            PullStep::Take(Action::Write {
                row: Some(content.clone()),
                version: 4,
                base: Some(content)
            })
        );
    }

    #[test]
    fn a_tombstone_deletes() {
        let r = pulled_row(5, None);
        let PullStep::Take(Action::Write { row, .. }) = pulled("me", &r, Here::default()) else {
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
        let step = pulled("me", &r, here);
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
            pulled("me", &r, here),
            PullStep::Take(Action::Write { .. })
        ));
        let counting = Here {
            merges_deltas: true,
            ..here
        };
        assert!(matches!(pulled("me", &r, counting), PullStep::Resolve(_)));
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
        assert_eq!(pulled("me", &r, here), PullStep::Defer);
        // Nothing queued: nothing to merge, the row is taken.
        let idle = Here {
            queued: None,
            ..here
        };
        assert!(matches!(pulled("me", &r, idle), PullStep::Take(_)));
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
            pulled("me", &r, here),
            PullStep::Take(Action::Keep {
                version: 2,
                base: Some(mine)
            })
        );
        r.origin = Some("someone else".into());
        assert!(matches!(pulled("me", &r, here), PullStep::Resolve(_)));
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
}
