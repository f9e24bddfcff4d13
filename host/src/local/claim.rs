//! Claiming queue items for a push: which items may go now, in which
//! order, marked inflight with the row as it is now and its base version,
//! in one short transaction (`Local::claim`). The rest of the queue's
//! storage is `queue`'s.

use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior, params};

use super::normalize::described;
use super::queue::Claimed;
use super::sent;
use super::values::RowReader;
use super::{Context, Local, LocalError, TableSpec, millis};
use crate::model::{Change, Op};

impl Local {
    /// Claims up to `limit` items: 'pending', 'retry' due by `now`, or
    /// 'dead' last claimed at least `revive_dead_after` ago (attempts reset;
    /// `None` never revives). Only the given tables. Upserts first in table
    /// order, then deletes in reverse table order, each by counter. Marks
    /// them inflight and reads each row now (a vanished row is sent as a
    /// delete), with the version last seen as its base. One short
    /// transaction; every statement prepared once per connection.
    pub fn claim(
        &mut self,
        tables: &[TableSpec],
        limit: usize,
        now: i64,
        revive_dead_after: Option<Duration>,
    ) -> Result<Vec<Claimed>, LocalError> {
        if tables.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        // Nothing to claim (the next batch of a round that pushed its last,
        // an edit's round after its one item): one read, no write
        // transaction and no query per table and op.
        if !claimable(&self.conn, now, revive_dead_after)? {
            return Ok(Vec::new());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(|| "starting claim".into())?;
        let found = mark_claimed(&tx, tables, limit, now, revive_dead_after)?;
        let mut readers: Vec<Option<RowReader>> = vec![None; tables.len()];
        let mut claimed = Vec::with_capacity(found.len());
        for Marked {
            table,
            pk,
            op,
            counter,
            attempts,
            ord,
            base_version,
        } in found
        {
            let (row, unrepresentable) = match op {
                "upsert" => {
                    let reader = match &mut readers[ord] {
                        Some(reader) => reader,
                        slot => {
                            let info = described(&tx, &self.scratch, &tables[ord].name)?;
                            slot.insert(RowReader::new(&info, &tables[ord]))
                        }
                    };
                    reader
                        .read(&tx, &pk)?
                        .map_or((None, None), |(r, u)| (Some(r), u))
                }
                _ => (None, None),
            };
            // Kept until an answer settles it: the base of a merge if the
            // answer is lost and the server applied it anyway.
            sent::record(&tx, &table, &pk, counter, row.as_ref())?;
            claimed.push((
                ord,
                Claimed {
                    change: Change {
                        op: if row.is_some() {
                            Op::Upsert
                        } else {
                            Op::Delete
                        },
                        table,
                        pk,
                        base_version,
                        row,
                        device: self.device.clone(),
                        counter,
                    },
                    attempts: attempts.clamp(0, i64::from(u32::MAX)) as u32,
                    unrepresentable,
                },
            ));
        }
        tx.commit().ctx(|| "committing claim".into())?;
        // Claim order (RETURNING answers in no set order, and a vanished
        // row turned an upsert into a delete: deletes go last).
        claimed.sort_by_key(|(ord, c)| match c.change.op {
            Op::Upsert => (0, *ord as i64, c.change.counter),
            Op::Delete => (1, -(*ord as i64), c.change.counter),
        });
        Ok(claimed.into_iter().map(|(_, c)| c).collect())
    }
}

/// A queue item claimed now (marked inflight by `mark_claimed`).
struct Marked {
    table: String,
    pk: String,
    op: &'static str,
    counter: i64,
    /// Its attempts so far (0 again for a revived dead item).
    attempts: i64,
    /// Index of its table in the claimed tables.
    ord: usize,
    /// The version last seen (`_ebb_rows`), the change's base.
    base_version: Option<i64>,
}

/// Whether any item of any table may be claimed now (`mark_claimed`'s states,
/// without their order): each state looked up in `_ebb_queue_state`.
const CLAIMABLE: &str = "SELECT EXISTS (SELECT 1 FROM _ebb_queue WHERE state = 'pending')
     OR EXISTS (SELECT 1 FROM _ebb_queue
                WHERE state = 'retry' AND COALESCE(next_attempt_at, 0) <= ?1)
     OR (?2 IS NOT NULL AND EXISTS (SELECT 1 FROM _ebb_queue
                WHERE state = 'dead' AND COALESCE(claimed_at, queued_at) <= ?2))";

fn claimable(
    conn: &Connection,
    now: i64,
    revive_dead_after: Option<Duration>,
) -> Result<bool, LocalError> {
    let revive_before = revive_dead_after.map(|d| now.saturating_sub(millis(d)));
    conn.prepare_cached(CLAIMABLE)
        .and_then(|mut stmt| stmt.query_row(params![now, revive_before], |r| r.get(0)))
        .ctx(|| "looking for items to claim".into())
}

/// The items of table `?1` and op `?2` that may be claimed at `?3`
/// (dead ones last claimed by `?4`, when not NULL), as `q`. The `+` keeps
/// SQLite from choosing the state index instead of `_ebb_queue_claim`.
macro_rules! claimable_items {
    () => {
        "q.tbl = ?1 AND q.op = ?2
           AND (+q.state = 'pending'
                OR (+q.state = 'retry' AND COALESCE(q.next_attempt_at, 0) <= ?3)
                OR (+q.state = 'dead' AND ?4 IS NOT NULL
                    AND COALESCE(q.claimed_at, q.queued_at) <= ?4))"
    };
}

/// Whether one table has an item of one op to claim: a walk of
/// `_ebb_queue_claim` to the first, where [`MARK_CLAIMED`] (an `UPDATE`
/// with a subquery and `RETURNING`, each an ephemeral table) costs about
/// 90k instructions even when it finds nothing; an edit's round asked it
/// for every table and op, a fifth of the round's CPU (callgrind).
const ANY_CLAIMABLE: &str = concat!(
    "SELECT EXISTS (SELECT 1 FROM _ebb_queue q WHERE ",
    claimable_items!(),
    ")"
);

/// Claims one table's claimable items of one op, by counter, up to a
/// limit: marks them inflight (attempts reset for a revived dead item) and
/// answers each with its version last seen. One statement: the items are
/// picked off `_ebb_queue_claim` first, then updated (a statement per item
/// was a third of a claim).
const MARK_CLAIMED: &str = concat!(
    "UPDATE _ebb_queue
     SET state = 'inflight', sent_counter = counter, claimed_at = ?3,
         attempts = CASE WHEN state = 'dead' THEN 0 ELSE attempts END
     WHERE rowid IN (
         SELECT q.rowid FROM _ebb_queue q WHERE ",
    claimable_items!(),
    "
         ORDER BY q.counter
         LIMIT ?5)
     RETURNING pk, counter, attempts,
         (SELECT r.version FROM _ebb_rows r WHERE r.tbl = _ebb_queue.tbl AND r.pk = _ebb_queue.pk)"
);

/// Claims up to `limit` items in claim order: each table's upserts in
/// table order, then each table's deletes in reverse order, each by
/// counter. One statement per (table, op), walking `_ebb_queue_claim` in
/// counter order and stopping at the limit: the cost follows the batch, not
/// the queue (sorting a 100k-item queue for every batch of 100 was most of a
/// large push). A table and op with nothing to claim is passed over after
/// one look ([`ANY_CLAIMABLE`]).
fn mark_claimed(
    conn: &Connection,
    tables: &[TableSpec],
    limit: usize,
    now: i64,
    revive_dead_after: Option<Duration>,
) -> Result<Vec<Marked>, LocalError> {
    let revive_before = revive_dead_after.map(|d| now.saturating_sub(millis(d)));
    let mut found: Vec<Marked> = Vec::with_capacity(limit);
    let upserts = tables.iter().enumerate().map(|(ord, t)| ("upsert", ord, t));
    let deletes = tables
        .iter()
        .enumerate()
        .rev()
        .map(|(ord, t)| ("delete", ord, t));
    let mut any = conn
        .prepare_cached(ANY_CLAIMABLE)
        .ctx(|| "looking for items to claim".into())?;
    let mut stmt = conn
        .prepare_cached(MARK_CLAIMED)
        .ctx(|| "claiming items".into())?;
    for (op, ord, table) in upserts.chain(deletes) {
        let left = limit - found.len();
        if left == 0 {
            break;
        }
        // A table listed twice is claimed once.
        if tables[..ord].iter().any(|t| t.name == table.name) {
            continue;
        }
        let waiting: bool = any
            .query_row(params![table.name, op, now, revive_before], |r| r.get(0))
            .ctx(|| format!("looking for items of {} to claim", table.name))?;
        if !waiting {
            continue;
        }
        let left = i64::try_from(left).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![table.name, op, now, revive_before, left], |r| {
                Ok(Marked {
                    table: table.name.clone(),
                    pk: r.get(0)?,
                    op,
                    counter: r.get(1)?,
                    attempts: r.get(2)?,
                    ord,
                    base_version: r.get(3)?,
                })
            })
            .ctx(|| format!("claiming items of {}", table.name))?;
        for row in rows {
            found.push(row.ctx(|| format!("claiming items of {}", table.name))?);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{exec, open_temp, specs};
    use super::*;

    /// Each batch is the oldest claimable changes, in counter order, whatever
    /// order the keys sort in or the claim statement answers in.
    #[test]
    fn batches_take_the_oldest_changes_in_counter_order() {
        let (_dir, mut local) = open_temp();
        local.install(&specs()).unwrap();
        for i in (0..40).rev() {
            exec(
                &local,
                &format!("INSERT INTO items (id, qty) VALUES ('k{i:02}', {i})"),
            );
        }
        // Edited again before any claim: its change is now the newest.
        exec(&local, "UPDATE items SET qty = 100 WHERE id = 'k39'");
        let mut order = Vec::new();
        loop {
            let batch = local.claim(&specs(), 7, 0, None).unwrap();
            if batch.is_empty() {
                break;
            }
            let counters: Vec<i64> = batch.iter().map(|c| c.change.counter).collect();
            assert!(counters.windows(2).all(|w| w[0] < w[1]), "{counters:?}");
            order.extend(batch.into_iter().map(|c| c.change.pk));
        }
        let mut expected: Vec<String> = (0..39).rev().map(|i| format!("k{i:02}")).collect();
        expected.push("k39".into());
        assert_eq!(order, expected);
    }

    /// A claim reads its batch off the claim index in counter order; it never
    /// sorts the queue (which made a 100k-row push quadratic).
    #[test]
    fn claim_walks_the_index_instead_of_sorting_the_queue() {
        let (_dir, local) = open_temp();
        let plan: Vec<String> = local
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {MARK_CLAIMED}"))
            .unwrap()
            .query_map(
                rusqlite::params!["items", "upsert", 0, None::<i64>, 100],
                |r| r.get::<_, String>(3),
            )
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = plan.join("\n");
        assert!(plan.contains("USING INDEX _ebb_queue_claim"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }
}
