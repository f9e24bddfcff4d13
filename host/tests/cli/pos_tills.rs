//! Issue 7's proof: the point-of-sale app as it is (example/pos), taken
//! from `ebb init` to two syncing tills with only the edits `ebb init` and
//! `ebb check` tell the user to make (uncomment the suggested blocks, set
//! the server's URL). Each till makes 20 sales with their items offline,
//! in rounds interleaved with the other's; then every sale and item is on
//! the server and both tills with its links intact, each till's own ids
//! are unchanged, and stock is the initial stock minus every sale.

use std::collections::BTreeMap;

use rusqlite::Connection;

use super::pos::{opt_in, pos_db};
use super::support::{Server, World};

const SYNCED: [&str; 5] = ["categories", "products", "sales", "sale_items", "settings"];

/// A sale as every till and the server must see it: total, payment, and
/// its items as (product name, quantity, unit price).
type Sale = (String, String, Vec<(String, i64, String)>);

fn sales(db: &Connection) -> Vec<Sale> {
    let mut by_id: BTreeMap<i64, Sale> = BTreeMap::new();
    let mut stmt = db
        .prepare(
            "SELECT s.id, printf('%.4f', s.total), s.payment, p.name, i.quantity, printf('%.4f', i.price)
             FROM sales s JOIN sale_items i ON i.sale_id = s.id JOIN products p ON p.id = i.product_id
             ORDER BY s.id, i.id",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                (r.get(3)?, r.get(4)?, r.get(5)?),
            ))
        })
        .unwrap();
    for row in rows {
        let (id, total, payment, item) = row.unwrap();
        by_id
            .entry(id)
            .or_insert_with(|| (total, payment, Vec::new()))
            .2
            .push(item);
    }
    let mut all: Vec<Sale> = by_id.into_values().collect();
    all.sort();
    all
}

fn stock(db: &Connection) -> BTreeMap<String, i64> {
    let mut stmt = db.prepare("SELECT name, stock FROM products").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Sells on `db` as the app does; returns (sale id, quantity per product).
fn sell(db: &Connection, n: u64, till: &str) -> (i64, Vec<(String, i64)>) {
    let names = [
        "Espresso",
        "Orange juice",
        "Crisps",
        "Croissant",
        "Sourdough loaf",
    ];
    let lines = 1 + (n % 3) as usize;
    let mut items = Vec::new();
    let mut total = 0.0;
    let tx = db.unchecked_transaction().unwrap();
    tx.execute(
        "INSERT INTO sales (total, payment) VALUES (0, ?1)",
        [if n.is_multiple_of(2) { "cash" } else { "card" }],
    )
    .unwrap();
    let sale = tx.last_insert_rowid();
    for line in 0..lines {
        let name = names[((n * 7 + line as u64 * 3) % 5) as usize];
        let qty = 1 + ((n + line as u64) % 2) as i64;
        let (product, price): (i64, f64) = tx
            .query_row(
                "SELECT id, price FROM products WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        tx.execute(
            "INSERT INTO sale_items (sale_id, product_id, quantity, price) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![sale, product, qty, price],
        )
        .unwrap();
        tx.execute(
            "UPDATE products SET stock = stock - ?1 WHERE id = ?2",
            rusqlite::params![qty, product],
        )
        .unwrap();
        total += price * qty as f64;
        items.push((name.to_string(), qty));
    }
    tx.execute(
        "UPDATE sales SET total = ?1, payment = payment || ?2 WHERE id = ?3",
        rusqlite::params![total, format!("@{till}"), sale],
    )
    .unwrap();
    tx.commit().unwrap();
    (sale, items)
}

#[test]
fn two_tills_sell_offline_and_every_sale_arrives_whole() {
    let w = World::new();
    pos_db(&w, "till1", true);
    pos_db(&w, "till2", false);
    w.ebb(&[
        "--config",
        "till1/policies.toml",
        "init",
        "--db",
        "till1/pos.db",
    ])
    .expect(0);
    let starter = std::fs::read_to_string(w.path("till1/policies.toml")).unwrap();
    let config = w.path("till1/policies.toml");
    std::fs::write(&config, opt_in(&starter, &SYNCED, "http://127.0.0.1:1")).unwrap();
    let server = Server::start_with(&w, "example/pos/server.sql", "till1/policies.toml");
    let text = opt_in(&starter, &SYNCED, &server.url);
    std::fs::write(&config, &text).unwrap();
    // Till 2: the same file and schemas beside its own database.
    std::fs::write(w.path("till2/policies.toml"), &text).unwrap();
    std::fs::create_dir_all(w.path("till2/schemas")).unwrap();
    for schema in std::fs::read_dir(w.path("till1/schemas")).unwrap() {
        let schema = schema.unwrap().path();
        let name = schema.file_name().unwrap();
        std::fs::copy(&schema, w.path("till2/schemas").join(name)).unwrap();
    }
    for till in ["till1", "till2"] {
        let config = format!("{till}/policies.toml");
        let out = w.ebb(&["--config", &config, "check"]).expect(0);
        assert!(!out.stdout.contains("FAIL"), "{}", out.stdout);
        w.ebb(&["--config", &config, "sync", "--once"]).expect(0);
    }
    let t1 = Connection::open(w.path("till1/pos.db")).unwrap();
    let t2 = Connection::open(w.path("till2/pos.db")).unwrap();
    for db in [&t1, &t2] {
        db.execute_batch("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000")
            .unwrap();
    }
    let initial = stock(&t1);
    assert_eq!(stock(&t2), initial, "till 2 pulled the catalogue");

    // 20 sales per till, offline between rounds, rounds interleaved.
    let mut sold: BTreeMap<String, i64> = BTreeMap::new();
    let mut mine = [Vec::new(), Vec::new()];
    for round in 0..4u64 {
        for (t, db) in [&t1, &t2].into_iter().enumerate() {
            let till = format!("till{}", t + 1);
            for k in 0..5 {
                let n = round * 10 + t as u64 * 5 + k;
                let (sale, items) = sell(db, n, &till);
                let payment: String = db
                    .query_row("SELECT payment FROM sales WHERE id = ?1", [sale], |r| {
                        r.get(0)
                    })
                    .unwrap();
                mine[t].push((sale, payment));
                for (name, qty) in items {
                    *sold.entry(name).or_default() += qty;
                }
            }
        }
        for till in ["till2", "till1"] {
            w.ebb(&[
                "--config",
                &format!("{till}/policies.toml"),
                "sync",
                "--once",
            ])
            .expect(0);
        }
    }
    for till in ["till2", "till1", "till2"] {
        w.ebb(&[
            "--config",
            &format!("{till}/policies.toml"),
            "sync",
            "--once",
        ])
        .expect(0);
    }
    // Pulls stop below the oldest transaction open anywhere on the server
    // (other tests share the cluster): a round that found its pull held
    // back says so, and the rows come in a later round, never lost.
    for _ in 0..60 {
        if sales(&t1).len() == 42 && sales(&t2).len() == 42 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
        for till in ["till1", "till2"] {
            w.ebb(&[
                "--config",
                &format!("{till}/policies.toml"),
                "sync",
                "--once",
            ])
            .expect(0);
        }
    }

    // Every sale with its items everywhere (2 seeded + 40 sold).
    let on_1 = sales(&t1);
    assert_eq!(on_1.len(), 42);
    assert_eq!(sales(&t2), on_1, "till 2 holds exactly till 1's sales");
    let server_sales: i64 = server.query("SELECT count(*) FROM sales").parse().unwrap();
    let server_items: i64 = server
        .query("SELECT count(*) FROM sale_items")
        .parse()
        .unwrap();
    let local_items: i64 = t1
        .query_row("SELECT count(*) FROM sale_items", [], |r| r.get(0))
        .unwrap();
    assert_eq!((server_sales, server_items), (42, local_items));
    // Each till's own ids still name its own sales.
    for (t, db) in [&t1, &t2].into_iter().enumerate() {
        for (id, payment) in &mine[t] {
            let now: String = db
                .query_row("SELECT payment FROM sales WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .unwrap();
            assert_eq!(&now, payment, "till {} sale {id}", t + 1);
        }
    }
    // Stock: the initial stock minus every sale of both tills, everywhere.
    let expect: BTreeMap<String, i64> = initial
        .iter()
        .map(|(name, s)| (name.clone(), s - sold.get(name).copied().unwrap_or(0)))
        .collect();
    assert_eq!(stock(&t1), expect);
    assert_eq!(stock(&t2), expect);
    for (name, s) in &expect {
        let on_server = server.query(&format!(
            "SELECT stock FROM products WHERE name = '{}'",
            name.replace('\'', "''")
        ));
        assert_eq!(on_server, s.to_string(), "{name}");
    }
    for till in ["till1", "till2"] {
        let out = w
            .ebb(&["--config", &format!("{till}/policies.toml"), "status"])
            .expect(0);
        assert!(out.stdout.contains("conflicts:  0 open"), "{}", out.stdout);
    }
    w.saw(server.log_text());
    w.assert_key_never_shown();
}
