//! A till set up by copying another till's database file (a cloned disk, a
//! restored backup) gets its own device id. Sharing one would make each
//! copy take the other's writes for its own: a concurrent edit of one row
//! would be laid over the other's without a conflict (the server's
//! fast-forward over a device's own unanswered write), whatever the
//! table's policy says.

use std::time::Duration;

use ebb::local::Local;
use ebb_tests::{Env, rows};
use serde_json::json;

use crate::common::sync_all;

fn device_id(path: &std::path::Path) -> String {
    Local::open(path, Duration::from_secs(5))
        .unwrap()
        .device_id()
        .to_string()
}

#[tokio::test]
async fn a_copied_database_gets_its_own_id_and_conflicts_stay_conflicts() {
    let env = Env::new().await.unwrap();
    let mut a = env.default_device().unwrap();
    let ada = rows::customer("Ada");
    let id = rows::id_of(&ada);
    a.insert("customers", &ada).unwrap();
    a.sync_ok().await.unwrap();

    let mut b = env.device_copied_from(&a).unwrap();
    assert_eq!(b.count("customers").unwrap(), 1, "the copy has A's rows");
    assert_ne!(device_id(&a.db_path()), device_id(&b.db_path()));

    // B's change counter runs ahead of A's, then both edit Ada: A first.
    b.insert("products", &rows::product("Tea", 3)).unwrap();
    a.update("customers", &id, &json!({"notes": "from A"}))
        .unwrap();
    env.settle().await.unwrap();
    a.sync_ok().await.unwrap();
    b.update("customers", &id, &json!({"notes": "from B"}))
        .unwrap();
    env.settle().await.unwrap();
    b.sync_ok().await.unwrap();
    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();

    // server_wins: A's write reached the server first and stands.
    let notes = |row: Option<serde_json::Value>| row.unwrap()["notes"].clone();
    assert_eq!(notes(a.row("customers", &id).unwrap()), json!("from A"));
    assert_eq!(notes(b.row("customers", &id).unwrap()), json!("from A"));
    // Rows each till wrote after the copy reach the other one.
    assert_eq!(a.count("products").unwrap(), 1);
    assert_eq!(env.db.count("customers").await.unwrap(), 1);
}
