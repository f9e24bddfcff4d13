//! The rows of a table its capture triggers did not see: those the app
//! wrote before ebb was installed, or while its triggers were gone (a
//! migration that rebuilds a table drops them with it, until the engine
//! notices the schema change and installs them again). Called by
//! `triggers::install` for a table whose capture trigger it creates.

use rusqlite::Connection;

use super::cached::Cached;
use super::{Context, LocalError, quote_ident, quote_literal};

/// Unix milliseconds inside SQL, without application functions.
pub(super) const NOW_MS: &str = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

/// Queues every row of a table that was not captured until now (first
/// install, or re-added after its triggers were dropped, as a migration
/// that rebuilds the table does): rows the app wrote before ebb arrived
/// must reach the server too, and a synced row gone meanwhile is queued
/// as deleted (a mapped table's parked rows, keyed `-global`, and the
/// records of rows already deleted, base NULL, aside).
/// Each gets its own counter from `seq`; rows already queued keep their
/// entry.
pub(super) fn backfill(
    conn: &Connection,
    table: &str,
    pk: &str,
    mapped: bool,
) -> Result<usize, LocalError> {
    let t = quote_ident(table);
    let key = quote_ident(pk);
    let lit = quote_literal(table);
    let parked = if mapped { "AND r.pk NOT GLOB '-*'" } else { "" };
    let gone = conn
        .exec(
            &format!(
                "INSERT INTO _ebb_queue (tbl, pk, op, counter, state, attempts, queued_at)
                 SELECT r.tbl, r.pk, 'delete',
                        (SELECT value FROM _ebb_meta WHERE key = 'seq') + ROW_NUMBER() OVER (),
                        'pending', 0, {NOW_MS}
                 FROM _ebb_rows r WHERE r.tbl = {lit} {parked}
                   AND NOT (r.base IS NULL AND r.base_kind = 0)
                   AND NOT EXISTS (SELECT 1 FROM {t} WHERE {t}.{key} = r.pk)
                 ON CONFLICT (tbl, pk) DO NOTHING"
            ),
            [],
        )
        .ctx(|| format!("queueing the deletes of {table} made while not captured"))?;
    conn.exec(
        "UPDATE _ebb_meta SET value = value + ?1 WHERE key = 'seq'",
        [gone as i64],
    )
    .ctx(|| format!("advancing the change counter past {table}'s deletes"))?;
    let queued = conn
        .exec(
            &format!(
                "INSERT INTO _ebb_queue (tbl, pk, op, counter, state, attempts, queued_at)
                 SELECT {lit}, CAST({key} AS TEXT), 'upsert',
                        (SELECT value FROM _ebb_meta WHERE key = 'seq') + ROW_NUMBER() OVER (),
                        'pending', 0, {NOW_MS}
                 FROM {t} WHERE {key} IS NOT NULL
                 ON CONFLICT (tbl, pk) DO NOTHING"
            ),
            [],
        )
        .ctx(|| format!("queueing the existing rows of {table}"))?;
    conn.exec(
        &format!(
            "UPDATE _ebb_meta SET value = value + (SELECT count(*) FROM {t}) WHERE key = 'seq'"
        ),
        [],
    )
    .ctx(|| format!("advancing the change counter past {table}'s rows"))?;
    Ok(queued + gone)
}
