//! Comparing pulled rows with the rows stored here, without writing:
//! [`StoredRows`] says which columns of a pulled row (normalized) differ
//! from the stored row, as [`Writer::write`](super::write::Writer) compares
//! before it writes, except that text both sides spell as the same date or
//! instant is alike. Used by `sync::echo` for this device's own rows
//! coming back from the server. Also the read of a stored row and the
//! comparison of one value that `Writer::write` itself uses (`read_stored`,
//! `same`).

use std::cell::RefCell;
use std::sync::Arc;

use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, OptionalExtension};

use super::inspect::TableInfo;
use super::normalize::Stamp;
use super::statements::select_sql;
use super::values::{key_column, to_sql};
use super::{Context, LocalError};
use crate::model::Row;

/// Compares pulled rows (normalized) with the stored rows of one table,
/// as the writer compares before it writes: the table described
/// once and the read compiled once for a page's rows. Reads only.
pub struct StoredRows {
    info: Arc<TableInfo>,
    pk_col: String,
    /// The last row's columns and the SELECT of them.
    last: RefCell<(Vec<String>, String)>,
}

impl StoredRows {
    pub(crate) fn new(info: Arc<TableInfo>) -> Result<StoredRows, LocalError> {
        let pk_col = key_column(&info)?;
        Ok(StoredRows {
            info,
            pk_col,
            last: Default::default(),
        })
    }

    /// The columns of `row` whose value in the stored row with key `pk`
    /// differs; `None` when no such row is stored.
    pub(crate) fn changed(
        &self,
        conn: &Connection,
        pk: &str,
        row: &Row,
    ) -> Result<Option<Vec<String>>, LocalError> {
        let mut names: Vec<&str> = Vec::with_capacity(row.len());
        let mut values = Vec::with_capacity(row.len());
        for (key, value) in row {
            match self.info.column(key) {
                Some(c) if c.name != self.pk_col && !names.contains(&c.name.as_str()) => {
                    names.push(&c.name);
                    values.push(to_sql(value, &c.decl_type));
                }
                _ => {}
            }
        }
        if names.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let table = self.info.name.as_str();
        let mut last = self.last.borrow_mut();
        if !last.0.iter().map(String::as_str).eq(names.iter().copied()) {
            *last = (
                names.iter().map(|n| n.to_string()).collect(),
                select_sql(table, &self.pk_col, &names),
            );
        }
        let stored = read_stored(conn, &last.1, table, pk, names.len())?;
        Ok(stored.map(|stored| {
            (0..names.len())
                .filter(|&i| !stored[i].as_ref().is_some_and(|v| alike(&values[i], v)))
                .map(|i| names[i].to_string())
                .collect()
        }))
    }
}

/// [`same`], or text both sides spell as the same date or instant (an
/// app's `+02:00` against the server's UTC): not a change of the value.
fn alike(new: &SqlValue, stored: &SqlValue) -> bool {
    same(new, stored)
        || matches!((new, stored), (SqlValue::Text(a), SqlValue::Text(b)) if Stamp::same(a, b))
}

/// The `n` columns `select` reads of the stored row with key `pk` of
/// `table`, as [`comparable`] values; `None` when there is no such row.
pub(super) fn read_stored(
    conn: &Connection,
    select: &str,
    table: &str,
    pk: &str,
    n: usize,
) -> Result<Option<Vec<Option<SqlValue>>>, LocalError> {
    conn.prepare_cached(select)
        .and_then(|mut stmt| {
            stmt.query_row([pk], |r| {
                (0..n)
                    .map(|i| r.get_ref(i).map(comparable))
                    .collect::<Result<Vec<_>, _>>()
            })
            .optional()
        })
        .ctx(|| format!("reading a row of {table}"))
}

/// A stored value to compare with: `None` for text that is not UTF-8
/// (never equal to a value pulled, so the column is written).
fn comparable(value: ValueRef<'_>) -> Option<SqlValue> {
    match value {
        ValueRef::Text(bytes) => std::str::from_utf8(bytes)
            .ok()
            .map(|text| SqlValue::Text(text.to_owned())),
        other => Some(other.into()),
    }
}

/// Whether storing `new` over `stored` leaves the stored value as it is:
/// the same type and the same value (a REAL to the bit). A value SQLite
/// would convert on storing (text into an INTEGER column) counts as
/// different: that costs a write, never a lost one.
pub(super) fn same(new: &SqlValue, stored: &SqlValue) -> bool {
    match (new, stored) {
        (SqlValue::Null, SqlValue::Null) => true,
        (SqlValue::Integer(a), SqlValue::Integer(b)) => a == b,
        (SqlValue::Real(a), SqlValue::Real(b)) => a.to_bits() == b.to_bits(),
        (SqlValue::Text(a), SqlValue::Text(b)) => a == b,
        (SqlValue::Blob(a), SqlValue::Blob(b)) => a == b,
        _ => false,
    }
}
