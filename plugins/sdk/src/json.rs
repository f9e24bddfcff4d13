//! Rows as JSON: the [`Row`] type, typed field access ([`RowExt`]) and the
//! parsing of the JSON text that crosses the wasm boundary.
//!
//! Owns how row text becomes a [`Row`] and what the error says when it does
//! not. It must not panic on any input and must not copy row content into an
//! error message (rows may hold personal data; only the parser's position
//! is reported). Called by plugin code, `glue` and `testing`.

use serde_json::{Map, Value};

/// One row: column name to JSON value, in the order the host sent them.
pub type Row = Map<String, Value>;

/// Typed reads of a row's fields, for the rules a plugin checks.
pub trait RowExt {
    /// The field as text; `None` when missing, null or not a string.
    fn text(&self, field: &str) -> Option<&str>;
    /// The field as an integer; `None` when missing, null or not an integer
    /// that fits in `i64` (money in ebb is integer cents).
    fn int(&self, field: &str) -> Option<i64>;
    /// Whether the field is missing or JSON `null`.
    fn is_null(&self, field: &str) -> bool;
}

impl RowExt for Row {
    fn text(&self, field: &str) -> Option<&str> {
        self.get(field).and_then(Value::as_str)
    }

    fn int(&self, field: &str) -> Option<i64> {
        self.get(field).and_then(Value::as_i64)
    }

    fn is_null(&self, field: &str) -> bool {
        self.get(field).is_none_or(Value::is_null)
    }
}

/// Parses `text` as one JSON object. `what` names the input in the error
/// ("row", "local", ...).
pub(crate) fn parse_row(what: &str, text: &str) -> Result<Row, String> {
    match parse_side(what, text)? {
        Some(row) => Ok(row),
        None => Err(format!("{what} must be a JSON object, got null")),
    }
}

/// Parses `text` as one JSON object or `null` (a deleted side).
pub(crate) fn parse_side(what: &str, text: &str) -> Result<Option<Row>, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("{what} is not valid JSON: {e}"))?;
    match value {
        Value::Object(row) => Ok(Some(row)),
        Value::Null => Ok(None),
        other => Err(format!(
            "{what} must be a JSON object or null, got {}",
            kind(&other)
        )),
    }
}

/// The JSON type of a value, for error messages that must not echo content.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_row_accepts_objects_only() {
        assert_eq!(parse_row("row", r#"{"a":1}"#).unwrap()["a"], json!(1));
        assert_eq!(
            parse_row("row", "null").unwrap_err(),
            "row must be a JSON object, got null"
        );
        assert_eq!(
            parse_row("row", "[1]").unwrap_err(),
            "row must be a JSON object or null, got an array"
        );
        let err = parse_row("row", r#"{"secret": "hunter2""#).unwrap_err();
        assert!(err.starts_with("row is not valid JSON: "), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn parse_side_maps_null_to_deleted() {
        assert_eq!(parse_side("local", "null").unwrap(), None);
        assert_eq!(parse_side("local", " {} ").unwrap(), Some(Row::new()));
        assert!(parse_side("local", "").is_err());
        assert!(parse_side("local", r#""text""#).is_err());
    }

    #[test]
    fn row_ext_reads_typed_fields() {
        let row = json!({"s": "x", "n": 5, "f": 1.5, "z": null})
            .as_object()
            .cloned()
            .unwrap();
        assert_eq!(row.text("s"), Some("x"));
        assert_eq!(row.text("n"), None);
        assert_eq!(row.int("n"), Some(5));
        assert_eq!(row.int("f"), None);
        assert_eq!(row.int("missing"), None);
        assert!(row.is_null("z"));
        assert!(row.is_null("missing"));
        assert!(!row.is_null("n"));
    }
}
