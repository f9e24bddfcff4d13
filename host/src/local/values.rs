//! JSON <-> SQLite values, and reading, writing and deleting one app row.
//!
//! Owns the value mapping: INTEGER and REAL -> number, TEXT -> string,
//! NULL -> null, BLOB -> base64 string (standard alphabet). What leaves the
//! device goes through [`to_json_checked`], which refuses what JSON cannot
//! carry exactly ([`Unrepresentable`]: text that is not UTF-8, a BLOB in a
//! column declared other than BLOB, an infinite REAL): the row is held,
//! never sent changed. [`to_json`] is the lossy form for display. Writing back, a
//! string bound for a column declared BLOB is base64-decoded (kept as text
//! if it is not base64), numbers stay numbers, bools become 0/1, arrays and
//! objects are stored as JSON text. Column lists come from
//! `pragma_table_info`; identifiers are quoted, values are always bound.
//! Rows are written with `INSERT .. ON CONFLICT (pk) DO UPDATE`, never
//! `INSERT OR REPLACE` (which would fire ON DELETE CASCADE).
//!
//! Does not set the capture guard: callers (`apply`, `conflicts`) do, in
//! the same transaction. Called only from inside `local`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};
use rusqlite::{Connection, OptionalExtension};
use serde_json::{Number, Value};

use super::inspect::{Affinity, TableInfo, affinity, describe_conn};
use super::{Context, LocalError, TableSpec, quote_ident};
use crate::model::Row;

/// Why a stored value cannot travel as JSON exactly. The app stored it
/// (SQLite's dynamic typing takes any value in any column); sending it
/// would change it on the server and every other device, so its row is
/// held as `invalid`, never sent, until the app fixes the row. Nothing to
/// retry. Displays as the rest of "column NAME ...".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Unrepresentable {
    /// TEXT whose bytes are not UTF-8: it would arrive with U+FFFD
    /// replacement characters in place of the bytes.
    #[error("holds bytes that are not UTF-8 text")]
    NotUtf8,
    /// A BLOB in a column whose declared type gives it another affinity
    /// (TEXT, INTEGER, REAL, NUMERIC), or none: its base64 would arrive
    /// as text (a pulled string is decoded for a BLOB column only, since
    /// an untyped column's text, `cash` or `none`, reads as base64 too).
    #[error(
        "is declared {} but holds a BLOB ({len} bytes): declare the column BLOB",
        if decl_type.trim().is_empty() { "with no type" } else { decl_type.as_str() }
    )]
    Blob { decl_type: String, len: usize },
    /// An infinite REAL (SQLite stores NaN as NULL): JSON has no such number.
    #[error("holds an infinite REAL, which JSON cannot carry")]
    NotFinite,
}

/// One SQLite value as JSON, for display: never fails, and what JSON
/// cannot carry exactly is approximated (text that is not UTF-8 gets
/// U+FFFD, REAL infinities become null). Rows that leave the device use
/// [`to_json_checked`].
pub(crate) fn to_json(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => Value::Number(n.into()),
        ValueRef::Real(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(bytes) => Value::String(String::from_utf8_lossy(bytes).into_owned()),
        ValueRef::Blob(bytes) => Value::String(BASE64.encode(bytes)),
    }
}

/// One SQLite value of a column with the given declared type as JSON,
/// exactly or not at all: as [`to_json`], but text that is not UTF-8, a
/// BLOB in a column of another affinity than BLOB, and an infinite REAL are
/// refused. A BLOB in a column declared BLOB travels as base64 (and is
/// decoded again by `to_sql` on a BLOB column).
pub(crate) fn to_json_checked(
    value: ValueRef<'_>,
    decl_type: &str,
) -> Result<Value, Unrepresentable> {
    match value {
        ValueRef::Text(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => Ok(Value::String(text.to_owned())),
            Err(_) => Err(Unrepresentable::NotUtf8),
        },
        ValueRef::Blob(bytes) if affinity(decl_type) != Affinity::Blob => {
            Err(Unrepresentable::Blob {
                decl_type: decl_type.to_string(),
                len: bytes.len(),
            })
        }
        ValueRef::Real(f) if !f.is_finite() => Err(Unrepresentable::NotFinite),
        other => Ok(to_json(other)),
    }
}

/// One JSON value for a column with the given declared type.
pub(crate) fn to_sql(value: &Value, decl_type: &str) -> SqlValue {
    owned(to_sql_ref(value, decl_type))
}

/// `to_sql`, borrowing the text of a string instead of copying it.
pub(crate) fn to_sql_ref<'v>(value: &'v Value, decl_type: &str) -> ToSqlOutput<'v> {
    let text = |s: &'v str| ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes()));
    ToSqlOutput::Owned(match value {
        Value::Null => return ToSqlOutput::Borrowed(ValueRef::Null),
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) if affinity(decl_type) == Affinity::Blob => match BASE64.decode(s) {
            Ok(bytes) => SqlValue::Blob(bytes),
            Err(_) => return text(s),
        },
        Value::String(s) => return text(s),
        Value::Array(_) | Value::Object(_) => SqlValue::Text(value.to_string()),
    })
}

/// A bound value as its own copy.
pub(crate) fn owned(value: ToSqlOutput<'_>) -> SqlValue {
    match value {
        ToSqlOutput::Borrowed(v) => v.into(),
        ToSqlOutput::Owned(v) => v,
        // `to_sql_ref` makes neither of the others.
        _ => SqlValue::Null,
    }
}

/// The text form of a primary key value, as the capture triggers store it
/// (`model::key_text`, which `policy` checks merged rows with too).
pub(crate) fn pk_text(value: &Value) -> Option<String> {
    crate::model::key_text(value)
}

/// Reads the row whose key column equals `pk` (bound as text; SQLite's
/// affinity makes it match INTEGER keys too).
pub(crate) fn read_row(
    conn: &Connection,
    table: &str,
    pk_col: &str,
    pk: &str,
) -> Result<Option<Row>, LocalError> {
    let info = describe_conn(conn, table)?;
    let list = info
        .columns
        .iter()
        .map(|c| quote_ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {list} FROM {} WHERE {} = ?1",
        quote_ident(table),
        quote_ident(pk_col)
    );
    let mut stmt = conn
        .prepare_cached(&sql)
        .ctx(|| format!("reading a row of {table}"))?;
    stmt.query_row([pk], |r| {
        let mut row = Row::new();
        for (i, column) in info.columns.iter().enumerate() {
            row.insert(column.name.clone(), to_json(r.get_ref(i)?));
        }
        Ok(row)
    })
    .optional()
    .ctx(|| format!("reading a row of {table}"))
}

/// Reads rows of one table by key for `Local::claim`, as [`read_row`] does
/// (every column, the key bound as text), with the table described once
/// per claim instead of once per row, and each value checked to travel
/// exactly ([`to_json_checked`]).
#[derive(Clone)]
pub(crate) struct RowReader {
    /// Name and declared type of each column.
    columns: Vec<(String, String)>,
    sql: String,
    table: String,
}

impl RowReader {
    /// For `table`, whose columns `info` describes.
    pub(crate) fn new(info: &TableInfo, table: &TableSpec) -> RowReader {
        let columns: Vec<(String, String)> = info
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.decl_type.clone()))
            .collect();
        let list = columns
            .iter()
            .map(|(c, _)| quote_ident(c))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {list} FROM {} WHERE {} = ?1",
            quote_ident(&table.name),
            quote_ident(&table.pk)
        );
        RowReader {
            columns,
            sql,
            table: table.name.clone(),
        }
    }

    /// The row (`None` when gone) and, when some value cannot travel
    /// exactly, why: "table T, pk "P": column C holds ..." for each such
    /// column (those values are in the row as `to_json` shows them).
    pub(crate) fn read(
        &self,
        conn: &Connection,
        pk: &str,
    ) -> Result<Option<(Row, Option<String>)>, LocalError> {
        let read = conn
            .prepare_cached(&self.sql)
            .and_then(|mut stmt| {
                stmt.query_row([pk], |r| {
                    let mut row = Row::new();
                    let mut problems = Vec::new();
                    for (i, (name, decl_type)) in self.columns.iter().enumerate() {
                        let value = r.get_ref(i)?;
                        let json = to_json_checked(value, decl_type).unwrap_or_else(|e| {
                            problems.push(format!("column {name} {e}"));
                            to_json(value)
                        });
                        row.insert(name.clone(), json);
                    }
                    Ok((row, problems))
                })
                .optional()
            })
            .ctx(|| format!("reading a row of {}", self.table))?;
        Ok(read.map(|(row, problems)| {
            let why = (!problems.is_empty())
                .then(|| format!("table {}, pk {pk:?}: {}", self.table, problems.join("; ")));
            (row, why)
        }))
    }
}

/// Writes `row` (None = delete) as the row with key `pk`. Keys that are not
/// local columns are ignored; local columns missing from `row` keep their
/// value (or default, on insert).
pub(crate) fn write_row(
    conn: &Connection,
    table: &str,
    pk: &str,
    row: Option<&Row>,
) -> Result<(), LocalError> {
    Writer::new(conn, table)?.write(conn, pk, row)
}

pub(crate) use super::quiet::Quiet;
pub(crate) use super::write::Writer;

/// The one primary key column of a table.
pub(crate) fn key_column(info: &TableInfo) -> Result<String, LocalError> {
    let keys: Vec<&str> = info
        .columns
        .iter()
        .filter(|c| c.pk)
        .map(|c| c.name.as_str())
        .collect();
    match keys.as_slice() {
        [one] => Ok(one.to_string()),
        _ => Err(LocalError::BadPrimaryKey {
            table: info.name.clone(),
            message: "ebb needs a one-column primary key".into(),
        }),
    }
}

/// A row as stored JSON text in ebb's tables.
pub(crate) fn row_text(row: Option<&Row>) -> Option<String> {
    // A map serializes as the object it is: no copy into a `Value` first.
    row.map(|r| serde_json::to_string(r).unwrap_or_else(|_| Value::Object(r.clone()).to_string()))
}

/// Parses a row stored by `row_text`.
pub(crate) fn parse_row(text: Option<String>, what: &str) -> Result<Option<Row>, LocalError> {
    let Some(text) = text else {
        return Ok(None);
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(row)) => Ok(Some(row)),
        Ok(_) => Err(LocalError::Corrupt {
            what: what.to_string(),
            message: "not a JSON object".into(),
        }),
        Err(e) => Err(LocalError::Corrupt {
            what: what.to_string(),
            message: e.to_string(),
        }),
    }
}

#[cfg(test)]
#[path = "values_tests.rs"]
mod tests;
