//! A row deleted directly on the server (plain SQL, no ebb involved, a
//! TRUNCATE too) disappears from every device, and the delete is not
//! echoed back.

use ebb_tests::{Env, rows};

use crate::common::sync_all;

#[tokio::test]
async fn a_plain_sql_delete_reaches_both_devices() {
    let env = Env::new().await.unwrap();
    let mut a = env.default_device().unwrap();
    let mut b = env.default_device().unwrap();
    let keep = rows::product("Tea", 5);
    let gone = rows::product("Coffee", 7);
    a.insert("products", &keep).unwrap();
    a.insert("products", &gone).unwrap();
    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
    assert_eq!(b.count("products").unwrap(), 2);

    let gone_id = rows::id_of(&gone);
    env.db
        .exec(&format!("DELETE FROM products WHERE id = '{gone_id}'"))
        .await
        .unwrap();
    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
    for d in [&a, &b] {
        assert_eq!(d.row("products", &gone_id).unwrap(), None);
        assert_eq!(
            d.row("products", &rows::id_of(&keep)).unwrap(),
            Some(keep.clone())
        );
        assert!(d.queue().unwrap().is_empty(), "{:?}", d.queue());
    }
    // Another round changes nothing on the server (no echo of the delete).
    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
    assert_eq!(
        env.db
            .version("products", &rows::id_of(&keep))
            .await
            .unwrap(),
        Some(1)
    );
}

#[tokio::test]
async fn a_server_update_reaches_the_device() {
    let env = Env::new().await.unwrap();
    let mut a = env.default_device().unwrap();
    let p = rows::product("Tea", 5);
    let id = rows::id_of(&p);
    a.insert("products", &p).unwrap();
    sync_all(&env, &mut [&mut a]).await.unwrap();
    env.db
        .exec(&format!("UPDATE products SET stock = 42 WHERE id = '{id}'"))
        .await
        .unwrap();
    sync_all(&env, &mut [&mut a]).await.unwrap();
    assert_eq!(a.row("products", &id).unwrap().unwrap()["stock"], 42);
    assert!(a.queue().unwrap().is_empty());
}

#[tokio::test]
async fn a_server_truncate_reaches_both_devices() {
    let env = Env::new().await.unwrap();
    let mut a = env.default_device().unwrap();
    let mut b = env.default_device().unwrap();
    let ada = rows::customer("Ada");
    let debt = rows::debt(&rows::id_of(&ada), 1000);
    a.insert("customers", &ada).unwrap();
    a.insert("debts", &debt).unwrap();
    a.insert("debt_payments", &rows::payment(&rows::id_of(&debt), 300))
        .unwrap();
    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
    assert_eq!(b.count("debt_payments").unwrap(), 1);

    // TRUNCATE fires no row triggers; CASCADE empties the payments too.
    env.db.exec("TRUNCATE debts CASCADE").await.unwrap();
    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
    for d in [&a, &b] {
        assert_eq!(d.count("debts").unwrap(), 0);
        assert_eq!(d.count("debt_payments").unwrap(), 0);
        assert_eq!(d.count("customers").unwrap(), 1);
        assert!(d.queue().unwrap().is_empty(), "{:?}", d.queue());
    }
}
