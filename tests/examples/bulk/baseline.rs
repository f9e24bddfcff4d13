//! `--peer-baseline N`: the seed engine's design on the same rows, for the
//! ratio. The seed pushed its queue one item per request, 100 ms apart;
//! here N `products` rows like the benchmark's go the same way, through
//! the same gateway and `ebb_push` (so the server work per row is ebb's),
//! once paced as the seed was and once back to back (the cost of one
//! request per row alone). The seed's pull (each table whole, in one
//! request) has no counterpart to time: it is bounded by memory, not rate.

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use ebb::model::{Change, Op, PushResult};
use ebb::remote::Remote;
use ebb::remote::postgrest::Client;
use serde_json::json;

use crate::world::World;

/// Pushes `items` rows one per request (`pace` apart) and returns rows/s.
async fn one_by_one(
    client: &Client,
    device: &str,
    from: i64,
    items: i64,
    pace: Duration,
) -> Result<f64> {
    let started = Instant::now();
    for i in from..from + items {
        let row = json!({
            "id": format!("00000000-0000-4000-9000-{i:012x}"),
            "sku": format!("BASE-{i}"),
            "name": format!("Product {i} sparkling water, 330 ml can, case of 24"),
            "category": "beverages",
            "price_cents": 100 + i % 900,
            "sale_price_cents": null,
            "stock": i % 50,
            "updated_at": "2025-01-31T14:05:00Z",
        });
        let change = Change {
            table: "products".into(),
            pk: row["id"].as_str().unwrap_or_default().to_string(),
            op: Op::Upsert,
            base_version: None,
            row: row.as_object().cloned(),
            device: device.to_string(),
            counter: i,
        };
        let answer = client.push(&[change]).await?;
        ensure!(
            matches!(answer.as_slice(), [PushResult::Applied { .. }]),
            "row {i} was not applied: {answer:?}"
        );
        if !pace.is_zero() {
            tokio::time::sleep(pace).await;
        }
    }
    Ok(items as f64 / started.elapsed().as_secs_f64())
}

/// Prints the seed's push rate next to ebb's (`ebb_rows_per_s`).
pub async fn push(
    world: &World,
    client: &Client,
    device: &str,
    items: i64,
    ebb_rows_per_s: f64,
) -> Result<()> {
    let paced = one_by_one(client, device, 1, items, Duration::from_millis(100)).await?;
    let bare = one_by_one(client, device, 1 + items, items, Duration::ZERO).await?;
    let arrived: i64 = world
        .db
        .connect()
        .await?
        .query_one("SELECT count(*) FROM products WHERE sku LIKE 'BASE-%'", &[])
        .await?
        .get(0);
    ensure!(arrived == 2 * items, "not every baseline row arrived");
    println!(
        "peer baseline (seed: one request per item, 100 ms apart) {items:>5} rows {paced:>9.1} rows/s \
         | ebb push is {:.0}x that",
        ebb_rows_per_s / paced
    );
    println!(
        "one request per item, back to back            {items:>5} rows {bare:>9.1} rows/s \
         | ebb push is {:.1}x that",
        ebb_rows_per_s / bare
    );
    Ok(())
}
