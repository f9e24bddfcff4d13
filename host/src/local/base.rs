//! The merge base kept lazily: `_ebb_rows.base_kind` says where a row's
//! base (the content both sides last agreed on) is.
//!
//! An initial sync writes each pulled row into the app's table and, until
//! now, its JSON again into `_ebb_rows` as its base: a fifth of the sync's
//! time, for a copy of what the app's table already holds. The bulk write
//! (`runs`) now marks the base [`HERE`]: it is the app's row as it stands.
//! That holds until the app's first write to the row, and the capture
//! triggers then keep it: before the row changes (an update, a delete, an
//! insert that replaces it) they copy its values into `base` as SQLite's
//! `quote()` of each ([`CAPTURED`]), exactly (a REAL to its last bit, a
//! BLOB as hex), with no application function and no JSON1 on the app's
//! side. ebb's own writes run with capture off, and each of them records
//! its base ([`STORED`], `rows::set`), so a base marked `HERE` never meets
//! an ebb write that changes the row. Read by `rows::get`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rusqlite::Connection;
use rusqlite::types::ValueRef;

use super::inspect::describe_conn;
use super::values::{parse_row, read_row, to_json};
use super::{LocalError, quote_ident, quote_literal};
use crate::model::Row;

/// `base` holds the row as JSON (`NULL`: the row is deleted).
pub(crate) const STORED: i64 = 0;
/// The base is the app's row as it stands; `base` is `NULL`.
pub(crate) const HERE: i64 = 1;
/// `base` holds the values the app's first write found, as
/// `'column',value,...` in SQL literals (`NULL`: there was no row).
pub(crate) const CAPTURED: i64 = 2;

/// The statement of the update and delete triggers, run before anything
/// else they do: keeps `OLD`'s values as the base of a row marked `HERE`
/// (`key`: the `OLD.` key expression).
pub(super) fn capture_old(table_lit: &str, key: &str, columns: &[String]) -> String {
    let values = literals(columns, "OLD");
    format!(
        "  UPDATE _ebb_rows SET base_kind = {CAPTURED}, base = {values}
    WHERE tbl = {table_lit} AND pk = CAST({key} AS TEXT) AND base_kind = {HERE};
"
    )
}

/// The statement of the trigger run before an insert: keeps the values of
/// the row with key `key` (the new row's, or one clashing with it on
/// another UNIQUE index), when one is there to be replaced (`INSERT OR
/// REPLACE` fires no delete trigger), its base is `HERE` and `when` holds.
pub(super) fn capture_replaced(
    table: &str,
    pk: &str,
    columns: &[String],
    key: &str,
    when: &str,
) -> String {
    let t = quote_ident(table);
    let values = literals(columns, &t);
    format!(
        "  UPDATE _ebb_rows SET base_kind = {CAPTURED},
      base = (SELECT {values} FROM {t} WHERE {t}.{pk} = {key})
    WHERE tbl = {table_lit} AND pk = CAST({key} AS TEXT) AND base_kind = {HERE} AND ({when});
",
        pk = quote_ident(pk),
        table_lit = quote_literal(table)
    )
}

/// `'name',value,...` of `columns` of the row `source` (`OLD`, or the
/// table), as one SQL text expression.
fn literals(columns: &[String], source: &str) -> String {
    let parts: Vec<String> = columns
        .iter()
        .map(|c| {
            format!(
                "{} || quote({source}.{})",
                quote_literal(&format!("{},", quote_literal(c))),
                quote_ident(c)
            )
        })
        .collect();
    match parts.is_empty() {
        true => "''".into(),
        false => parts.join(" || ',' || "),
    }
}

/// The base of row `pk` of `table` kept as `kind` with `text`.
pub(crate) fn read(
    conn: &Connection,
    table: &str,
    pk: &str,
    kind: i64,
    text: Option<String>,
) -> Result<Option<Row>, LocalError> {
    let what = || format!("_ebb_rows base of {table} {pk}");
    match (kind, text) {
        (STORED, text) => parse_row(text, &what()),
        (CAPTURED, None) => Ok(None),
        (CAPTURED, Some(text)) => {
            parse_literals(&text)
                .map(Some)
                .map_err(|message| LocalError::Corrupt {
                    what: what(),
                    message,
                })
        }
        (HERE, _) => {
            let info = describe_conn(conn, table)?;
            let Some(key) = info.columns.iter().find(|c| c.pk) else {
                return Ok(None);
            };
            read_row(conn, table, &key.name, pk)
        }
        (other, _) => Err(LocalError::Corrupt {
            what: what(),
            message: format!("unknown base_kind {other}"),
        }),
    }
}

/// A row from `'name',value,...` as `quote()` wrote it, each value as JSON
/// the way a read of the stored row gives it (`values::to_json`).
fn parse_literals(text: &str) -> Result<Row, String> {
    let mut row = Row::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (name, after) = literal(rest)?;
        let name = match name {
            Literal::Text(name) => name,
            _ => return Err(format!("a column name expected at \"{}\"", shown(rest))),
        };
        let after = after
            .strip_prefix(',')
            .ok_or_else(|| format!("',' expected after column {name}"))?;
        let (value, after) = literal(after)?;
        let value = match &value {
            Literal::Null => to_json(ValueRef::Null),
            Literal::Integer(n) => to_json(ValueRef::Integer(*n)),
            Literal::Real(f) => to_json(ValueRef::Real(*f)),
            Literal::Text(s) => to_json(ValueRef::Text(s.as_bytes())),
            Literal::Blob(b) => serde_json::Value::String(BASE64.encode(b)),
        };
        row.insert(name, value);
        rest = match after.strip_prefix(',') {
            Some(more) => more,
            None if after.is_empty() => after,
            None => return Err(format!("',' expected at \"{}\"", shown(after))),
        };
    }
    Ok(row)
}

enum Literal {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// One SQL literal as `quote()` writes it at the start of `text`, and
/// what follows it.
fn literal(text: &str) -> Result<(Literal, &str), String> {
    if let Some(body) = text.strip_prefix('\'') {
        let mut value = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '\'' {
                value.push(c);
                continue;
            }
            if body[i + 1..].starts_with('\'') {
                value.push('\'');
                chars.next();
                continue;
            }
            return Ok((Literal::Text(value), &body[i + 1..]));
        }
        return Err(format!("unterminated text at \"{}\"", shown(text)));
    }
    if let Some(body) = text.strip_prefix("X'").or_else(|| text.strip_prefix("x'")) {
        let end = body
            .find('\'')
            .ok_or_else(|| format!("unterminated blob at \"{}\"", shown(text)))?;
        let hex = &body[..end];
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(|| format!("bad blob at \"{}\"", shown(text)))?;
        return Ok((Literal::Blob(bytes), &body[end + 1..]));
    }
    let end = text.find(',').unwrap_or(text.len());
    let (token, after) = text.split_at(end);
    let value = if token == "NULL" {
        Literal::Null
    } else if let Ok(n) = token.parse::<i64>() {
        Literal::Integer(n)
    } else if let Ok(f) = token.parse::<f64>() {
        Literal::Real(f)
    } else {
        return Err(format!("not a value: \"{}\"", shown(token)));
    };
    Ok((value, after))
}

fn shown(text: &str) -> String {
    text.chars().take(40).collect()
}

#[cfg(test)]
#[path = "base_tests.rs"]
mod tests;
