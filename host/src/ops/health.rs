//! Whether sync is doing its job: [`assess`] turns a snapshot of the queue,
//! tables and request counts into a [`Health`] with typed [`Problem`]s.
//!
//! A pure function of its input, the `[alerts]` config and `now_ms`: no
//! I/O, no clock. `sync` fills a [`HealthInput`] (from `local`'s status and
//! its own counters over `alerts.error_window`), `ebb status` prints the
//! result and sets its exit code, `ops::server` answers `/health` with it.
//!
//! # Severity
//!
//! `healthy` is false when any problem is an [`Severity::Error`]:
//!
//! - error rate above `max_error_rate` (once at least `min_requests`
//!   requests were made in the window, so one failure out of one is not an
//!   outage): error;
//! - an item pending, in retry or in flight longer than `stuck_after`: error;
//! - dead items (retries exhausted; data is not reaching the server): error;
//! - open key collisions (two devices created different rows under one
//!   key: one of them is not on the server): error until a person settles;
//! - a table never synced, or last synced longer than `max_last_sync_age`
//!   ago: error. A daemon that just started is therefore unhealthy until its
//!   first round completes, which is what a readiness probe wants;
//! - the server's txid horizon held back longer than `max_pull_lag` (a
//!   transaction left open on the server delays every pull): error, since
//!   rows from the server stop arriving;
//! - invalid items: **warning**. The engine works; the app wrote rows its
//!   own schema refuses. No retry, restart or operator action on ebb can fix
//!   them, only a fix to the data, so they must not make `/health` fail (a
//!   supervisor restarting ebb over them would help nobody). They are
//!   counted in status and metrics;
//! - open conflicts: **warning**, for the same reason: they wait for a
//!   person by design (`manual` policy);
//! - local writes a conflict policy discarded in the last 24 hours
//!   (`server_wins`, a delete undone): **warning**. The policy chose it, but
//!   a shop owner must see that a till's edit did not survive.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::config::AlertsConfig;
use crate::ops::status::human_duration;

/// What the health rules look at. Times are unix milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HealthInput {
    /// Queue items per state (`pending`, `inflight`, `retry`, `invalid`,
    /// `dead`, `conflict`).
    pub queue: BTreeMap<String, u64>,
    /// When the oldest item still pending, in retry or in flight was queued.
    pub oldest_pending_at: Option<i64>,
    pub open_conflicts: u64,
    /// The end of the last round that completed without error. Shown by
    /// status; staleness is judged per table.
    pub last_round_ok_at: Option<i64>,
    /// Every synced table with its last complete sync.
    pub tables: Vec<(String, Option<i64>)>,
    /// Requests to the remote over `alerts.error_window`, and how many failed.
    pub requests: u64,
    pub failed_requests: u64,
    /// Items now dead / invalid.
    pub dead: u64,
    pub invalid: u64,
    /// Since when the server's txid horizon has not moved while rows were
    /// held back; `None` when it is moving.
    pub horizon_stalled_since: Option<i64>,
    /// The last round's error when it ended early (auth refused, server
    /// away): sync is not doing its job until a round succeeds again.
    pub last_error: Option<String>,
    /// Local writes a conflict policy discarded in the last 24 hours.
    pub overwritten_local: u64,
    /// Open key collisions (two devices created rows under one key).
    pub open_collisions: u64,
}

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Shown, but sync counts as healthy.
    Warning,
    /// Sync is not doing its job: unhealthy.
    Error,
}

/// Which rule found the problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// No assessment yet (the first round has not run).
    NotAssessed,
    ErrorRate,
    StuckItems,
    DeadItems,
    InvalidItems,
    StaleTable,
    OpenConflicts,
    PullLag,
    LastRoundFailed,
    OverwrittenWrites,
    KeyCollisions,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    pub severity: Severity,
    /// One line for a person, naming the threshold that was crossed.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    pub healthy: bool,
    /// Errors first, then warnings.
    pub problems: Vec<Problem>,
}

impl Health {
    /// Before the first assessment: unhealthy, saying so.
    pub fn not_assessed() -> Health {
        Health {
            healthy: false,
            problems: vec![Problem {
                kind: ProblemKind::NotAssessed,
                severity: Severity::Error,
                message: "no sync round has been assessed yet".into(),
            }],
        }
    }
}

/// Apply the `[alerts]` rules (see the module doc) at `now_ms`.
pub fn assess(input: &HealthInput, alerts: &AlertsConfig, now_ms: i64) -> Health {
    let mut problems = Vec::new();
    let mut add = |kind, severity, message: String| {
        problems.push(Problem {
            kind,
            severity,
            message,
        })
    };
    let age = |at: i64| Duration::from_millis(u64::try_from(now_ms - at).unwrap_or(0));

    if input.requests >= alerts.min_requests.max(1) {
        let rate = input.failed_requests as f64 / input.requests as f64;
        if rate > alerts.max_error_rate {
            add(
                ProblemKind::ErrorRate,
                Severity::Error,
                format!(
                    "{} of {} requests failed in the last {} ({:.0}% > max_error_rate {:.0}%)",
                    input.failed_requests,
                    input.requests,
                    human_duration(alerts.error_window),
                    rate * 100.0,
                    alerts.max_error_rate * 100.0
                ),
            );
        }
    }
    if let Some(at) = input.oldest_pending_at
        && age(at) > alerts.stuck_after
    {
        add(
            ProblemKind::StuckItems,
            Severity::Error,
            format!(
                "the oldest unsynced item has waited {} (stuck_after {})",
                human_duration(age(at)),
                human_duration(alerts.stuck_after)
            ),
        );
    }
    if let Some(error) = &input.last_error {
        add(
            ProblemKind::LastRoundFailed,
            Severity::Error,
            format!("the last sync round failed: {error}"),
        );
    }
    if input.dead > 0 {
        add(
            ProblemKind::DeadItems,
            Severity::Error,
            format!("{} item(s) dead after exhausting their retries", input.dead),
        );
    }
    for (table, last) in &input.tables {
        match last {
            None => add(
                ProblemKind::StaleTable,
                Severity::Error,
                format!("{table}: never synced"),
            ),
            Some(at) if age(*at) > alerts.max_last_sync_age => add(
                ProblemKind::StaleTable,
                Severity::Error,
                format!(
                    "{table}: last synced {} ago (max_last_sync_age {})",
                    human_duration(age(*at)),
                    human_duration(alerts.max_last_sync_age)
                ),
            ),
            Some(_) => {}
        }
    }
    if let Some(since) = input.horizon_stalled_since
        && age(since) > alerts.max_pull_lag
    {
        add(
            ProblemKind::PullLag,
            Severity::Error,
            format!(
                "the server's transaction horizon has been held back for {} (max_pull_lag {}): \
                 a transaction is open on the server",
                human_duration(age(since)),
                human_duration(alerts.max_pull_lag)
            ),
        );
    }
    if input.invalid > 0 {
        add(
            ProblemKind::InvalidItems,
            Severity::Warning,
            format!(
                "{} item(s) invalid: the rows fail validation and wait for a fix",
                input.invalid
            ),
        );
    }
    if input.open_conflicts > 0 {
        add(
            ProblemKind::OpenConflicts,
            Severity::Warning,
            format!(
                "{} open conflict(s): settle with `ebb conflicts resolve`",
                input.open_conflicts
            ),
        );
    }
    if input.open_collisions > 0 {
        add(
            ProblemKind::KeyCollisions,
            Severity::Error,
            format!(
                "{} key collision(s) open: two devices created different rows under one key \
                 (ebb conflicts list; one row waits on each side until a person settles it)",
                input.open_collisions
            ),
        );
    }
    if input.overwritten_local > 0 {
        add(
            ProblemKind::OverwrittenWrites,
            Severity::Warning,
            format!(
                "{} local write(s) overwritten by a conflict policy in the last 24 h \
                 (ebb conflicts list --all shows them)",
                input.overwritten_local
            ),
        );
    }
    // Stable: rules above are already in a sensible order within a severity.
    problems.sort_by_key(|p| std::cmp::Reverse(p.severity));
    Health {
        healthy: problems.iter().all(|p| p.severity != Severity::Error),
        problems,
    }
}

#[cfg(test)]
#[path = "health_tests.rs"]
mod tests;
