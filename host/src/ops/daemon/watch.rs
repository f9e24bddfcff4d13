//! What changed between two looks at the local state, as events: conflicts
//! that appeared or went, queue items that became dead or invalid, and
//! health that changed. Pure: the daemon reads the state and passes it in.
//!
//! One [`Seen`] is shared by the daemon and the local API: what the API
//! settles or retries it announces itself and forgets here, so the next
//! look does not announce it twice.

use std::collections::BTreeMap;

use crate::local::{ConflictRecord, QueueItem};
use crate::ops::Health;
use crate::ops::events::Event;

/// Held items announced one by one per look at most; the round's counts
/// cover the rest.
pub const MAX_ITEM_EVENTS: usize = 100;

/// The queue item id the API uses: `table:pk` (table names hold no `:`).
pub fn item_id(table: &str, pk: &str) -> String {
    format!("{table}:{pk}")
}

/// The last look.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Open conflicts: id -> (table, pk).
    conflicts: BTreeMap<i64, (String, String)>,
    /// Dead or invalid items: (table, pk) -> state.
    held: BTreeMap<(String, String), String>,
    /// Healthy, and the kinds of problems.
    health: Option<(bool, Vec<String>)>,
}

/// What a look found new.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    /// `conflict_new` and `item_held` events, in that order.
    pub events: Vec<Event>,
    /// Conflicts open at the last look and no longer: the caller reads how
    /// each was settled and announces it.
    pub settled: Vec<(i64, String, String)>,
}

impl Seen {
    /// Takes in the state as it is now and says what changed since the
    /// last look (everything, on the first).
    pub fn update(&mut self, conflicts: &[ConflictRecord], held: &[QueueItem]) -> Changes {
        let mut changes = Changes::default();
        let open: BTreeMap<i64, (String, String)> = conflicts
            .iter()
            .map(|c| (c.id, (c.table.clone(), c.pk.clone())))
            .collect();
        for c in conflicts {
            if !self.conflicts.contains_key(&c.id) {
                changes.events.push(Event::ConflictNew {
                    id: c.id,
                    table: c.table.clone(),
                    pk: c.pk.clone(),
                    policy: c.policy.clone(),
                    reason: c.reason.clone(),
                });
            }
        }
        for (id, (table, pk)) in &self.conflicts {
            if !open.contains_key(id) {
                changes.settled.push((*id, table.clone(), pk.clone()));
            }
        }
        let now: BTreeMap<(String, String), String> = held
            .iter()
            .map(|i| ((i.table.clone(), i.pk.clone()), i.state.clone()))
            .collect();
        let fresh = held
            .iter()
            .filter(|i| self.held.get(&(i.table.clone(), i.pk.clone())) != Some(&i.state));
        for i in fresh.take(MAX_ITEM_EVENTS) {
            changes.events.push(Event::ItemHeld {
                id: item_id(&i.table, &i.pk),
                table: i.table.clone(),
                pk: i.pk.clone(),
                state: i.state.clone(),
                error: i.error.clone(),
            });
        }
        self.conflicts = open;
        self.held = now;
        changes
    }

    /// Whether `health` differs from the last one seen (always, the first
    /// time): healthy or not, or another set of problems.
    pub fn health_changed(&mut self, health: &Health) -> bool {
        let mut kinds: Vec<String> = health
            .problems
            .iter()
            .map(|p| format!("{:?}", p.kind))
            .collect();
        kinds.sort();
        let now = Some((health.healthy, kinds));
        let changed = self.health != now;
        self.health = now;
        changed
    }

    /// The API settled this conflict and announced it.
    pub fn forget_conflict(&mut self, id: i64) {
        self.conflicts.remove(&id);
    }

    /// The API put this item back to pending and announced it.
    pub fn forget_item(&mut self, table: &str, pk: &str) {
        self.held.remove(&(table.to_string(), pk.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Op;

    fn conflict(id: i64, pk: &str) -> ConflictRecord {
        ConflictRecord {
            id,
            table: "t".into(),
            pk: pk.into(),
            local: None,
            remote: None,
            base: None,
            remote_version: 1,
            policy: "manual".into(),
            reason: "both changed".into(),
            created_at: 0,
            resolved_at: None,
            resolution: None,
            held: false,
        }
    }

    fn item(pk: &str, state: &str) -> QueueItem {
        QueueItem {
            table: "t".into(),
            pk: pk.into(),
            op: Op::Upsert,
            counter: 1,
            state: state.into(),
            attempts: 5,
            error: Some("no".into()),
            queued_at: 0,
            next_attempt_at: None,
        }
    }

    #[test]
    fn new_and_gone_are_told_once() {
        let mut seen = Seen::default();
        let first = seen.update(&[conflict(1, "a")], &[item("x", "dead")]);
        assert_eq!(first.events.len(), 2);
        assert!(matches!(first.events[0], Event::ConflictNew { id: 1, .. }));
        assert!(matches!(&first.events[1], Event::ItemHeld { id, .. } if id == "t:x"));
        assert_eq!(
            seen.update(&[conflict(1, "a")], &[item("x", "dead")]),
            Changes::default()
        );
        let next = seen.update(&[conflict(2, "b")], &[item("x", "invalid")]);
        assert!(matches!(next.events[0], Event::ConflictNew { id: 2, .. }));
        assert!(matches!(&next.events[1], Event::ItemHeld { state, .. } if state == "invalid"));
        assert_eq!(next.settled, vec![(1, "t".into(), "a".into())]);
        seen.forget_conflict(2);
        let again = seen.update(&[], &[]);
        assert!(again.settled.is_empty() && again.events.is_empty());
    }

    #[test]
    fn health_changes_on_healthy_or_problem_kinds() {
        let mut seen = Seen::default();
        let h = Health::not_assessed();
        assert!(seen.health_changed(&h));
        assert!(!seen.health_changed(&h));
        let ok = Health {
            healthy: true,
            problems: vec![],
        };
        assert!(seen.health_changed(&ok));
        assert!(!seen.health_changed(&ok));
    }
}
