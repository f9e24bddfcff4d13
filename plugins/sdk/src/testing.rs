//! Runs a plugin natively, so authors unit-test their rules with
//! `cargo test` and no wasm toolchain.
//!
//! Owns the test entry points. They go through the same text-level glue as
//! the wasm export (inputs serialized to JSON text and parsed back, a merged
//! row encoded and decoded), so a test sees what the host would see. Native
//! builds only; it must not be used by plugin code itself. Called by the
//! plugin crates' `#[cfg(test)]` modules.
//!
//! ```
//! use ebb_policy::serde_json::json;
//! use ebb_policy::{Row, RowExt, Validator, Violation, testing};
//!
//! struct HasId;
//!
//! impl Validator for HasId {
//!     fn validate(_table: &str, row: &Row) -> Result<(), Vec<Violation>> {
//!         match row.text("id") {
//!             Some(_) => Ok(()),
//!             None => Err(vec![Violation::new("id", "is required")]),
//!         }
//!     }
//! }
//!
//! assert!(testing::validate::<HasId>("products", json!({"id": "p1"})).is_ok());
//! assert!(testing::validate::<HasId>("products", json!({})).is_err());
//! ```

use serde_json::Value;

use crate::bindings::resolver::ebb::policy::types::Resolution as Wire;
use crate::json::parse_row;
use crate::{Level, Resolution, Resolver, Validator, Violation};

/// Validates `row` with `V` as the host would: `row` is sent as JSON text,
/// so a non-object `row` comes back as a whole-row violation.
pub fn validate<V: Validator>(table: &str, row: Value) -> Result<(), Vec<Violation>> {
    validate_text::<V>(table, &row.to_string())
}

/// Validates raw row text with `V`, for tests of malformed input.
pub fn validate_text<V: Validator>(table: &str, row: &str) -> Result<(), Vec<Violation>> {
    crate::glue::validate_wire::<V>(table, row).map_err(|violations| {
        violations
            .into_iter()
            .map(|v| Violation::new(v.field, v.message))
            .collect()
    })
}

/// Resolves a conflict with `R` as the host would. Pass `Value::Null` for a
/// deleted side and `None` for a missing base.
pub fn resolve<R: Resolver>(
    table: &str,
    local: Value,
    remote: Value,
    base: Option<Value>,
) -> Result<Resolution, String> {
    let base = base.map(|b| b.to_string());
    resolve_text::<R>(
        table,
        &local.to_string(),
        &remote.to_string(),
        base.as_deref(),
    )
}

/// Resolves raw side texts with `R`, for tests of malformed input.
pub fn resolve_text<R: Resolver>(
    table: &str,
    local: &str,
    remote: &str,
    base: Option<&str>,
) -> Result<Resolution, String> {
    Ok(
        match crate::glue::resolve_wire::<R>(table, local, remote, base)? {
            Wire::TakeLocal => Resolution::TakeLocal,
            Wire::TakeRemote => Resolution::TakeRemote,
            Wire::Merged(text) => Resolution::Merged(parse_row("merged row", &text)?),
            Wire::Manual(reason) => Resolution::Manual(reason),
        },
    )
}

/// The log lines this thread's plugin calls wrote since the last call,
/// oldest first.
pub fn take_logs() -> Vec<(Level, String)> {
    crate::log::imp::take()
}

/// `value` as a [`crate::Row`]; panics when it is not an object (for test
/// fixtures only).
pub fn row(value: Value) -> crate::Row {
    match value {
        Value::Object(row) => row,
        other => panic!("test fixture is not a JSON object: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Row, log};
    use serde_json::json;

    struct LogsAndPasses;

    impl Validator for LogsAndPasses {
        fn validate(table: &str, _row: &Row) -> Result<(), Vec<Violation>> {
            log(Level::Info, &format!("checked {table}"));
            Ok(())
        }
    }

    struct KeepBoth;

    impl Resolver for KeepBoth {
        fn resolve(
            _table: &str,
            local: Option<&Row>,
            remote: Option<&Row>,
            _base: Option<&Row>,
        ) -> Result<Resolution, String> {
            let mut merged = remote.cloned().ok_or("remote deleted")?;
            merged.extend(local.cloned().ok_or("local deleted")?);
            Ok(Resolution::Merged(merged))
        }
    }

    #[test]
    fn validate_runs_the_plugin_and_keeps_its_log() {
        take_logs();
        assert_eq!(validate::<LogsAndPasses>("things", json!({})), Ok(()));
        assert_eq!(take_logs(), vec![(Level::Info, "checked things".into())]);
        assert!(take_logs().is_empty());
    }

    #[test]
    fn validate_of_a_non_object_is_a_violation() {
        let err = validate::<LogsAndPasses>("things", json!([1])).unwrap_err();
        assert_eq!(err[0].field, "");
    }

    #[test]
    fn resolve_round_trips_the_merged_row() {
        let got = resolve::<KeepBoth>("t", json!({"a": 1}), json!({"a": 0, "b": 2}), None);
        assert_eq!(got, Ok(Resolution::Merged(row(json!({"a": 1, "b": 2})))));
        let got = resolve::<KeepBoth>("t", Value::Null, json!({}), None);
        assert_eq!(got, Err("local deleted".into()));
    }
}
