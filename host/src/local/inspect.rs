//! Table introspection: the columns of an app table, the user tables of a
//! file, and a JSON Schema inferred from a table for `ebb init`.
//!
//! Read-only: `list_tables` and `describe_file` open the file read-only and
//! create nothing (not even ebb's tables). Column lists come from
//! `pragma_table_info` with the table name bound as a parameter. Called by
//! the rest of `local` (row reads and writes, trigger checks) and by `cli`.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;
use serde_json::{Value, json};

use super::{Context, Local, LocalError};

/// The columns of one table, in declaration order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableInfo {
    pub name: String,
    pub columns: Vec<Column>,
}

/// One column as `PRAGMA table_info` reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    pub name: String,
    /// The declared type as written (may be empty).
    pub decl_type: String,
    pub not_null: bool,
    /// Part of the primary key.
    pub pk: bool,
    /// The default expression as SQL text.
    pub default: Option<String>,
}

impl TableInfo {
    /// The column named `name` (SQLite names are case-insensitive).
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name).or_else(|| {
            self.columns
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(name))
        })
    }
}

/// Describes `table` in the database `local` has open.
pub fn describe(local: &Local, table: &str) -> Result<TableInfo, LocalError> {
    describe_conn(&local.conn, table)
}

/// The app's schema version (`PRAGMA schema_version`): it moves whenever a
/// table, index or trigger of the database is created, changed or dropped.
pub fn schema_version(local: &Local) -> Result<i64, LocalError> {
    local
        .conn
        .prepare_cached("PRAGMA schema_version")
        .and_then(|mut stmt| stmt.query_row([], |r| r.get(0)))
        .ctx(|| "reading the schema version".into())
}

/// Describes `table` in the file at `path`, opened read-only.
pub fn describe_file(path: &Path, table: &str) -> Result<TableInfo, LocalError> {
    describe_conn(&open_read_only(path)?, table)
}

/// The user tables of the file at `path` (not `sqlite_*`, not ebb's
/// `_ebb_*`), sorted by name. Opens the file read-only.
pub fn list_tables(path: &Path) -> Result<Vec<String>, LocalError> {
    let conn = open_read_only(path)?;
    let mut stmt = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table'
               AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
               AND name NOT LIKE '\\_ebb\\_%' ESCAPE '\\'
             ORDER BY name",
        )
        .ctx(|| "listing tables".into())?;
    let names = stmt
        .query_map([], |r| r.get(0))
        .ctx(|| "listing tables".into())?;
    names
        .collect::<Result<_, _>>()
        .ctx(|| "listing tables".into())
}

/// A draft 2020-12 JSON Schema for rows of the table: INTEGER affinity ->
/// integer, REAL and NUMERIC -> number, TEXT -> string, BLOB -> base64
/// string, no declared type -> anything. NOT NULL columns and the primary
/// key are required; nullable columns also allow null; no other keys.
pub fn infer_json_schema(info: &TableInfo) -> Value {
    let mut properties = serde_json::Map::new();
    let mut required = Vec::new();
    for column in &info.columns {
        let nullable = !column.not_null && !column.pk;
        let mut prop = match affinity(&column.decl_type) {
            Affinity::Integer => json!({ "type": "integer" }),
            Affinity::Real | Affinity::Numeric => json!({ "type": "number" }),
            Affinity::Text => json!({ "type": "string" }),
            Affinity::Blob => json!({ "type": "string", "contentEncoding": "base64" }),
            Affinity::Any => json!({}),
        };
        if nullable && let Some(ty) = prop.get("type").cloned() {
            prop["type"] = json!([ty, "null"]);
        }
        if column.not_null || column.pk {
            required.push(Value::String(column.name.clone()));
        }
        properties.insert(column.name.clone(), prop);
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": info.name,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// SQLite's column affinity rules (section 3.1 of "Datatypes In SQLite"),
/// with "no declared type" kept apart from BLOB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Affinity {
    Integer,
    Text,
    Blob,
    Real,
    Numeric,
    Any,
}

pub(crate) fn affinity(decl_type: &str) -> Affinity {
    // This runs per value: the types most columns are declared with first.
    match decl_type {
        "TEXT" | "text" => return Affinity::Text,
        "INTEGER" | "integer" => return Affinity::Integer,
        "REAL" | "real" => return Affinity::Real,
        _ => {}
    }
    // Case-insensitive, without an uppercase copy.
    let t = decl_type.as_bytes();
    let has = |word: &str| {
        t.windows(word.len())
            .any(|w| w.eq_ignore_ascii_case(word.as_bytes()))
    };
    if has("INT") {
        Affinity::Integer
    } else if has("CHAR") || has("CLOB") || has("TEXT") {
        Affinity::Text
    } else if has("BLOB") {
        Affinity::Blob
    } else if decl_type.trim().is_empty() {
        Affinity::Any
    } else if has("REAL") || has("FLOA") || has("DOUB") {
        Affinity::Real
    } else {
        Affinity::Numeric
    }
}

/// Describes `table` on an open connection; `NoSuchTable` when absent.
pub(crate) fn describe_conn(conn: &Connection, table: &str) -> Result<TableInfo, LocalError> {
    let mut stmt = conn
        .prepare_cached("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1)")
        .ctx(|| format!("describing {table}"))?;
    let columns = stmt
        .query_map([table], |r| {
            Ok(Column {
                name: r.get(0)?,
                decl_type: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                not_null: r.get(2)?,
                default: r.get(3)?,
                pk: r.get::<_, i64>(4)? > 0,
            })
        })
        .ctx(|| format!("describing {table}"))?
        .collect::<Result<Vec<_>, _>>()
        .ctx(|| format!("describing {table}"))?;
    if columns.is_empty() {
        return Err(LocalError::NoSuchTable {
            table: table.to_string(),
        });
    }
    Ok(TableInfo {
        name: table.to_string(),
        columns,
    })
}

fn open_read_only(path: &Path) -> Result<Connection, LocalError> {
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ctx(|| format!("opening {} read-only", path.display()))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::open_temp;
    use super::*;

    #[test]
    fn lists_user_tables_only_and_describes() {
        let (dir, local) = open_temp();
        let path = dir.path().join("app.db");
        assert_eq!(list_tables(&path).unwrap(), ["items", "parents", "users"]);
        let info = describe(&local, "items").unwrap();
        let id = info.column("ID").unwrap();
        assert!(id.pk);
        assert_eq!(info.column("qty").unwrap().default.as_deref(), Some("0"));
        assert_eq!(describe_file(&path, "items").unwrap(), info);
        assert!(matches!(
            describe(&local, "missing"),
            Err(LocalError::NoSuchTable { .. })
        ));
    }

    #[test]
    fn schema_follows_affinity_and_nullability() {
        let (_dir, local) = open_temp();
        let schema = infer_json_schema(&describe(&local, "items").unwrap());
        let props = &schema["properties"];
        assert_eq!(props["id"]["type"], json!("string"));
        assert_eq!(props["qty"]["type"], json!("integer"));
        assert_eq!(props["price"]["type"], json!(["number", "null"]));
        assert_eq!(props["photo"]["contentEncoding"], json!("base64"));
        assert_eq!(props["note"]["type"], json!(["string", "null"]));
        assert_eq!(schema["required"], json!(["id", "qty"]));
        assert_eq!(schema["additionalProperties"], json!(false));
        let validator = jsonschema::validator_for(&schema).expect("valid schema");
        assert!(validator.is_valid(&json!({"id": "a", "qty": 1, "price": null})));
        assert!(!validator.is_valid(&json!({"id": "a", "qty": 1.5})));
        assert!(!validator.is_valid(&json!({"id": "a", "qty": 1, "extra": 1})));
    }

    #[test]
    fn affinity_rules() {
        assert_eq!(affinity("BIGINT"), Affinity::Integer);
        assert_eq!(affinity("varchar(20)"), Affinity::Text);
        assert_eq!(affinity("blob"), Affinity::Blob);
        assert_eq!(affinity(""), Affinity::Any);
        assert_eq!(affinity("DOUBLE PRECISION"), Affinity::Real);
        assert_eq!(affinity("DECIMAL(10,2)"), Affinity::Numeric);
        assert_eq!(affinity("BOOLEAN"), Affinity::Numeric);
        for (t, a) in [("TEXT", Affinity::Text), ("integer", Affinity::Integer)] {
            assert_eq!(affinity(t), a, "the quick path agrees");
        }
        assert_eq!(affinity("Real"), Affinity::Real);
    }
}
