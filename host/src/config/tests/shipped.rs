//! The shipped files held against the code: policies.toml loads as the
//! example app expects and shows every knob at its default, a file setting
//! every key the schema knows loads, and the row schemas compile. The
//! schema against the raw structs and code defaults is in `schema_keys`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::schema_keys::{deref, schema};
use super::{Dir, MIN};
use crate::config::{BothChanged, ConflictPolicy, KeySource, load};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Every key at once, none at its default where a default exists.
const FULL: &str = r#"
database = "data/app.db"
[remote]
url = "https://xyz.supabase.co"
rest_root = "https://api.example.com/pg"
api_key_env = "SHOP_KEY"
access_token_file = "secrets/till.jwt"
timeout = "20s"
connect_timeout = "3s"
[sync]
interval = "10s"
batch_size = 50
pull_page_size = 200
max_batch_size = 400
max_pull_page_size = 800
max_pull_page_bytes = "1MiB"
answer_time = "2s"
local_cache = "4MiB"
local_wal = "32MiB"
lease = "90s"
busy_timeout = "2s"
wait_for_lock = true
max_replans = 3
keep_resolved_conflicts = "30d"
push_delay = "20ms"
[retry]
max_attempts = 8
initial_backoff = "500ms"
max_backoff = "10m"
jitter = 0.1
retry_dead_after = "6h"
[rate_limit]
requests_per_second = 2.5
burst = 5
rows_per_second = 2000
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
api_token_file = "secrets/api-token"
history_keep = "48h"
sse_keepalive = "30s"
event_buffer = 1024
[realtime]
enabled = false
topic = "shop-7"
heartbeat = "10s"
initial_backoff = "2s"
max_backoff = "1m"
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
keys = "map"
references = { customer_id = "customers" }
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
    assert_eq!(c.remote.api_key, Some(KeySource::Env("EBB_API_KEY".into())));
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
            "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
            c.sync,
            c.retry,
            c.rate_limit,
            c.alerts,
            c.ops,
            c.realtime,
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
    // api_token_file excludes api_token_env (set_values_are_read sets
    // it), api_key_file excludes api_key_env, access_token_env excludes
    // access_token_file, anonymous excludes all four;
    // keys::set_values_are_read and
    // keys::the_key_is_optional_beside_a_token_and_absent_when_anonymous
    // set the other three.
    assert_eq!(
        missing,
        [
            "ops.api_token_env",
            "remote.access_token_env",
            "remote.anonymous",
            "remote.api_key_file"
        ],
        "keys in the schema but not in FULL"
    );
}

/// Dotted paths of every key in a document; table names become `*`.
fn key_paths(v: &Value, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Some(map) = v.as_object() {
        for (k, child) in map {
            // Names the user picks (tables, reference columns) become `*`.
            let named = prefix == "tables" || prefix.ends_with(".references");
            let name = if named { "*" } else { k.as_str() };
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
