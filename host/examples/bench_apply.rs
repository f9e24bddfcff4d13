//! The local half of an initial sync alone: `N` pulled `products` rows
//! (~235 B, as `tests/examples/bulk` seeds them) applied in pages of 4,000
//! through `Local::apply` into a fresh SQLite file, with the capture
//! triggers installed; no server, no network, no planning. Prints the
//! wall time of the applies per row and the process's CPU per row
//! (building the pages included). Then, for the floor, SQLite's own cost
//! of the same rows in another fresh file: the same table and indexes and
//! an `_ebb_rows`-shaped table, written by one prepared statement each, a
//! transaction per page, ebb's connection settings; three times: with
//! each row's JSON in it (the base as it was stored until session 16),
//! without (as `local::base` keeps an initial sync's), and without in a
//! `WITHOUT ROWID` table. Asserts nothing about time.
//!
//!     cargo run --release -p ebb --example bench_apply -- 1000000 [--stamped]
//!
//! `--stamped` gives `products` an app trigger stamping `updated_at`
//! (see `common`): the cost of a table ebb guards against its app's
//! triggers (`local::nested`).

mod common;

use std::time::{Duration, Instant};

use common::{PRODUCTS, Till, cpu};
use ebb::local::{Action, ApplyOp};
use ebb::model::Cursor;

const PAGE: i64 = 4000;

fn page(from: i64, to: i64) -> Vec<ApplyOp> {
    (from..to)
        .map(|i| {
            let id = format!("00000000-0000-4000-8000-{i:012x}");
            let row = serde_json::json!({
                "id": id, "sku": format!("BEV-{i}"),
                "name": format!("Product {i} sparkling water, 330 ml can, case of 24"),
                "category": "beverages", "price_cents": 100 + i % 900,
                "sale_price_cents": null, "stock": i % 50, "updated_at": "2025-01-31T14:05:00Z"});
            ApplyOp {
                pk: id,
                expect_counter: None,
                action: Action::Write {
                    row: row.as_object().cloned(),
                    version: 1,
                },
            }
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let Till {
        rows,
        path: _,
        mut local,
        spec,
    } = Till::new(dir.path())?;
    let (cpu_before, mut applying) = (cpu(), Duration::ZERO);
    for from in (0..rows).step_by(PAGE as usize) {
        let ops = page(from, (from + PAGE).min(rows));
        let cursor = Cursor {
            txid: "1".into(),
            pk: ops.last().map(|o| o.pk.clone()).unwrap_or_default(),
        };
        let started = Instant::now();
        local.apply(&spec, &ops, Some(&cursor), 0)?;
        applying += started.elapsed();
    }
    let per_row = |s: f64| s * 1e6 / rows.max(1) as f64;
    println!(
        "applied {rows} rows: {:.2} us a row (wall of the applies), {:.2} us a row of CPU",
        per_row(applying.as_secs_f64()),
        per_row(cpu() - cpu_before)
    );
    for (name, base, shape) in [
        ("with each row's JSON", true, ""),
        ("without the JSON", false, ""),
        (
            "without the JSON, state WITHOUT ROWID",
            false,
            "WITHOUT ROWID",
        ),
    ] {
        let path = dir.path().join(format!("floor-{}.db", name.len()));
        let floor = sqlite_alone(&path, rows, base, shape)?;
        println!(
            "SQLite alone, the same rows, {name}: {:.2} us a row",
            per_row(floor.as_secs_f64())
        );
    }
    Ok(())
}

/// SQLite's own time for `rows` rows: each row inserted into the app's
/// table and its JSON into a table shaped as `_ebb_rows`.
fn sqlite_alone(
    path: &std::path::Path,
    rows: i64,
    with_base: bool,
    shape: &str,
) -> rusqlite::Result<Duration> {
    let mut conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         PRAGMA cache_size = -16384; PRAGMA wal_autocheckpoint = 16384;
         PRAGMA temp_store = MEMORY;",
    )?;
    conn.execute_batch(PRODUCTS)?;
    conn.execute_batch(&format!(
        "CREATE TABLE rows (tbl TEXT NOT NULL, pk TEXT NOT NULL, version INTEGER NOT NULL,
             base TEXT, PRIMARY KEY (tbl, pk)) {shape}"
    ))?;
    let mut took = Duration::ZERO;
    for from in (0..rows).step_by(PAGE as usize) {
        let ops = page(from, (from + PAGE).min(rows));
        let started = Instant::now();
        let tx = conn.transaction()?;
        {
            let mut app = tx.prepare_cached(
                "INSERT INTO products (id, sku, name, category, price_cents, sale_price_cents,
                     stock, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            let mut state = tx.prepare_cached(
                "INSERT INTO rows (tbl, pk, version, base) VALUES ('products', ?1, 1, ?2)",
            )?;
            for op in &ops {
                let Action::Write { row: Some(row), .. } = &op.action else {
                    continue;
                };
                let text = |k: &str| row.get(k).and_then(|v| v.as_str()).map(str::to_owned);
                let int = |k: &str| row.get(k).and_then(|v| v.as_i64());
                app.execute(rusqlite::params![
                    op.pk,
                    text("sku"),
                    text("name"),
                    text("category"),
                    int("price_cents"),
                    int("sale_price_cents"),
                    int("stock"),
                    text("updated_at"),
                ])?;
                let json = with_base.then(|| serde_json::to_string(row).unwrap_or_default());
                state.execute(rusqlite::params![op.pk, json])?;
            }
        }
        tx.commit()?;
        took += started.elapsed();
    }
    Ok(took)
}
