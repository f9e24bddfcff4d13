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

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{Connection, Transaction, TransactionBehavior, params};

use super::action::ApplyOp;
use super::apply_one::{apply_one, savepoint};
use super::cached::Cached;
use super::fk::{Graph, deferred_violation};
use super::hold::{self, Done};
use super::queue::counter;
use super::runs::Run;
use super::schema::set_guard;
use super::values::{Quiet, Writer};
use super::{Context, Local, LocalError, TableSpec, deferred};
use crate::model::Cursor;

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
        set_guard(&tx, Some(&table.name))?;
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
    set_guard(&tx, None)?;
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
    // An initial sync's rows, written many to a statement (see `runs`).
    let mut run = Run::default();
    for op in ops {
        check_counter(conn, table, &writer, op)?;
        if Run::takes(&writer, op) {
            if refused(run.add(conn, &writer, op))? {
                return Ok(false);
            }
            continue;
        }
        // In the page's order: the run gathered before this op first.
        if refused(run.flush(conn, &writer))? {
            return Ok(false);
        }
        if !hold::is_upsert(&op.action) {
            hold::guarded(conn, table, &writer, op, graph, now, &mut done)?;
        } else if refused(apply_one(conn, table, &writer, &op.pk, &op.action, now))? {
            return Ok(false);
        }
    }
    Ok(!refused(run.flush(conn, &writer))? && !deferred_violation(conn))
}

/// Whether a write of the bulk pass was refused by a local constraint
/// (the page then goes row by row); any other error is the page's.
fn refused(written: Result<(), LocalError>) -> Result<bool, LocalError> {
    match written {
        Ok(()) => Ok(false),
        Err(e) if hold::constraint(&e).is_some() => Ok(true),
        Err(e) => Err(e),
    }
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

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
