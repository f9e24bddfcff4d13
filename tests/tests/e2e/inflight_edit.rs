//! An edit made to a row while that row's push is in flight is not lost:
//! the push acknowledges the change counter it sent, the newer edit stays
//! queued and is pushed in the next round, without a false conflict.

use ebb_tests::{Env, rows};
use serde_json::json;

use crate::common::sync_all;

#[tokio::test]
async fn an_edit_during_the_push_is_pushed_next_round() {
    let env = Env::new().await.unwrap();
    let mut a = env.default_device().unwrap();
    let mut b = env.default_device().unwrap();
    let p = rows::product("Tea", 10);
    let id = rows::id_of(&p);
    a.insert("products", &p).unwrap();

    // While the push of stock=10 is at the server, the app sets stock=7.
    let app = a.new_app_connection().unwrap();
    let hook_id = id.clone();
    env.proxy.on_request("ebb_push", move || {
        ebb_tests::device::update(&app, "products", &hook_id, &json!({"stock": 7})).unwrap();
    });
    a.sync().await.unwrap();
    assert_eq!(
        env.db.row("products", &id).await.unwrap().unwrap()["stock"],
        10
    );
    assert_eq!(
        a.queue().unwrap().len(),
        1,
        "the newer edit is still queued"
    );
    assert_eq!(
        a.row("products", &id).unwrap().unwrap()["stock"],
        7,
        "not overwritten by a pull"
    );

    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
    assert_eq!(
        env.db.row("products", &id).await.unwrap().unwrap()["stock"],
        7
    );
    assert_eq!(env.db.version("products", &id).await.unwrap(), Some(2));
    assert!(a.queue().unwrap().is_empty(), "{:?}", a.queue());
    assert!(a.engine.local().conflicts(true).unwrap().is_empty());
    assert_eq!(b.row("products", &id).unwrap().unwrap()["stock"], 7);
}

#[tokio::test]
async fn a_delete_during_the_push_is_pushed_next_round() {
    let env = Env::new().await.unwrap();
    let mut a = env.default_device().unwrap();
    let p = rows::product("Tea", 10);
    let id = rows::id_of(&p);
    a.insert("products", &p).unwrap();
    let app = a.new_app_connection().unwrap();
    let hook_id = id.clone();
    env.proxy.on_request("ebb_push", move || {
        app.execute("DELETE FROM products WHERE id = ?1", [&hook_id])
            .unwrap();
    });
    a.sync().await.unwrap();
    sync_all(&env, &mut [&mut a]).await.unwrap();
    assert_eq!(env.db.row("products", &id).await.unwrap(), None);
    assert!(a.queue().unwrap().is_empty(), "{:?}", a.queue());
}
