//! Deleting a debt cascades to its payments locally (ON DELETE CASCADE);
//! the server and the other device end with neither.

use ebb_tests::{Env, rows};

use crate::common::sync_all;

#[tokio::test]
async fn deleting_a_debt_removes_its_payments_everywhere() {
    let env = Env::new().await.unwrap();
    let mut a = env.default_device().unwrap();
    let mut b = env.default_device().unwrap();
    let customer = rows::customer("Ada");
    let debt = rows::debt(&rows::id_of(&customer), 1000);
    let debt_id = rows::id_of(&debt);
    let pays = [rows::payment(&debt_id, 100), rows::payment(&debt_id, 250)];
    a.insert("customers", &customer).unwrap();
    a.insert("debts", &debt).unwrap();
    for p in &pays {
        a.insert("debt_payments", p).unwrap();
    }
    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
    assert_eq!(b.count("debt_payments").unwrap(), 2);
    assert_eq!(env.db.count("debt_payments").await.unwrap(), 2);

    a.delete("debts", &debt_id).unwrap();
    assert_eq!(a.count("debt_payments").unwrap(), 0, "the app's cascade");
    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
    assert_eq!(env.db.row("debts", &debt_id).await.unwrap(), None);
    assert_eq!(env.db.count("debt_payments").await.unwrap(), 0);
    assert_eq!(b.row("debts", &debt_id).unwrap(), None);
    assert_eq!(b.count("debt_payments").unwrap(), 0);
    assert_eq!(b.count("customers").unwrap(), 1);
    assert!(a.queue().unwrap().is_empty(), "{:?}", a.queue());
    assert!(b.queue().unwrap().is_empty(), "{:?}", b.queue());
}

#[tokio::test]
async fn a_cascade_on_the_server_reaches_the_devices() {
    let env = Env::new().await.unwrap();
    let mut a = env.default_device().unwrap();
    let customer = rows::customer("Ada");
    let debt = rows::debt(&rows::id_of(&customer), 1000);
    let debt_id = rows::id_of(&debt);
    a.insert("customers", &customer).unwrap();
    a.insert("debts", &debt).unwrap();
    a.insert("debt_payments", &rows::payment(&debt_id, 100))
        .unwrap();
    sync_all(&env, &mut [&mut a]).await.unwrap();

    env.db
        .exec(&format!("DELETE FROM debts WHERE id = '{debt_id}'"))
        .await
        .unwrap();
    sync_all(&env, &mut [&mut a]).await.unwrap();
    assert_eq!(a.row("debts", &debt_id).unwrap(), None);
    assert_eq!(a.count("debt_payments").unwrap(), 0);
    assert!(a.queue().unwrap().is_empty(), "{:?}", a.queue());
}
