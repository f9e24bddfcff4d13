//! The founding app's catalogue import: a product written by barcode with
//! `INSERT OR REPLACE`, which deletes the row holding that barcode under
//! another id and fires no delete trigger for it. ebb captures that
//! delete (`local::triggers`, `replaced_rows`), so the old row leaves the
//! server and the other till too. Point-of-sale shape (integer ids mapped,
//! REAL money), a UNIQUE barcode on both sides, through the real gateway
//! on real PostgreSQL.

use ebb_tests::{Gateway, TestDb};

use crate::app_triggers::with_column;
use crate::integer_keys::{LOCAL, SERVER, TABLES, Till};

/// (name, price) of the products holding `barcode`.
fn on_till(till: &Till, barcode: &str) -> Vec<(String, f64)> {
    till.rows(
        "SELECT name, price FROM products WHERE barcode = ?1",
        [barcode],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

#[tokio::test]
async fn a_product_replaced_by_barcode_leaves_the_server_and_the_other_till() {
    let server_schema = with_column(SERVER, "barcode text UNIQUE");
    let db = TestDb::create_with(&server_schema, &TABLES).await.unwrap();
    let gateway = Gateway::start(&db.conn_str()).await.unwrap();
    let local = with_column(LOCAL, "barcode TEXT UNIQUE");
    let mut t1 = Till::with_schema(gateway.addr(), gateway.key(), &local).unwrap();
    let mut t2 = Till::with_schema(gateway.addr(), gateway.key(), &local).unwrap();
    t1.app
        .execute_batch(
            "INSERT INTO products (name, price, stock, barcode) VALUES
                 ('Tea', 2.5, 50, '111'), ('Cake', 3.0, 20, '222')",
        )
        .unwrap();
    t1.sync(&db).await.unwrap();
    t2.sync(&db).await.unwrap();
    assert_eq!(on_till(&t2, "111"), [("Tea".to_string(), 2.5)]);
    // The import: the row holding '111' goes, a new one takes its barcode.
    t1.app
        .execute(
            "INSERT OR REPLACE INTO products (name, price, stock, barcode)
             VALUES ('Green tea', 2.75, 40, '111')",
            [],
        )
        .unwrap();
    for _ in 0..2 {
        t1.sync(&db).await.unwrap();
        t2.sync(&db).await.unwrap();
    }
    let server = db.connect().await.unwrap();
    let rows: Vec<(String, f64)> = server
        .query("SELECT name, price FROM products ORDER BY name", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        rows,
        [("Cake".to_string(), 3.0), ("Green tea".to_string(), 2.75)]
    );
    for till in [&t1, &t2] {
        assert_eq!(on_till(till, "111"), [("Green tea".to_string(), 2.75)]);
        till.assert_settled("after the import");
    }
}
