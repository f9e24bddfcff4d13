//! Counters are exact (issue 6): a stock level or an amount paid equals
//! the initial value plus every till's and the server's deltas, each
//! counted once — when two tills make the same edit from one base, and
//! when a push's answer is lost and others write on top of it before the
//! till hears back. Each case runs under the built-in `merge` with
//! `delta_fields` and under the example plugins (stock and debts
//! resolvers), through the real gateway on real PostgreSQL.

use ebb_tests::{Device, DeviceSpec, Env, rows};
use serde_json::{Value, json};

use crate::common::sync_all;

/// The two ways a shop counts: the built-in merge, and the plugins.
fn specs() -> Vec<(&'static str, DeviceSpec)> {
    ebb_tests::ensure_plugins().expect("example plugins");
    let merge = DeviceSpec::default()
        .table(
            "products",
            "conflict = \"merge\"\nmerge_on_both = \"remote\"\ndelta_fields = [\"stock\"]",
        )
        .table(
            "debts",
            "conflict = \"merge\"\nmerge_on_both = \"remote\"\ndelta_fields = [\"amount_paid_cents\"]",
        );
    vec![("merge", merge), ("plugins", DeviceSpec::shipped())]
}

fn int(row: Option<Value>, field: &str) -> i64 {
    row.and_then(|r| r[field].as_i64())
        .unwrap_or_else(|| panic!("no integer {field}"))
}

fn sell(d: &Device, id: &str, n: i64) {
    d.app()
        .execute(
            "UPDATE products SET stock = stock - ?1 WHERE id = ?2",
            rusqlite::params![n, id],
        )
        .expect("sell");
}

/// Two tills of `spec` on a fresh server, both holding a product with
/// `stock` (till A wrote it, B pulled it); its id.
async fn two_tills_holding(spec: &DeviceSpec, stock: i64) -> (Env, Device, Device, String) {
    let env = Env::new().await.unwrap();
    let mut a = env.device(spec).unwrap();
    let mut b = env.device(spec).unwrap();
    let p = rows::product("Tea", stock);
    let pid = rows::id_of(&p);
    a.insert("products", &p).unwrap();
    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
    (env, a, b, pid)
}

#[tokio::test]
async fn equal_edits_from_the_same_base_both_count() {
    for (name, spec) in specs() {
        let env = Env::new().await.unwrap();
        let mut a = env.device(&spec).unwrap();
        let mut b = env.device(&spec).unwrap();
        let p = rows::product("Tea", 26);
        let pid = rows::id_of(&p);
        let c = rows::customer("Ada");
        let mut debt = rows::debt(&rows::id_of(&c), 1000);
        debt["amount_paid_cents"] = json!(200);
        let did = rows::id_of(&debt);
        a.insert("products", &p).unwrap();
        a.insert("customers", &c).unwrap();
        a.insert("debts", &debt).unwrap();
        sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();

        // Each till sells one and takes a payment of 100 from the same base:
        // both rows end identical, and both edits still count.
        for d in [&a, &b] {
            sell(d, &pid, 1);
            d.app()
                .execute(
                    "UPDATE debts SET amount_paid_cents = amount_paid_cents + 100 WHERE id = ?1",
                    [&did],
                )
                .unwrap();
        }
        sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
        sync_all(&env, &mut [&mut a]).await.unwrap();
        let server = env.db.row("products", &pid).await.unwrap();
        assert_eq!(int(server, "stock"), 24, "{name}: 26 - 1 - 1");
        let paid = env.db.row("debts", &did).await.unwrap();
        assert_eq!(
            int(paid, "amount_paid_cents"),
            400,
            "{name}: 200 + 100 + 100"
        );
        for d in [&a, &b] {
            assert_eq!(int(d.row("products", &pid).unwrap(), "stock"), 24, "{name}");
            assert_eq!(int(d.row("debts", &did).unwrap(), "amount_paid_cents"), 400);
        }
    }
}

/// Till A sells 2, the server applies it and A never hears; A sells 1
/// more; someone else writes the row (till B sells 3, or the back office
/// changes the price in SQL); A syncs again: exactly 2 + 1 (+ 3) sold.
#[tokio::test]
async fn a_lost_answer_is_counted_once() {
    for (name, spec) in specs() {
        for other in ["till", "back office"] {
            let spec = DeviceSpec {
                max_attempts: 2,
                ..spec.clone()
            };
            let (env, mut a, mut b, pid) = two_tills_holding(&spec, 23).await;

            sell(&a, &pid, 2);
            // Every answer of this round is lost: the server applied it.
            env.proxy.cut_responses("ebb_push", 2);
            let report = a.sync().await.unwrap();
            assert!(report.error.is_some(), "{name}/{other}: {report:?}");
            assert_eq!(
                int(env.db.row("products", &pid).await.unwrap(), "stock"),
                21
            );
            sell(&a, &pid, 1);
            let expect = match other {
                "till" => {
                    sell(&b, &pid, 3);
                    sync_all(&env, &mut [&mut b]).await.unwrap();
                    23 - 2 - 1 - 3
                }
                _ => {
                    env.db
                        .exec(&format!(
                            "UPDATE products SET price_cents = 300 WHERE id = '{pid}'"
                        ))
                        .await
                        .unwrap();
                    23 - 2 - 1
                }
            };
            sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
            sync_all(&env, &mut [&mut a]).await.unwrap();
            let server = env.db.row("products", &pid).await.unwrap();
            assert_eq!(int(server.clone(), "stock"), expect, "{name}/{other}");
            assert_eq!(int(a.row("products", &pid).unwrap(), "stock"), expect);
            assert_eq!(int(b.row("products", &pid).unwrap(), "stock"), expect);
            if other == "back office" {
                assert_eq!(
                    int(server, "price_cents"),
                    300,
                    "{name}: the price edit kept"
                );
            }
            assert!(a.engine.local().conflicts(false).unwrap().is_empty());
        }
    }
}

/// An app that saves whole rows with `INSERT OR REPLACE` (SQLite fires no
/// delete trigger for the row replaced): the merge still finds the base
/// each till synced, for a row pulled (its base kept in the app's table
/// until the app's first write) and for a row the till pushed itself.
/// Both sales count.
#[tokio::test]
async fn sales_saved_by_replacing_the_whole_row_both_count() {
    for (name, spec) in specs() {
        let (env, mut a, mut b, pid) = two_tills_holding(&spec, 26).await;
        for d in [&a, &b] {
            d.app()
                .execute_batch(&format!(
                    "CREATE TEMP TABLE saved AS SELECT * FROM products WHERE id = '{pid}';
                     UPDATE saved SET stock = stock - 1;
                     INSERT OR REPLACE INTO products SELECT * FROM saved;
                     DROP TABLE saved;"
                ))
                .expect("save the whole row");
        }
        sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
        sync_all(&env, &mut [&mut a]).await.unwrap();
        let server = env.db.row("products", &pid).await.unwrap();
        assert_eq!(int(server, "stock"), 24, "{name}: 26 - 1 - 1");
        for d in [&a, &b] {
            assert_eq!(int(d.row("products", &pid).unwrap(), "stock"), 24, "{name}");
        }
    }
}
