//! Pulled rows are not captured back into the queue: applying them runs
//! with the capture guard set, so nothing is pushed back to the server.

use ebb_tests::{Env, rows};
use serde_json::json;

use crate::common::sync_all;

#[tokio::test]
async fn pulled_rows_are_not_pushed_back() {
    let env = Env::new().await.unwrap();
    let mut a = env.default_device().unwrap();
    let mut b = env.default_device().unwrap();
    let c = rows::customer("Ada");
    let id = rows::id_of(&c);
    a.insert("customers", &c).unwrap();
    a.insert("products", &rows::product("Tea", 3)).unwrap();
    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
    assert_eq!(b.count("customers").unwrap(), 1);
    assert!(
        b.queue().unwrap().is_empty(),
        "pulled rows captured: {:?}",
        b.queue()
    );
    // A pulled its own rows back, too, and queued nothing.
    assert!(a.queue().unwrap().is_empty(), "{:?}", a.queue());

    // Updates and server-side edits likewise.
    a.update("customers", &id, &json!({"notes": "vip"}))
        .unwrap();
    env.db
        .exec("UPDATE products SET stock = stock + 1")
        .await
        .unwrap();
    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
    assert!(b.queue().unwrap().is_empty(), "{:?}", b.queue());
    assert!(a.queue().unwrap().is_empty(), "{:?}", a.queue());

    // Further rounds push nothing: server versions stay put.
    let before = env.db.version("customers", &id).await.unwrap();
    for _ in 0..2 {
        sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
    }
    let report = b.sync_ok().await.unwrap();
    assert_eq!(report.pushed, 0, "{report:?}");
    assert_eq!(env.db.version("customers", &id).await.unwrap(), before);
}
