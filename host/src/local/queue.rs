//! The push side of `_ebb_queue`: claim items, recover stuck ones, and
//! list them (`settle` writes back how they ended).
//!
//! Owns the queue state machine's storage: pending -> inflight -> deleted
//! (applied) | retry | invalid | dead | pending (released, or edited in
//! flight). An edit that lands while an item is in flight bumps its counter
//! (see `triggers`); settling compares that counter with the one sent, so
//! no edit is ever lost. Decides nothing about backoff or attempts (the
//! caller passes them in). Called by `sync` and by `cli` (`ebb queue`).

use std::time::Duration;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params, params_from_iter};
use serde::Serialize;

use super::cached::Cached;
use super::normalize::described;
use super::schema::next_counter;
use super::sent;
use super::values::RowReader;
use super::{Context, Local, LocalError, TableSpec, millis};

/// Every state a queue item can be in (the CHECK on `_ebb_queue.state`,
/// schema.rs).
pub const QUEUE_STATES: [&str; 6] = [
    "pending", "inflight", "retry", "invalid", "dead", "conflict",
];
use crate::model::{Change, Op, Row};

/// One claimed change, now `inflight`.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub change: Change,
    /// Failed attempts so far (0 for a fresh or revived item).
    pub attempts: u32,
    /// Why the row cannot be sent exactly (a value JSON cannot carry), naming
    /// table, pk, column and problem: hold it as `invalid`, never send it.
    /// The row then shows those values approximated, for display only.
    pub unrepresentable: Option<String>,
}

/// How one claimed item ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Settle {
    /// The server wrote it at `version`; `row` is what was sent (None for a delete).
    Applied { version: i64, row: Option<Row> },
    /// A retryable failure: try again at `next_attempt_at`.
    Retry {
        attempts: u32,
        next_attempt_at: i64,
        error: String,
    },
    /// Retries exhausted.
    Dead { attempts: u32, error: String },
    /// Rejected by validation or by the server; needs a fix to the row.
    Invalid { error: String },
    /// Not the item's fault (round aborted): back to pending, attempts unchanged.
    Release,
    /// Claimed, and the round ended before its answer was read (it may
    /// have reached the server): back to pending, attempts unchanged, and
    /// what was sent kept (`sent`), as stuck-item recovery leaves it.
    Unanswered,
}

/// One queue row, for `sync` decisions and `ebb queue`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueItem {
    pub table: String,
    pub pk: String,
    pub op: Op,
    pub counter: i64,
    pub state: String,
    pub attempts: u32,
    pub error: Option<String>,
    pub queued_at: i64,
    pub next_attempt_at: Option<i64>,
}

const ITEM_COLUMNS: &str =
    "tbl, pk, op, counter, state, attempts, error, queued_at, next_attempt_at";

fn item(r: &rusqlite::Row<'_>) -> rusqlite::Result<QueueItem> {
    let op: String = r.get(2)?;
    Ok(QueueItem {
        table: r.get(0)?,
        pk: r.get(1)?,
        op: if op == "delete" {
            Op::Delete
        } else {
            Op::Upsert
        },
        counter: r.get(3)?,
        state: r.get(4)?,
        attempts: r.get::<_, i64>(5)?.clamp(0, i64::from(u32::MAX)) as u32,
        error: r.get(6)?,
        queued_at: r.get(7)?,
        next_attempt_at: r.get(8)?,
    })
}

pub(crate) fn op_text(op: Op) -> &'static str {
    match op {
        Op::Upsert => "upsert",
        Op::Delete => "delete",
    }
}

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
        let found = candidates(&tx, tables, limit, now, revive_dead_after)?;
        let mut readers: Vec<Option<RowReader>> = vec![None; tables.len()];
        let mut claimed = Vec::with_capacity(found.len());
        for Candidate {
            table,
            pk,
            op,
            counter,
            attempts,
            state,
            ord,
            base_version,
        } in found
        {
            let attempts = if state == "dead" { 0 } else { attempts };
            tx.prepare_cached(
                "UPDATE _ebb_queue SET state = 'inflight', sent_counter = counter,
                     claimed_at = ?3, attempts = ?4
                 WHERE tbl = ?1 AND pk = ?2",
            )
            .and_then(|mut stmt| stmt.execute(params![table, pk, now, attempts]))
            .ctx(|| format!("claiming an item of {table}"))?;
            let (row, unrepresentable) = match op.as_str() {
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
        // The query's order, and a vanished row turned an upsert into a
        // delete: keep deletes last.
        claimed.sort_by_key(|(ord, c)| match c.change.op {
            Op::Upsert => (0, *ord as i64, c.change.counter),
            Op::Delete => (1, -(*ord as i64), c.change.counter),
        });
        Ok(claimed.into_iter().map(|(_, c)| c).collect())
    }

    /// Inflight items claimed before `before` go back to pending (stuck-item
    /// recovery). Returns how many.
    pub fn recover_inflight(&mut self, before: i64) -> Result<usize, LocalError> {
        self.conn
            .exec(
                "UPDATE _ebb_queue SET state = 'pending'
                 WHERE state = 'inflight' AND COALESCE(claimed_at, 0) < ?1",
                [before],
            )
            .ctx(|| "recovering stuck inflight items".into())
    }

    /// Queue items in every state (one count, where `status` reads a dozen).
    pub fn queued_total(&self) -> Result<u64, LocalError> {
        self.conn
            .prepare_cached("SELECT COUNT(*) FROM _ebb_queue")
            .and_then(|mut stmt| stmt.query_row([], |r| r.get::<_, i64>(0)))
            .map(|n| n.max(0) as u64)
            .ctx(|| "counting the queue".into())
    }

    /// Whether anything of `table` is queued (a pull plans its rows
    /// without asking for each when nothing is).
    pub fn has_queued(&self, table: &str) -> Result<bool, LocalError> {
        any_queued(&self.conn, table)
    }

    /// The queue item of one row, `None` when nothing is queued for it.
    pub fn queue_item(&self, table: &str, pk: &str) -> Result<Option<QueueItem>, LocalError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {ITEM_COLUMNS} FROM _ebb_queue WHERE tbl = ?1 AND pk = ?2"
            ))
            .and_then(|mut stmt| stmt.query_row(params![table, pk], item).optional())
            .ctx(|| format!("reading a queue item of {table}"))
    }

    /// Up to `limit` queue items in the given states (all states when
    /// empty), oldest first.
    pub fn queue_items(&self, states: &[&str], limit: usize) -> Result<Vec<QueueItem>, LocalError> {
        let filter = if states.is_empty() {
            "1".to_string()
        } else {
            let marks: Vec<String> = (2..states.len() + 2).map(|i| format!("?{i}")).collect();
            format!("state IN ({})", marks.join(", "))
        };
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM _ebb_queue WHERE {filter}
             ORDER BY queued_at, counter LIMIT ?1"
        );
        let mut args = vec![SqlValue::Integer(i64::try_from(limit).unwrap_or(i64::MAX))];
        args.extend(states.iter().map(|s| SqlValue::Text(s.to_string())));
        let mut stmt = self.conn.prepare(&sql).ctx(|| "listing the queue".into())?;
        let items = stmt
            .query_map(params_from_iter(args), item)
            .ctx(|| "listing the queue".into())?;
        items
            .collect::<Result<_, _>>()
            .ctx(|| "listing the queue".into())
    }
}

/// A queue item that may be claimed now.
struct Candidate {
    table: String,
    pk: String,
    op: String,
    counter: i64,
    attempts: i64,
    state: String,
    /// Index of its table in the claimed tables.
    ord: usize,
    /// The version last seen (`_ebb_rows`), the change's base.
    base_version: Option<i64>,
}

/// Whether any item of any table may be claimed now (`candidates`' states,
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

/// One table's claimable items of one op, by counter.
const CANDIDATES: &str = "SELECT q.pk, q.counter, q.attempts, q.state, r.version
     FROM _ebb_queue q LEFT JOIN _ebb_rows r ON r.tbl = q.tbl AND r.pk = q.pk
     WHERE q.tbl = ?1 AND q.op = ?2
       AND (+q.state = 'pending'
            OR (+q.state = 'retry' AND COALESCE(q.next_attempt_at, 0) <= ?3)
            OR (+q.state = 'dead' AND ?4 IS NOT NULL
                AND COALESCE(q.claimed_at, q.queued_at) <= ?4))
     ORDER BY q.counter
     LIMIT ?5";

/// Up to `limit` claimable items in claim order: each table's upserts in
/// table order, then each table's deletes in reverse order, each by
/// counter. One query per (table, op), walking `_ebb_queue_claim` in counter
/// order and stopping at the limit: the cost follows the batch, not the
/// queue (sorting a 100k-item queue for every batch of 100 was most of a
/// large push). The `+` keeps SQLite from choosing the state index instead.
fn candidates(
    conn: &Connection,
    tables: &[TableSpec],
    limit: usize,
    now: i64,
    revive_dead_after: Option<Duration>,
) -> Result<Vec<Candidate>, LocalError> {
    let revive_before = revive_dead_after.map(|d| now.saturating_sub(millis(d)));
    let mut found: Vec<Candidate> = Vec::with_capacity(limit);
    let upserts = tables.iter().enumerate().map(|(ord, t)| ("upsert", ord, t));
    let deletes = tables
        .iter()
        .enumerate()
        .rev()
        .map(|(ord, t)| ("delete", ord, t));
    let mut stmt = conn
        .prepare_cached(CANDIDATES)
        .ctx(|| "selecting items to claim".into())?;
    for (op, ord, table) in upserts.chain(deletes) {
        let left = limit - found.len();
        if left == 0 {
            break;
        }
        // A table listed twice is claimed once.
        if tables[..ord].iter().any(|t| t.name == table.name) {
            continue;
        }
        let left = i64::try_from(left).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![table.name, op, now, revive_before, left], |r| {
                Ok(Candidate {
                    table: table.name.clone(),
                    pk: r.get(0)?,
                    op: op.to_string(),
                    counter: r.get(1)?,
                    attempts: r.get(2)?,
                    state: r.get(3)?,
                    ord,
                    base_version: r.get(4)?,
                })
            })
            .ctx(|| format!("selecting items of {} to claim", table.name))?;
        for row in rows {
            found.push(row.ctx(|| format!("selecting items of {} to claim", table.name))?);
        }
    }
    Ok(found)
}

/// The counter of a row's queue item, `None` when nothing is queued.
pub(crate) fn counter(conn: &Connection, table: &str, pk: &str) -> Result<Option<i64>, LocalError> {
    conn.prepare_cached("SELECT counter FROM _ebb_queue WHERE tbl = ?1 AND pk = ?2")
        .and_then(|mut stmt| stmt.query_row(params![table, pk], |r| r.get(0)).optional())
        .ctx(|| format!("reading a queue counter of {table}"))
}

/// Queues a row as `state` with a new counter (created if absent, fresh
/// attempts), as if the app had just edited it. Returns the counter.
pub(crate) fn touch(
    conn: &Connection,
    table: &str,
    pk: &str,
    op: Op,
    state: &str,
    now: i64,
) -> Result<i64, LocalError> {
    let counter = next_counter(conn)?;
    conn.exec(
        "INSERT INTO _ebb_queue (tbl, pk, op, counter, state, attempts, queued_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6)
         ON CONFLICT (tbl, pk) DO UPDATE SET op = excluded.op, counter = excluded.counter,
             state = excluded.state, attempts = 0, error = NULL, next_attempt_at = NULL",
        params![table, pk, op_text(op), counter, state, now],
    )
    .ctx(|| format!("queueing a row of {table}"))?;
    Ok(counter)
}

/// Every inflight item back to pending (a lease changed hands). Returns how many.
pub(crate) fn release_all_inflight(conn: &Connection) -> Result<usize, LocalError> {
    conn.exec(
        "UPDATE _ebb_queue SET state = 'pending' WHERE state = 'inflight'",
        [],
    )
    .ctx(|| "returning inflight items to pending".into())
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;

/// Whether anything of `table` is queued, on `conn` (also inside an apply).
pub(crate) fn any_queued(conn: &Connection, table: &str) -> Result<bool, LocalError> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM _ebb_queue WHERE tbl = ?1)")
        .and_then(|mut stmt| stmt.query_row([table], |r| r.get(0)))
        .ctx(|| format!("looking at the queue of {table}"))
}
