//! Two devices and the server: inserts, updates and deletes made on either
//! device reach the other and the server, in both directions; the app's
//! local-only tables (users, licenses) never leave the device.

use ebb_tests::{Env, rows};
use serde_json::json;

use crate::common::sync_all;

#[tokio::test]
async fn edits_flow_both_ways_through_the_server() {
    let env = Env::new().await.unwrap();
    let mut a = env.default_device().unwrap();
    let mut b = env.default_device().unwrap();

    // A inserts; B and the server get it.
    let c1 = rows::customer("Ada");
    let p1 = rows::product("Tea", 10);
    a.insert("customers", &c1).unwrap();
    a.insert("products", &p1).unwrap();
    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
    let (c1_id, p1_id) = (rows::id_of(&c1), rows::id_of(&p1));
    assert_eq!(b.row("customers", &c1_id).unwrap(), Some(c1.clone()));
    assert_eq!(b.row("products", &p1_id).unwrap(), Some(p1.clone()));
    assert_eq!(
        env.db.row("customers", &c1_id).await.unwrap(),
        Some(c1.clone())
    );

    // B updates, deletes and inserts; A and the server get all three.
    b.update("customers", &c1_id, &json!({"name": "Ada L."}))
        .unwrap();
    b.delete("products", &p1_id).unwrap();
    let c2 = rows::customer("Bob");
    b.insert("customers", &c2).unwrap();
    sync_all(&env, &mut [&mut b, &mut a]).await.unwrap();
    let c1_now = rows::with(&c1, &json!({"name": "Ada L."}));
    assert_eq!(a.row("customers", &c1_id).unwrap(), Some(c1_now.clone()));
    assert_eq!(a.row("products", &p1_id).unwrap(), None);
    assert_eq!(
        a.row("customers", &rows::id_of(&c2)).unwrap(),
        Some(c2.clone())
    );
    assert_eq!(env.db.row("customers", &c1_id).await.unwrap(), Some(c1_now));
    assert_eq!(env.db.row("products", &p1_id).await.unwrap(), None);
    assert_eq!(env.db.count("customers").await.unwrap(), 2);

    // A deletes what B inserted; and an update on A goes to B.
    a.delete("customers", &rows::id_of(&c2)).unwrap();
    a.update("customers", &c1_id, &json!({"phone": null}))
        .unwrap();
    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
    assert_eq!(b.row("customers", &rows::id_of(&c2)).unwrap(), None);
    assert_eq!(
        b.row("customers", &c1_id).unwrap().unwrap()["phone"],
        json!(null)
    );
    assert_eq!(env.db.count("customers").await.unwrap(), 1);
    assert!(a.queue().unwrap().is_empty(), "{:?}", a.queue());
    assert!(b.queue().unwrap().is_empty(), "{:?}", b.queue());
}

#[tokio::test]
async fn local_only_tables_never_leave_the_device() {
    let env = Env::new().await.unwrap();
    let mut a = env.default_device().unwrap();
    let mut b = env.default_device().unwrap();
    a.insert(
        "users",
        &json!({"id": 1, "username": "root", "password_hash": "$argon2id$secret", "role": "admin"}),
    )
    .unwrap();
    a.insert(
        "licenses",
        &json!({"id": 1, "key": "LICENSE-KEY-1", "expires_at": null}),
    )
    .unwrap();
    a.insert("customers", &rows::customer("Ada")).unwrap();
    assert_eq!(a.queued("users").unwrap(), 0);
    assert_eq!(a.queued("licenses").unwrap(), 0);
    assert_eq!(a.queued("customers").unwrap(), 1);

    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
    assert!(!env.db.has_table("users").await.unwrap());
    assert!(!env.db.has_table("licenses").await.unwrap());
    assert_eq!(b.count("users").unwrap(), 0);
    assert_eq!(b.count("licenses").unwrap(), 0);
    assert_eq!(b.count("customers").unwrap(), 1);
    // Nothing local-only was ever sent: the server's idempotency log only
    // knows the synced tables.
    let client = env.db.connect().await.unwrap();
    let tables: Vec<String> = client
        .query("SELECT DISTINCT tbl FROM _ebb_applied", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(tables, vec!["customers".to_string()]);
}
