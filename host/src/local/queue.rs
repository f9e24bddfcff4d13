//! The push side of `_ebb_queue`: recover stuck items and list them
//! (`claim` claims them for a push, `settle` writes back how they ended).
//!
//! Owns the queue state machine's storage: pending -> inflight -> deleted
//! (applied) | retry | invalid | dead | pending (released, or edited in
//! flight). An edit that lands while an item is in flight bumps its counter
//! (see `triggers`); settling compares that counter with the one sent, so
//! no edit is ever lost. Decides nothing about backoff or attempts (the
//! caller passes them in). Called by `sync` and by `cli` (`ebb queue`).

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use serde::Serialize;

use super::cached::Cached;
use super::schema::next_counter;
use super::{Context, Local, LocalError};

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
