//! `--pos`: the founding app's shape (`ebb_tests::pos`: integer
//! AUTOINCREMENT ids mapped with `keys = "map"`, REAL money, sale items
//! pointing at sales and products). Each size is 1,000 products and as
//! many sales as sale items; every row pulled is new here, so each is
//! adopted under a fresh local id and its foreign keys translated. Then
//! `--push` rows sold on the till (half sales, half their items) are
//! pushed, each key minted a global id.

use anyhow::{Context, Result, bail};
use ebb::remote::postgrest::Client;
use ebb::sync::Engine;
use ebb_tests::pos::{LOCAL, SERVER, TABLES, open_till};
use rusqlite::Connection;
use tempfile::TempDir;

use super::world::{GatewayCommand, World, reset_peak};
use super::{Args, mark, report};

const PRODUCTS: i64 = 1_000;

/// A till of the point of sale.
struct Till {
    _dir: TempDir,
    engine: Engine<Client>,
    app: Connection,
}

impl Till {
    fn new(world: &World, batch: (usize, usize), page: (usize, usize)) -> Result<Till> {
        let settings = format!(
            "[sync]\nbatch_size = {}\nmax_batch_size = {}\npull_page_size = {}\n\
             max_pull_page_size = {}\n\
             [rate_limit]\nrequests_per_second = 10000\nburst = 10000\nrows_per_second = 0\n",
            batch.0, batch.1, page.0, page.1
        );
        let till = open_till(&world.rest_root(), world.key(), LOCAL, &settings)?;
        Ok(Till {
            _dir: till.dir,
            engine: till.engine,
            app: till.app,
        })
    }

    /// Rounds until `done`; returns the rows pulled.
    async fn rounds(&mut self, done: impl Fn(&Till) -> Result<bool>) -> Result<usize> {
        let mut pulled = 0;
        for _ in 0..100_000 {
            let round = self.engine.run_once().await.context("sync round")?;
            if let Some(error) = round.error {
                bail!("sync round reported an error: {error}");
            }
            pulled += round.pulled;
            if done(self)? {
                return Ok(pulled);
            }
        }
        bail!("sync does not progress")
    }

    fn count(&self, table: &str) -> Result<i64> {
        Ok(self
            .app
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?)
    }
}

/// A world of the point of sale whose server holds the products.
async fn with_products(args: &Args, gateway: &GatewayCommand) -> Result<World> {
    let world = World::create_with(&args.prefix, gateway, SERVER, &TABLES).await?;
    world
        .db
        .exec(&format!(
            "INSERT INTO products (name, price, stock) \
             SELECT 'Product ' || i || ' sparkling water, 330 ml can', 0.5 + i % 90, 500 \
             FROM generate_series(1, {PRODUCTS}) AS i"
        ))
        .await?;
    Ok(world)
}

/// The initial syncs and the push of the point of sale.
pub async fn run(
    args: &Args,
    batch: (usize, usize),
    page: (usize, usize),
    gateway: &GatewayCommand,
) -> Result<()> {
    let world = with_products(args, gateway).await?;
    let mut sizes: Vec<i64> = [10_000, 100_000, 1_000_000]
        .into_iter()
        .filter(|n| *n < args.rows)
        .collect();
    sizes.push(args.rows);
    let mut sales = 0;
    for size in sizes {
        let want = (size - PRODUCTS).max(2) / 2;
        world
            .db
            .exec(&format!(
                "INSERT INTO sales (id, total, payment) OVERRIDING SYSTEM VALUE \
                 SELECT i, 2.5 * (1 + i % 3), CASE WHEN i % 2 = 0 THEN 'cash' ELSE 'card' END \
                 FROM generate_series({from}, {want}) AS i;
                 INSERT INTO sale_items (id, sale_id, product_id, quantity, price) OVERRIDING SYSTEM VALUE \
                 SELECT i, i, 1 + i % {PRODUCTS}, 1 + i % 3, 2.5 \
                 FROM generate_series({from}, {want}) AS i",
                from = sales + 1
            ))
            .await?;
        for table in ["products", "sales", "sale_items"] {
            world.db.exec(&format!("VACUUM (ANALYZE) {table}")).await?;
        }
        sales = want;
        world.settle().await?;
        let rows = PRODUCTS + 2 * sales;
        let mut till = Till::new(&world, batch, page)?;
        reset_peak();
        let from = mark(&world).await?;
        till.rounds(|t| Ok(t.count("sale_items")? >= sales)).await?;
        report(&format!("pos: initial sync {rows}"), rows, &from, &world).await?;
    }
    if args.push > 0 {
        push(args, batch, page, gateway).await?;
    }
    Ok(())
}

/// `--push` rows sold on a till that holds the products: half sales, half
/// their items.
async fn push(
    args: &Args,
    batch: (usize, usize),
    page: (usize, usize),
    gateway: &GatewayCommand,
) -> Result<()> {
    let world = with_products(args, gateway).await?;
    world.settle().await?;
    let mut till = Till::new(&world, batch, page)?;
    till.rounds(|t| Ok(t.count("products")? >= PRODUCTS))
        .await?;
    let sales = args.push / 2;
    till.app.execute_batch(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {sales})
         INSERT INTO sales (total, payment) SELECT 2.5 * (1 + i % 3), 'cash' FROM n;
         INSERT INTO sale_items (sale_id, product_id, quantity, price)
         SELECT s.id, 1 + s.id % {PRODUCTS}, 1 + s.id % 3, 2.5 FROM sales s;"
    ))?;
    reset_peak();
    let from = mark(&world).await?;
    till.rounds(|t| {
        Ok(t.app
            .query_row("SELECT count(*) = 0 FROM _ebb_queue", [], |r| r.get(0))?)
    })
    .await?;
    report("pos: push", 2 * sales, &from, &world).await?;
    anyhow::ensure!(
        world.db.count("sale_items").await? == sales,
        "not every sale item arrived"
    );
    Ok(())
}
