//! Integer keys (`keys = "map"`) on a point-of-sale shaped app: two tills
//! that both mint sale 1 keep both sales, on the server and on each other,
//! with sale items still pointing at the right sales and products, and
//! every till's own ids unchanged. Through the real gateway on real
//! PostgreSQL.

use anyhow::{Context, Result};
use ebb::remote::postgrest::Client;
use ebb::sync::Engine;
use ebb_tests::pos::open_till;
use ebb_tests::{FaultProxy, Gateway, TestDb};
use rusqlite::Connection;
use tempfile::TempDir;

pub(crate) use ebb_tests::pos::{LOCAL, SERVER, TABLES};

pub(crate) struct Till {
    _dir: TempDir,
    pub(crate) engine: Engine<Client>,
    pub(crate) app: Connection,
}

impl Till {
    fn new(gateway: &Gateway) -> Result<Till> {
        Till::with_schema(gateway.addr(), gateway.key(), LOCAL)
    }

    /// A till whose server is at `addr` (the gateway, or a proxy before
    /// it) and whose app database is made by `schema`.
    pub(crate) fn with_schema(addr: std::net::SocketAddr, key: &str, schema: &str) -> Result<Till> {
        let settings = "[retry]\ninitial_backoff = \"10ms\"\nmax_backoff = \"50ms\"\n\
                        [rate_limit]\nrequests_per_second = 10000\nburst = 10000\n";
        let till = open_till(&format!("http://{addr}/rest/v1"), key, schema, settings)?;
        Ok(Till {
            _dir: till.dir,
            engine: till.engine,
            app: till.app,
        })
    }

    /// The process died mid-round: a new engine on the same file, with
    /// the dead one's lease made to look expired (as it would be, a lease
    /// later).
    pub(crate) fn restart(&mut self) -> Result<()> {
        self.app.execute(
            "UPDATE _ebb_meta SET value = 0 WHERE key = 'lease_expires_at'",
            [],
        )?;
        let config = ebb::config::load(&self._dir.path().join("policies.toml"))?;
        let remote = Client::new(&config.remote, &config.rate_limit)?;
        // The old engine (and its connection) goes here.
        self.engine = Engine::new(config, remote)?;
        Ok(())
    }

    pub(crate) async fn sync(&mut self, db: &TestDb) -> Result<()> {
        db.settle().await?;
        let report = self.engine.run_once().await.context("round")?;
        anyhow::ensure!(report.error.is_none(), "{report:?}");
        Ok(())
    }

    /// Sells `qty` of product `product` (a local id); returns the sale id.
    pub(crate) fn sell(&self, product: i64, qty: i64, price: f64, payment: &str) -> Result<i64> {
        let total = price * qty as f64;
        self.app.execute(
            "INSERT INTO sales (total, payment) VALUES (?1, ?2)",
            rusqlite::params![total, payment],
        )?;
        let sale = self.app.last_insert_rowid();
        self.app.execute(
            "INSERT INTO sale_items (sale_id, product_id, quantity, price) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![sale, product, qty, price],
        )?;
        self.app.execute(
            "UPDATE products SET stock = stock - ?1 WHERE id = ?2",
            rusqlite::params![qty, product],
        )?;
        Ok(sale)
    }

    /// Asserts that nothing on this till is held, set aside, in conflict,
    /// overwritten, announced as changed by the server or left queued
    /// (`what` names the case in the message).
    pub(crate) fn assert_settled(&self, what: &str) {
        let status = self
            .engine
            .local()
            .status(0, std::time::Duration::from_secs(60))
            .unwrap();
        assert_eq!(status.open_conflicts, 0, "{what}: {status:?}");
        assert_eq!(status.deferred_rows, 0, "{what}: {status:?}");
        assert_eq!(
            status.rewritten, 0,
            "{what}: nothing changed by the server: {status:?}"
        );
        assert_eq!(
            status.overwritten_local + status.overwritten_remote,
            0,
            "{what}: {status:?}"
        );
        assert!(status.queue.values().all(|n| *n == 0), "{what}: {status:?}");
    }

    /// Every row `sql` reads from the till's app database, as `row` maps it.
    pub(crate) fn rows<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Vec<T> {
        let mut stmt = self.app.prepare(sql).unwrap();
        stmt.query_map(params, row)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// Items waiting to be pushed, in any state.
    pub(crate) fn queued(&self) -> Result<i64> {
        Ok(self
            .app
            .query_row("SELECT count(*) FROM _ebb_queue", [], |r| r.get(0))?)
    }

    fn count(&self, table: &str) -> Result<i64> {
        Ok(self
            .app
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?)
    }

    /// (total, payment, product name, quantity) of every sale, sorted.
    fn sales(&self) -> Result<Vec<(String, String, String, i64)>> {
        let mut stmt = self.app.prepare(
            "SELECT printf('%.2f', s.total), s.payment, p.name, i.quantity
             FROM sales s JOIN sale_items i ON i.sale_id = s.id JOIN products p ON p.id = i.product_id
             ORDER BY 1, 2, 3, 4",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn stock(&self, product: i64) -> Result<i64> {
        Ok(self
            .app
            .query_row("SELECT stock FROM products WHERE id = ?1", [product], |r| {
                r.get(0)
            })?)
    }
}

#[tokio::test]
async fn two_tills_minting_the_same_ids_keep_every_sale() {
    let db = TestDb::create_with(SERVER, &TABLES).await.unwrap();
    let gateway = Gateway::start(&db.conn_str()).await.unwrap();
    let mut t1 = Till::new(&gateway).unwrap();
    let mut t2 = Till::new(&gateway).unwrap();
    t1.app
        .execute_batch(
            "INSERT INTO products (name, price, stock) VALUES ('Tea', 2.5, 99), ('Cake', 3.75, 40)",
        )
        .unwrap();
    t1.sync(&db).await.unwrap();
    t2.sync(&db).await.unwrap();
    assert_eq!(t2.count("products").unwrap(), 2);
    let tea_on_2: i64 = t2
        .app
        .query_row("SELECT id FROM products WHERE name = 'Tea'", [], |r| {
            r.get(0)
        })
        .unwrap();

    // Offline, both tills mint sale 1.
    let s1 = t1.sell(1, 1, 12.5, "cash").unwrap();
    let s2 = t2.sell(tea_on_2, 2, 49.5, "card").unwrap();
    assert_eq!((s1, s2), (1, 1), "both tills mint the same id");
    for _ in 0..2 {
        t1.sync(&db).await.unwrap();
        t2.sync(&db).await.unwrap();
    }

    // Both sales everywhere, each with its item on the right product.
    let expect = vec![
        (
            "12.50".to_string(),
            "cash".to_string(),
            "Tea".to_string(),
            1,
        ),
        (
            "99.00".to_string(),
            "card".to_string(),
            "Tea".to_string(),
            2,
        ),
    ];
    assert_eq!(t1.sales().unwrap(), expect);
    assert_eq!(t2.sales().unwrap(), expect);
    assert_eq!(db.count("sales").await.unwrap(), 2);
    assert_eq!(db.count("sale_items").await.unwrap(), 2);
    // The tills' own ids never changed; stock counts every sale once.
    let mine: String = t1
        .app
        .query_row("SELECT payment FROM sales WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mine, "cash");
    let mine: String = t2
        .app
        .query_row("SELECT payment FROM sales WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mine, "card");
    assert_eq!(t1.stock(1).unwrap(), 96);
    assert_eq!(t2.stock(tea_on_2).unwrap(), 96);
    let server = db.connect().await.unwrap();
    let stock: i64 = server
        .query_one("SELECT stock FROM products WHERE name = 'Tea'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stock, 96);
    // A new local sale after pulling the other till's still gets a fresh id.
    let next = t1.sell(1, 1, 2.5, "cash").unwrap();
    assert_eq!(next, 3, "after the adopted sale 2");
    t1.sync(&db).await.unwrap();
    t2.sync(&db).await.unwrap();
    assert_eq!(t2.count("sales").unwrap(), 3);
}

/// Syncs both tills until neither has anything queued (items a lost
/// answer left waiting for their backoff go), then each once more.
pub(crate) async fn settle_both(db: &TestDb, t1: &mut Till, t2: &mut Till) -> Result<()> {
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
        t1.sync(db).await?;
        t2.sync(db).await?;
        if t1.queued()? + t2.queued()? == 0 {
            break;
        }
    }
    t1.sync(db).await?;
    t2.sync(db).await
}

/// Two tills behind a proxy that can lose answers, both holding Tea and
/// Cake (500 each, made on till 1): what a busy day starts from.
pub(crate) struct Day {
    pub(crate) db: TestDb,
    pub(crate) _gateway: Gateway,
    pub(crate) proxy: FaultProxy,
    pub(crate) t1: Till,
    pub(crate) t2: Till,
    /// Tea's and Cake's ids on till 2 (adopted, so not till 1's).
    pub(crate) tea_2: i64,
    pub(crate) cake_2: i64,
}

impl Day {
    /// `setup` runs on the server before the gateway connects.
    pub(crate) async fn open(server: &str, local: &str, setup: &str) -> Result<Day> {
        let db = TestDb::create_with(server, &TABLES).await?;
        if !setup.is_empty() {
            db.exec(setup).await?;
        }
        let gateway = Gateway::start(&db.conn_str()).await?;
        let proxy = FaultProxy::start(gateway.addr()).await?;
        let mut t1 = Till::with_schema(proxy.addr(), gateway.key(), local)?;
        let mut t2 = Till::with_schema(proxy.addr(), gateway.key(), local)?;
        t1.app.execute_batch(
            "INSERT INTO products (name, price, stock) VALUES ('Tea', 2.5, 500), ('Cake', 3.75, 500)",
        )?;
        t1.sync(&db).await?;
        t2.sync(&db).await?;
        let id_on_2 = |name: &str| -> Result<i64> {
            Ok(t2
                .app
                .query_row("SELECT id FROM products WHERE name = ?1", [name], |r| {
                    r.get(0)
                })?)
        };
        let (tea_2, cake_2) = (id_on_2("Tea")?, id_on_2("Cake")?);
        Ok(Day {
            db,
            _gateway: gateway,
            proxy,
            t1,
            t2,
            tea_2,
            cake_2,
        })
    }
}

/// A busy day on two tills with integer keys, with lost answers: each
/// till sells 30 times offline (sales and items go as runs of fresh
/// inserts, stock as decrements of the same two products), and the answer
/// to the first push of every round is lost after the server committed
/// it. Every sale arrives once, every item points at its sale, and stock
/// counts every unit once, on the server and on both tills.
#[tokio::test]
async fn lost_answers_on_a_busy_day_lose_and_double_nothing() {
    let Day {
        db,
        proxy,
        mut t1,
        mut t2,
        tea_2,
        cake_2,
        _gateway,
    } = Day::open(SERVER, LOCAL, "").await.unwrap();
    let mut sold = 0;
    for i in 0..30 {
        let qty = 1 + i % 3;
        t1.sell(1 + i % 2, qty, 2.5, "cash").unwrap();
        t2.sell(if i % 2 == 0 { tea_2 } else { cake_2 }, qty, 3.75, "card")
            .unwrap();
        sold += 2 * qty;
    }
    for _ in 0..3 {
        for till in [&mut t1, &mut t2] {
            proxy.cut_responses("ebb_push", 1);
            till.sync(&db).await.unwrap();
        }
    }
    t1.sync(&db).await.unwrap();
    assert_eq!(db.count("sales").await.unwrap(), 60);
    assert_eq!(db.count("sale_items").await.unwrap(), 60);
    let server = db.connect().await.unwrap();
    let stock: i64 = server
        .query_one("SELECT sum(stock)::bigint FROM products", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stock, 1000 - sold, "every unit counted once");
    let orphans: i64 = server
        .query_one(
            "SELECT count(*) FROM sale_items i JOIN sales s ON s.id = i.sale_id
             WHERE abs(s.total - i.price * i.quantity) > 0.001",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(orphans, 0, "an item points at another sale");
    for till in [&t1, &t2] {
        assert_eq!(till.count("sales").unwrap(), 60);
        assert_eq!(till.count("sale_items").unwrap(), 60);
        let local: i64 = till
            .app
            .query_row("SELECT sum(stock) FROM products", [], |r| r.get(0))
            .unwrap();
        assert_eq!(local, 1000 - sold);
    }
    assert!(proxy.seen("ebb_push") >= 6, "the lost answers were retried");
}
