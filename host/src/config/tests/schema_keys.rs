//! schemas/policies.schema.json held against the code: the schema and the
//! raw `deny_unknown_fields` structs accept the same keys, every schema key
//! is described, and the schema's defaults are the code's defaults.
//! `shipped` uses [`schema`] and [`deref`] to walk the schema's keys.

use std::collections::BTreeSet;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{Dir, MIN};
use crate::config::raw::{
    RawAlerts, RawConfig, RawLimits, RawOps, RawRateLimit, RawRealtime, RawRemote, RawRetry,
    RawSync, RawTable,
};
use crate::config::{ConflictPolicy, POLICIES_SCHEMA};

/// The shipped schema, parsed.
pub(super) fn schema() -> Value {
    serde_json::from_str(POLICIES_SCHEMA).expect("policies.schema.json is JSON")
}

/// `node`, or the `$defs` entry its `$ref` points at.
pub(super) fn deref<'a>(node: &'a Value, root: &'a Value) -> &'a Value {
    match node["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/$defs/"))
    {
        Some(name) => &root["$defs"][name],
        None => node,
    }
}

/// The field names a `deny_unknown_fields` struct accepts, read from the
/// error serde gives for an unknown one.
fn fields<T: DeserializeOwned>() -> BTreeSet<String> {
    let e = serde_json::from_value::<T>(json!({"__probe__": 0}))
        .err()
        .expect("probe refused")
        .to_string();
    let expected = e.split("expected").nth(1).unwrap_or_else(|| panic!("{e}"));
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn properties(node: &Value, root: &Value) -> BTreeSet<String> {
    deref(node, root)["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .cloned()
        .collect()
}

#[test]
fn schema_and_raw_structs_know_the_same_keys() {
    let s = schema();
    let p = &s["properties"];
    let pairs = [
        ("(top level)", fields::<RawConfig>(), properties(&s, &s)),
        (
            "remote",
            fields::<RawRemote>(),
            properties(&p["remote"], &s),
        ),
        ("sync", fields::<RawSync>(), properties(&p["sync"], &s)),
        ("retry", fields::<RawRetry>(), properties(&p["retry"], &s)),
        (
            "rate_limit",
            fields::<RawRateLimit>(),
            properties(&p["rate_limit"], &s),
        ),
        (
            "alerts",
            fields::<RawAlerts>(),
            properties(&p["alerts"], &s),
        ),
        ("ops", fields::<RawOps>(), properties(&p["ops"], &s)),
        (
            "realtime",
            fields::<RawRealtime>(),
            properties(&p["realtime"], &s),
        ),
        (
            "plugin_limits",
            fields::<RawLimits>(),
            properties(&p["plugin_limits"], &s),
        ),
        (
            "tables.NAME",
            fields::<RawTable>(),
            properties(&s["$defs"]["table"], &s),
        ),
    ];
    for (section, raw, schema) in pairs {
        assert!(raw.len() > 1, "{section}: probe found {raw:?}");
        assert_eq!(raw, schema, "{section}: raw struct vs schema");
    }
}

#[test]
fn every_schema_key_has_a_description_and_the_schema_defaults_are_the_code_defaults() {
    let s = schema();
    // Set every default the schema declares, explicitly.
    let mut text = String::from("database = \"app.db\"\n");
    for (section, node) in s["properties"].as_object().unwrap() {
        let node = deref(node, &s);
        let Some(props) = node["properties"].as_object() else {
            continue;
        };
        text.push_str(&format!("[{section}]\n"));
        if section == "remote" {
            text.push_str("url = \"https://xyz.supabase.co\"\n");
        }
        for (key, prop) in props {
            assert!(
                prop["description"].is_string(),
                "{section}.{key} has no description"
            );
            if let Some(default) = prop.get("default") {
                text.push_str(&format!(
                    "{key} = {}\n",
                    toml::Value::try_from(default).unwrap()
                ));
            }
        }
    }
    let table = &s["$defs"]["table"]["properties"];
    let mut merge_table = String::from("[tables.m]\nconflict = \"merge\"\n");
    for (key, prop) in table.as_object().unwrap() {
        assert!(
            prop["description"].is_string(),
            "tables.NAME.{key} has no description"
        );
        if let (Some(default), true) = (prop.get("default"), key != "conflict") {
            merge_table.push_str(&format!(
                "{key} = {}\n",
                toml::Value::try_from(default).unwrap()
            ));
        }
    }
    text.push_str(&merge_table);
    let dir = Dir::new();
    let explicit = dir.parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let implicit = dir
        .parse(&format!("{MIN}[tables.m]\nconflict = \"merge\"\n"))
        .unwrap();
    assert!(
        text.contains("memory = \"32MiB\"") && text.contains("jitter = 0.2"),
        "{text}"
    );
    assert_eq!(format!("{explicit:?}"), format!("{implicit:?}"), "{text}");
    let plain = dir
        .parse(&format!(
            "{MIN}[tables.p]\nconflict = {}\n",
            table["conflict"]["default"]
        ))
        .unwrap();
    assert_eq!(plain.tables[0].conflict, ConflictPolicy::ServerWins);
}
