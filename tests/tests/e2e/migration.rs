//! The app upgraded while ebb runs: its migration rebuilds `products`
//! (SQLite's own recipe for a change ALTER TABLE cannot make: a new
//! table, the rows copied, the old one dropped, the new one renamed),
//! which drops ebb's capture triggers with the old table. The next round
//! notices the schema change and installs them again (`sync::schema`),
//! and what the app wrote meanwhile reaches the server and the other
//! till: a change, a new product and a deleted one. Point-of-sale shape
//! (integer ids mapped), through the real gateway on real PostgreSQL.

use ebb_tests::{Gateway, TestDb};

use crate::app_triggers::with_column;
use crate::integer_keys::{LOCAL, SERVER, TABLES, Till};

/// The migration: `products` rebuilt with a `barcode` column.
const REBUILD: &str = "
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE new_products (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,
    price REAL NOT NULL, stock INTEGER NOT NULL DEFAULT 0, barcode TEXT);
INSERT INTO new_products (id, name, price, stock) SELECT id, name, price, stock FROM products;
DROP TABLE products;
ALTER TABLE new_products RENAME TO products;
COMMIT;
PRAGMA foreign_keys = ON;
";

/// (name, price, barcode) of every product, by name.
fn products(till: &Till) -> Vec<(String, f64, Option<String>)> {
    till.rows(
        "SELECT name, price, barcode FROM products ORDER BY name",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

#[tokio::test]
async fn writes_made_after_a_migration_rebuilt_a_table_reach_the_server() {
    let db = TestDb::create_with(&with_column(SERVER, "barcode text"), &TABLES)
        .await
        .unwrap();
    let gateway = Gateway::start(&db.conn_str()).await.unwrap();
    let mut t1 = Till::with_schema(gateway.addr(), gateway.key(), LOCAL).unwrap();
    let mut t2 = Till::with_schema(gateway.addr(), gateway.key(), LOCAL).unwrap();
    t1.app
        .execute_batch(
            "INSERT INTO products (name, price, stock) VALUES
                 ('Tea', 2.5, 50), ('Cake', 3.0, 20), ('Bun', 1.5, 10)",
        )
        .unwrap();
    t1.sync(&db).await.unwrap();
    t2.sync(&db).await.unwrap();
    // Till 2's app is upgraded too, so both read the new column.
    for till in [&t1, &t2] {
        till.app.execute_batch(REBUILD).unwrap();
    }
    // Written before ebb's next round, with its triggers gone.
    t1.app
        .execute_batch(
            "UPDATE products SET price = 2.75, barcode = '111' WHERE name = 'Tea';
             DELETE FROM products WHERE name = 'Cake';
             INSERT INTO products (name, price, stock, barcode) VALUES ('Scone', 2.0, 5, '333');",
        )
        .unwrap();
    for _ in 0..2 {
        t1.sync(&db).await.unwrap();
        t2.sync(&db).await.unwrap();
    }
    let server = db.connect().await.unwrap();
    let on_server: Vec<(String, f64, Option<String>)> = server
        .query(
            "SELECT name, price, barcode FROM products ORDER BY name",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let expected = vec![
        ("Bun".to_string(), 1.5, None),
        ("Scone".to_string(), 2.0, Some("333".to_string())),
        ("Tea".to_string(), 2.75, Some("111".to_string())),
    ];
    assert_eq!(on_server, expected);
    assert_eq!(products(&t2), expected, "till 2");
    assert_eq!(products(&t1), expected, "till 1");
    t1.assert_settled("after the migration");
    // Till 2 could not tell what its app wrote while its triggers were
    // gone, so it sent every row again: where till 1 had changed one
    // meanwhile, the merge took till 1's and counted an overwrite.
    let status = t2
        .engine
        .local()
        .status(0, std::time::Duration::from_secs(60))
        .unwrap();
    assert_eq!(
        (status.open_conflicts, status.deferred_rows),
        (0, 0),
        "{status:?}"
    );
    assert!(status.queue.values().all(|n| *n == 0), "{status:?}");
    // Captured again from then on.
    t1.app
        .execute("UPDATE products SET price = 1.75 WHERE name = 'Bun'", [])
        .unwrap();
    t1.sync(&db).await.unwrap();
    t2.sync(&db).await.unwrap();
    let bun: f64 = t2
        .app
        .query_row("SELECT price FROM products WHERE name = 'Bun'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(bun, 1.75);
    // ebb's own rounds leave the schema alone, so it fits itself again
    // only when the app changed it.
    let version = |till: &Till| -> i64 {
        till.app
            .query_row("PRAGMA schema_version", [], |r| r.get(0))
            .unwrap()
    };
    let before = (version(&t1), version(&t2));
    for _ in 0..2 {
        t1.sync(&db).await.unwrap();
        t2.sync(&db).await.unwrap();
    }
    assert_eq!((version(&t1), version(&t2)), before);
}
