//! Per-call cost of a policy call in a fresh sandbox, as `Policies` makes it.
//!
//! `cargo run --release -p ebb --example bench_policy`
//!
//! Uses the WAT fixtures in host/tests/wat, so it needs no wasm toolchain;
//! then, when scripts/build-plugins.sh has built them, the real example
//! plugins (Rust, wit-bindgen, serde_json inside) on a 1 KB products row
//! with the shipped schemas/products.schema.json.
//! Measures, on a ~1 KB row: a validate call (schema check of the row, JSON
//! encoding, fresh store, instantiate, call), and a resolve call (schema
//! checks of the three inputs, the call, the schema check of the merged
//! row). Target: about 15 us per validate call.

use std::time::{Duration, Instant};

use ebb::config::PluginLimits;
use ebb::model::Row;
use ebb::policy::{Plugin, Resolution, Sandbox, TableSchema};
use serde_json::json;

const ROUNDS: u32 = 20_000;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/wat/{name}.wat", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn row() -> Row {
    let mut row = Row::new();
    row.insert("id".into(), json!(42));
    row.insert("name".into(), json!("Earl Grey tea, loose leaf"));
    row.insert("price".into(), json!(12.5));
    row.insert("stock".into(), json!(120));
    for i in 0..26 {
        row.insert(
            format!("attr_{i:02}"),
            json!(format!("value number {i:02} of this row")),
        );
    }
    row
}

fn per_call(elapsed: Duration, rounds: u32) -> f64 {
    elapsed.as_secs_f64() * 1e6 / f64::from(rounds)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sandbox = Sandbox::new()?;
    let validator = Plugin::from_bytes(&sandbox, "validator.wat", &fixture("validator"))?;
    let resolver = Plugin::from_bytes(&sandbox, "resolver.wat", &fixture("resolver"))?;
    let schema = TableSchema::from_value(
        "products",
        "bench",
        &json!({
            "type": "object",
            "required": ["id", "name", "price"],
            "properties": {
                "id": {"type": "integer"},
                "name": {"type": "string", "maxLength": 200},
                "price": {"type": "number", "minimum": 0},
                "stock": {"type": "integer"}
            },
            "additionalProperties": {"type": "string"}
        }),
    )?;
    let limits = PluginLimits::default();
    let row = row();
    let size = serde_json::to_string(&row)?.len();

    let validate = || -> Result<(), Box<dyn std::error::Error>> {
        assert!(schema.check(&row).is_empty());
        let text = serde_json::to_string(&row)?;
        let report = validator.validate(&limits, "products", &text)?;
        assert_eq!(report.value, Ok(()));
        Ok(())
    };
    let mut other = row.clone();
    other.insert("stock".into(), json!(100));
    let resolve = || -> Result<(), Box<dyn std::error::Error>> {
        for side in [&row, &other, &row] {
            assert!(schema.check(side).is_empty());
        }
        let (local, remote) = (serde_json::to_string(&row)?, serde_json::to_string(&other)?);
        let report = resolver.resolve(&limits, "products", &local, &remote, Some(&local))?;
        match report.value {
            Resolution::Merged(merged) => assert!(schema.check(&merged).is_empty()),
            other => panic!("unexpected {other:?}"),
        }
        Ok(())
    };

    for _ in 0..1_000 {
        validate()?;
        resolve()?;
    }
    let start = Instant::now();
    for _ in 0..ROUNDS {
        validate()?;
    }
    let v = per_call(start.elapsed(), ROUNDS);
    let start = Instant::now();
    for _ in 0..ROUNDS {
        resolve()?;
    }
    let r = per_call(start.elapsed(), ROUNDS);
    let start = Instant::now();
    for _ in 0..ROUNDS {
        assert!(schema.check(&row).is_empty());
    }
    let s = per_call(start.elapsed(), ROUNDS);

    println!("row: {size} bytes, {ROUNDS} calls each");
    println!("validate (schema in + fresh sandbox call): {v:.2} us/call");
    println!("resolve  (3 schema in + call + schema out): {r:.2} us/call");
    println!("schema check alone:                         {s:.2} us/check");
    real_plugins(&sandbox, &limits)
}

/// The example plugins as built by scripts/build-plugins.sh, if present.
fn real_plugins(
    sandbox: &Sandbox,
    limits: &PluginLimits,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("plugins");
    let (vpath, rpath) = (
        dir.join("products_validator.wasm"),
        dir.join("stock_resolver.wasm"),
    );
    if !vpath.exists() || !rpath.exists() {
        println!("real plugins: not built (run scripts/build-plugins.sh); skipped");
        return Ok(());
    }
    let validator = Plugin::load(sandbox, &vpath)?;
    let resolver = Plugin::load(sandbox, &rpath)?;
    let schema_file = root.join("schemas/products.schema.json");
    let schema_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&schema_file)?)?;
    let schema = TableSchema::from_value("products", "schemas/products.schema.json", &schema_json)?;
    let mut row = Row::new();
    row.insert("id".into(), json!("00000001-0000-4000-8000-000000000001"));
    row.insert("sku".into(), json!("BEV-0001"));
    row.insert(
        "name".into(),
        json!(format!("Earl Grey tea, loose leaf {}", "x".repeat(820))),
    );
    row.insert("category".into(), json!("beverages"));
    row.insert("price_cents".into(), json!(1250));
    row.insert("sale_price_cents".into(), json!(1100));
    row.insert("stock".into(), json!(10));
    row.insert("updated_at".into(), json!("2026-11-25T12:00:00Z"));
    let size = serde_json::to_string(&row)?.len();
    let mut local = row.clone();
    local.insert("stock".into(), json!(7));
    let mut remote = row.clone();
    remote.insert("stock".into(), json!(8));

    let validate = || -> Result<(), Box<dyn std::error::Error>> {
        let errors = schema.check(&row);
        assert!(errors.is_empty(), "{errors:?}");
        let text = serde_json::to_string(&row)?;
        let report = validator.validate(limits, "products", &text)?;
        assert_eq!(report.value, Ok(()));
        Ok(())
    };
    let resolve = || -> Result<(), Box<dyn std::error::Error>> {
        for side in [&local, &remote, &row] {
            assert!(schema.check(side).is_empty());
        }
        let (l, r, b) = (
            serde_json::to_string(&local)?,
            serde_json::to_string(&remote)?,
            serde_json::to_string(&row)?,
        );
        let report = resolver.resolve(limits, "products", &l, &r, Some(&b))?;
        match report.value {
            Resolution::Merged(merged) => {
                assert!(schema.check(&merged).is_empty());
                assert_eq!(merged["stock"], json!(5));
            }
            other => panic!("unexpected {other:?}"),
        }
        Ok(())
    };
    for _ in 0..500 {
        validate()?;
        resolve()?;
    }
    let rounds = ROUNDS / 4;
    let start = Instant::now();
    for _ in 0..rounds {
        validate()?;
    }
    let v = per_call(start.elapsed(), rounds);
    let start = Instant::now();
    for _ in 0..rounds {
        resolve()?;
    }
    let r = per_call(start.elapsed(), rounds);
    println!("real plugins on a {size}-byte products row, {rounds} calls each:");
    println!("products_validator (schema in + fresh sandbox call): {v:.2} us/call");
    println!("stock_resolver (3 schema in + call + schema out):    {r:.2} us/call");
    Ok(())
}
