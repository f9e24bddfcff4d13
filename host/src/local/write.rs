//! Writing pulled rows into the app's tables, fast: [`Writer`] describes
//! a table once per page and keeps its upsert compiled, where
//! `values::write_row` (the same write, for single rows) describes the
//! table and builds the statement each time; [`Quiet`] is what a page
//! found of the table's queue and conflicts when it started, so that the
//! per-row statements known to find nothing are skipped.
//!
//! Same rules as `values` (values bound, identifiers quoted, `INSERT ..
//! ON CONFLICT (pk) DO UPDATE`, never `INSERT OR REPLACE`); does not set
//! the capture guard. Called by `apply` (and `keys::adopt`) inside the
//! apply transaction.

use rusqlite::Connection;
use rusqlite::params_from_iter;
use rusqlite::types::Value as SqlValue;

use super::inspect::{TableInfo, describe_conn};
use super::queue::any_queued;
use super::values::{key_column, pk_text, to_sql};
use super::{Context, LocalError, quote_ident};
use crate::model::Row;

/// Writes rows of one table as [`write_row`] does, with the table
/// described once (per page of pulled rows, not per row) and each
/// statement compiled once per connection (`prepare_cached`).
pub(crate) struct Writer {
    info: TableInfo,
    pk_col: String,
    /// What the page being applied found of the table when it started
    /// (`apply_page` sets it; all false, "look", unless it did).
    pub(crate) quiet: Quiet,
    /// The last upsert's columns and SQL text: the rows of a page carry
    /// the same columns, so the text is built once per page.
    last: std::cell::RefCell<(Vec<String>, String)>,
}

/// A table with nothing queued or no open conflict at the start of a page:
/// the per-row queue and conflict statements of an apply are then known
/// to find nothing, and are skipped (an initial sync is all such rows).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Quiet {
    /// No queue item of the table.
    pub(crate) queue: bool,
    /// No open conflict of the table.
    pub(crate) conflicts: bool,
}

impl Quiet {
    pub(crate) fn read(conn: &Connection, table: &str) -> Result<Quiet, LocalError> {
        let conflicts = conn
            .prepare_cached(
                "SELECT NOT EXISTS (SELECT 1 FROM _ebb_conflicts
                 WHERE tbl = ?1 AND resolved_at IS NULL)",
            )
            .and_then(|mut stmt| stmt.query_row([table], |r| r.get::<_, bool>(0)))
            .ctx(|| format!("looking at the conflicts of {table}"))?;
        Ok(Quiet {
            queue: !any_queued(conn, table)?,
            conflicts,
        })
    }
}

impl Writer {
    pub(crate) fn new(conn: &Connection, table: &str) -> Result<Writer, LocalError> {
        let info = describe_conn(conn, table)?;
        let pk_col = key_column(&info)?;
        Ok(Writer {
            info,
            pk_col,
            quiet: Quiet::default(),
            last: Default::default(),
        })
    }

    /// The table's name.
    pub(crate) fn table(&self) -> &str {
        &self.info.name
    }

    /// See [`write_row`].
    pub(crate) fn write(
        &self,
        conn: &Connection,
        pk: &str,
        row: Option<&Row>,
    ) -> Result<(), LocalError> {
        let (table, pk_col) = (self.info.name.as_str(), self.pk_col.as_str());
        let Some(row) = row else {
            let sql = format!(
                "DELETE FROM {} WHERE {} = ?1",
                quote_ident(table),
                quote_ident(pk_col)
            );
            conn.prepare_cached(&sql)
                .and_then(|mut stmt| stmt.execute([pk]))
                .ctx(|| format!("deleting a row of {table}"))?;
            return Ok(());
        };
        let mut names: Vec<&str> = Vec::with_capacity(row.len() + 1);
        let mut values = Vec::with_capacity(row.len() + 1);
        let mut has_pk = false;
        for (key, value) in row {
            let Some(column) = self.info.column(key) else {
                continue;
            };
            if names.contains(&column.name.as_str()) {
                continue;
            }
            if column.name == pk_col {
                if pk_text(value).as_deref() != Some(pk) {
                    return Err(LocalError::BadPrimaryKey {
                        table: table.to_string(),
                        message: format!("a row for key {pk} carries another key"),
                    });
                }
                has_pk = true;
            }
            names.push(&column.name);
            values.push(to_sql(value, &column.decl_type));
        }
        if !has_pk {
            names.push(pk_col);
            values.push(SqlValue::Text(pk.to_string()));
        }
        let mut last = self.last.borrow_mut();
        if last.1.is_empty() || !last.0.iter().map(String::as_str).eq(names.iter().copied()) {
            *last = (
                names.iter().map(|n| n.to_string()).collect(),
                upsert_sql(table, pk_col, &names),
            );
        }
        conn.prepare_cached(&last.1)
            .and_then(|mut stmt| stmt.execute(params_from_iter(values)))
            .ctx(|| format!("writing a row of {table}"))?;
        Ok(())
    }
}

/// `INSERT .. ON CONFLICT (pk) DO UPDATE` of these columns.
fn upsert_sql(table: &str, pk_col: &str, names: &[&str]) -> String {
    let updates: Vec<String> = names
        .iter()
        .filter(|n| **n != pk_col)
        .map(|n| format!("{0} = excluded.{0}", quote_ident(n)))
        .collect();
    let action = if updates.is_empty() {
        "NOTHING".to_string()
    } else {
        format!("UPDATE SET {}", updates.join(", "))
    };
    format!(
        "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO {action}",
        quote_ident(table),
        names
            .iter()
            .map(|n| quote_ident(n))
            .collect::<Vec<_>>()
            .join(", "),
        (1..=names.len())
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", "),
        quote_ident(pk_col),
    )
}
