//! Settling claimed queue items: what happened to each pushed change is
//! written back to `_ebb_queue` and `_ebb_rows`, a whole pushed batch in
//! one transaction.
//!
//! Owns the end of the queue state machine (see `queue`): inflight ->
//! deleted (applied) | retry | invalid | dead | pending. Compares the
//! counter sent with the item's counter now, so an edit made while the
//! change was in flight is never lost. Decides nothing about backoff or
//! attempts (the caller passes them in). Called by `sync::push`.

use rusqlite::{Connection, TransactionBehavior, params};

use super::queue::counter;
use super::{Context, Local, LocalError, Settle, rows, sent};

/// How one claimed item ended, for [`Local::settle_all`].
#[derive(Debug, Clone, PartialEq)]
pub struct Settlement {
    pub table: String,
    pub pk: String,
    /// The counter the change was sent with (`Change::counter`).
    pub sent_counter: i64,
    pub outcome: Settle,
}

impl Local {
    /// Settles one claimed item (see [`Settle`]). An item whose counter
    /// moved since `sent_counter` goes back to pending with attempts 0 (the
    /// user changed the row; the new content is tried next round). An item
    /// that no longer exists is left alone.
    pub fn settle(
        &mut self,
        table: &str,
        pk: &str,
        sent_counter: i64,
        outcome: Settle,
    ) -> Result<(), LocalError> {
        self.settle_all(&[Settlement {
            table: table.to_string(),
            pk: pk.to_string(),
            sent_counter,
            outcome,
        }])
    }

    /// Settles every item as [`Local::settle`] would, in one short
    /// transaction (one commit for a pushed batch instead of one each).
    /// All or nothing: on an error none is settled, and the items stay
    /// inflight until the next round returns them to pending (a re-push
    /// the server answers as before).
    pub fn settle_all(&mut self, items: &[Settlement]) -> Result<(), LocalError> {
        if items.is_empty() {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(|| "starting settle".into())?;
        for item in items {
            settle_one(&tx, item)?;
        }
        tx.commit().ctx(|| "committing settle".into())
    }
}

fn settle_one(conn: &Connection, item: &Settlement) -> Result<(), LocalError> {
    let Settlement {
        table,
        pk,
        sent_counter,
        outcome,
    } = item;
    // The usual end of a push, an item applied and not edited since it was
    // sent, goes in one statement that also says so (a read of its counter
    // first was a statement more per pushed row).
    if let Settle::Applied { version, row } = outcome {
        let gone = conn
            .prepare_cached("DELETE FROM _ebb_queue WHERE tbl = ?1 AND pk = ?2 AND counter = ?3")
            .and_then(|mut stmt| stmt.execute(params![table, pk, sent_counter]))
            .ctx(|| format!("settling an item of {table}"))?;
        if gone == 1 {
            rows::agreed(conn, table, pk, *version, row.as_ref())?;
            // This answer settles every earlier send of the row too.
            sent::forget(conn, table, pk, *sent_counter)?;
            return Ok(());
        }
    }
    let Some(counter) = counter(conn, table, pk)? else {
        return Ok(());
    };
    let edited = counter != *sent_counter;
    // Held before sending, or released unanswered by a refusal that wrote
    // nothing (auth, configuration): that change is not in doubt.
    if matches!(outcome, Settle::Invalid { .. } | Settle::Release) {
        sent::forget_one(conn, table, pk, *sent_counter)?;
    }
    // (state, attempts (None = unchanged), next_attempt_at, error (None = unchanged))
    let (state, attempts, next, error): (&str, Option<u32>, Option<i64>, Option<Option<&str>>) =
        match outcome {
            // Edited since it was sent (the unedited one went above): the
            // answer is the row's state, the edit goes next round.
            Settle::Applied { version, row } => {
                rows::set(conn, table, pk, *version, row.as_ref())?;
                sent::forget(conn, table, pk, *sent_counter)?;
                ("pending", Some(0), None, Some(None))
            }
            _ if edited => ("pending", Some(0), None, Some(None)),
            Settle::Release | Settle::Unanswered => ("pending", None, None, None),
            Settle::Retry {
                attempts,
                next_attempt_at,
                error,
            } => (
                "retry",
                Some(*attempts),
                Some(*next_attempt_at),
                Some(Some(error)),
            ),
            Settle::Dead { attempts, error } => ("dead", Some(*attempts), None, Some(Some(error))),
            Settle::Invalid { error } => ("invalid", None, None, Some(Some(error))),
        };
    conn.prepare_cached(
        "UPDATE _ebb_queue SET state = ?3, attempts = COALESCE(?4, attempts),
             next_attempt_at = ?5, error = CASE WHEN ?6 THEN ?7 ELSE error END
         WHERE tbl = ?1 AND pk = ?2",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            table,
            pk,
            state,
            attempts,
            next,
            error.is_some(),
            error.flatten()
        ])
    })
    .ctx(|| format!("settling an item of {table}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{exec, open_temp, queue, specs};
    use super::*;

    fn settlement(table: &str, pk: &str, sent_counter: i64, outcome: Settle) -> Settlement {
        Settlement {
            table: table.into(),
            pk: pk.into(),
            sent_counter,
            outcome,
        }
    }

    #[test]
    fn a_batch_settles_every_item_as_one_by_one_would() {
        let (_dir, mut local) = open_temp();
        local.install(&specs()).unwrap();
        exec(
            &local,
            "INSERT INTO parents (id, name) VALUES (1, 'a'), (2, 'b');
             INSERT INTO items (id, parent_id) VALUES ('x', 1), ('y', 1)",
        );
        let claimed = local.claim(&specs(), 10, 0, None).unwrap();
        let counter = |table: &str, pk: &str| {
            claimed
                .iter()
                .find(|c| c.change.table == table && c.change.pk == pk)
                .map(|c| c.change.counter)
                .unwrap()
        };
        exec(&local, "UPDATE parents SET name = 'edited' WHERE id = 2");
        let applied = |version| Settle::Applied { version, row: None };
        local
            .settle_all(&[
                settlement("parents", "1", counter("parents", "1"), applied(5)),
                settlement("parents", "2", counter("parents", "2"), applied(6)),
                settlement(
                    "items",
                    "x",
                    counter("items", "x"),
                    Settle::Retry {
                        attempts: 1,
                        next_attempt_at: 50,
                        error: "timeout".into(),
                    },
                ),
                settlement(
                    "items",
                    "y",
                    counter("items", "y"),
                    Settle::Invalid {
                        error: "bad".into(),
                    },
                ),
                settlement("items", "never-queued", 1, Settle::Release),
            ])
            .unwrap();
        assert!(local.queue_item("parents", "1").unwrap().is_none());
        assert_eq!(local.row_state("parents", "1").unwrap().unwrap().version, 5);
        let edited = queue(&local, "parents", "2");
        assert_eq!((edited.state.as_str(), edited.attempts), ("pending", 0));
        assert_eq!(local.row_state("parents", "2").unwrap().unwrap().version, 6);
        let x = queue(&local, "items", "x");
        assert_eq!(
            (x.state.as_str(), x.attempts, x.next_attempt_at),
            ("retry", 1, Some(50))
        );
        assert_eq!(queue(&local, "items", "y").state, "invalid");
        assert!(local.queue_item("items", "never-queued").unwrap().is_none());
    }

    #[test]
    fn a_batch_is_all_or_nothing() {
        let (_dir, mut local) = open_temp();
        local.install(&specs()).unwrap();
        exec(
            &local,
            "INSERT INTO parents (id, name) VALUES (1, 'a'), (2, 'b')",
        );
        let claimed = local.claim(&specs(), 10, 0, None).unwrap();
        // Make the second settle fail inside the transaction.
        exec(
            &local,
            "CREATE TEMP TRIGGER refuse BEFORE INSERT ON _ebb_rows WHEN NEW.pk = '2'
             BEGIN SELECT RAISE(ABORT, 'refused'); END",
        );
        let all: Vec<Settlement> = claimed
            .iter()
            .map(|c| {
                let outcome = Settle::Applied {
                    version: 1,
                    row: None,
                };
                settlement(&c.change.table, &c.change.pk, c.change.counter, outcome)
            })
            .collect();
        assert!(local.settle_all(&all).is_err());
        for pk in ["1", "2"] {
            assert_eq!(queue(&local, "parents", pk).state, "inflight");
            assert!(local.row_state("parents", pk).unwrap().is_none());
        }
    }

    #[test]
    fn ebb_commits_without_waiting_for_the_disk_in_wal_mode() {
        let (_dir, local) = open_temp();
        let sync: i64 = local
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 1, "NORMAL");
    }
}
