//! Carrying out one planned action on one local row (`apply_one`), with
//! no savepoint and no holding of its own: `apply` runs it over a page,
//! `hold::guarded` inside a savepoint that holds a refused row alone.

use rusqlite::{Connection, params};

use super::action::Action;
use super::cached::Cached;
use super::conflicts::{Incoming, record};
use super::queue::{counter, touch};
use super::values::{Writer, read_row};
use super::{Context, LocalError, TableSpec, deferred, keys, park, rows};
use crate::model::Op;

/// Runs a SAVEPOINT / RELEASE / ROLLBACK TO statement (compiled once).
pub(crate) fn savepoint(conn: &Connection, sql: &str) -> Result<(), LocalError> {
    conn.exec(sql, []).ctx(|| format!("running {sql}"))?;
    Ok(())
}

/// A row from another device, new here, written under a fresh local id
/// with its sync state (no savepoint: a local constraint's refusal is the
/// caller's to handle).
pub(crate) fn adopt(
    conn: &Connection,
    table: &TableSpec,
    writer: &Writer,
    global: i64,
    row: &crate::model::Row,
    version: i64,
) -> Result<(), LocalError> {
    let local = keys::adopt(conn, table, writer, global, row)?;
    rows::set(conn, &table.name, &local.to_string(), version, Some(row))
}

/// `park::unpark` of a row to write (none for a delete).
fn unparked(
    conn: &Connection,
    writer: &Writer,
    pk: &str,
    row: Option<&crate::model::Row>,
) -> Result<Option<(String, crate::model::Row)>, LocalError> {
    match row {
        Some(row) => park::unpark(conn, writer, pk, row),
        None => Ok(None),
    }
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
            match adopt(conn, table, writer, *global, row, *version) {
                Ok(()) => savepoint(conn, "RELEASE ebb_adopt")?,
                // Refused by a local constraint, or skipped by an app
                // trigger's RAISE(IGNORE): set aside and tried again next
                // pull, never dropped.
                Err(e) if super::hold::constraint(&e).is_some() => {
                    tracing::warn!(table = name, global, error = %e,
                        "a row from another device is refused by a local constraint; set aside");
                    savepoint(conn, "ROLLBACK TO ebb_adopt")?;
                    savepoint(conn, "RELEASE ebb_adopt")?;
                    deferred::set_aside(conn, name, pulled)?;
                }
                Err(e) => return Err(e),
            }
        }
        Action::Write { row, version } => {
            let unparked = unparked(conn, writer, pk, row.as_ref())?;
            let (pk, row) = unparked
                .as_ref()
                .map_or((pk, row.as_ref()), |(pk, row)| (pk.as_str(), Some(row)));
            writer.write(conn, pk, row)?;
            match row {
                // Written whole, and the app's queued edit (if any) is
                // dropped just below: the row as stored is the base.
                Some(whole) if unparked.is_none() && whole.len() == writer.column_count() => {
                    rows::agreed_here(conn, name, pk, *version)?
                }
                _ => rows::agreed(conn, name, pk, *version, row)?,
            }
            if !writer.quiet.queue {
                conn.exec(
                    "DELETE FROM _ebb_queue WHERE tbl = ?1 AND pk = ?2",
                    params![name, pk],
                )
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
            let unparked = unparked(conn, writer, pk, row.as_ref())?;
            let (pk, row) = unparked
                .as_ref()
                .map_or((pk, row.as_ref()), |(pk, row)| (pk.as_str(), Some(row)));
            writer.write(conn, pk, row)?;
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
    conn.exec(
        "UPDATE _ebb_conflicts SET resolved_at = ?3,
             resolution = CASE WHEN held_counter IS NULL THEN 'superseded' ELSE 'retried' END
         WHERE tbl = ?1 AND pk = ?2 AND resolved_at IS NULL",
        params![table, pk, now],
    )
    .ctx(|| format!("closing a superseded conflict of {table}"))?;
    Ok(())
}
