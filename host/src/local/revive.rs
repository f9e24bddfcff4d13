//! A person's "try again" on a held queue item: a dead item (retries
//! exhausted) or an invalid one (validation refused it; the plugin or the
//! schema may have been fixed since) goes back to pending with its
//! attempts and error cleared, so the next round sends it.
//!
//! Owns that one statement; decides nothing about when to retry on its
//! own (`sync`'s `retry.retry_dead_after` does). Called by `ops::api`
//! (`POST /api/queue/{id}/retry`).

use rusqlite::{OptionalExtension, params};

use super::cached::Cached;
use super::{Context, Local, LocalError};

/// What `revive_item` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revived {
    /// The item was dead or invalid (`was`) and is pending now.
    Pending { was: String },
    /// The item is in another state (nothing changed).
    NotHeld { state: String },
    /// Nothing is queued for that row.
    Missing,
}

impl Local {
    /// Puts the queue item of (`table`, `pk`) back to pending when it is
    /// dead or invalid. One short transaction.
    pub fn revive_item(&mut self, table: &str, pk: &str) -> Result<Revived, LocalError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .ctx(|| format!("starting to retry an item of {table}"))?;
        let state: Option<String> = tx
            .row(
                "SELECT state FROM _ebb_queue WHERE tbl = ?1 AND pk = ?2",
                params![table, pk],
                |r| r.get(0),
            )
            .optional()
            .ctx(|| format!("reading a queue item of {table}"))?;
        let revived = match state {
            None => Revived::Missing,
            Some(was) if was == "dead" || was == "invalid" => {
                tx.exec(
                    "UPDATE _ebb_queue SET state = 'pending', attempts = 0, error = NULL,
                         next_attempt_at = NULL
                     WHERE tbl = ?1 AND pk = ?2",
                    params![table, pk],
                )
                .ctx(|| format!("putting a held item of {table} back to pending"))?;
                Revived::Pending { was }
            }
            Some(state) => Revived::NotHeld { state },
        };
        tx.commit()
            .ctx(|| format!("committing the retry of an item of {table}"))?;
        Ok(revived)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn only_held_items_go_back_to_pending() {
        let dir = tempfile::tempdir().unwrap();
        let mut local = Local::open(&dir.path().join("r.db"), Duration::from_secs(1)).unwrap();
        local
            .conn
            .execute_batch(
                "INSERT INTO _ebb_queue (tbl, pk, op, counter, state, attempts, queued_at, error)
                 VALUES ('t', 'a', 'upsert', 1, 'dead', 5, 0, 'gone'),
                        ('t', 'b', 'upsert', 2, 'pending', 0, 0, NULL)",
            )
            .unwrap();
        assert_eq!(
            local.revive_item("t", "a").unwrap(),
            Revived::Pending { was: "dead".into() }
        );
        let item = local.queue_item("t", "a").unwrap().unwrap();
        assert_eq!((item.state.as_str(), item.attempts), ("pending", 0));
        assert_eq!(item.error, None);
        assert_eq!(
            local.revive_item("t", "b").unwrap(),
            Revived::NotHeld {
                state: "pending".into()
            }
        );
        assert_eq!(local.revive_item("t", "zz").unwrap(), Revived::Missing);
    }
}
