//! The example plugins, built by `scripts/build-plugins.sh`, are components
//! that wasmtime 48 loads, that import nothing but the host log, and whose
//! exports answer real rows through the SDK's JSON glue.
//!
//! Runs the real build script (nested cargo, so the first run takes a while)
//! into a temporary directory, then drives each component with wasmtime's
//! `bindgen!` bindings of `plugins/wit`, the way the host does.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, Result, ensure};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, Store};

mod validator_world {
    wasmtime::component::bindgen!({ world: "validator", path: "../wit", additional_derives: [PartialEq] });
}

mod resolver_world {
    wasmtime::component::bindgen!({ world: "resolver", path: "../wit", additional_derives: [PartialEq] });
}

use resolver_world::ebb::policy::types::Resolution;

/// Builds the plugins once per test binary; returns the output directory.
fn built_plugins() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("example-plugins");
        let status = Command::new(root.join("scripts/build-plugins.sh"))
            .arg(&out)
            .env("EBB_COMPONENTIZE", env!("CARGO_BIN_EXE_ebb-componentize"))
            .status()
            .expect("run scripts/build-plugins.sh");
        assert!(
            status.success(),
            "scripts/build-plugins.sh failed: {status}"
        );
        out
    })
}

/// The log lines a plugin wrote during one call.
#[derive(Default)]
struct HostState {
    lines: Vec<String>,
}

impl validator_world::ebb::policy::host::Host for HostState {
    fn log(&mut self, level: validator_world::ebb::policy::host::Level, message: String) {
        self.lines.push(format!("{level:?}: {message}"));
    }
}

impl validator_world::ebb::policy::types::Host for HostState {}

impl resolver_world::ebb::policy::host::Host for HostState {
    fn log(&mut self, level: resolver_world::ebb::policy::host::Level, message: String) {
        self.lines.push(format!("{level:?}: {message}"));
    }
}

impl resolver_world::ebb::policy::types::Host for HostState {}

fn engine() -> Engine {
    let mut config = Config::new();
    config.wasm_component_model(true);
    Engine::new(&config).expect("engine")
}

fn load(engine: &Engine, file: &str) -> Result<Component> {
    let path = built_plugins().join(file);
    Component::from_file(engine, &path)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("load {}", path.display()))
}

fn validator(file: &str) -> Result<(Store<HostState>, validator_world::Validator)> {
    let engine = engine();
    let component = load(&engine, file)?;
    let mut linker = Linker::new(&engine);
    validator_world::Validator::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
    let mut store = Store::new(&engine, HostState::default());
    let plugin = validator_world::Validator::instantiate(&mut store, &component, &linker)?;
    Ok((store, plugin))
}

fn resolver(file: &str) -> Result<(Store<HostState>, resolver_world::Resolver)> {
    let engine = engine();
    let component = load(&engine, file)?;
    let mut linker = Linker::new(&engine);
    resolver_world::Resolver::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
    let mut store = Store::new(&engine, HostState::default());
    let plugin = resolver_world::Resolver::instantiate(&mut store, &component, &linker)?;
    Ok((store, plugin))
}

#[test]
fn components_import_only_the_host_log() -> Result<()> {
    let engine = engine();
    for file in [
        "products_validator.wasm",
        "debts_resolver.wasm",
        "stock_resolver.wasm",
    ] {
        let bytes = std::fs::read(built_plugins().join(file))?;
        ebb_componentize::check_imports(&bytes)?;
        // What wasmtime sees, independently of wit-component's decoding.
        let component = load(&engine, file)?;
        for (name, _) in component.component_type().imports(&engine) {
            ensure!(
                name == "ebb:policy/host@0.1.0" || name == "ebb:policy/types@0.1.0",
                "{file} imports {name}"
            );
        }
    }
    Ok(())
}

#[test]
fn products_validator_runs_in_wasmtime() -> Result<()> {
    let (mut store, plugin) = validator("products_validator.wasm")?;
    let validate = plugin.ebb_policy_validate();
    let good = r#"{"id":"p1","sku":"BEV-1","name":"Cola","category":"beverages",
        "price_cents":250,"sale_price_cents":null,"stock":3,"updated_at":"t"}"#;
    assert_eq!(
        validate.call_validate(&mut store, "products", good)?,
        Ok(())
    );

    let bad = good.replace(r#""stock":3"#, r#""stock":-3"#);
    let violations = validate
        .call_validate(&mut store, "products", &bad)?
        .unwrap_err();
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].field, "stock");

    let violations = validate
        .call_validate(&mut store, "products", "{oops")?
        .unwrap_err();
    assert_eq!(violations[0].field, "");
    assert!(violations[0].message.contains("not valid JSON"));
    Ok(())
}

#[test]
fn stock_resolver_runs_in_wasmtime() -> Result<()> {
    let (mut store, plugin) = resolver("stock_resolver.wasm")?;
    let resolve = plugin.ebb_policy_resolve();
    let row = |stock: i64| {
        format!(
            r#"{{"id":"p1","sku":"BEV-1","name":"Cola","category":"beverages",
            "price_cents":250,"sale_price_cents":null,"stock":{stock},"updated_at":"t"}}"#
        )
    };
    let got = resolve.call_resolve(&mut store, "products", &row(7), &row(8), Some(&row(10)))?;
    let Ok(Resolution::Merged(text)) = got else {
        anyhow::bail!("expected a merged row, got {got:?}");
    };
    let merged: serde_json::Value = serde_json::from_str(&text)?;
    assert_eq!(merged["stock"], 5);

    let got = resolve.call_resolve(&mut store, "products", "null", &row(8), Some(&row(10)))?;
    assert_eq!(got, Ok(Resolution::Manual("deleted on one side".into())));
    let got = resolve.call_resolve(&mut store, "products", "[", &row(8), None)?;
    assert!(got.is_err_and(|e| e.starts_with("local is not valid JSON")));
    Ok(())
}

#[test]
fn debts_resolver_runs_in_wasmtime_and_logs_through_the_host() -> Result<()> {
    let (mut store, plugin) = resolver("debts_resolver.wasm")?;
    let resolve = plugin.ebb_policy_resolve();
    let row = |paid: i64| {
        format!(
            r#"{{"id":"d1","customer_id":"c1","amount_cents":1000,"amount_paid_cents":{paid},
            "status":"open","note":null,"updated_at":"t"}}"#
        )
    };
    let got = resolve.call_resolve(&mut store, "debts", &row(600), &row(400), Some(&row(0)))?;
    let Ok(Resolution::Merged(text)) = got else {
        anyhow::bail!("expected a merged row, got {got:?}");
    };
    let merged: serde_json::Value = serde_json::from_str(&text)?;
    assert_eq!(merged["amount_paid_cents"], 1000);
    assert_eq!(merged["status"], "paid");
    assert_eq!(store.data().lines.len(), 1, "{:?}", store.data().lines);
    let line = &store.data().lines[0];
    assert!(
        line.contains("Debug") && line.contains(": merged payments"),
        "{line}"
    );
    Ok(())
}
