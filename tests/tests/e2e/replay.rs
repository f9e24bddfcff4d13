//! Determinism: a conflict a plugin settled during sync is kept, and
//! `ebb policy replay` running it through the same plugin gets the same
//! answer; a different plugin is reported where it disagrees.

use ebb_tests::{DeviceSpec, Env, rows};
use serde_json::json;

use crate::common::sync_all;

#[tokio::test]
async fn a_settled_conflict_replays_to_the_same_answer() {
    let Some(ebb) = ebb_tests::ebb_binary() else {
        eprintln!("skipped: no ebb binary in the target dir (cargo build -p ebb)");
        return;
    };
    ebb_tests::ensure_plugins().unwrap();
    let env = Env::new().await.unwrap();
    let spec = DeviceSpec::shipped();
    let (mut a, mut b) = (env.device(&spec).unwrap(), env.device(&spec).unwrap());
    let p = rows::product("Tea", 10);
    let id = rows::id_of(&p);
    a.insert("products", &p).unwrap();
    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
    a.update("products", &id, &json!({"stock": 7})).unwrap();
    b.update("products", &id, &json!({"stock": 8})).unwrap();
    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();

    let history = b.engine.local().conflicts(true).unwrap();
    assert_eq!(history.len(), 1, "{history:?}");
    let decided = history[0].resolution.clone().unwrap_or_default();
    assert!(decided.starts_with("merged "), "{decided}");
    assert!(decided.contains("\"stock\":5"), "{decided}");
    assert!(b.engine.local().conflicts(false).unwrap().is_empty());

    let replay = |extra: &[&str]| {
        let out = std::process::Command::new(&ebb)
            .arg("--config")
            .arg(b.dir.path().join("policies.toml"))
            .args(["policy", "replay", "--table", "products"])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let same = replay(&[]);
    assert!(
        same.contains("1 conflicts answered as decided, 0 differ"),
        "{same}"
    );
    let other = ebb_tests::plugin_path("debts_resolver")
        .display()
        .to_string();
    let differs = replay(&["--plugin", &other]);
    assert!(
        differs.contains("0 conflicts answered as decided, 1 differ"),
        "{differs}"
    );
}
