//! JSON Schema checks of rows: one compiled validator per table.
//!
//! Owns compiling a table's schema (the draft comes from `$schema`,
//! 2020-12 when absent) and turning schema errors into `Violation`s with
//! dotted field paths. It does no I/O: the schema was read by `config`.
//! Called by `Policies` for outgoing rows, plugin inputs and merged rows, and
//! by author tooling through `TableSchema::check`.

use serde_json::Value;

use super::{PolicyError, Violation};
use crate::config::SchemaFile;
use crate::model::Row;

/// Most violations reported for one row; the rest are summarised.
const MAX_VIOLATIONS: usize = 20;
/// Longest violation message kept (they quote the offending value).
const MAX_MESSAGE: usize = 300;

/// A table's compiled JSON Schema.
pub struct TableSchema {
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for TableSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableSchema").finish_non_exhaustive()
    }
}

impl TableSchema {
    /// Compiles `file.schema` for `table`; a bad schema names the table, file
    /// and cause.
    pub fn compile(table: &str, file: &SchemaFile) -> Result<TableSchema, PolicyError> {
        Self::from_value(table, &file.path.display().to_string(), &file.schema)
    }

    /// Compiles a schema already in memory; `path` is only for messages.
    pub fn from_value(table: &str, path: &str, schema: &Value) -> Result<TableSchema, PolicyError> {
        let bad = |message: String| PolicyError::Schema {
            table: table.to_string(),
            path: path.to_string(),
            message,
        };
        if !schema.is_object() && !schema.is_boolean() {
            return Err(bad("a schema must be a JSON object or a boolean".into()));
        }
        let validator = jsonschema::validator_for(schema).map_err(|e| bad(e.to_string()))?;
        Ok(TableSchema { validator })
    }

    /// The row's violations, empty when it conforms. `field` is a dotted
    /// path (`items.0.qty`), empty for the whole row.
    pub fn check(&self, row: &Row) -> Vec<Violation> {
        // The validator takes a `Value` and a `Row` is the map inside one, so
        // the row is cloned (rows are small; see examples/bench_policy).
        let value = Value::Object(row.clone());
        self.check_value(&value)
    }

    /// As `check`, for any JSON value.
    pub fn check_value(&self, value: &Value) -> Vec<Violation> {
        if self.validator.is_valid(value) {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut more = 0usize;
        for error in self.validator.iter_errors(value) {
            if out.len() == MAX_VIOLATIONS {
                more += 1;
                continue;
            }
            let mut field = pointer_to_path(error.instance_path().as_str());
            if let jsonschema::error::ValidationErrorKind::Required { property } = error.kind() {
                let name = property.as_str().map(str::to_string).unwrap_or_default();
                field = join(&field, &name);
            }
            out.push(Violation {
                field,
                message: shorten(error.to_string()),
            });
        }
        if more > 0 {
            out.push(Violation {
                field: String::new(),
                message: format!("and {more} more schema violations"),
            });
        }
        out
    }
}

/// `/items/0/a~1b` -> `items.0.a/b`.
fn pointer_to_path(pointer: &str) -> String {
    pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect::<Vec<_>>()
        .join(".")
}

fn shorten(message: String) -> String {
    if message.chars().count() <= MAX_MESSAGE {
        return message;
    }
    let cut: String = message.chars().take(MAX_MESSAGE).collect();
    format!("{cut}...")
}

fn join(base: &str, name: &str) -> String {
    match (base.is_empty(), name.is_empty()) {
        (true, _) => name.to_string(),
        (false, true) => base.to_string(),
        (false, false) => format!("{base}.{name}"),
    }
}

/// Joins violations into one line for a reason or an error message.
pub fn summary(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| {
            if v.field.is_empty() {
                v.message.clone()
            } else {
                format!("{}: {}", v.field, v.message)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(v: Value) -> TableSchema {
        TableSchema::from_value("products", "products.schema.json", &v).unwrap()
    }

    fn row(v: Value) -> Row {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn conforming_row_has_no_violations() {
        let s = schema(json!({"type": "object", "properties": {"price": {"type": "number"}}}));
        assert!(s.check(&row(json!({"price": 3}))).is_empty());
    }

    #[test]
    fn violations_carry_field_paths() {
        let s = schema(json!({
            "type": "object",
            "required": ["id", "name"],
            "properties": {
                "price": {"type": "number", "minimum": 0},
                "tags": {"type": "array", "items": {"type": "string"}}
            }
        }));
        let v = s.check(&row(json!({"id": 1, "price": -1, "tags": ["a", 2]})));
        let fields: Vec<&str> = v.iter().map(|v| v.field.as_str()).collect();
        assert!(fields.contains(&"price"), "{v:?}");
        assert!(fields.contains(&"tags.1"), "{v:?}");
        assert!(fields.contains(&"name"), "{v:?}");
        assert_eq!(v.len(), 3);
    }

    #[test]
    fn draft_is_taken_from_dollar_schema() {
        // Draft 4 uses boolean exclusiveMaximum; 2020-12 would reject it as a
        // non-number. Compiles only if the draft is honoured.
        let s = schema(json!({
            "$schema": "http://json-schema.org/draft-04/schema#",
            "properties": {"n": {"maximum": 5, "exclusiveMaximum": true}}
        }));
        assert!(!s.check(&row(json!({"n": 5}))).is_empty());
        assert!(s.check(&row(json!({"n": 4}))).is_empty());
    }

    #[test]
    fn bad_schema_names_table_and_file() {
        let err = TableSchema::from_value("t", "t.json", &json!({"type": 12})).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("table t") && text.contains("t.json"),
            "{text}"
        );
        assert!(TableSchema::from_value("t", "t.json", &json!([1])).is_err());
    }

    #[test]
    fn long_messages_are_shortened() {
        let s = schema(json!({"properties": {"name": {"maxLength": 3}}}));
        let v = s.check(&row(json!({"name": "x".repeat(10_000)})));
        assert_eq!(v.len(), 1);
        assert!(v[0].message.len() < 400, "{}", v[0].message.len());
    }

    #[test]
    fn pointer_paths_unescape() {
        assert_eq!(pointer_to_path(""), "");
        assert_eq!(pointer_to_path("/a~1b/0/c~0d"), "a/b.0.c~d");
    }
}
