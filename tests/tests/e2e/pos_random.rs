//! A seeded random day of the founding app on two tills with integer keys
//! (`keys = "map"`), through the real gateway behind a proxy that loses
//! answers and goes down: sales of one to three items (stock decremented
//! on the till), bursts of sales, voids (a sale and its items deleted on a
//! till that holds it, its units back in stock; on half the days the ids
//! have no AUTOINCREMENT, so a voided last sale's id is reused; on half
//! the days the app's own triggers keep the stock), restocks
//! on the server, price changes on till 1, and rounds in random order, some of them ended by the till's
//! process dying (once the server answered its push or its pull, or at a
//! random moment: a new engine then opens the same file). At the end every sale is on the
//! server and on both tills once, each item on its own sale and product,
//! stock counts every unit once per product, and nothing is held, in
//! conflict or queued. A sale whose pushes failed too many rounds in a
//! row is dead, shown in status, and arrives once retried. A failure
//! prints its seed; `EBB_SEED=<seed>` replays it (a kill at a random
//! moment lands where the clock says, so its replay may differ).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::Notify;

use ebb_tests::pos::STOCK_TRIGGERS;

use super::integer_keys::{Day, LOCAL, SERVER, Till, settle_both};

const PRODUCTS: [&str; 2] = ["Tea", "Cake"];

/// Sells `items` ((product index, quantity)) on `till` as one sale marked
/// `tag` (its payment text, unique to the sale); `ids` are the products'
/// local ids on that till. The stock is taken here unless the app's own
/// triggers take it (`by_trigger`).
fn sell(till: &Till, ids: [i64; 2], tag: &str, items: &[(usize, i64)], by_trigger: bool) {
    let tx = till.app.unchecked_transaction().unwrap();
    tx.execute(
        "INSERT INTO sales (total, payment) VALUES (?1, ?2)",
        rusqlite::params![items.len() as f64 * 2.5, tag],
    )
    .unwrap();
    let sale = tx.last_insert_rowid();
    for (product, qty) in items {
        tx.execute(
            "INSERT INTO sale_items (sale_id, product_id, quantity, price) VALUES (?1, ?2, ?3, 2.5)",
            rusqlite::params![sale, ids[*product], qty],
        )
        .unwrap();
        if !by_trigger {
            tx.execute(
                "UPDATE products SET stock = stock - ?1 WHERE id = ?2",
                rusqlite::params![qty, ids[*product]],
            )
            .unwrap();
        }
    }
    tx.commit().unwrap();
}

/// Voids sale `id` on `till`: its items and the sale deleted, their units
/// back in stock (by the app's own triggers when `by_trigger`).
fn void(till: &Till, id: i64, by_trigger: bool) {
    let tx = till.app.unchecked_transaction().unwrap();
    if !by_trigger {
        tx.execute(
            "UPDATE products SET stock = stock + (SELECT sum(quantity) FROM sale_items i
                 WHERE i.sale_id = ?1 AND i.product_id = products.id)
             WHERE id IN (SELECT product_id FROM sale_items WHERE sale_id = ?1)",
            [id],
        )
        .unwrap();
    }
    tx.execute("DELETE FROM sale_items WHERE sale_id = ?1", [id])
        .unwrap();
    tx.execute("DELETE FROM sales WHERE id = ?1", [id]).unwrap();
    tx.commit().unwrap();
}

/// (id, tag) of every sale on a till, the latest first.
fn till_sales(till: &Till) -> Vec<(i64, String)> {
    let mut stmt = till
        .app
        .prepare("SELECT id, payment FROM sales ORDER BY id DESC")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn count_items(till: &Till, sale: i64) -> usize {
    till.app
        .query_row(
            "SELECT count(*) FROM sale_items WHERE sale_id = ?1",
            [sale],
            |r| r.get::<_, i64>(0),
        )
        .unwrap() as usize
}

/// (sale tag, product name, quantity) of every item, sorted.
fn till_items(till: &Till) -> Vec<(String, String, i64)> {
    let mut stmt = till
        .app
        .prepare(
            "SELECT s.payment, p.name, i.quantity FROM sale_items i
             JOIN sales s ON s.id = i.sale_id JOIN products p ON p.id = i.product_id
             ORDER BY 1, 2, 3",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// (name, stock, price) of every product on a till.
fn till_products(till: &Till) -> Vec<(String, i64, f64)> {
    let mut stmt = till
        .app
        .prepare("SELECT name, stock, price FROM products ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test]
async fn a_random_day_of_sales_keeps_every_sale_and_unit() {
    let seed = ebb_tests::seed();
    let mut rng = StdRng::seed_from_u64(seed);
    // Half the days on ids without AUTOINCREMENT: SQLite then reuses the
    // id of a voided last sale.
    let mut local = if rng.random_bool(0.5) {
        LOCAL.to_string()
    } else {
        LOCAL.replace(" AUTOINCREMENT", "")
    };
    // Half the days the app keeps stock with triggers of its own, which
    // must not run again on a sale or void pulled from the other till.
    let by_trigger = rng.random_bool(0.5);
    if by_trigger {
        local.push_str(STOCK_TRIGGERS);
    }
    let Day {
        db,
        proxy,
        mut t1,
        mut t2,
        tea_2,
        cake_2,
        _gateway,
    } = Day::open(SERVER, &local, "").await.unwrap();
    let server = db.connect().await.unwrap();
    let ids = [[1, 2], [tea_2, cake_2]];
    // Expected stock per product, every item sold, the last price of Tea.
    let mut stock: BTreeMap<&str, i64> = PRODUCTS.iter().map(|p| (*p, 500)).collect();
    let mut items: Vec<(String, String, i64)> = Vec::new();
    // Sales made (each tagged with its number) and still standing.
    let (mut made, mut sales) = (0, 0);
    let mut kills = 0;
    let mut voids = 0;
    for _ in 0..120 {
        match rng.random_range(0..11) {
            0..=4 => {
                let till = rng.random_range(0..2);
                // Now and then a burst: the other till adopts pages of them.
                let count = if rng.random_bool(0.1) { 25 } else { 1 };
                for _ in 0..count {
                    made += 1;
                    sales += 1;
                    let tag = format!("sale {made}");
                    let sold: Vec<(usize, i64)> = (0..rng.random_range(1..=3))
                        .map(|_| (rng.random_range(0..2), rng.random_range(1..=3)))
                        .collect();
                    sell([&t1, &t2][till], ids[till], &tag, &sold, by_trigger);
                    for (product, qty) in &sold {
                        *stock.get_mut(PRODUCTS[*product]).unwrap() -= qty;
                        items.push((tag.clone(), PRODUCTS[*product].to_string(), *qty));
                    }
                }
            }
            5 => {
                let product = PRODUCTS[rng.random_range(0..2)];
                server
                    .execute(
                        "UPDATE products SET stock = stock + 10 WHERE name = $1",
                        &[&product],
                    )
                    .await
                    .unwrap();
                *stock.get_mut(product).unwrap() += 10;
            }
            6 => {
                let price = 2.0 + rng.random_range(0..100) as f64 / 4.0;
                t1.app
                    .execute("UPDATE products SET price = ?1 WHERE id = 1", [price])
                    .unwrap();
            }
            7 => {
                // A void: the latest sale mostly (whose id a till without
                // AUTOINCREMENT gives to its next sale), or any it holds
                // whole; its units go back on the shelf.
                let till = [&t1, &t2][rng.random_range(0..2)];
                let held: Vec<(i64, String)> = till_sales(till)
                    .into_iter()
                    .filter(|(id, tag)| {
                        let sold = items.iter().filter(|i| &i.0 == tag).count();
                        sold > 0 && sold == count_items(till, *id)
                    })
                    .collect();
                let pick = if rng.random_bool(0.5) {
                    held.first()
                } else {
                    held.get(rng.random_range(0..held.len().max(1)))
                };
                if let Some((id, tag)) = pick {
                    void(till, *id, by_trigger);
                    for (_, product, qty) in items.iter().filter(|i| &i.0 == tag) {
                        *stock.get_mut(product.as_str()).unwrap() += qty;
                    }
                    items.retain(|i| &i.0 != tag);
                    sales -= 1;
                    voids += 1;
                }
            }
            _ => {
                let till = if rng.random_bool(0.5) {
                    &mut t1
                } else {
                    &mut t2
                };
                // The till's process dies: once the server answered its
                // push or its pull (the answer never read), or at a random
                // moment of the round.
                let kill = Arc::new(Notify::new());
                let mut die_in = Duration::MAX;
                match rng.random_range(0..7) {
                    0 => proxy.cut_responses("ebb_push", 1),
                    1 => proxy.cut_responses("ebb_pull_all", 1),
                    2 => proxy.set_down(true),
                    3 | 4 => {
                        let rpc = ["ebb_push", "ebb_pull_all"][rng.random_range(0..2)];
                        let kill = kill.clone();
                        proxy.on_request(rpc, move || kill.notify_one());
                    }
                    5 => die_in = Duration::from_micros(rng.random_range(0..20_000)),
                    _ => {}
                }
                db.settle().await.unwrap();
                // A fault may fail the round; the next ones settle it.
                let died = tokio::select! {
                    biased;
                    () = kill.notified() => true,
                    () = tokio::time::sleep(die_in) => true,
                    _ = till.engine.run_once() => false,
                };
                proxy.clear_hooks();
                proxy.set_down(false);
                if died {
                    kills += 1;
                    till.restart().unwrap();
                }
            }
        }
    }
    eprintln!(
        "seed {seed}: {made} sales, {voids} voided, {kills} rounds killed, AUTOINCREMENT {}, stock by triggers {by_trigger}",
        local.starts_with(LOCAL)
    );
    // Items a lost answer left waiting for their backoff go now.
    settle_both(&db, &mut t1, &mut t2).await.unwrap();
    // A change whose push failed in `max_attempts` rounds (5: the proxy
    // down or its answer lost each time) is dead: kept and shown in
    // status, never dropped. Every item the server lacks now must be one;
    // the shop owner retries them (as from the console) and they arrive.
    let arrived: i64 = server
        .query_one("SELECT count(*) FROM sale_items", &[])
        .await
        .unwrap()
        .get(0);
    let mut dead = 0;
    for till in [&mut t1, &mut t2] {
        let queued: Vec<(String, String)> = till
            .app
            .prepare("SELECT tbl, pk FROM _ebb_queue WHERE state = 'dead'")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let status = till
            .engine
            .local()
            .status(0, std::time::Duration::from_secs(60))
            .unwrap();
        let shown = status.queue.get("dead").copied().unwrap_or(0);
        assert_eq!(shown, queued.len() as u64, "seed {seed}: dead items shown");
        for (table, pk) in queued {
            dead += (table == "sale_items") as i64;
            till.engine.local_mut().revive_item(&table, &pk).unwrap();
        }
    }
    assert!(
        arrived + dead >= items.len() as i64,
        "seed {seed}: {} items neither on the server nor dead",
        items.len() as i64 - arrived - dead
    );
    settle_both(&db, &mut t1, &mut t2).await.unwrap();

    items.sort();
    let on_server: Vec<(String, String, i64)> = server
        .query(
            "SELECT s.payment, p.name, i.quantity FROM sale_items i
             JOIN sales s ON s.id = i.sale_id JOIN products p ON p.id = i.product_id
             ORDER BY 1, 2, 3",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        on_server, items,
        "seed {seed}: every item once, on its sale"
    );
    assert_eq!(db.count("sales").await.unwrap(), sales, "seed {seed}");
    assert_eq!(till_items(&t1), items, "seed {seed}: till 1");
    assert_eq!(till_items(&t2), items, "seed {seed}: till 2");
    let server_products: Vec<(String, i64, f64)> = server
        .query("SELECT name, stock, price FROM products ORDER BY name", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let want: Vec<(String, i64)> = stock.iter().map(|(p, s)| (p.to_string(), *s)).collect();
    let got: Vec<(String, i64)> = server_products
        .iter()
        .map(|(p, s, _)| (p.clone(), *s))
        .collect();
    assert_eq!(got, want, "seed {seed}: every unit counted once");
    assert_eq!(till_products(&t1), server_products, "seed {seed}: till 1");
    assert_eq!(till_products(&t2), server_products, "seed {seed}: till 2");
    for till in [&t1, &t2] {
        till.assert_settled(&format!("seed {seed}"));
    }
}
