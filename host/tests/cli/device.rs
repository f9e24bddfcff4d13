//! `ebb device`: prints the id a database syncs as; `--new` renews it,
//! never under a sync in progress.

use super::support::World;

#[test]
fn device_prints_and_renews_the_id_but_not_under_a_running_sync() {
    let w = World::new();
    let config = w.device("a", "http://127.0.0.1:1");
    let show = || {
        w.ebb(&["--config", &config, "device"])
            .expect(0)
            .stdout
            .trim()
            .to_string()
    };
    let first = show();
    assert_eq!(first.len(), 36, "a uuid: {first}");
    assert_eq!(show(), first);

    // Another process holds the sync lease: nothing changes, exit 3.
    w.app_sql(
        "a",
        "INSERT OR REPLACE INTO _ebb_meta (key, value) VALUES
             ('lease_owner', 'ebb sync on till-2'), ('lease_expires_at', 99999999999999)",
    );
    let busy = w.ebb(&["--config", &config, "device", "--new"]).expect(3);
    assert!(busy.stderr.contains("ebb sync on till-2"), "{busy:?}");
    assert_eq!(show(), first);

    w.app_sql(
        "a",
        "DELETE FROM _ebb_meta WHERE key IN ('lease_owner', 'lease_expires_at')",
    );
    let renewed = w.ebb(&["--config", &config, "device", "--new"]).expect(0);
    let second = show();
    assert_ne!(second, first);
    assert_eq!(
        renewed.stdout.trim(),
        format!("device id: {first} -> {second}")
    );
}
