//! Helpers shared by the suite's modules: the clock, and syncing a set of
//! devices until what one wrote has reached the others.

use std::time::Duration;

use anyhow::Result;
use ebb_tests::{Device, Env};

/// Unix milliseconds now (the clock the engine uses).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Lets the pull horizon pass everything committed, then runs one clean
/// round on each device in order.
pub async fn sync_all(env: &Env, devices: &mut [&mut Device]) -> Result<()> {
    for d in devices.iter_mut() {
        env.settle().await?;
        d.sync_ok().await?;
    }
    Ok(())
}

/// Runs rounds on `device` (errors allowed, with a short pause for the
/// backoff) until its queue is empty; fails after `max_rounds`.
pub async fn drain(env: &Env, device: &mut Device, max_rounds: usize) -> Result<()> {
    for _ in 0..max_rounds {
        env.settle().await?;
        let _ = device.sync().await;
        if device.queue()?.is_empty() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    anyhow::bail!(
        "queue not drained after {max_rounds} rounds: {:?}",
        device.queue()?
    )
}
