//! The real example plugins, built from source (scripts/build-plugins.sh),
//! under the shipped policies: stock merges by delta, debt payments are
//! never lost, a products row breaking a plugin rule is held invalid with
//! the plugin's message, and customers merge disjoint field edits.

use ebb_tests::{Device, DeviceSpec, Env, rows};
use serde_json::{Value, json};

use crate::common::sync_all;

async fn two_devices(env: &Env) -> (Device, Device) {
    ebb_tests::ensure_plugins().unwrap();
    let spec = DeviceSpec::shipped();
    (env.device(&spec).unwrap(), env.device(&spec).unwrap())
}

fn field(d: &Device, table: &str, id: &str, f: &str) -> Value {
    d.row(table, id).unwrap().unwrap()[f].clone()
}

#[tokio::test]
async fn two_sales_of_one_product_add_up() {
    let env = Env::new().await.unwrap();
    let (mut a, mut b) = two_devices(&env).await;
    let p = rows::product("Tea", 10);
    let id = rows::id_of(&p);
    a.insert("products", &p).unwrap();
    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
    a.update("products", &id, &json!({"stock": 7})).unwrap(); // sold 3
    b.update("products", &id, &json!({"stock": 8})).unwrap(); // sold 2
    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
    sync_all(&env, &mut [&mut b, &mut a]).await.unwrap();
    assert_eq!(
        env.db.row("products", &id).await.unwrap().unwrap()["stock"],
        5
    );
    assert_eq!(field(&a, "products", &id, "stock"), 5);
    assert_eq!(field(&b, "products", &id, "stock"), 5);
    assert!(b.engine.local().conflicts(false).unwrap().is_empty());
}

#[tokio::test]
async fn two_payments_on_one_debt_are_both_kept() {
    let env = Env::new().await.unwrap();
    let (mut a, mut b) = two_devices(&env).await;
    let c = rows::customer("Ada");
    let d = rows::debt(&rows::id_of(&c), 1000);
    let id = rows::id_of(&d);
    a.insert("customers", &c).unwrap();
    a.insert("debts", &d).unwrap();
    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
    a.update("debts", &id, &json!({"amount_paid_cents": 300}))
        .unwrap();
    b.update(
        "debts",
        &id,
        &json!({"amount_paid_cents": 700, "status": "open"}),
    )
    .unwrap();
    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
    sync_all(&env, &mut [&mut b, &mut a]).await.unwrap();
    let server = env.db.row("debts", &id).await.unwrap().unwrap();
    assert_eq!(server["amount_paid_cents"], 1000, "{server}");
    assert_eq!(server["status"], "paid", "{server}");
    assert_eq!(field(&a, "debts", &id, "amount_paid_cents"), 1000);
    assert_eq!(field(&b, "debts", &id, "status"), "paid");
}

#[tokio::test]
async fn a_row_breaking_a_plugin_rule_is_held_invalid() {
    let env = Env::new().await.unwrap();
    let (mut a, _) = two_devices(&env).await;
    let bad = rows::with(
        &rows::product("Tea", 1),
        &json!({"price_cents": 100, "sale_price_cents": 150}),
    );
    let good = rows::product("Coffee", 1);
    a.insert("products", &bad).unwrap();
    a.insert("products", &good).unwrap();
    let report = a.sync().await.unwrap();
    assert_eq!(report.invalid, 1, "{report:?}");
    let items = a.engine.local().queue_items(&["invalid"], 10).unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].pk, rows::id_of(&bad));
    let error = items[0].error.clone().unwrap_or_default();
    assert!(
        error.contains("sale_price_cents"),
        "the plugin's message: {error}"
    );
    assert_eq!(
        env.db.row("products", &rows::id_of(&bad)).await.unwrap(),
        None
    );
    assert!(
        env.db
            .row("products", &rows::id_of(&good))
            .await
            .unwrap()
            .is_some()
    );

    // Fixed by the app: pushed.
    a.update(
        "products",
        &rows::id_of(&bad),
        &json!({"sale_price_cents": 90}),
    )
    .unwrap();
    sync_all(&env, &mut [&mut a]).await.unwrap();
    assert!(
        env.db
            .row("products", &rows::id_of(&bad))
            .await
            .unwrap()
            .is_some()
    );
    assert!(a.queue().unwrap().is_empty(), "{:?}", a.queue());
}

#[tokio::test]
async fn disjoint_customer_edits_merge() {
    let env = Env::new().await.unwrap();
    let (mut a, mut b) = two_devices(&env).await;
    let c = rows::customer("Ada");
    let id = rows::id_of(&c);
    a.insert("customers", &c).unwrap();
    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
    a.update("customers", &id, &json!({"phone": "+1 555 0111"}))
        .unwrap();
    b.update("customers", &id, &json!({"email": "ada@example.com"}))
        .unwrap();
    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
    sync_all(&env, &mut [&mut b, &mut a]).await.unwrap();
    let want = rows::with(
        &c,
        &json!({"phone": "+1 555 0111", "email": "ada@example.com"}),
    );
    assert_eq!(
        env.db.row("customers", &id).await.unwrap(),
        Some(want.clone())
    );
    assert_eq!(a.row("customers", &id).unwrap(), Some(want.clone()));
    assert_eq!(b.row("customers", &id).unwrap(), Some(want));
}
