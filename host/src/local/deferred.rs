//! `_ebb_deferred`: pulled rows set aside while this device's own change
//! of the same row is in doubt (sent, answer lost; see `sent`).
//!
//! Merging such a row on pull would start from a base that may miss this
//! device's own applied write, and count a counter edit twice. It waits
//! instead: the row's next push gets the server's verdict (applied, or a
//! conflict naming the lost write), and the next pull of the table plans
//! the set-aside row again against what the device then knows. Only the
//! newest version of a row is kept, in the server's form (global keys), so
//! it is planned again exactly as a fresh pull would be. Rows pointing at
//! a parent not pulled yet (`keys`) wait here too. The next pull of the
//! table replans them all (`Local::apply_set_aside` clears them first).
//!
//! Written and trimmed inside `apply`'s transaction (with the cursor that
//! moved past the row), read by `sync::pull` through `Local::deferred`.

use rusqlite::{Connection, params};

use super::cached::Cached;
use super::values::{parse_row, row_text};
use super::{Context, Local, LocalError};
use crate::model::PulledRow;

impl Local {
    /// The pulled rows of `table` set aside, oldest first.
    pub fn deferred(&self, table: &str) -> Result<Vec<PulledRow>, LocalError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT pk, version, txid, origin, row, deleted FROM _ebb_deferred
                 WHERE tbl = ?1 ORDER BY version, pk",
            )
            .ctx(|| format!("reading set-aside rows of {table}"))?;
        let found = stmt
            .query_map([table], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, bool>(5)?,
                ))
            })
            .ctx(|| format!("reading set-aside rows of {table}"))?;
        let mut rows = Vec::new();
        for item in found {
            let (pk, version, txid, origin, row, deleted) =
                item.ctx(|| format!("reading set-aside rows of {table}"))?;
            let row = parse_row(row, &format!("_ebb_deferred row of {table} {pk}"))?;
            rows.push(PulledRow {
                pk,
                version,
                txid,
                deleted,
                origin,
                row,
            });
        }
        Ok(rows)
    }

    /// The tables with pulled rows set aside (one query a round, where
    /// asking each table was one each).
    pub fn deferred_tables(&self) -> Result<std::collections::BTreeSet<String>, LocalError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT DISTINCT tbl FROM _ebb_deferred")
            .ctx(|| "finding set-aside rows".into())?;
        let tables = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .ctx(|| "finding set-aside rows".into())?;
        tables
            .collect::<Result<_, _>>()
            .ctx(|| "finding set-aside rows".into())
    }

    /// How many pulled rows are set aside, in every table.
    pub fn deferred_count(&self) -> Result<u64, LocalError> {
        self.conn
            .row("SELECT count(*) FROM _ebb_deferred", [], |r| r.get(0))
            .ctx(|| "counting set-aside rows".into())
    }
}

/// Sets a pulled row aside, as the server sent it (the newest version of
/// it wins).
pub(crate) fn set_aside(
    conn: &Connection,
    table: &str,
    pulled: &PulledRow,
) -> Result<(), LocalError> {
    conn.prepare_cached(
        "INSERT INTO _ebb_deferred (tbl, pk, version, txid, origin, row, deleted)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (tbl, pk) DO UPDATE SET version = excluded.version, txid = excluded.txid,
             origin = excluded.origin, row = excluded.row, deleted = excluded.deleted
         WHERE excluded.version >= _ebb_deferred.version",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            table,
            pulled.pk,
            pulled.version,
            pulled.txid,
            pulled.origin,
            row_text(pulled.row.as_ref()),
            pulled.deleted
        ])
    })
    .ctx(|| format!("setting a pulled row of {table} aside"))?;
    Ok(())
}

/// Drops every row of `table` set aside (they are being planned again).
pub(crate) fn clear(conn: &Connection, table: &str) -> Result<(), LocalError> {
    conn.prepare_cached("DELETE FROM _ebb_deferred WHERE tbl = ?1")
        .and_then(|mut stmt| stmt.execute([table]))
        .ctx(|| format!("dropping set-aside rows of {table}"))?;
    Ok(())
}
