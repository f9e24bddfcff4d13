//! The local half of a push alone: `N` `products` rows (~235 B) written by
//! the app in one transaction (the capture triggers queue them), then
//! claimed in batches of 1,000 (`Local::claim`: marked inflight, each row
//! read, what is sent recorded) and settled as applied (`Local::settle_all`:
//! version and merge base kept, the item gone), as a push does without the
//! validator, the request and the server. Prints claim and settle per
//! item, and the process's CPU per item over both. Asserts nothing about
//! time; `valgrind --tool=callgrind` on it counts instructions, which the
//! machine's load does not move.
//!
//!     cargo run --release -p ebb --example bench_queue -- 100000

mod common;

use std::time::{Duration, Instant};

use common::{Till, cpu};
use ebb::local::{Settle, Settlement};

const BATCH: usize = 1000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let Till {
        rows,
        path,
        mut local,
        spec,
    } = Till::new(dir.path())?;
    let tables = std::slice::from_ref(&spec);
    let mut app = rusqlite::Connection::open(&path)?;
    let tx = app.transaction()?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO products (id, sku, name, category, price_cents, stock, updated_at)
             VALUES (?1, ?2, ?3, 'beverages', ?4, ?5, '2025-01-31T14:05:00Z')",
        )?;
        for i in 0..rows {
            insert.execute(rusqlite::params![
                format!("00000000-0000-4000-8000-{i:012x}"),
                format!("BEV-{i}"),
                format!("Product {i} sparkling water, 330 ml can, case of 24"),
                100 + i % 900,
                i % 50
            ])?;
        }
    }
    tx.commit()?;
    let (cpu_before, mut claiming, mut settling, mut items) =
        (cpu(), Duration::ZERO, Duration::ZERO, 0usize);
    loop {
        let started = Instant::now();
        let claimed = local.claim(tables, BATCH, 1, None)?;
        claiming += started.elapsed();
        if claimed.is_empty() {
            break;
        }
        items += claimed.len();
        let settled: Vec<Settlement> = claimed
            .into_iter()
            .map(|c| Settlement {
                table: c.change.table,
                pk: c.change.pk,
                sent_counter: c.change.counter,
                outcome: Settle::Applied {
                    version: 1,
                    row: c.change.row,
                },
            })
            .collect();
        let started = Instant::now();
        local.settle_all(&settled)?;
        settling += started.elapsed();
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / items.max(1) as f64;
    println!(
        "{items} items in batches of {BATCH}: claim {:.2} us an item, settle {:.2} us an item; \
         CPU {:.2} us an item",
        per(claiming),
        per(settling),
        (cpu() - cpu_before) * 1e6 / items.max(1) as f64
    );
    Ok(())
}
