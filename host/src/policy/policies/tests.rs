//! Tests of `Policies`: schema checks, each conflict strategy, failures
//! turned into values with their context, and hot reload.

use super::*;
use crate::config::{
    AlertsConfig, KeySource, LogFormat, OpsConfig, RateLimitConfig, RemoteConfig, RetryConfig,
    SchemaFile, SyncConfig,
};
use crate::policy::Plugin;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

fn wat(name: &str) -> PathBuf {
    PathBuf::from(format!(
        "{}/tests/wat/{name}.wat",
        env!("CARGO_MANIFEST_DIR")
    ))
}

fn row(v: Value) -> Row {
    v.as_object().cloned().unwrap_or_default()
}

fn products_schema() -> SchemaFile {
    SchemaFile {
        path: PathBuf::from("schemas/products.schema.json"),
        schema: json!({
            "type": "object",
            "required": ["id"],
            "properties": {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "price": {"type": "number", "minimum": 0}
            }
        }),
    }
}

fn table(name: &str, conflict: ConflictPolicy) -> TableConfig {
    TableConfig {
        name: name.into(),
        pk: "id".into(),
        schema: Some(products_schema()),
        validate: None,
        conflict,
        limits: PluginLimits::default(),
        keys: Default::default(),
        references: Vec::new(),
    }
}

fn config(tables: Vec<TableConfig>) -> Config {
    Config {
        path: PathBuf::from("policies.toml"),
        database: PathBuf::from("app.db"),
        remote: RemoteConfig {
            url: "http://127.0.0.1:1".into(),
            rest_root: "http://127.0.0.1:1/rest/v1".into(),
            api_key: Some(KeySource::Env("EBB_API_KEY".into())),
            api_key_required: true,
            access_token: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        },
        sync: SyncConfig {
            interval: Duration::from_secs(30),
            batch_size: 100,
            pull_page_size: 500,
            max_batch_size: 100,
            max_pull_page_size: 500,
            max_pull_page_bytes: 4 << 20,
            answer_time: Duration::from_secs(1),
            local_cache: 16 << 20,
            local_wal: 64 << 20,
            lease: Duration::from_secs(60),
            busy_timeout: Duration::from_secs(5),
            wait_for_lock: false,
            max_replans: 5,
            keep_resolved_conflicts: None,
            push_delay: Duration::from_millis(50),
        },
        retry: RetryConfig {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            jitter: 0.2,
            retry_dead_after: None,
        },
        rate_limit: RateLimitConfig {
            requests_per_second: 10.0,
            rows_per_second: 0.0,
            burst: 20,
            max_retry_after: Duration::from_secs(3600),
        },
        alerts: AlertsConfig {
            max_error_rate: 0.5,
            error_window: Duration::from_secs(900),
            min_requests: 5,
            stuck_after: Duration::from_secs(3600),
            max_last_sync_age: Duration::from_secs(3600),
            max_pull_lag: Duration::from_secs(600),
            notify_command: None,
        },
        ops: OpsConfig {
            listen: None,
            log_format: LogFormat::Text,
            api_token: crate::config::KeySource::Env("EBB_API_TOKEN".into()),
            history_keep: Duration::from_secs(24 * 3600),
            sse_keepalive: Duration::from_secs(15),
            event_buffer: 256,
        },
        realtime: crate::config::RealtimeConfig::default(),
        tables,
    }
}

fn manual(d: &Decision) -> &str {
    match d {
        Decision::Manual(reason) => reason,
        other => panic!("expected manual, got {other:?}"),
    }
}

fn input(local: Value, remote: Value, base: Value) -> ConflictInput {
    let side = |v: Value| v.as_object().cloned();
    ConflictInput {
        local: side(local),
        remote: side(remote),
        base: side(base),
    }
}

#[test]
fn policies_are_send_and_sync() {
    fn assert<T: Send + Sync>() {}
    assert::<Policies>();
    assert::<Plugin>();
}

#[test]
fn schema_failures_are_invalid_with_field_paths() {
    let p = Policies::load(&config(vec![table("products", ConflictPolicy::ServerWins)])).unwrap();
    assert_eq!(
        p.validate("products", "1", &row(json!({"id": 1, "price": 2}))),
        Verdict::Valid
    );
    let Verdict::Invalid(v) = p.validate("products", "1", &row(json!({"price": -2}))) else {
        panic!("expected invalid");
    };
    let fields: Vec<&str> = v.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields.len(), 2, "{v:?}");
    assert!(fields.contains(&"id") && fields.contains(&"price"), "{v:?}");
}

#[test]
fn unknown_table_fails_closed() {
    let p = Policies::load(&config(vec![])).unwrap();
    assert!(!p.validate("users", "1", &row(json!({"id": 1}))).is_valid());
    assert!(matches!(
        p.resolve("users", "1", &ConflictInput::default()),
        Decision::Manual(_)
    ));
    assert_eq!(p.policy_name("users"), "unknown");
}

#[test]
fn validator_plugin_runs_after_the_schema() {
    let mut t = table("products", ConflictPolicy::ServerWins);
    t.validate = Some(wat("validator"));
    let p = Policies::load(&config(vec![t])).unwrap();
    assert_eq!(
        p.validate("products", "1", &row(json!({"id": 1, "name": "a-b"}))),
        {
            Verdict::Invalid(vec![Violation {
                field: "price".into(),
                message: "must not be negative".into(),
            }])
        }
    );
    assert!(
        p.validate("products", "1", &row(json!({"id": 1, "name": "ab"})))
            .is_valid()
    );
    // The schema answers first: the plugin never sees this row.
    let Verdict::Invalid(v) = p.validate("products", "1", &row(json!({"id": "x"}))) else {
        panic!("expected invalid");
    };
    assert_eq!(v[0].field, "id");
}

#[test]
fn failing_validator_fails_closed_with_context() {
    let mut t = table("products", ConflictPolicy::ServerWins);
    t.validate = Some(wat("trap"));
    let mut other = table("orders", ConflictPolicy::ServerWins);
    other.validate = Some(wat("validator"));
    let p = Policies::load(&config(vec![t, other])).unwrap();
    let Verdict::Invalid(v) = p.validate("products", "42", &row(json!({"id": 42}))) else {
        panic!("expected invalid");
    };
    assert_eq!(v.len(), 1);
    let m = &v[0].message;
    assert!(
        m.contains("trap.wat") && m.contains("products") && m.contains("42"),
        "{m}"
    );
    assert!(m.contains("unreachable"), "{m}");
    assert!(p.validate("orders", "1", &row(json!({"id": 1}))).is_valid());
}

#[test]
fn built_in_strategies() {
    let merge = ConflictPolicy::Merge {
        on_both: BothChanged::Manual,
        delta_fields: vec!["price".into()],
    };
    let p = Policies::load(&config(vec![
        table("a", ConflictPolicy::ServerWins),
        table("b", ConflictPolicy::ClientWins),
        table("c", ConflictPolicy::Manual),
        table("d", merge),
    ]))
    .unwrap();
    let i = input(
        json!({"id": 1, "price": 5, "name": "x"}),
        json!({"id": 1, "price": 2, "name": "y"}),
        json!({"id": 1, "price": 4, "name": "x"}),
    );
    assert_eq!(p.resolve("a", "1", &i), Decision::TakeRemote);
    assert_eq!(p.resolve("b", "1", &i), Decision::TakeLocal);
    assert!(manual(&p.resolve("c", "1", &i)).contains("manual"));
    assert_eq!(
        p.resolve("d", "1", &i),
        Decision::Merged(Some(row(json!({"id": 1, "price": 3, "name": "y"}))))
    );
    // A delta that drives the price below zero fails the schema: manual.
    let i = input(
        json!({"id": 1, "price": 0}),
        json!({"id": 1, "price": 1}),
        json!({"id": 1, "price": 4}),
    );
    let reason = p.resolve("d", "1", &i);
    assert!(manual(&reason).contains("fails the schema"), "{reason:?}");
    let names: Vec<String> = ["a", "b", "c", "d"]
        .iter()
        .map(|t| p.policy_name(t))
        .collect();
    assert_eq!(names, ["server_wins", "client_wins", "manual", "merge"]);
}

#[test]
fn resolver_plugin_answers_and_failures_become_manual() {
    let p = Policies::load(&config(vec![
        table("good", ConflictPolicy::Plugin(wat("resolver"))),
        table("bad_row", ConflictPolicy::Plugin(wat("resolver_bad_row"))),
        table("not_json", ConflictPolicy::Plugin(wat("resolver_not_json"))),
        table("err", ConflictPolicy::Plugin(wat("resolver_err"))),
    ]))
    .unwrap();
    assert_eq!(p.policy_name("good"), "plugin:resolver.wat");
    let i = input(
        json!({"id": 1, "price": 5}),
        json!({"id": 1, "price": 20}),
        json!({"id": 1, "price": 4}),
    );
    assert_eq!(
        p.resolve("good", "1", &i),
        Decision::Merged(Some(row(json!({"id": 1, "price": 5}))))
    );
    let no_base = ConflictInput {
        base: None,
        ..i.clone()
    };
    assert_eq!(
        p.resolve("good", "1", &no_base),
        Decision::Manual("no base".into())
    );
    let deleted = ConflictInput {
        local: None,
        ..i.clone()
    };
    assert_eq!(p.resolve("good", "1", &deleted), Decision::TakeRemote);

    // Its row (key 1) fails the schema; for another key it is not even
    // that row (see shape_tests.rs).
    let r = p.resolve("bad_row", "1", &i);
    let reason = manual(&r);
    assert!(
        reason.contains("resolver_bad_row.wat") && reason.contains("bad_row"),
        "{reason}"
    );
    assert!(
        reason.contains("pk 1") && reason.contains("price"),
        "{reason}"
    );
    let r = p.resolve("bad_row", "7", &i);
    assert!(manual(&r).contains("for key \"1\""), "{r:?}");
    let r = p.resolve("not_json", "7", &i);
    assert!(manual(&r).contains("not a JSON object"), "{r:?}");
    let r = p.resolve("err", "7", &i);
    assert!(manual(&r).contains("boom"), "{r:?}");

    // Inputs are schema-checked before the plugin runs.
    let bad_input = input(
        json!({"id": 1, "price": 5}),
        json!({"id": "one"}),
        json!({"id": 1, "price": 4}),
    );
    let r = p.resolve("good", "1", &bad_input);
    assert!(manual(&r).contains("remote row fails the schema"), "{r:?}");
}

#[test]
fn load_errors_name_table_file_and_cause() {
    let mut bad_schema = table("products", ConflictPolicy::ServerWins);
    bad_schema.schema = Some(SchemaFile {
        path: PathBuf::from("schemas/products.schema.json"),
        schema: json!({"type": "nonsense"}),
    });
    let err = Policies::load(&config(vec![bad_schema])).unwrap_err();
    assert!(matches!(err, PolicyError::Schema { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("products") && text.contains("products.schema.json"),
        "{text}"
    );

    let mut forbidden = table("orders", ConflictPolicy::ServerWins);
    forbidden.validate = Some(wat("forbidden_import"));
    let err = Policies::load(&config(vec![forbidden])).unwrap_err();
    assert!(
        matches!(err.root(), PolicyError::ForbiddenImport { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("tables.orders.validate") && text.contains("forbidden_import.wat"));
    assert!(text.contains("wasi:clocks/wall-clock"), "{text}");

    let wrong_role = table("orders", ConflictPolicy::Plugin(wat("validator")));
    let err = Policies::load(&config(vec![wrong_role])).unwrap_err();
    assert!(err.to_string().contains("tables.orders.resolver"), "{err}");
    assert!(
        err.to_string()
            .contains("must export ebb:policy/resolve@0.1.0"),
        "{err}"
    );
}

#[test]
fn changed_plugin_files_are_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("products_validator.wasm");
    std::fs::copy(wat("validator"), &path).unwrap();
    let mut t = table("products", ConflictPolicy::ServerWins);
    t.validate = Some(path.clone());
    let p = Policies::load(&config(vec![t])).unwrap();
    let ok = row(json!({"id": 1, "name": "tea"}));
    assert!(p.validate("products", "1", &ok).is_valid());
    assert!(p.reload_changed().is_empty());

    std::fs::copy(wat("reject_all"), &path).unwrap();
    let reloaded = p.reload_changed();
    assert_eq!(reloaded, vec![("products".to_string(), Ok(()))]);
    let Verdict::Invalid(v) = p.validate("products", "1", &ok) else {
        panic!("expected the new plugin's answer");
    };
    assert_eq!(v[0].message, "rejected");
    assert!(p.reload_changed().is_empty());

    // A broken replacement is reported and the last good plugin stays.
    std::fs::write(
        &path,
        b"(component (import \"wasi:random/random@0.2.0\" (instance)))",
    )
    .unwrap();
    let reloaded = p.reload_changed();
    assert_eq!(reloaded.len(), 1);
    assert!(
        matches!(reloaded[0].1, Err(PolicyError::ForbiddenImport { .. })),
        "{reloaded:?}"
    );
    assert!(!p.validate("products", "1", &ok).is_valid());
    assert!(
        p.reload_changed().is_empty(),
        "a failed file is not retried until it changes"
    );

    // Rewritten with the same content as the plugin in use: nothing to swap.
    std::fs::copy(wat("reject_all"), &path).unwrap();
    assert!(p.reload_changed().is_empty());
    std::fs::copy(wat("validator"), &path).unwrap();
    assert_eq!(p.reload_changed().len(), 1);
    assert!(p.validate("products", "1", &ok).is_valid());
}
