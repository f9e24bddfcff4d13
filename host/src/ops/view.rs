//! Builds what `ebb status`, `/health` and `GET /api/status` show from the
//! local state and the `[alerts]` rules. Every table policies.toml syncs is
//! shown and assessed, including one no sync has reached yet ("never
//! synced"). Pure: the caller reads the state (`Local::status`) and passes
//! the time. Called by the daemon, the API and `ebb status`.

use crate::config::Config;
use crate::local::{LocalStatus, TableStatus};
use crate::ops::{Health, HealthInput, StatusView, TableView, assess};

/// The status view (with its health) at `now`.
pub fn status_view(config: &Config, status: &LocalStatus, now: i64) -> StatusView {
    let health = health(config, status, now);
    StatusView {
        device: status.device.clone(),
        generated_at: now,
        health,
        queue: status.queue.clone(),
        tables: synced_tables(config, status)
            .map(|(table, t)| TableView {
                table: table.to_string(),
                pending: t.map_or(0, |t| t.pending),
                last_sync_at: t.and_then(|t| t.last_sync_at),
                cursor: t.map(|t| t.cursor.clone()).unwrap_or_default(),
            })
            .collect(),
        open_conflicts: status.open_conflicts,
        last_round_at: status.last_round_at,
        last_round_ok_at: status.last_round_ok_at,
        last_error: status.last_error.clone(),
        pull_held_since: status.horizon_held_since,
        overwritten_local: status.overwritten_local,
        overwritten_remote: status.overwritten_remote,
        deferred_rows: status.deferred_rows,
        rewritten: status.rewritten,
        skipped_writes: status.skipped_writes,
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
        tables: synced_tables(config, status)
            .map(|(table, t)| (table.to_string(), t.and_then(|t| t.last_sync_at)))
            .collect(),
        requests: status.requests,
        failed_requests: status.failed_requests,
        dead: count("dead"),
        invalid: count("invalid"),
        horizon_stalled_since: status.horizon_held_since,
        last_error: status.last_error.clone(),
        overwritten_local: status.overwritten_local,
        open_collisions: status.open_collisions,
    };
    assess(&input, &config.alerts, now)
}

/// The tables policies.toml syncs, in its order, with what the database
/// knows of each (nothing before the first sync installed it). Tables the
/// database still lists but the config dropped are not shown.
fn synced_tables<'a>(
    config: &'a Config,
    status: &'a LocalStatus,
) -> impl Iterator<Item = (&'a str, Option<&'a TableStatus>)> {
    config.tables.iter().map(|spec| {
        let known = status.tables.iter().find(|t| t.table == spec.name);
        (spec.name.as_str(), known)
    })
}
