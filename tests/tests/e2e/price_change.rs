//! A back office's bulk price change reaching a point-of-sale till
//! (integer AUTOINCREMENT ids, REAL prices, a stock counter with an
//! `AFTER UPDATE OF stock` audit trigger of the app's own): every new
//! price lands, the stock the till sold meanwhile is kept, and the audit
//! gets a row for each real stock movement only, never for a pulled row
//! whose stock did not change. Through the real gateway on real
//! PostgreSQL, over several pages.

use anyhow::Result;
use ebb_tests::{Gateway, TestDb};

use super::integer_keys::{LOCAL, SERVER, TABLES, Till};

const AUDIT: &str = "
CREATE TABLE stock_audit (id INTEGER PRIMARY KEY AUTOINCREMENT,
    product TEXT NOT NULL, old INTEGER NOT NULL, new INTEGER NOT NULL);
CREATE TRIGGER products_stock_audit AFTER UPDATE OF stock ON products
BEGIN
    INSERT INTO stock_audit (product, old, new) VALUES (new.name, old.stock, new.stock);
END;
";

/// More than one page of the shipped policies.
const PRODUCTS: i64 = 2_500;

type Shelf = Vec<(String, f64, i64)>;

async fn server_shelf(db: &TestDb) -> Result<Shelf> {
    let client = db.connect().await?;
    let rows = client
        .query("SELECT name, price, stock FROM products ORDER BY name", &[])
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

fn till_shelf(till: &Till) -> Result<Shelf> {
    let mut stmt = till
        .app
        .prepare("SELECT name, price, stock FROM products ORDER BY name")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn audit(till: &Till) -> Result<Vec<(String, i64, i64)>> {
    let mut stmt = till
        .app
        .prepare("SELECT product, old, new FROM stock_audit ORDER BY id")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[tokio::test]
async fn a_bulk_price_change_lands_whole_and_audits_only_real_stock_moves() -> Result<()> {
    let db = TestDb::create_with(SERVER, &TABLES).await?;
    db.exec(&format!(
        "INSERT INTO products (name, price, stock)
         SELECT 'p' || lpad(g::text, 5, '0'), 1 + g / 100.0, 100
         FROM generate_series(1, {PRODUCTS}) g"
    ))
    .await?;
    let gateway = Gateway::start(&db.conn_str()).await?;
    let mut till = Till::with_schema(gateway.addr(), gateway.key(), &format!("{LOCAL}{AUDIT}"))?;
    till.sync(&db).await?;
    assert_eq!(till_shelf(&till)?, server_shelf(&db).await?);
    assert!(
        audit(&till)?.is_empty(),
        "rows pulled in are no stock moves"
    );

    // A sale on the till, pushed as a decrement.
    let tea: i64 =
        till.app
            .query_row("SELECT id FROM products WHERE name = 'p00007'", [], |r| {
                r.get(0)
            })?;
    till.sell(tea, 2, 1.07, "cash")?;
    till.sync(&db).await?;

    // The back office: every price up 10%, and a delivery of one product.
    db.exec("UPDATE products SET price = round((price * 1.1)::numeric, 2)::float8")
        .await?;
    db.exec("UPDATE products SET stock = stock + 10 WHERE name = 'p00009'")
        .await?;
    till.sync(&db).await?;

    let server = server_shelf(&db).await?;
    assert_eq!(server.len() as i64, PRODUCTS);
    assert_eq!(till_shelf(&till)?, server, "every price lands, stock kept");
    let p7 = server.iter().find(|p| p.0 == "p00007").expect("p00007");
    assert_eq!(
        (p7.1, p7.2),
        (1.18, 98),
        "the sale's stock and the new price"
    );
    assert_eq!(
        audit(&till)?,
        vec![("p00007".into(), 100, 98), ("p00009".into(), 100, 110)],
        "the sale and the delivery, and no row for a price change"
    );
    Ok(())
}
