//! Sandbox tests: WAT plugins that misbehave, each with its typed error, and
//! the next call to a good plugin unaffected.

use super::*;
use crate::policy::{Level, Sandbox};
use std::time::Duration;

mod calls;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/wat/{name}.wat", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn load(sandbox: &Sandbox, name: &str) -> Result<Plugin, PolicyError> {
    Plugin::from_bytes(sandbox, &format!("{name}.wat"), fixture(name).as_bytes())
}

const ROW: &str = r#"{"id":1,"price":3}"#;
const NEGATIVE: &str = r#"{"id":1,"price":-3}"#;

/// The good validator still answers correctly on this sandbox.
fn assert_good_still_works(sandbox: &Sandbox) {
    let good = load(sandbox, "validator").unwrap();
    let limits = PluginLimits::default();
    assert_eq!(
        good.validate(&limits, "products", ROW).unwrap().value,
        Ok(())
    );
    assert!(
        good.validate(&limits, "products", NEGATIVE)
            .unwrap()
            .value
            .is_err()
    );
}

fn validate_err(name: &str, limits: &PluginLimits) -> PolicyError {
    let sandbox = Sandbox::new().unwrap();
    let plugin = load(&sandbox, name).unwrap();
    let err = plugin.validate(limits, "products", ROW).unwrap_err().error;
    assert_good_still_works(&sandbox);
    err
}

fn resolve_err(name: &str) -> PolicyError {
    let sandbox = Sandbox::new().unwrap();
    let plugin = load(&sandbox, name).unwrap();
    let err = plugin
        .resolve(&PluginLimits::default(), "products", ROW, ROW, Some(ROW))
        .unwrap_err()
        .error;
    assert_good_still_works(&sandbox);
    err
}

#[test]
fn good_validator_answers_and_logs() {
    let sandbox = Sandbox::new().unwrap();
    let plugin = load(&sandbox, "validator").unwrap();
    assert!(plugin.validates() && !plugin.resolves());
    let limits = PluginLimits::default();
    let ok = plugin.validate(&limits, "products", ROW).unwrap();
    assert_eq!(ok.value, Ok(()));
    assert_eq!(ok.log, vec![(Level::Info, "checked".to_string())]);
    assert!(ok.fuel_used > 0 && ok.fuel_used < limits.fuel);
    let bad = plugin.validate(&limits, "products", NEGATIVE).unwrap();
    assert_eq!(
        bad.value,
        Err(vec![Violation {
            field: "price".into(),
            message: "must not be negative".into()
        }])
    );
}

#[test]
fn infinite_loop_runs_out_of_fuel() {
    let err = validate_err("loop", &PluginLimits::default());
    let input = ("products".len() + ROW.len()) as u64;
    assert_eq!(
        err,
        PolicyError::OutOfFuel {
            plugin: "loop.wat".into(),
            fuel: 5_000_000 + 400 * input
        }
    );
}

#[test]
fn infinite_loop_with_ample_fuel_times_out() {
    let limits = PluginLimits {
        fuel: u64::MAX / 2,
        timeout: Duration::from_millis(50),
        ..PluginLimits::default()
    };
    let started = Instant::now();
    let err = validate_err("loop", &limits);
    let PolicyError::Timeout { plugin, after } = err else {
        panic!("expected a timeout, got {err:?}");
    };
    assert_eq!(plugin, "loop.wat");
    assert!(after >= Duration::from_millis(40), "{after:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn loop_in_start_function_is_stopped() {
    let err = validate_err("start_loop", &PluginLimits::default());
    assert!(matches!(err, PolicyError::OutOfFuel { .. }), "{err:?}");
    let limits = PluginLimits {
        fuel: u64::MAX / 2,
        timeout: Duration::from_millis(30),
        ..PluginLimits::default()
    };
    let err = validate_err("start_loop", &limits);
    assert!(matches!(err, PolicyError::Timeout { .. }), "{err:?}");
}

#[test]
fn unbounded_memory_growth_hits_the_cap() {
    let err = validate_err("memory_grow", &PluginLimits::default());
    assert_eq!(
        err,
        PolicyError::MemoryLimit {
            plugin: "memory_grow.wat".into(),
            limit: 32 << 20
        }
    );
    let small = PluginLimits {
        memory: 1 << 20,
        ..PluginLimits::default()
    };
    let err = validate_err("memory_grow", &small);
    assert!(matches!(err, PolicyError::MemoryLimit { limit, .. } if limit == 1 << 20));
}

#[test]
fn unreachable_is_a_trap() {
    let err = validate_err("trap", &PluginLimits::default());
    let PolicyError::Trap { message, .. } = &err else {
        panic!("expected a trap, got {err:?}");
    };
    assert!(message.contains("unreachable"), "{message}");
}

#[test]
fn deep_recursion_is_a_stack_overflow() {
    let err = validate_err("recursion", &PluginLimits::default());
    assert_eq!(
        err,
        PolicyError::Trap {
            plugin: "recursion.wat".into(),
            message: "stack overflow".into()
        }
    );
}

#[test]
fn merged_output_must_be_a_json_object() {
    let err = resolve_err("resolver_not_json");
    assert!(matches!(err, PolicyError::OutputNotJson { .. }), "{err:?}");
    let err = resolve_err("resolver_array");
    let PolicyError::OutputNotJson { message, .. } = &err else {
        panic!("expected OutputNotJson, got {err:?}");
    };
    assert_eq!(message, "found an array");
}

#[test]
fn plugin_own_error_is_reported() {
    let err = resolve_err("resolver_err");
    assert_eq!(
        err,
        PolicyError::PluginError {
            plugin: "resolver_err.wat".into(),
            message: "boom".into()
        }
    );
}

#[test]
fn forbidden_import_is_refused_at_load() {
    let sandbox = Sandbox::new().unwrap();
    let err = load(&sandbox, "forbidden_import").unwrap_err();
    assert_eq!(
        err,
        PolicyError::ForbiddenImport {
            plugin: "forbidden_import.wat".into(),
            import: "wasi:clocks/wall-clock@0.2.0".into()
        }
    );
    assert!(
        err.to_string()
            .contains("no WASI, clock, files, network or randomness")
    );
    assert_good_still_works(&sandbox);
}

#[test]
fn wrong_interface_version_is_unsupported() {
    let sandbox = Sandbox::new().unwrap();
    let err = load(&sandbox, "wrong_version").unwrap_err();
    assert_eq!(
        err,
        PolicyError::UnsupportedInterface {
            plugin: "wrong_version.wat".into(),
            found: "ebb:policy/validate@0.2.0".into()
        }
    );
    assert_good_still_works(&sandbox);
}

#[test]
fn wrong_signature_does_not_load() {
    let sandbox = Sandbox::new().unwrap();
    let err = load(&sandbox, "bad_signature").unwrap_err();
    let PolicyError::Load { message, .. } = &err else {
        panic!("expected a load error, got {err:?}");
    };
    assert!(
        message.contains("`validate` has type func(string) -> "),
        "{message}"
    );
    let err = Plugin::from_bytes(&sandbox, "junk.wasm", b"\0asm junk").unwrap_err();
    assert!(matches!(err, PolicyError::Load { ref plugin, .. } if plugin == "junk.wasm"));
    let core = Plugin::from_bytes(&sandbox, "core.wasm", b"\0asm\x01\0\0\0").unwrap_err();
    assert!(
        core.to_string()
            .contains("core wasm module, not a component"),
        "{core}"
    );
    let missing = Plugin::load(&sandbox, Path::new("/nonexistent/x.wasm")).unwrap_err();
    assert!(missing.to_string().contains("x.wasm"), "{missing}");
}

#[test]
fn calling_the_missing_export_is_unsupported() {
    let sandbox = Sandbox::new().unwrap();
    let resolver = load(&sandbox, "resolver").unwrap();
    let err = resolver
        .validate(&PluginLimits::default(), "t", ROW)
        .unwrap_err()
        .error;
    assert!(
        matches!(err, PolicyError::UnsupportedInterface { .. }),
        "{err:?}"
    );
    let validator = load(&sandbox, "validator").unwrap();
    let err = validator
        .resolve(&PluginLimits::default(), "t", ROW, ROW, None)
        .unwrap_err()
        .error;
    assert!(
        matches!(err, PolicyError::UnsupportedInterface { .. }),
        "{err:?}"
    );
}

#[test]
fn input_and_output_sizes_are_capped() {
    let sandbox = Sandbox::new().unwrap();
    let plugin = load(&sandbox, "validator").unwrap();
    let limits = PluginLimits {
        max_input: 10,
        ..PluginLimits::default()
    };
    let err = plugin.validate(&limits, "products", ROW).unwrap_err();
    assert!(
        matches!(err.error, PolicyError::InputTooLarge { limit: 10, .. }),
        "{err:?}"
    );
    assert!(err.log.is_empty(), "it never ran: {err:?}");
    let limits = PluginLimits {
        max_output: 5,
        ..PluginLimits::default()
    };
    assert!(plugin.validate(&limits, "products", ROW).is_ok());
    let err = plugin.validate(&limits, "products", NEGATIVE).unwrap_err();
    // What it logged before its answer was refused is kept for the author.
    assert_eq!(err.log, vec![(Level::Info, "checked".to_string())]);
    assert!(
        matches!(
            err.error,
            PolicyError::OutputTooLarge {
                size: 25,
                limit: 5,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn log_is_bounded_and_the_call_still_succeeds() {
    let sandbox = Sandbox::new().unwrap();
    let plugin = load(&sandbox, "log_flood").unwrap();
    let limits = PluginLimits {
        fuel: 100_000_000,
        ..PluginLimits::default()
    };
    let report = plugin.validate(&limits, "products", ROW).unwrap();
    assert_eq!(report.value, Ok(()));
    let kept = (8 << 10) / "checked".len();
    assert_eq!(report.log.len(), kept + 1);
    assert_eq!(report.log.last().unwrap().1, "[log truncated]");
}

#[test]
fn no_state_survives_between_calls() {
    let sandbox = Sandbox::new().unwrap();
    let plugin = load(&sandbox, "stateful").unwrap();
    for _ in 0..3 {
        let report = plugin.validate(&PluginLimits::default(), "t", ROW).unwrap();
        assert_eq!(report.value, Ok(()));
    }
}

#[test]
fn same_input_gives_same_answer_and_cost() {
    let sandbox = Sandbox::new().unwrap();
    let plugin = load(&sandbox, "resolver").unwrap();
    let limits = PluginLimits::default();
    let local = r#"{"id":1,"qty":2}"#;
    let call = || plugin.resolve(&limits, "stock", local, r#"{"id":1,"qty":10}"#, Some(local));
    let first = call().unwrap();
    assert_eq!(
        first.value,
        Resolution::Merged(serde_json::from_str(local).unwrap())
    );
    for _ in 0..5 {
        let again = call().unwrap();
        assert_eq!(again.value, first.value);
        assert_eq!(again.fuel_used, first.fuel_used);
    }
    let no_base = plugin
        .resolve(&limits, "stock", local, local, None)
        .unwrap();
    assert_eq!(no_base.value, Resolution::Manual("no base".into()));
    let deleted = plugin
        .resolve(&limits, "stock", "null", local, Some(local))
        .unwrap();
    assert_eq!(deleted.value, Resolution::TakeRemote);
    let longer = plugin
        .resolve(
            &limits,
            "stock",
            r#"{"id":1,"qty":2,"n":"x"}"#,
            local,
            Some(local),
        )
        .unwrap();
    assert_eq!(longer.value, Resolution::TakeLocal);
}

#[test]
fn a_spinning_plugin_does_not_hold_up_others() {
    let sandbox = Sandbox::new().unwrap();
    let spinner = load(&sandbox, "loop").unwrap();
    let slow = PluginLimits {
        fuel: u64::MAX / 2,
        timeout: Duration::from_millis(500),
        ..PluginLimits::default()
    };
    std::thread::scope(|s| {
        let spinning = s.spawn(|| spinner.validate(&slow, "t", ROW));
        std::thread::sleep(Duration::from_millis(20));
        let started = Instant::now();
        assert_good_still_works(&sandbox);
        assert!(started.elapsed() < Duration::from_millis(400));
        let err = spinning.join().unwrap().unwrap_err();
        assert!(matches!(err.error, PolicyError::Timeout { .. }), "{err:?}");
    });
}
