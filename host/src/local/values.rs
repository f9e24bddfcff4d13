//! JSON <-> SQLite values, and reading, writing and deleting one app row.
//!
//! Owns the value mapping: INTEGER and REAL -> number, TEXT -> string,
//! NULL -> null, BLOB -> base64 string (standard alphabet). Writing back, a
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
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, OptionalExtension, params_from_iter};
use serde_json::{Number, Value};

use super::inspect::{Affinity, TableInfo, affinity, describe_conn};
use super::{Context, LocalError, quote_ident};
use crate::model::Row;

/// One SQLite value as JSON. REAL infinities and NaN (which JSON cannot
/// hold) become null.
pub(crate) fn to_json(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => Value::Number(n.into()),
        ValueRef::Real(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(bytes) => Value::String(String::from_utf8_lossy(bytes).into_owned()),
        ValueRef::Blob(bytes) => Value::String(BASE64.encode(bytes)),
    }
}

/// One JSON value for a column with the given declared type.
pub(crate) fn to_sql(value: &Value, decl_type: &str) -> SqlValue {
    match value {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) if affinity(decl_type) == Affinity::Blob => match BASE64.decode(s) {
            Ok(bytes) => SqlValue::Blob(bytes),
            Err(_) => SqlValue::Text(s.clone()),
        },
        Value::String(s) => SqlValue::Text(s.clone()),
        Value::Array(_) | Value::Object(_) => SqlValue::Text(value.to_string()),
    }
}

/// The text form of a primary key value, as the capture triggers store it.
pub(crate) fn pk_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
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

/// Writes `row` (None = delete) as the row with key `pk`. Keys that are not
/// local columns are ignored; local columns missing from `row` keep their
/// value (or default, on insert).
pub(crate) fn write_row(
    conn: &Connection,
    table: &str,
    pk: &str,
    row: Option<&Row>,
) -> Result<(), LocalError> {
    let info = describe_conn(conn, table)?;
    let pk_col = key_column(&info)?;
    let Some(row) = row else {
        let sql = format!(
            "DELETE FROM {} WHERE {} = ?1",
            quote_ident(table),
            quote_ident(&pk_col)
        );
        conn.execute(&sql, [pk])
            .ctx(|| format!("deleting a row of {table}"))?;
        return Ok(());
    };
    let mut names = Vec::new();
    let mut values = Vec::new();
    let mut has_pk = false;
    for (key, value) in row {
        let Some(column) = info.column(key) else {
            continue;
        };
        if names.contains(&column.name) {
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
        names.push(column.name.clone());
        values.push(to_sql(value, &column.decl_type));
    }
    if !has_pk {
        names.push(pk_col.clone());
        values.push(SqlValue::Text(pk.to_string()));
    }
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
    let sql = format!(
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
        quote_ident(&pk_col),
    );
    conn.execute(&sql, params_from_iter(values))
        .ctx(|| format!("writing a row of {table}"))?;
    Ok(())
}

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
    row.map(|r| Value::Object(r.clone()).to_string())
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
mod tests {
    use super::super::testutil::{exec, open_temp};
    use super::*;
    use serde_json::json;

    #[test]
    fn values_map_both_ways() {
        assert_eq!(to_json(ValueRef::Integer(-3)), json!(-3));
        assert_eq!(to_json(ValueRef::Real(1.5)), json!(1.5));
        assert_eq!(to_json(ValueRef::Real(f64::INFINITY)), Value::Null);
        assert_eq!(to_json(ValueRef::Blob(&[0, 255])), json!("AP8="));
        assert_eq!(to_sql(&json!("AP8="), "BLOB"), SqlValue::Blob(vec![0, 255]));
        assert_eq!(
            to_sql(&json!("AP8="), "TEXT"),
            SqlValue::Text("AP8=".into())
        );
        assert_eq!(
            to_sql(&json!("not base64!"), "BLOB"),
            SqlValue::Text("not base64!".into())
        );
        assert_eq!(to_sql(&json!(true), "INTEGER"), SqlValue::Integer(1));
        assert_eq!(to_sql(&json!(2.5), "INTEGER"), SqlValue::Real(2.5));
        assert_eq!(to_sql(&json!([1]), "TEXT"), SqlValue::Text("[1]".into()));
    }

    #[test]
    fn write_ignores_unknown_keys_and_keeps_missing_columns() {
        let (_dir, local) = open_temp();
        exec(
            &local,
            "INSERT INTO items (id, qty, note) VALUES ('a', 1, 'keep')",
        );
        let row = json!({"id": "a", "qty": 5, "nope": 1})
            .as_object()
            .cloned()
            .unwrap();
        write_row(&local.conn, "items", "a", Some(&row)).unwrap();
        let back = read_row(&local.conn, "items", "id", "a").unwrap().unwrap();
        assert_eq!(
            (back["qty"].clone(), back["note"].clone()),
            (json!(5), json!("keep"))
        );
        let wrong = json!({"id": "b"}).as_object().cloned().unwrap();
        assert!(matches!(
            write_row(&local.conn, "items", "a", Some(&wrong)),
            Err(LocalError::BadPrimaryKey { .. })
        ));
        write_row(&local.conn, "items", "a", None).unwrap();
        assert!(read_row(&local.conn, "items", "id", "a").unwrap().is_none());
    }

    #[test]
    fn generated_columns_are_neither_read_nor_written() {
        let (_dir, local) = open_temp();
        exec(
            &local,
            "CREATE TABLE g (id INTEGER PRIMARY KEY, a INT, twice INT AS (a * 2) STORED)",
        );
        let row = json!({"id": 1, "a": 2, "twice": 99})
            .as_object()
            .cloned()
            .unwrap();
        write_row(&local.conn, "g", "1", Some(&row)).unwrap();
        let back = read_row(&local.conn, "g", "id", "1").unwrap().unwrap();
        assert_eq!(Value::Object(back), json!({"id": 1, "a": 2}));
        let twice: i64 = local
            .conn
            .query_row("SELECT twice FROM g", [], |r| r.get(0))
            .unwrap();
        assert_eq!(twice, 4);
    }

    #[test]
    fn upsert_does_not_cascade() {
        let (_dir, local) = open_temp();
        exec(&local, "INSERT INTO parents (id, name) VALUES (1, 'p')");
        exec(
            &local,
            "INSERT INTO items (id, parent_id, qty) VALUES ('c', 1, 1)",
        );
        let row = json!({"id": 1, "name": "renamed"})
            .as_object()
            .cloned()
            .unwrap();
        write_row(&local.conn, "parents", "1", Some(&row)).unwrap();
        assert!(read_row(&local.conn, "items", "id", "c").unwrap().is_some());
    }
}
