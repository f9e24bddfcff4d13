//! A tally of plugin calls per (table, kind, result), kept by `Policies` as
//! it calls validators and resolvers, and taken by `sync` after each round
//! to feed the `ebb_plugin_calls_total` metric.
//!
//! Counts only: it knows nothing of metrics, tables' policies or I/O. The
//! counts are plain numbers behind a lock, so a poisoned lock is recovered,
//! never a panic.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::PolicyError;

/// One kind of plugin call and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PluginCall {
    pub table: String,
    /// `validate` or `resolve`.
    pub kind: &'static str,
    /// `ok` (the plugin answered: a verdict or a resolution, whatever it
    /// says), `bad_output` (an answer the host refused: too large, not
    /// JSON, a merged row not of the table's shape or schema), or how the
    /// call failed: `out_of_fuel`, `timeout`, `memory_limit`, `trap`,
    /// `input_too_large`, `plugin_error`, `error`.
    pub result: &'static str,
}

/// Calls counted since the last [`Tally::take`].
#[derive(Debug, Default)]
pub(super) struct Tally(Mutex<BTreeMap<PluginCall, u64>>);

impl Tally {
    /// One call of plugin `kind` for `table` ended as `result`.
    pub(super) fn count(&self, table: &str, kind: &'static str, result: &'static str) {
        let call = PluginCall {
            table: table.to_owned(),
            kind,
            result,
        };
        let mut calls = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = calls.entry(call).or_insert(0);
        *n = n.saturating_add(1);
    }

    /// The counts so far, reset to none.
    pub(super) fn take(&self) -> Vec<(PluginCall, u64)> {
        let mut calls = self.0.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut *calls).into_iter().collect()
    }
}

/// The `result` of a call that failed with `error`.
pub(super) fn failed(error: &PolicyError) -> &'static str {
    match error.root() {
        PolicyError::OutOfFuel { .. } => "out_of_fuel",
        PolicyError::Timeout { .. } => "timeout",
        PolicyError::MemoryLimit { .. } => "memory_limit",
        PolicyError::Trap { .. } => "trap",
        PolicyError::InputTooLarge { .. } => "input_too_large",
        PolicyError::OutputTooLarge { .. }
        | PolicyError::OutputNotJson { .. }
        | PolicyError::OutputSchema { .. } => "bad_output",
        PolicyError::PluginError { .. } => "plugin_error",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_table_kind_and_result_until_taken() {
        let tally = Tally::default();
        tally.count("products", "validate", "ok");
        tally.count("products", "validate", "ok");
        tally.count("products", "resolve", "timeout");
        let calls = tally.take();
        let n = |kind, result| {
            calls
                .iter()
                .find(|(c, _)| c.table == "products" && c.kind == kind && c.result == result)
                .map(|(_, n)| *n)
        };
        assert_eq!(n("validate", "ok"), Some(2));
        assert_eq!(n("resolve", "timeout"), Some(1));
        assert_eq!(calls.len(), 2);
        assert!(tally.take().is_empty());
    }

    #[test]
    fn failures_are_named_by_cause() {
        let plugin = String::from("p.wasm");
        let timeout = PolicyError::Timeout {
            plugin: plugin.clone(),
            after: std::time::Duration::from_millis(5),
        };
        assert_eq!(failed(&timeout), "timeout");
        let trap = PolicyError::Trap {
            plugin,
            message: "unreachable".into(),
        };
        let wrapped = PolicyError::Config {
            key: "tables.t.validate".into(),
            source: Box::new(trap),
        };
        assert_eq!(failed(&wrapped), "trap");
    }

    /// `Policies` built from policies.toml `tables` text (plugins by their
    /// file name under host/tests/wat).
    fn policies(tables: &str) -> crate::policy::Policies {
        let wat = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/wat");
        let text = format!(
            "database = \"app.db\"\n[remote]\nurl = \"https://xyz.supabase.co\"\n{}",
            tables.replace("WAT", wat)
        );
        let dir = tempfile::tempdir().unwrap();
        let config = crate::config::parse(&text, &dir.path().join("policies.toml")).unwrap();
        crate::policy::Policies::load(&config).unwrap()
    }

    #[test]
    fn policies_count_every_plugin_call_by_result() {
        let p = policies(
            "[tables.a]\npk = \"id\"\nvalidate = \"WAT/validator.wat\"\n\
             conflict = \"plugin\"\nresolver = \"WAT/resolver_bad_row.wat\"\n\
             [tables.b]\npk = \"id\"\nvalidate = \"WAT/trap.wat\"\n\
             conflict = \"plugin\"\nresolver = \"WAT/resolver_err.wat\"\n\
             [tables.c]\npk = \"id\"\nconflict = \"plugin\"\nresolver = \"WAT/resolver.wat\"\n",
        );
        let row = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
        assert!(
            p.validate("a", "1", &row(serde_json::json!({"id": 1})))
                .is_valid()
        );
        assert!(
            !p.validate("b", "1", &row(serde_json::json!({"id": 1})))
                .is_valid()
        );
        let input = crate::policy::ConflictInput {
            local: Some(row(serde_json::json!({"id": 1, "price": 5}))),
            remote: Some(row(serde_json::json!({"id": 1, "price": 20}))),
            base: Some(row(serde_json::json!({"id": 1, "price": 4}))),
        };
        // Table a's resolver answers a row of key 1, not of key 7: refused.
        for (table, pk) in [("a", "7"), ("b", "1"), ("c", "1")] {
            p.resolve(table, pk, &input);
        }
        let mut calls: Vec<(String, &str, &str, u64)> = p
            .take_plugin_calls()
            .into_iter()
            .map(|(c, n)| (c.table, c.kind, c.result, n))
            .collect();
        calls.sort();
        let want = [
            ("a", "resolve", "bad_output"),
            ("a", "validate", "ok"),
            ("b", "resolve", "plugin_error"),
            ("b", "validate", "trap"),
            ("c", "resolve", "ok"),
        ];
        let want: Vec<(String, &str, &str, u64)> = want
            .iter()
            .map(|(t, k, r)| ((*t).to_owned(), *k, *r, 1))
            .collect();
        assert_eq!(calls, want);
        assert!(p.take_plugin_calls().is_empty());
    }
}
