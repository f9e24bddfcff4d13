//! What SQLite would store of one value, said without SQLite where that
//! is plain (`stored`, `quick`), and the mirror column type for the rest.

use rusqlite::types::{Value as SqlValue, ValueRef};
use serde_json::Value;

use super::super::inspect::{Affinity, affinity};
use super::super::values::{to_json, to_sql};

/// What SQLite stores and `to_json` reads back for `value` bound into a
/// column of affinity `aff`, when that is plain without asking SQLite
/// ("Datatypes In SQLite", 3 and 4.2); `None` when SQLite must say (text
/// that may be a number in a numeric column, a REAL that may become an
/// INTEGER, a REAL in a TEXT column).
pub(super) fn stored(value: &SqlValue, aff: Affinity) -> Option<Value> {
    use Affinity::*;
    Some(match (value, aff) {
        (SqlValue::Null, _) => Value::Null,
        (SqlValue::Integer(i), Integer | Numeric | Any | Blob) => Value::from(*i),
        (SqlValue::Integer(i), Real) => to_json(ValueRef::Real(*i as f64)),
        (SqlValue::Integer(i), Text) => Value::String(i.to_string()),
        (SqlValue::Real(f), Real | Any | Blob) => to_json(ValueRef::Real(*f)),
        // Numeric affinity keeps a REAL that is not a whole number.
        (SqlValue::Real(f), Integer | Numeric) if f.is_finite() && f.fract() != 0.0 => {
            to_json(ValueRef::Real(*f))
        }
        (SqlValue::Text(t), Text | Any | Blob) => Value::String(t.clone()),
        (SqlValue::Text(t), Integer | Real | Numeric) if never_a_number(t) => {
            Value::String(t.clone())
        }
        (SqlValue::Blob(b), _) => to_json(ValueRef::Blob(b)),
        _ => return None,
    })
}

/// What SQLite would store of the pulled `value` in a column declared
/// `decl`, as `stored` says of it bound as `write_row` binds it, without
/// copying a text twice; `None` when only SQLite can say.
pub(super) fn quick(value: &Value, decl: &str) -> Option<Value> {
    match kept(value, decl) {
        true => Some(value.clone()),
        false => stored(&to_sql(value, decl), affinity(decl)),
    }
}

/// Whether SQLite hands `value` back as it is from a column declared
/// `decl` (what `quick` then answers), so a row normalized in place keeps
/// it where it is.
pub(super) fn kept(value: &Value, decl: &str) -> bool {
    use Affinity::*;
    match (value, affinity(decl)) {
        (Value::Null, _) => true,
        (Value::String(_), Text | Any) => true,
        (Value::String(t), Integer | Real | Numeric) => never_a_number(t),
        (Value::Number(n), Integer | Numeric | Any | Blob) => n.is_i64(),
        _ => false,
    }
}

/// Whether `text` can never be read as a number by a column of numeric
/// affinity, which converts only text that is a whole well-formed numeric
/// literal ("Datatypes In SQLite", 3): text without a digit, with a
/// character no such literal has (a date's `:`, `/` or `T`, a letter
/// other than an exponent's `e`), or with a sign inside it other than an
/// exponent's (a date's `-`). Stored as the text it is. What is left
/// (` 17 `, `-5`, `1e-3`) SQLite says.
pub(super) fn never_a_number(text: &str) -> bool {
    let bytes = text.as_bytes();
    let space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r');
    let start = bytes.iter().take_while(|&&b| space(b)).count();
    !bytes.iter().any(u8::is_ascii_digit)
        || bytes.iter().enumerate().any(|(i, &b)| match b {
            b'0'..=b'9' | b'.' | b'e' | b'E' => false,
            // A sign leads the number or its exponent, nowhere else.
            b'+' | b'-' => i != start && !matches!(bytes[i - 1], b'e' | b'E'),
            _ => !space(b),
        })
}

/// A declared type with the same affinity as `decl`, safe to splice into
/// DDL (the app's own type text is not reused).
pub(super) fn mirror_type(decl: &str) -> &'static str {
    match affinity(decl) {
        Affinity::Integer => "INTEGER",
        Affinity::Text => "TEXT",
        Affinity::Blob => "BLOB",
        Affinity::Real => "REAL",
        Affinity::Numeric => "NUMERIC",
        Affinity::Any => "",
    }
}
