//! Builds what `ebb status` and `/health` show from the local state and
//! the `[alerts]` rules.

use crate::config::Config;
use crate::local::LocalStatus;
use crate::ops::{Health, HealthInput, StatusView, TableView, assess};

/// The status view (with its health) at `now`.
pub fn status_view(config: &Config, status: &LocalStatus, now: i64) -> StatusView {
    let health = health(config, status, now);
    StatusView {
        device: status.device.clone(),
        generated_at: now,
        health,
        queue: status.queue.clone(),
        tables: status
            .tables
            .iter()
            .map(|t| TableView {
                table: t.table.clone(),
                pending: t.pending,
                last_sync_at: t.last_sync_at,
                cursor: t.cursor.clone(),
            })
            .collect(),
        open_conflicts: status.open_conflicts,
        last_round_at: status.last_round_at,
        last_round_ok_at: status.last_round_ok_at,
        last_error: status.last_error.clone(),
    }
}

/// Health by the `[alerts]` rules.
pub fn health(config: &Config, status: &LocalStatus, now: i64) -> Health {
    let count = |state: &str| status.queue.get(state).copied().unwrap_or(0);
    let input = HealthInput {
        queue: status.queue.clone(),
        oldest_pending_at: status.oldest_pending_at,
        open_conflicts: status.open_conflicts,
        last_round_ok_at: status.last_round_ok_at,
        tables: status
            .tables
            .iter()
            .map(|t| (t.table.clone(), t.last_sync_at))
            .collect(),
        requests: status.requests,
        failed_requests: status.failed_requests,
        dead: count("dead"),
        invalid: count("invalid"),
        horizon_stalled_since: status.horizon_held_since,
    };
    assess(&input, &config.alerts, now)
}
