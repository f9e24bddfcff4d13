//! Sandbox tests: WAT plugins that misbehave, each with its typed error.

use super::*;
use crate::policy::Sandbox;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/wat/{name}.wat", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn load(sandbox: &Sandbox, name: &str) -> Result<Plugin, PolicyError> {
    Plugin::from_bytes(sandbox, &format!("{name}.wat"), fixture(name).as_bytes())
}

#[test]
fn good_validator_answers() {
    let sandbox = Sandbox::new().unwrap();
    let plugin = load(&sandbox, "validator").unwrap();
    let limits = PluginLimits::default();
    let ok = plugin.validate(&limits, "products", r#"{"price":3}"#).unwrap();
    assert_eq!(ok.value, Ok(()));
    assert_eq!(ok.log, vec![(Level::Info, "checked".to_string())]);
    let bad = plugin.validate(&limits, "products", r#"{"price":-3}"#).unwrap();
    assert_eq!(
        bad.value,
        Err(vec![Violation {
            field: "price".into(),
            message: "must not be negative".into()
        }])
    );
}
