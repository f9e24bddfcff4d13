//! A plugin file replaced on disk changes decisions at the next round of
//! the same engine, with no restart; a broken replacement keeps the old
//! plugin working.

use ebb_tests::{DeviceSpec, Env, repo_path, rows};

#[tokio::test]
async fn a_replaced_validator_decides_the_next_round() {
    ebb_tests::ensure_plugins().unwrap();
    let env = Env::new().await.unwrap();
    let plugins = tempfile::tempdir().unwrap();
    let path = plugins.path().join("products_validator.wasm");
    std::fs::copy(ebb_tests::plugin_path("products_validator"), &path).unwrap();
    let spec =
        DeviceSpec::default().table("products", &format!("validate = \"{}\"", path.display()));
    let mut a = env.device(&spec).unwrap();

    let first = rows::product("Tea", 3);
    a.insert("products", &first).unwrap();
    let report = a.sync_ok().await.unwrap();
    assert_eq!((report.pushed, report.invalid), (1, 0), "{report:?}");

    // Not a component at all: the reload fails and the old plugin stays.
    std::fs::write(&path, b"not wasm").unwrap();
    let second = rows::product("Coffee", 3);
    a.insert("products", &second).unwrap();
    let report = a.sync_ok().await.unwrap();
    assert_eq!((report.pushed, report.invalid), (1, 0), "{report:?}");

    // A validator that refuses every row: the very next round uses it.
    let reject_all = std::fs::read(repo_path("host/tests/wat/reject_all.wat")).unwrap();
    std::fs::write(&path, reject_all).unwrap();
    let third = rows::product("Cocoa", 3);
    a.insert("products", &third).unwrap();
    let report = a.sync_ok().await.unwrap();
    assert_eq!((report.pushed, report.invalid), (0, 1), "{report:?}");
    let held = a.engine.local().queue_items(&["invalid"], 10).unwrap();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0].pk, rows::id_of(&third));
    assert!(
        env.db
            .row("products", &rows::id_of(&third))
            .await
            .unwrap()
            .is_none()
    );
}
