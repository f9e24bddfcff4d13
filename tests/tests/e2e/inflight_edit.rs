//! An edit made to a row while that row's push is in flight is not lost:
//! the push acknowledges the change counter it sent, the newer edit stays
//! queued and goes out in the next push (the round's next batch), without
//! a false conflict.

use ebb_tests::{Env, rows};
use serde_json::json;

use crate::common::sync_all;

#[tokio::test]
async fn an_edit_during_the_push_goes_out_in_the_next_push() {
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
    let report = a.sync().await.unwrap();
    assert_eq!(report.error, None);
    assert_eq!(
        env.proxy.seen("ebb_push"),
        2,
        "the newer edit went out in a second push of the round"
    );
    assert_eq!(report.pushed, 2, "{report:?}");
    assert_eq!(
        (report.resolved, report.manual),
        (0, 0),
        "no false conflict"
    );
    assert_eq!(
        env.db.row("products", &id).await.unwrap().unwrap()["stock"],
        7
    );
    assert_eq!(env.db.version("products", &id).await.unwrap(), Some(2));
    assert!(a.queue().unwrap().is_empty(), "{:?}", a.queue());
    assert_eq!(
        a.row("products", &id).unwrap().unwrap()["stock"],
        7,
        "not overwritten by a pull"
    );
    assert!(a.engine.local().conflicts(true).unwrap().is_empty());

    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
    assert_eq!(b.row("products", &id).unwrap().unwrap()["stock"], 7);
}

#[tokio::test]
async fn a_delete_during_the_push_goes_out_in_the_next_push() {
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
