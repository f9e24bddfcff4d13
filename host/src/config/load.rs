//! Reading policies.toml: TOML, then the JSON Schema, then the raw structs,
//! then `resolve`.
//!
//! Owns the order of the checks and the mapping of each library's error to
//! a `ConfigError` that names the file and the dotted key (or line and
//! column). Its only side effects are reading policies.toml and the row
//! schema files it names; it opens no database and no connection, and never
//! reads the API key. Called by the CLI and by library users; `ebb check`
//! calls it before anything else runs.

use std::path::Path;
use std::sync::LazyLock;

use serde_json::{Map, Value};

use super::raw::RawConfig;
use super::{Config, ConfigError, resolve};

/// The schema policies.toml is checked against (also shipped for editors).
pub const POLICIES_SCHEMA: &str = include_str!("../../../schemas/policies.schema.json");

static VALIDATOR: LazyLock<Result<jsonschema::Validator, String>> = LazyLock::new(|| {
    let schema: Value = serde_json::from_str(POLICIES_SCHEMA).map_err(|e| e.to_string())?;
    jsonschema::draft202012::new(&schema).map_err(|e| e.to_string())
});

/// Keys under `[remote]` that would hold the key itself.
const KEY_LITERALS: [&str; 8] = [
    "api_key",
    "apikey",
    "key",
    "anon_key",
    "service_role_key",
    "access_token",
    "token",
    "jwt",
];

/// Reads and resolves the policies.toml at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Io {
        path: path.to_path_buf(),
        cause,
    })?;
    parse(&text, path)
}

/// Resolves policies.toml text; `path` names the file in errors, and its
/// directory is where relative paths (and the row schema files) are found.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let doc: toml::Table = toml::from_str(text).map_err(|e| toml_error(&e, text, path))?;
    refuse_key_literal(&doc, path)?;
    check_schema(&toml_to_json(&toml::Value::Table(doc)), path)?;
    let raw: RawConfig = toml::from_str(text).map_err(|e| toml_error(&e, text, path))?;
    resolve::resolve(raw, path)
}

fn toml_error(e: &toml::de::Error, text: &str, path: &Path) -> ConfigError {
    let (line, col) = match e.span() {
        Some(span) => line_col(text, span.start),
        None => (1, 1),
    };
    let mut message = e.message().trim().to_string();
    if message.contains("escape") {
        // Nearly always a Windows path in double quotes ("C:\shop\app.db").
        message.push_str(
            "; in double quotes a backslash starts an escape: write Windows paths in \
             single quotes ('C:\\shop\\app.db') or with forward slashes (\"C:/shop/app.db\")",
        );
    }
    ConfigError::Toml {
        path: path.to_path_buf(),
        line,
        col,
        message,
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// A key in the file is refused with the reason, without echoing it.
fn refuse_key_literal(doc: &toml::Table, path: &Path) -> Result<(), ConfigError> {
    let Some(remote) = doc.get("remote").and_then(toml::Value::as_table) else {
        return Ok(());
    };
    match KEY_LITERALS.iter().find(|k| remote.contains_key(**k)) {
        Some(k) => Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            key: format!("remote.{k}"),
            message: "secrets do not belong in policies.toml (the file is shared and often \
                      committed); remove it, and name where to read it instead: \
                      api_key_env = \"EBB_API_KEY\" (the default) or api_key_file = \"path\" \
                      for the API key, access_token_env or access_token_file for a token"
                .to_string(),
        }),
        None => Ok(()),
    }
}

/// TOML as JSON for the schema check; datetimes become their text.
fn toml_to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => Value::Object(
            table
                .iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect::<Map<_, _>>(),
        ),
    }
}

/// Checks the document against `schemas/policies.schema.json`; the first
/// error is reported with its dotted key.
pub(super) fn check_schema(doc: &Value, path: &Path) -> Result<(), ConfigError> {
    let validator = VALIDATOR.as_ref().map_err(|e| ConfigError::Schema {
        path: path.to_path_buf(),
        key: "(schema)".to_string(),
        message: format!("the built-in policies schema does not compile: {e}"),
    })?;
    let Some(error) = validator.iter_errors(doc).next() else {
        return Ok(());
    };
    let mut key = dotted(error.instance_path().as_str());
    let message = match error.kind() {
        jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
            let name = unexpected.first().map(String::as_str).unwrap_or("?");
            key = join(&key, name);
            "unknown key".to_string()
        }
        jsonschema::error::ValidationErrorKind::Required { property } => {
            let name = property
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| property.to_string());
            key = join(&key, &name);
            "missing (required)".to_string()
        }
        jsonschema::error::ValidationErrorKind::Enum { options } => {
            let noun = if key.ends_with(".conflict") {
                "strategy"
            } else {
                "value"
            };
            let expected: Vec<String> = match options.as_array() {
                Some(items) => items
                    .iter()
                    .map(|v| v.as_str().map_or(v.to_string(), str::to_string))
                    .collect(),
                None => vec![options.to_string()],
            };
            format!(
                "unknown {noun} {} (expected {})",
                error.instance(),
                expected.join(" | ")
            )
        }
        _ => error.to_string(),
    };
    if key.is_empty() {
        key = "(top level)".to_string();
    }
    Err(ConfigError::Schema {
        path: path.to_path_buf(),
        key,
        message,
    })
}

/// "/tables/orders/conflict" -> "tables.orders.conflict"; "/a/b/0" -> "a.b[0]".
fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if !segment.is_empty() && segment.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{segment}]"));
        } else {
            out = join(&out, &segment);
        }
    }
    out
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("a\nbc\nd", 0), (1, 1));
        assert_eq!(line_col("a\nbc\nd", 3), (2, 2));
        assert_eq!(line_col("é\nx", 1), (1, 1));
        assert_eq!(line_col("ab", 99), (1, 3));
    }

    #[test]
    fn pointers_become_dotted_keys() {
        assert_eq!(dotted(""), "");
        assert_eq!(dotted("/tables/orders/conflict"), "tables.orders.conflict");
        assert_eq!(
            dotted("/alerts/notify_command/0"),
            "alerts.notify_command[0]"
        );
        assert_eq!(dotted("/tables/a~1b"), "tables.a/b");
    }

    #[test]
    fn embedded_schema_compiles() {
        assert!(VALIDATOR.is_ok(), "{:?}", VALIDATOR.as_ref().err());
    }
}
