//! The bulk data path, measured (issue 9): a gateway in its own process
//! over a database of its own, and the real client in this process.
//!
//!     cargo build --release -p ebb-gateway
//!     cargo run --release -p ebb-tests --example bulk -- --rows 1000000
//!
//! Prints, for each size up to `--rows` (10k, 100k, 1M): the initial sync
//! of that many `products` rows (~235 B) into an empty till (rows/s, wall,
//! cost per row of wall, client CPU, gateway CPU and Postgres CPU, client
//! and gateway peak RSS); then the incremental pull of `--changed` rows
//! (10k) into the till that holds the most; the push of `--push` (100k)
//! local inserts with the table's JSON Schema and WASM validator on; and
//! one edit pushed in-process (`--edits` rounds: median and p99), with the
//! requests an idle round makes. The server's table is vacuumed after each
//! load (a server's rows are long settled when a till first syncs them).
//! Asserts nothing about time.
//!
//! With `--peer-baseline N`, N rows more are pushed the seed engine's way
//! (one request per item, 100 ms apart; see `baseline`) for the ratio.
//!
//! Options: `--rows N`, `--changed N`, `--push N` (0 skips), `--edits N`,
//! `--peer-baseline N` (default 0: off),
//! `--page N` / `--batch N` (default: the shipped policies.toml),
//! `--shipped-rate-limit` (keep the shipped `[rate_limit]` instead of
//! lifting it), `--pos` (the founding app's point of sale with integer
//! keys instead, see `pos`: initial syncs and the push), `--gateway "CMD ARGS"` (else `EBB_GATEWAY`, else
//! target/*/ebb-gateway), `--prefix NAME` (database
//! names, else `EBB_BENCH_PREFIX`, else `ebb_bench`).

mod baseline;
mod pos;
mod world;

use std::time::Instant;

use anyhow::{Context, Result, bail};
use ebb_tests::{Device, DeviceSpec};
use world::{GatewayCommand, World, cpu_of, peak_of, reset_peak};

const USAGE: &str = "usage: bulk [--rows N] [--changed N] [--push N] [--edits N] \
[--peer-baseline N] [--page N] [--batch N] [--shipped-rate-limit] [--pos] \
[--gateway \"CMD ARGS\"] [--prefix NAME]  (see the doc comment of tests/examples/bulk/main.rs)";

struct Args {
    rows: i64,
    changed: i64,
    push: i64,
    edits: usize,
    peer_baseline: i64,
    page: Option<usize>,
    batch: Option<usize>,
    shipped_rate_limit: bool,
    gateway: Option<String>,
    prefix: String,
    pos: bool,
}

fn parse() -> Result<Args> {
    let mut args = Args {
        rows: 100_000,
        changed: 10_000,
        push: 100_000,
        edits: 200,
        peer_baseline: 0,
        page: None,
        batch: None,
        shipped_rate_limit: false,
        gateway: None,
        prefix: std::env::var("EBB_BENCH_PREFIX").unwrap_or_else(|_| "ebb_bench".into()),
        pos: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--rows" => args.rows = value("--rows")?.parse()?,
            "--changed" => args.changed = value("--changed")?.parse()?,
            "--push" => args.push = value("--push")?.parse()?,
            "--edits" => args.edits = value("--edits")?.parse()?,
            "--peer-baseline" => args.peer_baseline = value("--peer-baseline")?.parse()?,
            "--page" => args.page = Some(value("--page")?.parse()?),
            "--batch" => args.batch = Some(value("--batch")?.parse()?),
            "--shipped-rate-limit" => args.shipped_rate_limit = true,
            "--pos" => args.pos = true,
            "--gateway" => args.gateway = Some(value("--gateway")?),
            "--prefix" => args.prefix = value("--prefix")?,
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown option {other}\n{USAGE}"),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse()?;
    let gateway = GatewayCommand::find(args.gateway.as_deref())?;
    let shipped = || {
        ebb::config::load(&ebb_tests::repo_path("policies.toml"))
            .context("load the shipped policies.toml for its defaults")
    };
    // The shipped sizes and how far they grow; `--batch` / `--page` fix one.
    let sync = shipped()?.sync;
    let (batch, max_batch) = args
        .batch
        .map_or((sync.batch_size, sync.max_batch_size), |n| (n, n));
    let (page, max_page) = args
        .page
        .map_or((sync.pull_page_size, sync.max_pull_page_size), |n| (n, n));
    let spec = DeviceSpec {
        batch_size: batch,
        pull_page_size: page,
        max_sizes: Some((max_batch, max_page)),
        ..DeviceSpec::default()
    };
    println!(
        "bulk: gateway {} {}; batch_size {batch} (up to {max_batch}), pull_page_size {page} \
         (up to {max_page}); {} cores",
        gateway.program.display(),
        gateway.args.join(" "),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    if args.shipped_rate_limit {
        println!("(rate limit: the shipped [rate_limit])");
    }
    if args.pos {
        return pos::run(&args, (batch, max_batch), (page, max_page), &gateway).await;
    }
    pull(&args, &spec, &gateway).await?;
    if args.push > 0 {
        push(&args, &spec, &gateway).await?;
    }
    Ok(())
}

/// Resource use at one moment, to subtract.
struct Mark {
    at: Instant,
    client: f64,
    gateway: f64,
    postgres: f64,
}

async fn mark(world: &World) -> Result<Mark> {
    Ok(Mark {
        at: Instant::now(),
        client: cpu_of("/proc/self/stat"),
        gateway: world.gateway_cpu(),
        postgres: world.postgres_cpu().await?,
    })
}

/// Prints one measured step; returns its rows/s.
async fn report(what: &str, rows: i64, from: &Mark, world: &World) -> Result<f64> {
    let to = mark(world).await?;
    let secs = to.at.duration_since(from.at).as_secs_f64();
    let per = |s: f64| s * 1e6 / rows.max(1) as f64;
    println!(
        "{what:<28} {rows:>9} rows {secs:>8.2} s {:>9.0} rows/s | us/row: wall {:>6.1} client {:>6.1} \
         gateway {:>5.1} postgres {:>6.1} | peak RSS client {} gateway {}",
        rows as f64 / secs,
        per(secs),
        per(to.client - from.client),
        per(to.gateway - from.gateway),
        per(to.postgres - from.postgres),
        peak_of("/proc/self/status"),
        world.gateway_peak(),
    );
    Ok(rows as f64 / secs)
}

fn device(world: &World, spec: &DeviceSpec, args: &Args) -> Result<Device> {
    let mut device = Device::create(spec, &world.rest_root(), world.key())?;
    if args.shipped_rate_limit {
        let shipped = ebb::config::load(&ebb_tests::repo_path("policies.toml"))?;
        let mut config = device.config.clone();
        config.rate_limit = shipped.rate_limit;
        device.engine = ebb::sync::Engine::new(
            config.clone(),
            ebb::remote::postgrest::Client::new(&config.remote, &config.rate_limit)?,
        )?;
    }
    Ok(device)
}

/// Syncs until `done` says so; returns the rows the rounds pulled.
async fn rounds(
    device: &mut Device,
    mut done: impl FnMut(&Device) -> Result<bool>,
) -> Result<usize> {
    let mut pulled = 0;
    for _ in 0..10_000 {
        pulled += device.sync_ok().await?.pulled;
        if done(device)? {
            return Ok(pulled);
        }
    }
    bail!("sync does not progress")
}

async fn pull(args: &Args, spec: &DeviceSpec, gateway: &GatewayCommand) -> Result<()> {
    let world = World::create(&args.prefix, gateway).await?;
    let mut sizes: Vec<i64> = [10_000, 100_000, 1_000_000]
        .into_iter()
        .filter(|n| *n < args.rows)
        .collect();
    sizes.push(args.rows);
    let mut held = 0;
    let mut last = None;
    for size in sizes {
        world
            .db
            .exec(&format!(
                "INSERT INTO products (id, sku, name, category, price_cents, stock, updated_at) \
                 SELECT gen_random_uuid()::text, 'BEV-' || i, \
                        'Product ' || i || ' sparkling water, 330 ml can, case of 24', \
                        'beverages', 100 + i % 900, i % 50, '2025-01-31T14:05:00Z' \
                 FROM generate_series({}, {size}) AS i",
                held + 1
            ))
            .await?;
        held = size;
        // A server's rows are long settled when a till first syncs them:
        // vacuumed, hint bits set. Without this the first read of a fresh
        // bulk load pays Postgres' own clean-up (~40 us a row here).
        world.db.exec("VACUUM (ANALYZE) products").await?;
        world.settle().await?;
        // The previous till's file is gone before the next is measured.
        drop(last.take());
        let mut till = device(&world, spec, args)?;
        reset_peak();
        let from = mark(&world).await?;
        rounds(&mut till, |d| Ok(d.count("products")? >= size)).await?;
        report(&format!("initial sync {size}"), size, &from, &world).await?;
        last = Some(till);
    }
    let Some(mut till) = last else {
        return Ok(());
    };
    if args.changed > 0 {
        world
            .db
            .exec(&format!(
                "UPDATE products SET stock = stock + 1 WHERE sku IN \
                 (SELECT 'BEV-' || i FROM generate_series(1, {}) AS i)",
                args.changed.min(held)
            ))
            .await?;
        world.db.exec("VACUUM (ANALYZE) products").await?;
        world.settle().await?;
        reset_peak();
        let from = mark(&world).await?;
        let want = args.changed.min(held) as usize;
        let mut got = 0;
        while got < want {
            got += rounds(&mut till, |_| Ok(true)).await?;
        }
        report(
            &format!("incremental pull into {held}"),
            want as i64,
            &from,
            &world,
        )
        .await?;
    }
    Ok(())
}

async fn push(args: &Args, spec: &DeviceSpec, gateway: &GatewayCommand) -> Result<()> {
    ebb_tests::ensure_plugins()?;
    let world = World::create(&args.prefix, gateway).await?;
    let validator = ebb_tests::plugin_path("products_validator");
    let spec = spec.clone().table(
        "products",
        &format!(
            "validate = \"{}\"\nconflict = \"server_wins\"",
            validator.display()
        ),
    );
    let mut till = device(&world, &spec, args)?;
    till.app().execute_batch(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {}) \
         INSERT INTO products (id, sku, name, category, price_cents, stock, updated_at) \
         SELECT printf('00000000-0000-4000-8000-%012x', i), 'BEV-' || i, \
                'Product ' || i || ' sparkling water, 330 ml can, case of 24', \
                'beverages', 100 + i % 900, i % 50, '2025-01-31T14:05:00Z' FROM n",
        args.push
    ))?;
    reset_peak();
    let from = mark(&world).await?;
    rounds(&mut till, |d| Ok(d.queue()?.is_empty())).await?;
    let pushed_per_s = report("push (schema + wasm)", args.push, &from, &world).await?;
    anyhow::ensure!(
        world.db.count("products").await? == args.push,
        "not every row arrived"
    );
    // One edit, pushed: a round of the library, in-process.
    let mut times = Vec::with_capacity(args.edits);
    let asked_before = requests(&till);
    let cpu_before = cpu_of("/proc/self/stat");
    let mut rewritten = 0;
    for i in 0..args.edits {
        let id = format!("00000000-0000-4000-8000-{:012x}", 1 + i as i64 % args.push);
        // As an app does: its statement compiled once.
        till.app()
            .prepare_cached("UPDATE products SET stock = stock + 1 WHERE id = ?1")?
            .execute([&id])?;
        let started = Instant::now();
        let report = till.sync_ok().await?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
        rewritten += report.changed_by_server;
        anyhow::ensure!(report.pushed == 1, "edit {i} was not pushed: {report:?}");
    }
    let cpu = (cpu_of("/proc/self/stat") - cpu_before) * 1e3 / args.edits.max(1) as f64;
    times.sort_by(f64::total_cmp);
    if !times.is_empty() {
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        println!(
            "one edit pushed ({} rounds): median {:.2} ms, p99 {:.2} ms; client CPU {cpu:.2} ms a round; requests: {}; stored otherwise by the server: {rewritten}",
            times.len(),
            at(0.5),
            at(0.99),
            made_since(&asked_before, &requests(&till))
        );
    }
    let before = requests(&till);
    let started = Instant::now();
    let cpu_before = cpu_of("/proc/self/stat");
    till.sync_ok().await?;
    let (wall, cpu) = (
        started.elapsed().as_secs_f64() * 1e3,
        (cpu_of("/proc/self/stat") - cpu_before) * 1e3,
    );
    let after = requests(&till);
    println!(
        "an idle round: {wall:.2} ms ({cpu:.2} ms client CPU), {} request(s) for {} tables ({})",
        after.values().sum::<u64>() - before.values().sum::<u64>(),
        till.config.tables.len(),
        made_since(&before, &after)
    );
    if args.peer_baseline > 0 {
        let client =
            ebb::remote::postgrest::Client::new(&till.config.remote, &till.config.rate_limit)?;
        let device = till.engine.local().device_id().to_string();
        baseline::push(&world, &client, &device, args.peer_baseline, pushed_per_s).await?;
    }
    Ok(())
}

/// The requests made between two counts, by rpc: "300 ebb_push, 300 ebb_pull_all".
fn made_since(
    before: &std::collections::BTreeMap<String, u64>,
    after: &std::collections::BTreeMap<String, u64>,
) -> String {
    let made: Vec<String> = after
        .iter()
        .filter_map(|(rpc, n)| {
            let n = n - before.get(rpc).copied().unwrap_or(0);
            (n > 0).then(|| format!("{n} {rpc}"))
        })
        .collect();
    made.join(", ")
}

/// Request attempts so far, by rpc (`ebb_requests_total`).
fn requests(till: &Device) -> std::collections::BTreeMap<String, u64> {
    let mut by_rpc = std::collections::BTreeMap::new();
    for line in till.engine.metrics().render().lines() {
        let Some(labels) = line.strip_prefix("ebb_requests_total{") else {
            continue;
        };
        let rpc = labels
            .split("rpc=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("?");
        let n = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
        *by_rpc.entry(rpc.to_string()).or_insert(0) += n.unwrap_or(0.0) as u64;
    }
    by_rpc
}
