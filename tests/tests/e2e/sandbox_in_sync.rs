//! Misbehaving plugins inside real sync rounds cost only their item: a
//! products validator that never returns is cut off at its wall-clock
//! bound and holds that row as invalid (the error names the plugin) while
//! the other tables push; a resolver that traps on a real two-device
//! conflict falls back to a manual conflict, and nothing moves on either
//! device or the server until a person settles it.

use std::time::{Duration, Instant};

use ebb::local::Choice;
use ebb_tests::{Device, DeviceSpec, Env, rows};
use serde_json::json;

use crate::common::{now_ms, sync_all};

/// A resolver (ebb:policy/resolve@0.1.0) whose `resolve` hits `unreachable`.
/// The host test fixtures have only validators that trap.
const TRAPPING_RESOLVER: &str = r#";; Traps in resolve.
(component
  (core module $M
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 1024))
    (func $realloc (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (global.get $next))
      (global.set $next (i32.add (local.get $p) (i32.add (local.get 3) (i32.const 8))))
      (local.get $p))
    (func (export "resolve")
      (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
      unreachable)
  )
  (core instance $m (instantiate $M))
  (alias core export $m "memory" (core memory $memory))
  (type $resolution (variant
    (case "take-local")
    (case "take-remote")
    (case "merged" string)
    (case "manual" string)))
  (func $resolve
    (param "table" string) (param "local" string) (param "remote" string)
    (param "base" (option string))
    (result (result $resolution (error string)))
    (canon lift (core func $m "resolve") (memory $memory) (realloc (core func $m "realloc"))))
  (instance $iface
    (export "resolution" (type $resolution))
    (export "resolve" (func $resolve)))
  (export "ebb:policy/resolve@0.1.0" (instance $iface))
)
"#;

/// Small plugin limits: a 100ms wall clock and fuel enough for hours, so a
/// spinning plugin meets the clock, not the fuel budget.
const LIMITS: &str = "[tables.{table}.limits]\ntimeout = \"100ms\"\nfuel = 1000000000000000";

fn limits(table: &str) -> String {
    LIMITS.replace("{table}", table)
}

#[tokio::test]
async fn a_validator_that_never_returns_holds_only_its_row() {
    let env = Env::new().await.unwrap();
    let looping = ebb_tests::repo_path("host/tests/wat/loop.wat");
    let spec = DeviceSpec::default().table(
        "products",
        &format!(
            "validate = \"{}\"\nconflict = \"server_wins\"\n{}",
            looping.display(),
            limits("products")
        ),
    );
    let mut a = env.device(&spec).unwrap();
    let p = rows::product("Tea", 3);
    let c = rows::customer("Ada");
    let d = rows::debt(&rows::id_of(&c), 1200);
    a.insert("products", &p).unwrap();
    a.insert("customers", &c).unwrap();
    a.insert("debts", &d).unwrap();

    let started = Instant::now();
    let report = a.sync().await.unwrap();
    let took = started.elapsed();
    assert_eq!(report.error, None, "{report:?}");
    assert_eq!((report.invalid, report.pushed), (1, 2), "{report:?}");
    assert!(
        took < Duration::from_secs(5),
        "the round waited {took:?} on a plugin bounded to 100ms"
    );

    let held = a.engine.local().queue_items(&["invalid"], 10).unwrap();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(
        (held[0].table.as_str(), held[0].pk.as_str()),
        ("products", rows::id_of(&p).as_str())
    );
    let error = held[0].error.clone().unwrap_or_default();
    assert!(
        error.contains("plugin loop.wat: timed out after"),
        "the error must name the plugin and the timeout: {error}"
    );
    assert_eq!(
        env.db.row("products", &rows::id_of(&p)).await.unwrap(),
        None
    );
    assert_eq!(
        env.db.row("customers", &rows::id_of(&c)).await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(
        env.db.row("debts", &rows::id_of(&d)).await.unwrap(),
        Some(d.clone())
    );

    // The held row stays held (it is not run through the plugin again each
    // round) and does not stop later edits of other tables.
    a.update("customers", &rows::id_of(&c), &json!({"name": "Ada L."}))
        .unwrap();
    env.settle().await.unwrap();
    let report = a.sync().await.unwrap();
    assert_eq!(report.error, None, "{report:?}");
    assert_eq!((report.invalid, report.pushed), (0, 1), "{report:?}");
    assert_eq!(
        env.db
            .row("customers", &rows::id_of(&c))
            .await
            .unwrap()
            .unwrap()["name"],
        "Ada L."
    );
    assert_eq!(
        a.queue().unwrap(),
        vec![(
            "products".to_string(),
            rows::id_of(&p),
            "invalid".to_string()
        )]
    );
    assert_eq!(env.db.count("products").await.unwrap(), 0);
}

fn customer_name(d: &Device, id: &str) -> serde_json::Value {
    d.row("customers", id).unwrap().unwrap()["name"].clone()
}

#[tokio::test]
async fn a_resolver_that_traps_leaves_a_manual_conflict_and_moves_nothing() {
    let env = Env::new().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let resolver = dir.path().join("trap_resolver.wat");
    std::fs::write(&resolver, TRAPPING_RESOLVER).unwrap();
    let spec = DeviceSpec::default().table(
        "customers",
        &format!(
            "conflict = \"plugin\"\nresolver = \"{}\"\n{}",
            resolver.display(),
            limits("customers")
        ),
    );
    let (mut a, mut b) = (env.device(&spec).unwrap(), env.device(&spec).unwrap());

    let c = rows::customer("Orig");
    let id = rows::id_of(&c);
    a.insert("customers", &c).unwrap();
    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
    assert_eq!(customer_name(&b, &id), "Orig");
    a.update("customers", &id, &json!({"name": "A"})).unwrap();
    b.update("customers", &id, &json!({"name": "B"})).unwrap();
    // `b` also edits another table in the same round: it still pushes.
    let other = rows::product("Tea", 1);
    b.insert("products", &other).unwrap();
    sync_all(&env, &mut [&mut a]).await.unwrap();
    env.settle().await.unwrap();
    let report = b.sync().await.unwrap();
    assert_eq!(report.error, None, "{report:?}");
    assert_eq!((report.manual, report.resolved), (1, 0), "{report:?}");
    assert!(
        env.db
            .row("products", &rows::id_of(&other))
            .await
            .unwrap()
            .is_some()
    );

    let open = b.engine.local().conflicts(false).unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    let conflict = &open[0];
    assert_eq!(
        (conflict.table.as_str(), conflict.pk.as_str()),
        ("customers", id.as_str())
    );
    assert!(
        conflict.reason.contains("trap_resolver.wat") && conflict.reason.contains("trapped"),
        "the reason must name the plugin and the trap: {}",
        conflict.reason
    );
    assert_eq!(conflict.local.as_ref().unwrap()["name"], "B");
    assert_eq!(conflict.remote.as_ref().unwrap()["name"], "A");

    // Rounds on both devices move nothing while it is open.
    for _ in 0..2 {
        sync_all(&env, &mut [&mut b, &mut a]).await.unwrap();
        assert_eq!(customer_name(&b, &id), "B");
        assert_eq!(customer_name(&a, &id), "A");
        let server = env.db.row("customers", &id).await.unwrap().unwrap();
        assert_eq!(server["name"], "A", "{server}");
        assert_eq!(env.db.version("customers", &id).await.unwrap(), Some(2));
        let still = b.engine.local().conflicts(false).unwrap();
        assert_eq!(still.len(), 1, "{still:?}");
        assert_eq!(still[0].id, conflict.id);
    }
    assert!(a.engine.local().conflicts(true).unwrap().is_empty());

    // A person settles it: then, and only then, the rows move.
    b.engine
        .local_mut()
        .resolve_conflict(conflict.id, Choice::Local, now_ms())
        .unwrap();
    sync_all(&env, &mut [&mut b, &mut a]).await.unwrap();
    assert_eq!(
        env.db.row("customers", &id).await.unwrap().unwrap()["name"],
        "B"
    );
    assert_eq!(env.db.version("customers", &id).await.unwrap(), Some(3));
    assert_eq!(customer_name(&a, &id), "B");
    assert!(b.engine.local().conflicts(false).unwrap().is_empty());
    assert!(b.queue().unwrap().is_empty(), "{:?}", b.queue());
}
