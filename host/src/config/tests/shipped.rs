//! The shipped files held against the code: policies.toml loads as the
//! example app expects, schemas/policies.schema.json and the raw structs
//! accept the same keys, the schema's defaults are the code's defaults, and
//! the row schemas compile.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{Dir, MIN};
use crate::config::raw::{
    RawAlerts, RawConfig, RawLimits, RawOps, RawRateLimit, RawRemote, RawRetry, RawSync, RawTable,
};
use crate::config::{BothChanged, ConflictPolicy, KeySource, POLICIES_SCHEMA, load};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn schema() -> Value {
    serde_json::from_str(POLICIES_SCHEMA).expect("policies.schema.json is JSON")
}

/// Every key at once, none at its default where a default exists.
const FULL: &str = r#"
database = "data/app.db"
[remote]
url = "https://xyz.supabase.co"
rest_root = "https://api.example.com/pg"
api_key_env = "SHOP_KEY"
timeout = "20s"
connect_timeout = "3s"
[sync]
interval = "10s"
batch_size = 50
pull_page_size = 200
lease = "90s"
busy_timeout = "2s"
wait_for_lock = true
max_replans = 3
[retry]
max_attempts = 8
initial_backoff = "500ms"
max_backoff = "10m"
jitter = 0.1
retry_dead_after = "6h"
[rate_limit]
requests_per_second = 2.5
burst = 5
max_retry_after = "10m"
[alerts]
max_error_rate = 0.25
error_window = "5m"
min_requests = 10
stuck_after = "30m"
max_last_sync_age = "2h"
max_pull_lag = "5m"
notify_command = ["notify-send", "ebb"]
[ops]
listen = "127.0.0.1:9000"
log_format = "json"
[plugin_limits]
fuel = 1000000
fuel_per_byte = 100
timeout = "2s"
memory = "64MiB"
max_input = 65536
max_output = "512KiB"
max_log = "4KiB"
[tables.orders]
pk = "order_id"
schema = "rows/orders.json"
validate = "plugins/orders_check.wasm"
conflict = "merge"
merge_on_both = "manual"
delta_fields = ["quantity"]
[tables.orders.limits]
fuel = 2000000
fuel_per_byte = 10
timeout = "300ms"
memory = "16MiB"
max_input = "64KiB"
max_output = "64KiB"
max_log = "1KiB"
[tables.lines]
conflict = "plugin"
resolver = "plugins/lines.wasm"
"#;

#[test]
fn the_shipped_policies_toml_loads() {
    let root = repo();
    let c = load(&root.join("policies.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.database, root.join("example/app.db"));
    assert_eq!(c.remote.rest_root, "http://127.0.0.1:54321/rest/v1");
    assert_eq!(c.remote.api_key, KeySource::Env("EBB_API_KEY".into()));
    let names: Vec<&str> = c.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["products", "customers", "debts", "debt_payments"]);
    let plugins = root.join("target/plugins");
    let [products, customers, debts, payments] = &c.tables[..] else {
        unreachable!()
    };
    assert_eq!(
        products.conflict,
        ConflictPolicy::Plugin(plugins.join("stock_resolver.wasm"))
    );
    assert_eq!(
        products.validate,
        Some(plugins.join("products_validator.wasm"))
    );
    assert_eq!(
        customers.conflict,
        ConflictPolicy::Merge {
            on_both: BothChanged::Remote,
            delta_fields: vec![]
        }
    );
    assert_eq!(
        debts.conflict,
        ConflictPolicy::Plugin(plugins.join("debts_resolver.wasm"))
    );
    assert_eq!(debts.limits.timeout, std::time::Duration::from_millis(500));
    assert_eq!(payments.conflict, ConflictPolicy::ClientWins);
    for t in &c.tables {
        let s = t
            .schema
            .as_ref()
            .unwrap_or_else(|| panic!("{} has a row schema", t.name));
        assert_eq!(s.path, root.join(format!("schemas/{}.schema.json", t.name)));
    }
}

#[test]
fn the_shipped_policies_toml_shows_every_knob_at_its_default() {
    // Each knob is written out with "(default X)" beside it; the values
    // written must be those defaults, and every key the schema knows must
    // appear (set, or in a comment when it has no default to show).
    let root = repo();
    let text = std::fs::read_to_string(root.join("policies.toml")).unwrap();
    let shipped = load(&root.join("policies.toml")).unwrap_or_else(|e| panic!("{e}"));
    let defaults = Dir::new().parse(MIN).unwrap();
    let knobs = |c: &crate::config::Config| {
        format!(
            "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
            c.sync,
            c.retry,
            c.rate_limit,
            c.alerts,
            c.ops,
            (c.remote.timeout, c.remote.connect_timeout)
        )
    };
    assert_eq!(knobs(&shipped), knobs(&defaults));
    assert_eq!(
        shipped.tables[0].limits,
        crate::config::PluginLimits::default()
    );
    let file: toml::Table = toml::from_str(&text).unwrap();
    let have = key_paths(&serde_json::to_value(&file).unwrap(), "");
    let want = schema_paths(&schema(), &schema(), "");
    let unseen: Vec<&String> = want
        .difference(&have)
        .filter(|path| !path.starts_with("tables."))
        .filter(|path| {
            let key = path.rsplit('.').next().unwrap_or(path);
            !text
                .lines()
                .any(|l| l.starts_with('#') && l.contains(&format!("{key} = ")))
        })
        .collect();
    assert!(unseen.is_empty(), "not shown in policies.toml: {unseen:?}");
}

#[test]
fn a_fully_populated_file_is_accepted_by_schema_and_structs() {
    let dir = Dir::new();
    dir.write("rows/orders.json", r#"{"type": "object"}"#);
    let c = dir.parse(FULL).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.tables.len(), 2);
    // And FULL really holds every key the schema knows.
    let full: toml::Table = toml::from_str(FULL).unwrap();
    let have = key_paths(&serde_json::to_value(&full).unwrap(), "");
    let want = schema_paths(&schema(), &schema(), "");
    let missing: Vec<_> = want.difference(&have).collect();
    // api_key_file excludes api_key_env; keys::set_values_are_read sets it.
    assert_eq!(
        missing,
        ["remote.api_key_file"],
        "keys in the schema but not in FULL"
    );
}

/// Dotted paths of every key in a document; table names become `*`.
fn key_paths(v: &Value, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Some(map) = v.as_object() {
        for (k, child) in map {
            let name = if prefix == "tables" { "*" } else { k.as_str() };
            let path = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}.{name}")
            };
            out.extend(key_paths(child, &path));
            out.insert(path);
        }
    }
    out
}

/// Dotted paths of every property the schema declares.
fn schema_paths(node: &Value, root: &Value, prefix: &str) -> BTreeSet<String> {
    let node = deref(node, root);
    let mut out = BTreeSet::new();
    if let Some(props) = node["properties"].as_object() {
        for (k, child) in props {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            out.extend(schema_paths(child, root, &path));
            out.insert(path);
        }
    }
    if node["additionalProperties"].is_object() {
        let path = format!("{prefix}.*");
        out.extend(schema_paths(&node["additionalProperties"], root, &path));
        out.insert(path);
    }
    out
}

fn deref<'a>(node: &'a Value, root: &'a Value) -> &'a Value {
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

#[test]
fn the_row_schemas_compile_and_check_rows() {
    let row = |table: &str| -> Value {
        let ts = "2025-01-01T00:00:00Z";
        let id = "00000001-0000-4000-8000-000000000001";
        match table {
            "products" => {
                json!({"id": id, "sku": "BEV-0001", "name": "Cola", "category": "beverages",
                "price_cents": 150, "sale_price_cents": null, "stock": 4, "updated_at": ts})
            }
            "customers" => {
                json!({"id": id, "name": "Ana", "phone": null, "email": null, "notes": null, "updated_at": ts})
            }
            "debts" => {
                json!({"id": id, "customer_id": id, "amount_cents": 800, "amount_paid_cents": 200,
                "status": "open", "note": null, "updated_at": ts})
            }
            _ => json!({"id": id, "debt_id": id, "amount_cents": 200, "paid_at": ts}),
        }
    };
    for table in ["products", "customers", "debts", "debt_payments"] {
        let path = repo().join(format!("schemas/{table}.schema.json"));
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let v = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{table}: {e}"));
        let mut good = row(table);
        assert!(
            v.is_valid(&good),
            "{table}: {:?}",
            v.iter_errors(&good).next().map(|e| e.to_string())
        );
        good["_ebb_version"] = json!(3);
        assert!(v.is_valid(&good), "{table}: server columns are allowed");
        let mut extra = row(table);
        extra["colour"] = json!("red");
        assert!(!v.is_valid(&extra), "{table}: unknown column refused");
        let mut bad_id = row(table);
        bad_id["id"] = json!(42);
        assert!(!v.is_valid(&bad_id), "{table}: integer id refused");
    }
}
