//! `_ebb_rows`: per row, the last remote version seen and the content both
//! sides agreed on (the base of a three-way merge); and reading app rows.
//!
//! Called by `settle`, `apply`, `conflicts` (`queue`'s claim reads base
//! versions from `_ebb_rows` in its own query), and by `sync` through
//! `Local::row_state` / `Local::read_row`.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::cached::Cached;
use super::statements::value_rows;
use super::stored::StoredRows;
use super::values::{read_row, row_text};
use super::{Context, Local, LocalError, TableSpec, base, park};
use crate::model::Row;

/// What ebb last agreed with the server about one row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowState {
    /// The remote version last seen (pushed or pulled).
    pub version: i64,
    /// The row at that version; `None` when it was deleted.
    pub base: Option<Row>,
}

impl Local {
    /// The version and base of one row, `None` for a row never synced.
    pub fn row_state(&self, table: &str, pk: &str) -> Result<Option<RowState>, LocalError> {
        get(&self.conn, table, pk)
    }

    /// The version of one row last seen, with its base only when
    /// `with_base` (`None` then): a pull needs the base only of a row with
    /// a local edit, and parsing it was most of a changed row's planning.
    pub fn row_state_of(
        &self,
        table: &str,
        pk: &str,
        with_base: bool,
    ) -> Result<Option<RowState>, LocalError> {
        if with_base {
            return get(&self.conn, table, pk);
        }
        self.conn
            .prepare_cached("SELECT version FROM _ebb_rows WHERE tbl = ?1 AND pk = ?2")
            .and_then(|mut stmt| stmt.query_row(params![table, pk], |r| r.get(0)).optional())
            .map(|version| {
                version.map(|version| RowState {
                    version,
                    base: None,
                })
            })
            .ctx(|| format!("reading the sync state of a row of {table}"))
    }

    /// The versions last seen of those of `pks` known in `table`, in one
    /// query (a page's rows, planned in one read transaction): what
    /// [`Local::row_state_of`] without the base gives each, at a fraction
    /// of a statement a row (7.8k instructions a row of an initial sync's
    /// pages after the first, callgrind).
    pub fn row_versions<'k>(
        &self,
        table: &str,
        pks: impl IntoIterator<Item = &'k str>,
    ) -> Result<HashMap<String, i64>, LocalError> {
        // Sorted, the index is walked in order.
        let mut pks: Vec<&str> = pks.into_iter().collect();
        pks.sort_unstable();
        let list = serde_json::Value::from(pks).to_string();
        self.conn
            .pairs(
                "SELECT r.pk, r.version FROM json_each(?2) AS j
                 CROSS JOIN _ebb_rows AS r ON r.tbl = ?1 AND r.pk = j.value",
                params![table, list],
            )
            .ctx(|| format!("reading the sync state of a page of {table}"))
    }

    /// A comparer of pulled rows with the stored rows of `table`, for
    /// [`Local::changed_columns`] over a page.
    pub fn stored_rows(&self, table: &str) -> Result<StoredRows, LocalError> {
        StoredRows::new(super::normalize::described(
            &self.conn,
            &self.scratch,
            table,
        )?)
    }

    /// The columns of `row`, pulled and normalized, whose stored value
    /// differs in the local row with key `pk` of the table `rows` compares
    /// (`None`: no such row here). Reads only, as the write of a pulled
    /// row compares.
    pub fn changed_columns(
        &self,
        rows: &StoredRows,
        pk: &str,
        row: &Row,
    ) -> Result<Option<Vec<String>>, LocalError> {
        rows.changed(&self.conn, pk, row)
    }

    /// Opens a read transaction for a run of reads (planning a page: a few
    /// per row), so they share one snapshot and one WAL read lock instead
    /// of taking and dropping it per statement. `false` when a transaction
    /// was already open (then nothing is begun, and nothing is to end).
    pub fn begin_reads(&self) -> Result<bool, LocalError> {
        if !self.conn.is_autocommit() {
            return Ok(false);
        }
        self.conn
            .execute_batch("BEGIN DEFERRED")
            .ctx(|| "starting a read transaction".into())?;
        Ok(true)
    }

    /// Ends the read transaction `begin_reads` opened.
    pub fn end_reads(&self) -> Result<(), LocalError> {
        self.conn
            .execute_batch("COMMIT")
            .ctx(|| "ending a read transaction".into())
    }

    /// Whether any row of `table` was ever synced (an initial pull plans
    /// every row of its pages as new without asking for each).
    pub fn has_row_states(&self, table: &str) -> Result<bool, LocalError> {
        any(&self.conn, table)
    }

    /// The current local content of one row, `None` when it does not exist.
    pub fn read_row(&self, table: &TableSpec, pk: &str) -> Result<Option<Row>, LocalError> {
        read_row(&self.conn, &table.name, &table.pk, pk)
    }
}

/// Whether any row of `table` was ever synced.
pub(crate) fn any(conn: &Connection, table: &str) -> Result<bool, LocalError> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM _ebb_rows WHERE tbl = ?1)")
        .and_then(|mut stmt| stmt.query_row([table], |r| r.get(0)))
        .ctx(|| format!("looking for the sync state of {table}"))
}

pub(crate) fn get(
    conn: &Connection,
    table: &str,
    pk: &str,
) -> Result<Option<RowState>, LocalError> {
    let found: Option<(i64, Option<String>, i64)> = conn
        .prepare_cached("SELECT version, base, base_kind FROM _ebb_rows WHERE tbl = ?1 AND pk = ?2")
        .and_then(|mut stmt| {
            stmt.query_row(params![table, pk], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
        })
        .ctx(|| format!("reading the sync state of a row of {table}"))?;
    let Some((version, base, kind)) = found else {
        return Ok(None);
    };
    let base = base::read(conn, table, pk, kind, base)?;
    Ok(Some(RowState { version, base }))
}

/// [`set`] for a write both sides now agree on (pulled, or pushed and
/// applied); a delete frees an adopted id instead (`park::forget`).
pub(crate) fn agreed(
    conn: &Connection,
    table: &str,
    pk: &str,
    version: i64,
    row: Option<&Row>,
) -> Result<(), LocalError> {
    if row.is_none() && park::forget(conn, table, pk)? {
        return Ok(());
    }
    set(conn, table, pk, version, row)
}

/// [`agreed`] for a row ebb just wrote whole into the app's table with
/// nothing of the app's left on it: its base is the row as stored
/// (`base::HERE`), kept there until the app's next write to it.
pub(crate) fn agreed_here(
    conn: &Connection,
    table: &str,
    pk: &str,
    version: i64,
) -> Result<(), LocalError> {
    conn.prepare_cached(
        "INSERT INTO _ebb_rows (tbl, pk, version, base, base_kind) VALUES (?1, ?2, ?3, NULL, 1)
         ON CONFLICT (tbl, pk) DO UPDATE
         SET version = excluded.version, base = NULL, base_kind = 1",
    )
    .and_then(|mut stmt| stmt.execute(params![table, pk, version]))
    .ctx(|| format!("recording the sync state of a row of {table}"))?;
    Ok(())
}

pub(crate) fn set(
    conn: &Connection,
    table: &str,
    pk: &str,
    version: i64,
    base: Option<&Row>,
) -> Result<(), LocalError> {
    conn.prepare_cached(
        "INSERT INTO _ebb_rows (tbl, pk, version, base, base_kind) VALUES (?1, ?2, ?3, ?4, 0)
         ON CONFLICT (tbl, pk) DO UPDATE
         SET version = excluded.version, base = excluded.base, base_kind = 0",
    )
    .and_then(|mut stmt| stmt.execute(params![table, pk, version, row_text(base)]))
    .ctx(|| format!("recording the sync state of a row of {table}"))?;
    Ok(())
}

/// The statement `set` runs, for `rows` rows at once (`runs`), binding
/// (table, key, version, base) per row; with `here`, binding (table, key,
/// version) and marking each base as the app's row as it stands
/// (`base::HERE`).
pub(super) fn set_rows_sql(rows: usize, here: bool) -> String {
    let (width, tail) = match here {
        true => (3, format!(", NULL, {})", base::HERE)),
        false => (4, format!(", {})", base::STORED)),
    };
    // Each group `(?1, ?2, ?3)` closes with the columns not bound.
    let values = value_rows(rows, width).replace(')', &tail);
    format!(
        "INSERT INTO _ebb_rows (tbl, pk, version, base, base_kind) VALUES {values}
         ON CONFLICT (tbl, pk) DO UPDATE SET version = excluded.version, base = excluded.base,
         base_kind = excluded.base_kind"
    )
}
