//! Sync throughput on the harness (fresh database, in-process gateway, real
//! client, real SQLite): the initial pull of 100k `products` rows inserted
//! server-side into a fresh device, and the push of 100k rows inserted
//! locally. Prints rows/second; asserts nothing about time.
//!
//!     cargo run --release -p ebb-tests --example bench_sync [-- ROWS]

use std::time::Instant;

use anyhow::{Context, Result};
use ebb_tests::{DeviceSpec, Env};

#[tokio::main]
async fn main() -> Result<()> {
    let rows: i64 = match std::env::args().nth(1) {
        Some(n) => n.parse().context("ROWS must be a number")?,
        None => 100_000,
    };
    let shipped = ebb::config::load(&ebb_tests::repo_path("policies.toml"))
        .context("load the shipped policies.toml for its defaults")?;
    let spec = DeviceSpec {
        batch_size: shipped.sync.batch_size,
        pull_page_size: shipped.sync.pull_page_size,
        ..DeviceSpec::default()
    };
    println!(
        "bench_sync: {rows} rows; batch_size {} and pull_page_size {} (shipped policies.toml); \
         rate limit lifted (the shipped {} req/s would measure the limiter)",
        spec.batch_size, spec.pull_page_size, shipped.rate_limit.requests_per_second
    );

    // Initial pull: rows written on the server, a fresh device pulls them.
    let env = Env::new().await?;
    env.db
        .exec(&format!(
            "INSERT INTO products (id, sku, name, category, price_cents, stock, updated_at) \
             SELECT gen_random_uuid()::text, 'BEV-' || i, 'Product ' || i, 'beverages', \
                    100 + i % 900, i % 50, '2025-01-31T14:05:00Z' \
             FROM generate_series(1, {rows}) AS i"
        ))
        .await?;
    env.settle().await?;
    let mut device = env.device(&spec)?;
    let started = Instant::now();
    let mut rounds = 0;
    while device.count("products")? < rows {
        device.sync_ok().await?;
        rounds += 1;
        anyhow::ensure!(rounds < 1000, "pull does not progress");
    }
    report("initial pull", rows, started, rounds);

    // Push: rows inserted locally by the app, pushed to the server.
    let env = Env::new().await?;
    let mut device = env.device(&spec)?;
    device.app().execute_batch(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) \
         INSERT INTO products (id, sku, name, category, price_cents, stock, updated_at) \
         SELECT printf('00000000-0000-4000-8000-%012x', i), 'BEV-' || i, 'Product ' || i, \
                'beverages', 100 + i % 900, i % 50, '2025-01-31T14:05:00Z' FROM n"
    ))?;
    let started = Instant::now();
    let mut rounds = 0;
    while !device.queue()?.is_empty() {
        device.sync_ok().await?;
        rounds += 1;
        anyhow::ensure!(rounds < 1000, "push does not progress");
    }
    anyhow::ensure!(
        env.db.count("products").await? == rows,
        "not every row arrived"
    );
    report("push", rows, started, rounds);
    println!("(a push round also pulls its own rows back: the figure includes that pull)");
    println!(
        "peak memory (VmHWM) of this process, client and in-process gateway together: {}",
        peak_memory()
    );
    Ok(())
}

/// The process's peak resident set, as Linux reports it.
fn peak_memory() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_string())
        })
        .unwrap_or_else(|| "unknown (no /proc/self/status)".into())
}

fn report(what: &str, rows: i64, started: Instant, rounds: usize) {
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{what:>12}: {rows} rows in {secs:.2} s over {rounds} round(s) = {:.0} rows/s",
        rows as f64 / secs
    );
}
