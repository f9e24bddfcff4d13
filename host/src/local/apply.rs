//! Applying one planned page of pulled rows to the local database.
//!
//! Owns the apply transaction: `BEGIN IMMEDIATE`, foreign keys deferred to
//! commit, the capture guard set (so pulled rows are not queued again) and
//! cleared before commit (so no other connection ever sees it set), every
//! op checked against the queue counter the plan was made with. Decides
//! nothing about who wins: `sync` plans the actions (server wins, keep
//! local, merge, conflict) and this file carries them out.
//!
//! One row never blocks a page (see `hold`): an op that breaks a local
//! constraint, would cascade over unpushed local edits, or leaves a foreign
//! key dangling is rolled back alone (a savepoint per op; a page-level
//! savepoint re-runs the page without the rows found at the deferred
//! foreign key check) and recorded as a held conflict; the rest of the page
//! and the cursor commit. Any other error rolls back the whole page. A page
//! is first tried in bulk, its upserts with no savepoint at all; only when
//! that finds a refused row or a dangling key is its transaction rolled
//! back and the page applied op by op.
//!
//! Applying Write, Keep or WriteAndPush to a row with an open conflict
//! closes that conflict ("superseded", or "retried" for a held one): its
//! stored remote row is stale and must never be written back later.

use super::cached::Cached;
use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{Connection, Transaction, TransactionBehavior, params};

use super::action::{Action, ApplyOp};
use super::conflicts::{Incoming, record};
use super::fk::{Graph, deferred_violation};
use super::hold::{self, Done};
use super::queue::{counter, touch};
use super::schema::set_guard;
use super::values::{Quiet, Writer, read_row};
use super::{Context, Local, LocalError, TableSpec, deferred, keys, rows};
use crate::model::{Cursor, Op};

impl Local {
    /// Applies `ops` to `table` and stores `cursor`, in one transaction.
    /// Rows held back by a local constraint become conflicts (policy
    /// "constraint", see `hold`); the page and cursor still commit. On
    /// `Stale` (or any other error) nothing is applied.
    pub fn apply(
        &mut self,
        table: &TableSpec,
        ops: &[ApplyOp],
        cursor: Option<&Cursor>,
        now: i64,
    ) -> Result<(), LocalError> {
        self.apply_in(table, ops, cursor, false, now)
    }

    /// Applies `ops` planned from every row of `table` set aside earlier
    /// (`Local::deferred`), which they replace: rows set aside again come
    /// back through `Action::Defer`.
    pub fn apply_set_aside(
        &mut self,
        table: &TableSpec,
        ops: &[ApplyOp],
        now: i64,
    ) -> Result<(), LocalError> {
        self.apply_in(table, ops, None, true, now)
    }

    fn apply_in(
        &mut self,
        table: &TableSpec,
        ops: &[ApplyOp],
        cursor: Option<&Cursor>,
        replaces_set_aside: bool,
        now: i64,
    ) -> Result<(), LocalError> {
        if ops.is_empty() {
            return self.move_cursor(table, cursor, replaces_set_aside);
        }
        // Each row at most once per page, so that what the page's start says
        // of the table's queue and conflicts holds for each op (an op only
        // ever touches its own row's).
        let once = ops.iter().map(|o| &o.pk).collect::<BTreeSet<_>>().len() == ops.len();
        if once {
            let tx = self.begin_apply(table, replaces_set_aside)?;
            let graph = Graph::load(&tx)?;
            if bulk_page(&tx, table, ops, &graph, now)? {
                return finish_apply(tx, table, cursor);
            }
            tx.rollback()
                .ctx(|| format!("rolling back a bulk page of {}", table.name))?;
            tracing::debug!(table = %table.name, "a row of the page is refused; applying it row by row");
        }
        let tx = self.begin_apply(table, replaces_set_aside)?;
        let graph = Graph::load(&tx)?;
        apply_page(&tx, table, ops, &graph, once, now)?;
        finish_apply(tx, table, cursor)
    }

    /// A page with nothing to write to the app's tables (rows known
    /// already, often this device's own pushes coming back): its cursor,
    /// in a transaction without the deferred foreign keys and capture
    /// guard of `begin_apply`. Setting `defer_foreign_keys` makes SQLite
    /// expire every compiled statement of the connection, so a round that
    /// set it compiled all its statements again (a sixth of the client's
    /// CPU in a one-edit round).
    fn move_cursor(
        &mut self,
        table: &TableSpec,
        cursor: Option<&Cursor>,
        replaces_set_aside: bool,
    ) -> Result<(), LocalError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(|| format!("starting to store the pull cursor of {}", table.name))?;
        if replaces_set_aside {
            deferred::clear(&tx, &table.name)?;
        }
        store_cursor(&tx, table, cursor)?;
        tx.commit()
            .ctx(|| format!("committing the pull cursor of {}", table.name))
    }

    /// Opens an apply transaction: foreign keys deferred, the capture guard
    /// set, the table's rows set aside earlier dropped if the page replaces
    /// them.
    fn begin_apply(
        &mut self,
        table: &TableSpec,
        replaces_set_aside: bool,
    ) -> Result<Transaction<'_>, LocalError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(|| format!("starting to apply pulled rows of {}", table.name))?;
        tx.pragma_update(None, "defer_foreign_keys", true)
            .ctx(|| "deferring foreign keys".into())?;
        set_guard(&tx, true)?;
        if replaces_set_aside {
            deferred::clear(&tx, &table.name)?;
        }
        Ok(tx)
    }
}

/// Stores `cursor`, clears the capture guard and commits.
fn finish_apply(
    tx: Transaction<'_>,
    table: &TableSpec,
    cursor: Option<&Cursor>,
) -> Result<(), LocalError> {
    store_cursor(&tx, table, cursor)?;
    set_guard(&tx, false)?;
    tx.commit()
        .ctx(|| format!("committing pulled rows of {}", table.name))
}

/// Stores `cursor` as where the pull of `table` goes on from.
fn store_cursor(
    tx: &Transaction<'_>,
    table: &TableSpec,
    cursor: Option<&Cursor>,
) -> Result<(), LocalError> {
    if let Some(cursor) = cursor {
        tx.exec(
            "INSERT INTO _ebb_cursors (tbl, txid, pk) VALUES (?1, ?2, ?3)
             ON CONFLICT (tbl) DO UPDATE SET txid = excluded.txid, pk = excluded.pk",
            params![table.name, cursor.txid, cursor.pk],
        )
        .ctx(|| format!("storing the pull cursor of {}", table.name))?;
    }
    Ok(())
}

/// The first, bulk pass of a page whose rows are each in it once: upserts
/// are written with no savepoint at all (an initial sync is nearly all
/// upserts; a savepoint per row costs as much as the write, and one open
/// over the page makes every statement keep a statement journal whose cost
/// grows with the database: 40% of the client's time at 1M rows). Other ops
/// still run `hold::guarded`, each in its own savepoint.
///
/// Returns false when a row is refused by a local constraint or the
/// deferred foreign key check finds a violation: the caller then rolls the
/// transaction back and applies the page with `apply_page`, which holds
/// the rows at fault alone.
fn bulk_page(
    conn: &Connection,
    table: &TableSpec,
    ops: &[ApplyOp],
    graph: &Graph,
    now: i64,
) -> Result<bool, LocalError> {
    let mut writer = Writer::new(conn, &table.name)?;
    writer.quiet = Quiet::read(conn, &table.name)?;
    let mut done = Done::default();
    for op in ops {
        check_counter(conn, table, &writer, op)?;
        if !hold::is_upsert(&op.action) {
            hold::guarded(conn, table, &writer, op, graph, now, &mut done)?;
            continue;
        }
        match apply_one(conn, table, &writer, &op.pk, &op.action, now) {
            Ok(()) => {}
            Err(e) if hold::constraint(&e).is_some() => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(!deferred_violation(conn))
}

/// Fails with `Stale` when the row's queue counter is no longer the one the
/// plan saw (the app edited it since).
fn check_counter(
    conn: &Connection,
    table: &TableSpec,
    writer: &Writer,
    op: &ApplyOp,
) -> Result<(), LocalError> {
    let now_counter = match writer.quiet.queue {
        true => None,
        false => counter(conn, &table.name, &op.pk)?,
    };
    if now_counter != op.expect_counter {
        return Err(LocalError::Stale {
            table: table.name.clone(),
            pk: op.pk.clone(),
        });
    }
    Ok(())
}

/// Runs the ops of one page inside the caller's transaction (guard set,
/// foreign keys deferred), each in its own savepoint (`hold::guarded`), so
/// a row refused by a local constraint is held alone. When the deferred
/// foreign key check finds rows of this page at fault, the page is rolled
/// back to its savepoint and run again with those rows held; each pass
/// holds at least one more op, so this ends. `once`: each row is in the
/// page at most once (then the table's queue and conflicts are read once,
/// see `Quiet`).
pub(crate) fn apply_page(
    conn: &Connection,
    table: &TableSpec,
    ops: &[ApplyOp],
    graph: &Graph,
    once: bool,
    now: i64,
) -> Result<(), LocalError> {
    let mut writer = Writer::new(conn, &table.name)?;
    let mut held: BTreeMap<String, String> = BTreeMap::new();
    // Read once: every pass starts from the same state (the one before
    // rolled back to the page's savepoint).
    if once {
        writer.quiet = Quiet::read(conn, &table.name)?;
    }
    loop {
        savepoint(conn, "SAVEPOINT ebb_page")?;
        let mut done = Done::default();
        for op in ops {
            check_counter(conn, table, &writer, op)?;
            match held.get(&op.pk) {
                Some(reason) => hold::hold_op(conn, table, &writer, op, reason, now)?,
                None => hold::guarded(conn, table, &writer, op, graph, now, &mut done)?,
            }
        }
        let found = if deferred_violation(conn) {
            hold::at_fault(conn, table, graph, &done)?
        } else {
            Vec::new()
        };
        let new: Vec<(String, String)> = found
            .into_iter()
            .filter(|(pk, _)| !held.contains_key(pk))
            .collect();
        if new.is_empty() {
            return savepoint(conn, "RELEASE ebb_page");
        }
        savepoint(conn, "ROLLBACK TO ebb_page")?;
        savepoint(conn, "RELEASE ebb_page")?;
        held.extend(new);
    }
}

/// Runs a SAVEPOINT / RELEASE / ROLLBACK TO statement (compiled once).
pub(crate) fn savepoint(conn: &Connection, sql: &str) -> Result<(), LocalError> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute([]))
        .ctx(|| format!("running {sql}"))?;
    Ok(())
}

/// Carries out one action (no savepoint, no holding: see `hold::guarded`).
pub(crate) fn apply_one(
    conn: &Connection,
    table: &TableSpec,
    writer: &Writer,
    pk: &str,
    action: &Action,
    now: i64,
) -> Result<(), LocalError> {
    let name = table.name.as_str();
    match action {
        Action::Defer { pulled } => deferred::set_aside(conn, name, pulled)?,
        Action::Adopt {
            global,
            row,
            version,
            pulled,
        } => {
            savepoint(conn, "SAVEPOINT ebb_adopt")?;
            match keys::adopt(conn, table, writer, *global, row) {
                Ok(local) => {
                    rows::set(conn, name, &local.to_string(), *version, Some(row))?;
                    savepoint(conn, "RELEASE ebb_adopt")?;
                }
                // Refused by a local constraint: set aside and tried again
                // next pull, never dropped.
                Err(LocalError::Sqlite { source, .. })
                    if matches!(
                        source.sqlite_error_code(),
                        Some(rusqlite::ErrorCode::ConstraintViolation)
                    ) =>
                {
                    tracing::warn!(table = name, global, error = %source,
                        "a row from another device is refused by a local constraint; set aside");
                    savepoint(conn, "ROLLBACK TO ebb_adopt")?;
                    savepoint(conn, "RELEASE ebb_adopt")?;
                    deferred::set_aside(conn, name, pulled)?;
                }
                Err(e) => return Err(e),
            }
        }
        Action::Write { row, version, base } => {
            writer.write(conn, pk, row.as_ref())?;
            rows::set(conn, name, pk, *version, base.as_ref())?;
            if !writer.quiet.queue {
                conn.prepare_cached("DELETE FROM _ebb_queue WHERE tbl = ?1 AND pk = ?2")
                    .and_then(|mut stmt| stmt.execute(params![name, pk]))
                    .ctx(|| format!("dropping a queue item of {name}"))?;
            }
            supersede(conn, writer, pk, now)?;
        }
        Action::Keep { version, base } => {
            rows::set(conn, name, pk, *version, base.as_ref())?;
            conn.exec(
                "UPDATE _ebb_queue SET state = 'pending', next_attempt_at = NULL
                 WHERE tbl = ?1 AND pk = ?2 AND state = 'conflict'",
                params![name, pk],
            )
            .ctx(|| format!("releasing a queue item of {name} from conflict"))?;
            supersede(conn, writer, pk, now)?;
        }
        Action::WriteAndPush { row, version, base } => {
            writer.write(conn, pk, row.as_ref())?;
            rows::set(conn, name, pk, *version, base.as_ref())?;
            let op = if row.is_some() {
                Op::Upsert
            } else {
                Op::Delete
            };
            touch(conn, name, pk, op, "pending", now)?;
            supersede(conn, writer, pk, now)?;
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
            mark_conflict(conn, table, pk, now)?;
        }
    }
    Ok(())
}

/// Puts the row's queue item in 'conflict' (created if absent, as an
/// upsert or a delete by whether the row exists here). Returns its counter.
pub(crate) fn mark_conflict(
    conn: &Connection,
    table: &TableSpec,
    pk: &str,
    now: i64,
) -> Result<i64, LocalError> {
    let name = table.name.as_str();
    let changed = conn
        .exec(
            "UPDATE _ebb_queue SET state = 'conflict', next_attempt_at = NULL
             WHERE tbl = ?1 AND pk = ?2",
            params![name, pk],
        )
        .ctx(|| format!("marking a queue item of {name} in conflict"))?;
    if changed == 0 {
        let exists = read_row(conn, name, &table.pk, pk)?.is_some();
        let op = if exists { Op::Upsert } else { Op::Delete };
        return touch(conn, name, pk, op, "conflict", now);
    }
    counter(conn, name, pk)?.ok_or_else(|| LocalError::NotFound {
        what: format!("the queue item of {name} {pk}"),
    })
}

/// Closes the open conflict of a row that was just settled another way.
fn supersede(conn: &Connection, writer: &Writer, pk: &str, now: i64) -> Result<(), LocalError> {
    if writer.quiet.conflicts {
        return Ok(());
    }
    let table = writer.table();
    conn.prepare_cached(
        "UPDATE _ebb_conflicts SET resolved_at = ?3,
             resolution = CASE WHEN held_counter IS NULL THEN 'superseded' ELSE 'retried' END
         WHERE tbl = ?1 AND pk = ?2 AND resolved_at IS NULL",
    )
    .and_then(|mut stmt| stmt.execute(params![table, pk, now]))
    .ctx(|| format!("closing a superseded conflict of {table}"))?;
    Ok(())
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
