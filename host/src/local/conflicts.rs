//! `_ebb_conflicts`: manual conflicts waiting for a person, and settling them.
//!
//! Owns recording (at most one unresolved conflict per row; a newer remote
//! version refreshes it), listing, `resolve_conflict`, which writes the
//! chosen content under the capture guard, fixes `_ebb_rows` and the queue,
//! and marks the conflict resolved, all in one transaction, and
//! `prune_conflicts`, which deletes settled ones past their retention.
//! Decides nothing about which side wins: `sync` (policies) and `cli`
//! (`ebb conflicts resolve`) do.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use super::cached::Cached;
use super::queue::touch;
use super::schema::set_guard;
use super::values::{key_column, parse_row, read_row, row_text, write_row};
use super::{Context, Local, LocalError, inspect, millis, rows};
use crate::model::{Op, Row};

/// One conflict, open or resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConflictRecord {
    pub id: i64,
    pub table: String,
    pub pk: String,
    pub local: Option<Row>,
    pub remote: Option<Row>,
    pub base: Option<Row>,
    pub remote_version: i64,
    pub policy: String,
    pub reason: String,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
    /// "local", "remote", "row" (settled by a person), "superseded" (the
    /// row was settled by a later pull or push), "retried" (a held row
    /// went through once its constraint cleared).
    pub resolution: Option<String>,
    /// Held back by a local constraint (policy "constraint") with nothing
    /// of the app's at stake: `Local::retry_held` applies it once the
    /// constraint clears, unless the app edits the row first.
    pub held: bool,
}

/// How a person settles a conflict.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    /// Keep the local row and push it over the remote one.
    Local,
    /// Take the remote row (or its deletion).
    Remote,
    /// Write this row and push it.
    Row(Row),
}

/// A conflict to record (see `Action::Conflict`, [`Local::record_decision`]).
pub struct Incoming<'a> {
    pub local: Option<&'a Row>,
    pub remote: Option<&'a Row>,
    pub base: Option<&'a Row>,
    pub remote_version: i64,
    pub policy: &'a str,
    pub reason: &'a str,
}

const COLUMNS: &str = "id, tbl, pk, local, remote, base, remote_version, policy, reason, \
                       created_at, resolved_at, resolution, held_counter IS NOT NULL";

fn record_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<(ConflictRecord, [Option<String>; 3])> {
    let texts = [r.get(3)?, r.get(4)?, r.get(5)?];
    Ok((
        ConflictRecord {
            id: r.get(0)?,
            table: r.get(1)?,
            pk: r.get(2)?,
            local: None,
            remote: None,
            base: None,
            remote_version: r.get(6)?,
            policy: r.get(7)?,
            reason: r.get(8)?,
            created_at: r.get(9)?,
            resolved_at: r.get(10)?,
            resolution: r.get(11)?,
            held: r.get(12)?,
        },
        texts,
    ))
}

fn parse(found: (ConflictRecord, [Option<String>; 3])) -> Result<ConflictRecord, LocalError> {
    let (mut record, [local, remote, base]) = found;
    let what = |side: &str| format!("_ebb_conflicts {} {side} row", record.id);
    record.local = parse_row(local, &what("local"))?;
    record.remote = parse_row(remote, &what("remote"))?;
    record.base = parse_row(base, &what("base"))?;
    Ok(record)
}

impl Local {
    /// Keeps a conflict that the table's policy settled on its own as
    /// settled history, `decision` being the policy's answer ("take-local",
    /// "take-remote", "merged {row}"): `ebb policy replay` runs recorded
    /// conflicts through a plugin again and compares its answers.
    /// `overwrote` names the side whose write it discarded (`local`,
    /// `remote`, `both`), counted by status over the last 24 hours.
    pub fn record_decision(
        &mut self,
        table: &str,
        pk: &str,
        facts: Incoming<'_>,
        decision: &str,
        overwrote: Option<&str>,
        now: i64,
    ) -> Result<(), LocalError> {
        let [local, remote, base] = [facts.local, facts.remote, facts.base].map(row_text);
        self.conn
            .exec(
                "INSERT INTO _ebb_conflicts (tbl, pk, local, remote, base, remote_version, policy,
                     reason, created_at, resolved_at, resolution, overwrote)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11)",
                params![
                    table,
                    pk,
                    local,
                    remote,
                    base,
                    facts.remote_version,
                    facts.policy,
                    facts.reason,
                    now,
                    decision,
                    overwrote
                ],
            )
            .ctx(|| format!("recording a settled conflict of {table}"))?;
        Ok(())
    }
}

/// Records a conflict, or refreshes the open one for the same row (which
/// is then no longer held: `hold` marks held ones after recording).
pub(crate) fn record(
    conn: &Connection,
    table: &str,
    pk: &str,
    new: Incoming<'_>,
    now: i64,
) -> Result<(), LocalError> {
    let [local, remote, base] = [new.local, new.remote, new.base].map(row_text);
    let updated = conn
        .exec(
            "UPDATE _ebb_conflicts SET local = ?3, remote = ?4, base = ?5, remote_version = ?6,
                 policy = ?7, reason = ?8, held_counter = NULL
             WHERE tbl = ?1 AND pk = ?2 AND resolved_at IS NULL",
            params![
                table,
                pk,
                local,
                remote,
                base,
                new.remote_version,
                new.policy,
                new.reason
            ],
        )
        .ctx(|| format!("refreshing a conflict of {table}"))?;
    if updated == 0 {
        conn.exec(
            "INSERT INTO _ebb_conflicts (tbl, pk, local, remote, base, remote_version, policy,
                 reason, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                table,
                pk,
                local,
                remote,
                base,
                new.remote_version,
                new.policy,
                new.reason,
                now
            ],
        )
        .ctx(|| format!("recording a conflict of {table}"))?;
    }
    Ok(())
}

fn get(conn: &Connection, id: i64) -> Result<ConflictRecord, LocalError> {
    let found = conn
        .row(
            &format!("SELECT {COLUMNS} FROM _ebb_conflicts WHERE id = ?1"),
            [id],
            record_of,
        )
        .optional()
        .ctx(|| format!("reading conflict {id}"))?;
    match found {
        Some(found) => parse(found),
        None => Err(LocalError::NotFound {
            what: format!("conflict {id}"),
        }),
    }
}

impl Local {
    /// Open conflicts (and resolved ones too when asked), oldest first.
    pub fn conflicts(&self, include_resolved: bool) -> Result<Vec<ConflictRecord>, LocalError> {
        let filter = if include_resolved {
            "1"
        } else {
            "resolved_at IS NULL"
        };
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM _ebb_conflicts WHERE {filter} ORDER BY id"
            ))
            .ctx(|| "listing conflicts".into())?;
        let found = stmt
            .query_map([], record_of)
            .ctx(|| "listing conflicts".into())?
            .collect::<Result<Vec<_>, _>>()
            .ctx(|| "listing conflicts".into())?;
        found.into_iter().map(parse).collect()
    }

    /// One conflict by id.
    pub fn conflict(&self, id: i64) -> Result<ConflictRecord, LocalError> {
        get(&self.conn, id)
    }

    /// Settles an open conflict (see [`Choice`]) and marks it resolved
    /// with "local", "remote" or "row". One transaction. Refused with
    /// `NotInConflict` when the row's queue item is no longer in
    /// 'conflict' (the row was settled another way since: writing the
    /// recorded remote row now would bring back stale data).
    pub fn resolve_conflict(
        &mut self,
        id: i64,
        choice: Choice,
        now: i64,
    ) -> Result<(), LocalError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(|| format!("starting to resolve conflict {id}"))?;
        let record = get(&tx, id)?;
        if record.resolved_at.is_some() {
            return Err(LocalError::NotFound {
                what: format!("open conflict {id} (it is already resolved)"),
            });
        }
        let state: Option<String> = tx
            .row(
                "SELECT state FROM _ebb_queue WHERE tbl = ?1 AND pk = ?2",
                params![record.table, record.pk],
                |r| r.get(0),
            )
            .optional()
            .ctx(|| format!("reading the queue item of conflict {id}"))?;
        if state.as_deref() != Some("conflict") {
            return Err(LocalError::NotInConflict {
                id,
                table: record.table,
                pk: record.pk,
                state,
            });
        }
        tx.pragma_update(None, "defer_foreign_keys", true)
            .ctx(|| "deferring foreign keys".into())?;
        let (table, pk) = (record.table.as_str(), record.pk.as_str());
        set_guard(&tx, Some(table))?;
        let remote = record.remote.as_ref();
        rows::set(&tx, table, pk, record.remote_version, remote)?;
        let resolution = match choice {
            Choice::Local => {
                let pk_col = key_column(&inspect::describe_conn(&tx, table)?)?;
                let exists = read_row(&tx, table, &pk_col, pk)?.is_some();
                let op = if exists { Op::Upsert } else { Op::Delete };
                touch(&tx, table, pk, op, "pending", now)?;
                "local"
            }
            Choice::Remote => {
                write_row(&tx, table, pk, remote)?;
                tx.exec(
                    "DELETE FROM _ebb_queue WHERE tbl = ?1 AND pk = ?2",
                    params![table, pk],
                )
                .ctx(|| format!("dropping a queue item of {table}"))?;
                "remote"
            }
            Choice::Row(row) => {
                write_row(&tx, table, pk, Some(&row))?;
                touch(&tx, table, pk, Op::Upsert, "pending", now)?;
                "row"
            }
        };
        tx.exec(
            "UPDATE _ebb_conflicts SET resolved_at = ?2, resolution = ?3 WHERE id = ?1",
            params![id, now, resolution],
        )
        .ctx(|| format!("marking conflict {id} resolved"))?;
        set_guard(&tx, None)?;
        tx.commit()
            .ctx(|| format!("committing the resolution of conflict {id}"))
    }
}

/// Settled conflicts deleted per statement by `prune_conflicts`, so the
/// write lock is never held for long even when years of history go at once.
const PRUNE_BATCH: i64 = 500;

impl Local {
    /// Deletes settled conflicts (any resolution: "local", "remote", "row",
    /// "superseded", "retried" or a policy's decision) resolved more than
    /// `keep` before `now`; `None` keeps them forever and deletes nothing.
    /// Open conflicts, held ones included, are never deleted. Deletes in
    /// short statements of [`PRUNE_BATCH`] rows; returns how many went.
    /// `sync` calls it once per round with `sync.keep_resolved_conflicts`;
    /// a round with nothing to delete (nearly every one) makes one read,
    /// not a write transaction.
    pub fn prune_conflicts(
        &mut self,
        keep: Option<Duration>,
        now: i64,
    ) -> Result<usize, LocalError> {
        let Some(keep) = keep else {
            return Ok(0);
        };
        let cutoff = now.saturating_sub(millis(keep));
        let due: bool = self
            .conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM _ebb_conflicts
                                WHERE resolved_at IS NOT NULL AND resolved_at < ?1)",
            )
            .and_then(|mut stmt| stmt.query_row(params![cutoff], |r| r.get(0)))
            .ctx(|| "looking for settled conflicts past their retention".into())?;
        if !due {
            return Ok(0);
        }
        let mut deleted = 0;
        loop {
            let n = self
                .conn
                .exec(
                    "DELETE FROM _ebb_conflicts WHERE id IN (
                         SELECT id FROM _ebb_conflicts
                         WHERE resolved_at IS NOT NULL AND resolved_at < ?1
                           -- Ids are rowids: removing the highest would let
                           -- the next conflict reuse an id an alert named.
                           AND id < (SELECT max(id) FROM _ebb_conflicts)
                         LIMIT ?2)",
                    params![cutoff, PRUNE_BATCH],
                )
                .ctx(|| "deleting settled conflicts past their retention".into())?;
            deleted += n;
            if (n as i64) < PRUNE_BATCH {
                return Ok(deleted);
            }
        }
    }
}

#[cfg(test)]
#[path = "conflicts_tests.rs"]
mod tests;
