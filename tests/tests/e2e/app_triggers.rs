//! An app whose own SQLite trigger keeps a synced counter: a `sale_items`
//! row inserted takes its quantity off `products.stock`. Each till runs
//! the trigger on its own sales and syncs both rows; a sale item pulled
//! from another till must not run it again (`local::skip`), or the other
//! till's sale is counted twice on this one. Point-of-sale shape (integer
//! ids, REAL money), through the real gateway on real PostgreSQL.

use std::time::Duration;

use ebb_tests::pos::STOCK_TRIGGERS;
use ebb_tests::{Gateway, TestDb};

use crate::integer_keys::{LOCAL, SERVER, TABLES, Till};

fn sell(till: &Till, product: i64, qty: i64) {
    till.app
        .execute(
            "INSERT INTO sales (total, payment) VALUES (?1, 'cash')",
            [qty as f64 * 2.5],
        )
        .unwrap();
    let sale = till.app.last_insert_rowid();
    till.app
        .execute(
            "INSERT INTO sale_items (sale_id, product_id, quantity, price) VALUES (?1, ?2, ?3, 2.5)",
            rusqlite::params![sale, product, qty],
        )
        .unwrap();
}

fn stock(till: &Till) -> i64 {
    till.app
        .query_row("SELECT stock FROM products WHERE name = 'Tea'", [], |r| {
            r.get(0)
        })
        .unwrap()
}

fn tea(till: &Till) -> i64 {
    till.app
        .query_row("SELECT id FROM products WHERE name = 'Tea'", [], |r| {
            r.get(0)
        })
        .unwrap()
}

/// One round of `till`; the writes it skipped.
async fn sync(till: &mut Till, db: &TestDb) -> usize {
    db.settle().await.unwrap();
    let report = till.engine.run_once().await.unwrap();
    assert!(report.error.is_none(), "{report:?}");
    report.skipped_writes
}

#[tokio::test]
async fn a_sale_pulled_from_another_till_takes_its_stock_once() {
    let db = TestDb::create_with(SERVER, &TABLES).await.unwrap();
    let gateway = Gateway::start(&db.conn_str()).await.unwrap();
    let schema = format!("{LOCAL}{STOCK_TRIGGERS}");
    let mut t1 = Till::with_schema(gateway.addr(), gateway.key(), &schema).unwrap();
    let mut t2 = Till::with_schema(gateway.addr(), gateway.key(), &schema).unwrap();
    t1.app
        .execute_batch("INSERT INTO products (name, price, stock) VALUES ('Tea', 2.5, 50)")
        .unwrap();
    sync(&mut t1, &db).await;
    sync(&mut t2, &db).await;
    // Both tills sell at once; each till's trigger takes its own sale's
    // stock, and both changes are queued.
    sell(&t1, tea(&t1), 1);
    sell(&t2, tea(&t2), 2);
    assert_eq!((stock(&t1), stock(&t2)), (49, 48));
    let mut skipped = [0, 0];
    for _ in 0..3 {
        skipped[0] += sync(&mut t1, &db).await;
        skipped[1] += sync(&mut t2, &db).await;
    }
    let server = db.connect().await.unwrap();
    let on_server: i64 = server
        .query_one("SELECT stock FROM products WHERE name = 'Tea'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(on_server, 47, "50 - 1 - 2");
    assert_eq!(stock(&t1), 47, "till 1");
    assert_eq!(stock(&t2), 47, "till 2");
    // Each till skipped its trigger once, for the other till's sale item,
    // and says so.
    assert_eq!(skipped, [1, 1]);
    for t in [&t1, &t2] {
        t.assert_settled("after both sales");
        let status = t.engine.local().status(0, Duration::from_secs(60)).unwrap();
        assert_eq!(status.skipped_writes, 1, "{status:?}");
    }
    // A later sale on till 2 still takes its stock, and counts once.
    sell(&t2, tea(&t2), 4);
    for _ in 0..2 {
        sync(&mut t2, &db).await;
        sync(&mut t1, &db).await;
    }
    assert_eq!((stock(&t1), stock(&t2)), (43, 43));
}

/// The point of sale with a column its own trigger stamps on every update
/// of a product: which till changed it last (from `till`, a table of the
/// app's that ebb does not sync).
fn stamped(schema: &str, column: &str) -> String {
    with_column(schema, &format!("changed_by {column}"))
}

/// `schema` (the point of sale's, `ebb_tests::pos`) with `column` added to
/// `products`, after its stock.
pub(crate) fn with_column(schema: &str, column: &str) -> String {
    let stock = schema.find("DEFAULT 0").expect("the stock column") + "DEFAULT 0".len();
    format!("{}, {column}{}", &schema[..stock], &schema[stock..])
}

const STAMP_TRIGGER: &str = "
CREATE TABLE till (name TEXT NOT NULL);
CREATE TRIGGER products_stamped AFTER UPDATE ON products BEGIN
    UPDATE products SET changed_by = (SELECT name FROM till) WHERE id = NEW.id;
END;
";

fn changed_by(till: &Till) -> (f64, String) {
    till.app
        .query_row(
            "SELECT price, changed_by FROM products WHERE name = 'Tea'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
}

/// A price changed on till 1 is stamped there by the app's trigger, and
/// reaches till 2 as stamped: ebb's write of the pulled row does not run
/// the trigger's write to the same row again (`local::nested`), which
/// would stamp it "till 2" there only, unannounced and never pushed.
#[tokio::test]
async fn a_pulled_row_keeps_the_stamp_the_other_till_gave_it() {
    let db = TestDb::create_with(&stamped(SERVER, "text"), &TABLES)
        .await
        .unwrap();
    let gateway = Gateway::start(&db.conn_str()).await.unwrap();
    let local = format!("{}{STAMP_TRIGGER}", stamped(LOCAL, "TEXT"));
    let mut t1 = Till::with_schema(gateway.addr(), gateway.key(), &local).unwrap();
    let mut t2 = Till::with_schema(gateway.addr(), gateway.key(), &local).unwrap();
    for (till, name) in [(&t1, "till 1"), (&t2, "till 2")] {
        till.app
            .execute("INSERT INTO till (name) VALUES (?1)", [name])
            .unwrap();
    }
    t1.app
        .execute_batch("INSERT INTO products (name, price, stock) VALUES ('Tea', 2.5, 50)")
        .unwrap();
    sync(&mut t1, &db).await;
    assert_eq!(sync(&mut t2, &db).await, 0, "an insert: nothing stamped");
    t1.app
        .execute("UPDATE products SET price = 3.0 WHERE name = 'Tea'", [])
        .unwrap();
    assert_eq!(changed_by(&t1), (3.0, "till 1".into()));
    sync(&mut t1, &db).await;
    assert_eq!(sync(&mut t2, &db).await, 1, "till 2 skipped its stamp");
    assert_eq!(changed_by(&t2), (3.0, "till 1".into()));
    let server = db.connect().await.unwrap();
    let stamp: String = server
        .query_one("SELECT changed_by FROM products WHERE name = 'Tea'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stamp, "till 1");
    t2.assert_settled("after the price change");
    let status = t2
        .engine
        .local()
        .status(0, Duration::from_secs(60))
        .unwrap();
    assert_eq!(status.skipped_writes, 1, "{status:?}");
    // Till 2's own change is stamped there, and reaches till 1 so.
    t2.app
        .execute("UPDATE products SET price = 3.5 WHERE name = 'Tea'", [])
        .unwrap();
    sync(&mut t2, &db).await;
    sync(&mut t1, &db).await;
    assert_eq!(changed_by(&t1), (3.5, "till 2".into()));
    assert_eq!(changed_by(&t2), (3.5, "till 2".into()));
}
