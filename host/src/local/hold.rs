//! Holding back one pulled row instead of failing its page: the local
//! schema refuses it, or applying it would erase unpushed local edits.
//!
//! What is held, and why it is safe (nothing lost, sync never stalls):
//!
//! - A write that breaks a UNIQUE, CHECK, NOT NULL, datatype or immediate
//!   (RESTRICT) foreign key constraint, or an app trigger's RAISE: the op
//!   is rolled back to its savepoint; the local row stays as it was.
//! - A remote delete whose ON DELETE CASCADE would remove child rows that
//!   have queued, unpushed edits: the parent is not deleted (deleting it
//!   first and recording the children afterwards would leave their edits
//!   only in a conflict record, and pushing them would then recreate
//!   orphans on the server). The children's edits stay queued.
//! - A row left at fault by the deferred foreign key check: a child whose
//!   parent is not here (not pulled yet: pages arrive table by table, or
//!   deleted on this device), or a remote delete of a parent that local
//!   rows still reference without a cascade. The page is re-run without it.
//!
//! A held row becomes an open conflict with policy "constraint" (local
//! row, remote row, the base before the op, remote version, and a reason
//! naming the constraint), its queue item goes to 'conflict', and
//! `_ebb_rows` keeps the old version, so a person (or the retry below)
//! settles it like any conflict; the cursor moves on.
//!
//! When nothing of the app's was queued for the row, the conflict is
//! "retryable": `held_counter` keeps the queue counter. `Local::retry_held`
//! (and a newer pulled version of that row) then applies the remote side
//! again (see `retry`) as long as the app has not edited the row since; once it goes
//! through, the conflict closes as "retried". A parent that arrives late,
//! or children whose deletes arrive in the next table's pages, so clear on
//! their own.

use std::borrow::Cow;
use std::collections::BTreeSet;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use super::action::{Action, ApplyOp};
use super::apply_one::{apply_one, mark_conflict, savepoint};
use super::cached::Cached;
use super::conflicts::{Incoming, record};
use super::fk::{ForeignKey, Graph, orphan, parent_key, referenced};
use super::values::{Writer, key_column, read_row};
use super::{Context, LocalError, TableSpec, inspect, quote_ident, rows};
use crate::model::Row;

/// The policy name of held conflicts.
pub const HELD_POLICY: &str = "constraint";

/// The key values a deleted row held for each foreign key referencing it.
type Refs = Vec<(ForeignKey, Vec<SqlValue>)>;

/// What one pass of a page applied, for the deferred foreign key check.
#[derive(Default)]
pub(crate) struct Done {
    pub(crate) upserted: Vec<String>,
    /// Deleted rows: pk, what referenced it, and whether the table
    /// cascades anywhere.
    deleted: Vec<(String, Refs, bool)>,
}

/// Applies one op under its own savepoint, holding it when it is refused
/// (see the module doc). Errors other than constraints are returned.
pub(crate) fn guarded(
    conn: &Connection,
    table: &TableSpec,
    writer: &Writer,
    op: &ApplyOp,
    graph: &Graph,
    now: i64,
    done: &mut Done,
) -> Result<(), LocalError> {
    let pk = op.pk.as_str();
    let action = retry_if_held(conn, &table.name, op)?;
    let (row, version, remote) = match action.as_ref() {
        Action::Write { row, version } => (row, *version, row),
        Action::WriteAndPush { row, version, base } => (row, *version, base),
        other => return apply_one(conn, table, writer, pk, other, now),
    };
    let mut refs = Vec::new();
    let mut protect = Vec::new();
    let reach = graph.cascade_reach(&table.name);
    if row.is_none() {
        for key in graph.incoming(&table.name) {
            if let Some(values) = parent_key(conn, key, &table.pk, pk)? {
                refs.push((key.clone(), values));
            }
        }
        if !refs.is_empty() {
            protect = queued_rows(conn, &reach, &table.name, pk)?;
        }
    }
    savepoint(conn, "SAVEPOINT ebb_op")?;
    let refused = match apply_one(conn, table, writer, pk, action.as_ref(), now) {
        Ok(()) => {
            let lost = vanished(conn, &protect)?;
            (!lost.is_empty()).then(|| {
                let more = match lost.len() {
                    0..=5 => String::new(),
                    n => format!(" and {} more", n - 5),
                };
                format!(
                    "not deleted: its ON DELETE CASCADE would erase unpushed local edits of {}{more}",
                    lost[..lost.len().min(5)].join(", ")
                )
            })
        }
        Err(e) => match constraint(&e) {
            Some(message) => Some(format!("refused by a local constraint: {message}")),
            None => return Err(e),
        },
    };
    if let Some(reason) = refused {
        savepoint(conn, "ROLLBACK TO ebb_op")?;
        savepoint(conn, "RELEASE ebb_op")?;
        return hold(conn, table, op, remote.as_ref(), version, &reason, now);
    }
    savepoint(conn, "RELEASE ebb_op")?;
    match row {
        Some(_) => done.upserted.push(op.pk.clone()),
        None => {
            let cascades = !refs.is_empty() && !reach.is_empty();
            done.deleted.push((op.pk.clone(), refs, cascades));
        }
    }
    Ok(())
}

/// Holds an op found at fault by the deferred foreign key check.
pub(crate) fn hold_op(
    conn: &Connection,
    table: &TableSpec,
    writer: &Writer,
    op: &ApplyOp,
    reason: &str,
    now: i64,
) -> Result<(), LocalError> {
    match retry_if_held(conn, &table.name, op)?.as_ref() {
        Action::Write { version, row: base } | Action::WriteAndPush { version, base, .. } => {
            hold(conn, table, op, base.as_ref(), *version, reason, now)
        }
        other => apply_one(conn, table, writer, &op.pk, other, now),
    }
}

/// The rows of this pass that the deferred foreign key check blames, with
/// why: children whose parent is missing, deletes still referenced. When
/// a violation is outstanding but neither is found (a cascade reached a
/// table whose own children do not cascade), every delete that cascaded is
/// blamed.
pub(crate) fn at_fault(
    conn: &Connection,
    table: &TableSpec,
    graph: &Graph,
    done: &Done,
) -> Result<Vec<(String, String)>, LocalError> {
    let mut found = Vec::new();
    for pk in &done.upserted {
        for key in graph.outgoing(&table.name) {
            if orphan(conn, key, &table.pk, pk)? {
                found.push((
                    pk.clone(),
                    format!(
                        "held: its parent row in \"{}\" is not here (not pulled yet, or deleted \
                         on this device); retried later",
                        key.parent
                    ),
                ));
                break;
            }
        }
    }
    for (pk, refs, _) in &done.deleted {
        for (key, values) in refs {
            if referenced(conn, key, values)? {
                found.push((
                    pk.clone(),
                    format!(
                        "not deleted: rows of \"{}\" here still reference it (no ON DELETE \
                         CASCADE); retried later",
                        key.child
                    ),
                ));
                break;
            }
        }
    }
    if found.is_empty() {
        for (pk, _, cascades) in &done.deleted {
            if *cascades {
                found.push((
                    pk.clone(),
                    "not deleted: its cascade would leave rows here referencing deleted rows"
                        .to_string(),
                ));
            }
        }
    }
    Ok(found)
}

/// A Conflict action for a held row the app has not edited since: apply
/// the remote side again instead of turning it into a manual conflict.
fn retry_if_held<'a>(
    conn: &Connection,
    table: &str,
    op: &'a ApplyOp,
) -> Result<Cow<'a, Action>, LocalError> {
    if let Action::Conflict {
        remote,
        remote_version,
        ..
    } = &op.action
        && op.expect_counter.is_some()
        && held_counter(conn, table, &op.pk)? == op.expect_counter
    {
        return Ok(Cow::Owned(Action::Write {
            row: remote.clone(),
            version: *remote_version,
        }));
    }
    Ok(Cow::Borrowed(&op.action))
}

/// The counter kept on the row's open held conflict, if any.
fn held_counter(conn: &Connection, table: &str, pk: &str) -> Result<Option<i64>, LocalError> {
    let found: Option<Option<i64>> = conn
        .row(
            "SELECT held_counter FROM _ebb_conflicts
             WHERE tbl = ?1 AND pk = ?2 AND resolved_at IS NULL",
            params![table, pk],
            |r| r.get(0),
        )
        .optional()
        .ctx(|| format!("reading a conflict of {table}"))?;
    Ok(found.flatten())
}

/// Records a held op as an open conflict (policy "constraint") and puts
/// its queue item in 'conflict'. Retryable when nothing of the app's was
/// queued for the row (or it was already held and not edited since).
fn hold(
    conn: &Connection,
    table: &TableSpec,
    op: &ApplyOp,
    remote: Option<&Row>,
    version: i64,
    reason: &str,
    now: i64,
) -> Result<(), LocalError> {
    let (name, pk) = (table.name.as_str(), op.pk.as_str());
    let retryable = match op.expect_counter {
        None => true,
        Some(c) => held_counter(conn, name, pk)? == Some(c),
    };
    let local = read_row(conn, name, &table.pk, pk)?;
    let base = rows::get(conn, name, pk)?.and_then(|s| s.base);
    let incoming = Incoming {
        local: local.as_ref(),
        remote,
        base: base.as_ref(),
        remote_version: version,
        policy: HELD_POLICY,
        reason,
    };
    record(conn, name, pk, incoming, now)?;
    let counter = mark_conflict(conn, table, pk, now)?;
    conn.exec(
        "UPDATE _ebb_conflicts SET held_counter = ?3
         WHERE tbl = ?1 AND pk = ?2 AND resolved_at IS NULL",
        params![name, pk, retryable.then_some(counter)],
    )
    .ctx(|| format!("recording a held row of {name}"))?;
    tracing::warn!(table = %name, pk = %pk, %reason, "pulled row held as a conflict");
    Ok(())
}

/// Whether `action` writes a row (an upsert): the ops the first, bulk
/// pass of a page applies without a savepoint each (see `bulk_page`).
/// Only deletes need the cascade checks of `guarded`, and only conflicts
/// the held-row retry.
pub(crate) fn is_upsert(action: &Action) -> bool {
    matches!(
        action,
        Action::Write { row: Some(_), .. } | Action::WriteAndPush { row: Some(_), .. }
    )
}

/// The SQLite message of a constraint or datatype error, or the error of
/// a write an app trigger skipped (`LocalError::Ignored`); `None` for any
/// other error.
pub(crate) fn constraint(err: &LocalError) -> Option<String> {
    if let LocalError::Ignored { .. } = err {
        return Some(err.to_string());
    }
    let LocalError::Sqlite {
        source: rusqlite::Error::SqliteFailure(e, message),
        ..
    } = err
    else {
        return None;
    };
    matches!(
        e.code,
        ErrorCode::ConstraintViolation | ErrorCode::TypeMismatch
    )
    .then(|| message.clone().unwrap_or_else(|| e.to_string()))
}

/// Queued upserts in the cascade's reach whose rows exist now (except the
/// row being deleted): (table, key column, pk).
fn queued_rows(
    conn: &Connection,
    reach: &BTreeSet<String>,
    table: &str,
    pk: &str,
) -> Result<Vec<(String, String, String)>, LocalError> {
    let mut found = Vec::new();
    for child in reach {
        let mut stmt = conn
            .prepare_cached("SELECT pk FROM _ebb_queue WHERE tbl = ?1 AND op = 'upsert'")
            .ctx(|| format!("reading queued edits of {child}"))?;
        let pks: Vec<String> = stmt
            .query_map([child], |r| r.get(0))
            .ctx(|| format!("reading queued edits of {child}"))?
            .collect::<Result<_, _>>()
            .ctx(|| format!("reading queued edits of {child}"))?;
        if pks.is_empty() {
            continue;
        }
        let key = key_column(&inspect::describe_conn(conn, child)?)?;
        for queued in pks {
            if (child.as_str(), queued.as_str()) != (table, pk)
                && exists(conn, child, &key, &queued)?
            {
                found.push((child.clone(), key.clone(), queued));
            }
        }
    }
    Ok(found)
}

/// Which of `rows` no longer exist, as "table pk".
fn vanished(
    conn: &Connection,
    rows: &[(String, String, String)],
) -> Result<Vec<String>, LocalError> {
    let mut lost = Vec::new();
    for (table, key, pk) in rows {
        if !exists(conn, table, key, pk)? {
            lost.push(format!("{table} {pk}"));
        }
    }
    Ok(lost)
}

fn exists(conn: &Connection, table: &str, key: &str, pk: &str) -> Result<bool, LocalError> {
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM {} WHERE {} = ?1)",
        quote_ident(table),
        quote_ident(key)
    );
    conn.row(&sql, [pk], |r| r.get(0))
        .ctx(|| format!("looking up a row of {table}"))
}

#[cfg(test)]
#[path = "hold_tests.rs"]
mod tests;
