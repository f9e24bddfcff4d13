//! What a resolver's merged row must be before anything writes it: the row
//! of the conflict (the same key, compared as the key text the engine uses,
//! `model::key_text`), with exactly the table's local columns, and valid
//! against the table's JSON Schema.
//!
//! Owns [`Shape`], [`ShapeError`] and [`check_merged`], the one check that
//! both `Policies::resolve` (sync) and `ebb policy run` apply, so an answer
//! the author's tool accepts is one sync accepts, and a refusal reads the
//! same in both. A refused answer becomes `Decision::Manual(reason)`: the
//! conflict goes to a person instead of failing every round. Pure: callers
//! describe the table (SQLite is `local`'s) and pass its columns in.
//! Reasons name the resolver, table, pk, keys and columns, never a value.

use std::fmt;

use super::PolicyError;
use super::schema::{TableSchema, summary};
use crate::model::{Row, key_text};

/// A table's key column and, when known, its local columns (as
/// `local::describe` reports them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    pk_column: String,
    columns: Option<Vec<String>>,
}

impl Shape {
    /// The key column and every local column: key and columns are checked.
    pub fn new(pk_column: &str, columns: Vec<String>) -> Shape {
        Shape {
            pk_column: pk_column.to_string(),
            columns: Some(columns),
        }
    }

    /// Only the key column (the table was not described): the key is
    /// checked, the columns are not.
    pub fn key_only(pk_column: &str) -> Shape {
        Shape {
            pk_column: pk_column.to_string(),
            columns: None,
        }
    }

    pub fn pk_column(&self) -> &str {
        &self.pk_column
    }

    /// Whether the columns are known (and so checked).
    pub fn checks_columns(&self) -> bool {
        self.columns.is_some()
    }

    /// Whether `row` is the row with key text `pk` of this table: its key
    /// column holds that key (a string as is, a number by its decimal
    /// text), and, when the columns are known, it names every column and
    /// nothing else (names compared exactly, as the server compares them).
    /// The key column missing from the row counts as a missing column.
    pub fn check(&self, pk: &str, row: &Row) -> Result<(), ShapeError> {
        if let Some(value) = row.get(&self.pk_column) {
            match key_text(value) {
                Some(key) if key == pk => {}
                Some(answered) => return Err(ShapeError::OtherKey { answered }),
                None => {
                    return Err(ShapeError::NotAKey {
                        column: self.pk_column.clone(),
                        kind: kind(value),
                    });
                }
            }
        }
        let (unknown, missing) = match &self.columns {
            Some(columns) => (
                row.keys()
                    .filter(|k| !columns.contains(k))
                    .cloned()
                    .collect(),
                columns
                    .iter()
                    .filter(|c| !row.contains_key(*c))
                    .cloned()
                    .collect(),
            ),
            None if row.contains_key(&self.pk_column) => (Vec::new(), Vec::new()),
            None => (Vec::new(), vec![self.pk_column.clone()]),
        };
        if unknown.is_empty() && missing.is_empty() {
            Ok(())
        } else {
            Err(ShapeError::Columns { unknown, missing })
        }
    }
}

/// Why a merged row does not fit its table. The resolver's fault (a plugin
/// author's, or the built-in merge given sides that disagree); the
/// conflict is left to a person with [`ShapeError::reason`], nothing is
/// written. Displays as the part of the reason after the table and pk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// The row carries another row's key: writing it would overwrite (or
    /// create) that row instead of settling this one.
    #[error("answered a row for key {answered:?}")]
    OtherKey { answered: String },
    /// The key column holds something that is no key (`kind`: null, a
    /// bool, an array or an object).
    #[error("key column {column:?} holds {kind}, which is no key")]
    NotAKey { column: String, kind: &'static str },
    /// Names that are no column of the local table, and columns the row
    /// leaves out (each would be written as something nobody decided).
    #[error("{}", columns_text(unknown, missing))]
    Columns {
        unknown: Vec<String>,
        missing: Vec<String>,
    },
}

impl ShapeError {
    /// The whole reason: `who` (`plugin NAME` or `merge`), table, pk, and
    /// what is wrong, e.g. `plugin stock_resolver.wasm answered a row for
    /// key "b" for table products, pk "a"`.
    pub fn reason(&self, who: &Answerer<'_>, table: &str, pk: &str) -> String {
        match self {
            ShapeError::OtherKey { .. } => format!("{who} {self} for table {table}, pk {pk:?}"),
            _ => format!("{who} answered a row for table {table}, pk {pk:?}: {self}"),
        }
    }
}

/// Who answered a merged row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answerer<'a> {
    /// The built-in three-way merge (`conflict = "merge"`).
    Merge,
    /// A resolver plugin, by its file name.
    Plugin(&'a str),
}

impl fmt::Display for Answerer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answerer::Merge => f.write_str("merge"),
            Answerer::Plugin(name) => write!(f, "plugin {name}"),
        }
    }
}

/// The check of a merged row for row `pk` of `table`: the shape (when
/// known), then the JSON Schema (when configured). `Err` is the reason the
/// conflict is left to a person.
pub fn check_merged(
    who: Answerer<'_>,
    table: &str,
    pk: &str,
    shape: Option<&Shape>,
    schema: Option<&TableSchema>,
    row: &Row,
) -> Result<(), String> {
    if let Some(shape) = shape {
        shape
            .check(pk, row)
            .map_err(|e| e.reason(&who, table, pk))?;
    }
    let violations = schema.map(|s| s.check(row)).unwrap_or_default();
    if violations.is_empty() {
        return Ok(());
    }
    let errors = summary(&violations);
    Err(match who {
        Answerer::Merge => format!("table {table}, pk {pk}: merged row fails the schema: {errors}"),
        Answerer::Plugin(plugin) => {
            let e = PolicyError::OutputSchema {
                plugin: plugin.to_string(),
                table: table.to_string(),
                errors,
            };
            format!("table {table}, pk {pk}: {e}")
        }
    })
}

fn columns_text(unknown: &[String], missing: &[String]) -> String {
    let list = |what: &str, names: &[String]| {
        let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
        let s = if names.len() == 1 { "" } else { "s" };
        format!("{what} column{s} {}", quoted.join(", "))
    };
    let mut parts = Vec::new();
    if !unknown.is_empty() {
        parts.push(list("unknown", unknown));
    }
    if !missing.is_empty() {
        parts.push(list("missing", missing));
    }
    parts.join("; ")
}

fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a bool",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
        serde_json::Value::String(_) | serde_json::Value::Number(_) => "a key",
    }
}

#[cfg(test)]
#[path = "shape_tests.rs"]
mod tests;
