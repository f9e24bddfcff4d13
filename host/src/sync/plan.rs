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
    /// lost): set the row aside until the row's next push settles it (the
    /// row is handed back, for a caller that kept no copy as pulled).
    Defer(PulledRow),
    /// Another device created a different row under the same key (no
    /// common base): a key collision, held for a person, never settled by
    /// a policy taking a side.
    Collide(ConflictInput),
}

/// The policy name conflicts of colliding keys are recorded under.
pub const COLLISION: &str = "key_collision";

/// Whether a conflict is a key collision: the row was created here
/// (`fresh`: no version of it was ever agreed with the server) and exists,
/// differently, on the server. Push and pull decide it alike.
pub fn collides(fresh: bool, local: Option<&Row>, remote: Option<&Row>) -> bool {
    fresh && local.is_some() && remote.is_some() && local != remote
}

/// Why a key collision waits for a person.
pub fn collision_reason(table: &str, pk: &str) -> String {
    format!(
        "key collision: another device created a different row of {table} with key {pk}; \
         no policy settles that (one row would be lost): keep one, or give one a new key"
    )
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

/// Whether a pulled row at `version` is one the device has already (this
/// version or a newer one): it is skipped.
pub fn known_already(known: Option<&RowState>, version: i64) -> bool {
    known.is_some_and(|k| k.version >= version)
}

/// Decides what a pulled row does, given what the device knows about it.
/// `device` is this device's id: a row it wrote itself is no conflict.
pub fn pulled(device: &str, row: PulledRow, here: Here<'_>) -> PullStep {
    if known_already(here.known, row.version) {
        return PullStep::Skip;
    }
    let remote = if row.deleted { None } else { row.row };
    if here.queued.is_none() {
        return PullStep::Take(Action::Write {
            row: remote,
            version: row.version,
        });
    }
    let take = Action::Write {
        row: remote.clone(),
        version: row.version,
    };
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
        return PullStep::Defer(PulledRow { row: remote, ..row });
    }
    if collides(here.known.is_none(), here.row, remote.as_ref()) {
        return PullStep::Collide(ConflictInput {
            local: here.row.cloned(),
            remote,
            base: None,
        });
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

/// Which sides' writes a policy's decision discarded: a change a side made
/// from the base that the result does not keep. Counted, announced and
/// shown in status ("local writes overwritten"), never silent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overwrote {
    pub local: bool,
    pub remote: bool,
}

/// What `decision` discards of `input` (see [`Overwrote`]). A merged row
/// discards a side's field when that side changed it and the result took
/// the other side's value (a counter merged by deltas keeps both).
pub fn overwritten(input: &ConflictInput, decision: &Decision) -> Overwrote {
    let (l, r, b) = (
        input.local.as_ref(),
        input.remote.as_ref(),
        input.base.as_ref(),
    );
    // A side lost when it changed something (from the base; without a base
    // anything differing from the other side counts) and the result is not it.
    let lost = |side: Option<&Row>, other: Option<&Row>, result: Option<&Row>| {
        let changed = match b {
            Some(base) => side != Some(base),
            None => side != other,
        };
        changed && side != result && discards(side, other, b, result)
    };
    match decision {
        Decision::TakeRemote => Overwrote {
            local: lost(l, r, r),
            remote: false,
        },
        Decision::TakeLocal => Overwrote {
            local: false,
            remote: lost(r, l, l),
        },
        Decision::Merged(row) => Overwrote {
            local: lost(l, r, row.as_ref()),
            remote: lost(r, l, row.as_ref()),
        },
        Decision::Manual(_) => Overwrote::default(),
    }
}

/// Whether `result` drops a change `side` made: the row's existence, or a
/// field the side changed whose result value is the other side's.
fn discards(
    side: Option<&Row>,
    other: Option<&Row>,
    base: Option<&Row>,
    result: Option<&Row>,
) -> bool {
    let (Some(side), Some(result)) = (side, result) else {
        // Deleted on this side and revived, or written here and deleted.
        return side.is_some() != result.is_some();
    };
    side.iter().any(|(name, value)| {
        let from = base.and_then(|b| b.get(name));
        let theirs = other.and_then(|o| o.get(name));
        let changed = base.is_none() || from != Some(value);
        let kept = result.get(name);
        changed && kept != Some(value) && kept == theirs
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
            row: remote,
            version,
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
#[path = "plan_tests.rs"]
mod tests;
