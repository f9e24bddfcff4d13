//! Applying one planned page of pulled rows to the local database.
//!
//! Owns the apply transaction: `BEGIN IMMEDIATE`, foreign keys deferred to
//! commit, the capture guard set (so pulled rows are not queued again) and
//! cleared before commit (so no other connection ever sees it set), every
//! op checked against the queue counter the plan was made with. Decides
//! nothing: `sync` plans the actions (server wins, keep local, merge,
//! conflict) and this file carries them out, all or nothing.

use rusqlite::{Connection, TransactionBehavior, params};

use super::conflicts::{Incoming, record};
use super::queue::{counter, touch};
use super::schema::set_guard;
use super::values::{read_row, write_row};
use super::{Context, Local, LocalError, TableSpec, rows};
use crate::model::{Cursor, Op, Row};

/// One planned change to one local row.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyOp {
    pub pk: String,
    /// The queue counter the plan saw (`None`: nothing was queued). A
    /// mismatch means the app edited the row since: the page is re-planned.
    pub expect_counter: Option<i64>,
    pub action: Action,
}

/// What to do with one pulled row.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Write the row (None = delete) without capturing it; _ebb_rows =
    /// (version, base); drop the queue item.
    Write {
        row: Option<Row>,
        version: i64,
        base: Option<Row>,
    },
    /// Keep the local edit queued (client wins): only _ebb_rows = (version, base).
    Keep { version: i64, base: Option<Row> },
    /// Write a merged row without capturing it, _ebb_rows = (version, base),
    /// and queue it (pending, new counter) so it is pushed.
    WriteAndPush {
        row: Option<Row>,
        version: i64,
        base: Option<Row>,
    },
    /// Record (or refresh) the unresolved conflict for this pk; the queue
    /// item goes to 'conflict' (created if absent). The local row is left
    /// as it is.
    Conflict {
        local: Option<Row>,
        remote: Option<Row>,
        base: Option<Row>,
        remote_version: i64,
        policy: String,
        reason: String,
    },
}

impl Local {
    /// Applies `ops` to `table` and stores `cursor`, in one transaction.
    /// On `Stale` (or any error) nothing is applied.
    pub fn apply(
        &mut self,
        table: &TableSpec,
        ops: &[ApplyOp],
        cursor: Option<&Cursor>,
        now: i64,
    ) -> Result<(), LocalError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(|| format!("starting to apply pulled rows of {}", table.name))?;
        tx.pragma_update(None, "defer_foreign_keys", true)
            .ctx(|| "deferring foreign keys".into())?;
        set_guard(&tx, true)?;
        for op in ops {
            if counter(&tx, &table.name, &op.pk)? != op.expect_counter {
                return Err(LocalError::Stale {
                    table: table.name.clone(),
                    pk: op.pk.clone(),
                });
            }
            apply_one(&tx, table, op, now)?;
        }
        if let Some(cursor) = cursor {
            tx.execute(
                "INSERT INTO _ebb_cursors (tbl, txid, pk) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tbl) DO UPDATE SET txid = excluded.txid, pk = excluded.pk",
                params![table.name, cursor.txid, cursor.pk],
            )
            .ctx(|| format!("storing the pull cursor of {}", table.name))?;
        }
        set_guard(&tx, false)?;
        tx.commit()
            .ctx(|| format!("committing pulled rows of {}", table.name))
    }
}

fn apply_one(
    conn: &Connection,
    table: &TableSpec,
    op: &ApplyOp,
    now: i64,
) -> Result<(), LocalError> {
    let name = table.name.as_str();
    let pk = op.pk.as_str();
    match &op.action {
        Action::Write { row, version, base } => {
            write_row(conn, name, pk, row.as_ref())?;
            rows::set(conn, name, pk, *version, base.as_ref())?;
            conn.execute(
                "DELETE FROM _ebb_queue WHERE tbl = ?1 AND pk = ?2",
                params![name, pk],
            )
            .ctx(|| format!("dropping a queue item of {name}"))?;
        }
        Action::Keep { version, base } => rows::set(conn, name, pk, *version, base.as_ref())?,
        Action::WriteAndPush { row, version, base } => {
            write_row(conn, name, pk, row.as_ref())?;
            rows::set(conn, name, pk, *version, base.as_ref())?;
            let op = if row.is_some() {
                Op::Upsert
            } else {
                Op::Delete
            };
            touch(conn, name, pk, op, "pending", now)?;
        }
        Action::Conflict {
            local,
            remote,
            base,
            remote_version,
            policy,
            reason,
        } => {
            let incoming = Incoming {
                local: local.as_ref(),
                remote: remote.as_ref(),
                base: base.as_ref(),
                remote_version: *remote_version,
                policy,
                reason,
            };
            record(conn, name, pk, incoming, now)?;
            let changed = conn
                .execute(
                    "UPDATE _ebb_queue SET state = 'conflict', next_attempt_at = NULL
                     WHERE tbl = ?1 AND pk = ?2",
                    params![name, pk],
                )
                .ctx(|| format!("marking a queue item of {name} in conflict"))?;
            if changed == 0 {
                let exists = read_row(conn, name, &table.pk, pk)?.is_some();
                let op = if exists { Op::Upsert } else { Op::Delete };
                touch(conn, name, pk, op, "conflict", now)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
