//! One sync at a time per database: a second engine gets `SyncError::Busy`
//! with a clear message; a lease left by an engine that died mid-round is
//! taken over once it expires, and its in-flight items are pushed.

use std::time::Duration;

use ebb::local::{Lease, TableSpec};
use ebb::sync::SyncError;
use ebb_tests::{DeviceSpec, Env, rows};

use crate::common::{now_ms, sync_all};

#[tokio::test]
async fn a_second_engine_mid_round_is_busy() {
    let env = Env::new().await.unwrap();
    let mut a = env.default_device().unwrap();
    a.insert("customers", &rows::customer("Ada")).unwrap();
    let mut second = a.second_engine().unwrap();
    let handle = tokio::runtime::Handle::current();
    let (tx, rx) = std::sync::mpsc::channel();
    env.proxy.on_request("ebb_push", move || {
        let result = handle.block_on(second.run_once());
        let _ = tx.send(result.map(|r| format!("{r:?}")));
    });
    a.sync_ok().await.unwrap();
    let second_result = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    match second_result {
        Err(e @ SyncError::Busy { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("sync"), "unclear message: {msg}");
        }
        other => panic!("expected Busy, got {other:?}"),
    }
    assert_eq!(env.db.count("customers").await.unwrap(), 1);
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_its_items_pushed() {
    let env = Env::new().await.unwrap();
    let spec = DeviceSpec {
        lease: "60s".into(),
        ..Default::default()
    };
    let mut a = env.device(&spec).unwrap();
    let c = rows::customer("Ada");
    a.insert("customers", &c).unwrap();
    a.insert("products", &rows::product("Tea", 1)).unwrap();

    // An engine that died mid-round: holds a short lease, items in flight.
    let tables: Vec<TableSpec> = a.config.tables.iter().map(TableSpec::from).collect();
    let local = a.engine.local_mut();
    let got = local
        .lease_acquire("crashed-engine", Duration::from_millis(300), now_ms())
        .unwrap();
    assert!(matches!(got, Lease::Acquired { .. }), "{got:?}");
    let claimed = local.claim(&tables, 100, now_ms(), None).unwrap();
    assert_eq!(claimed.len(), 2);

    match a.sync().await {
        Err(e @ SyncError::Busy { .. }) => {
            assert!(e.to_string().contains("crashed-engine"), "which owner? {e}")
        }
        other => panic!("expected Busy while the lease is live, got {other:?}"),
    }
    assert_eq!(env.db.count("customers").await.unwrap(), 0);

    tokio::time::sleep(Duration::from_millis(400)).await;
    let report = a.sync_ok().await.unwrap();
    assert!(report.recovered >= 2, "{report:?}");
    sync_all(&env, &mut [&mut a]).await.unwrap();
    assert_eq!(
        env.db.row("customers", &rows::id_of(&c)).await.unwrap(),
        Some(c)
    );
    assert_eq!(env.db.count("products").await.unwrap(), 1);
    assert!(a.queue().unwrap().is_empty(), "{:?}", a.queue());
}
