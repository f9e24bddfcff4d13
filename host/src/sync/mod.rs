//! The sync engine: one round pushes the queue and pulls every table,
//! under the database's sync lock.
//!
//! The decisions live in plain functions (`plan`, `backoff`); `push` and
//! `pull` (with `plan_page`) are thin drivers that move data between
//! `local`, `remote` and `policy`; `report` is what a round did. [`Engine::run_once`] is what both `ebb sync --once`, the
//! daemon loop ([`crate::ops::daemon`]) and the tests call. This module
//! imports neither rusqlite, reqwest nor wasmtime.

mod backoff;
mod batches;
mod conflict;
mod early;
mod echo;
mod fetch;
mod history;
mod keymap;
mod pace;
mod plan;
mod plan_page;
mod pull;
mod pull_all;
mod push;
mod report;
mod retry;
mod schema;
mod skipped;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use self::pace::Pace;
use crate::config::{Config, TableConfig};
use crate::local::{Lease, Local, LocalError, TableSpec};
use crate::ops::metrics::Metrics;
use crate::ops::progress::Progress;
use crate::policy::{Policies, PolicyError};
use crate::remote::{Remote, RemoteError};

pub use backoff::{ItemFate, delay, item_fate};
pub use report::RoundReport;

/// Why a round could not run or did not finish. Item-level failures are
/// not errors: they are recorded as row state and counted in the report.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Another process holds the sync lock (not a fault; try later).
    #[error("another ebb ({owner}) is syncing this database; its lock expires in {}s", (expires_at - now_ms()).max(0) / 1000)]
    Busy { owner: String, expires_at: i64 },
    /// The lock expired mid-round and another process took it over; this
    /// round stopped so the two never work at once.
    #[error("the sync lock was taken over by another process mid-round")]
    LeaseLost,
    #[error(transparent)]
    Local(#[from] LocalError),
    /// The remote failed in a way retrying within the round did not fix.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// Some tables could not be pulled (the server refused them); the
    /// other tables synced.
    #[error("pull failed for {}", .0.join("; "))]
    Pull(Vec<String>),
}

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub(crate) fn spec(t: &TableConfig) -> TableSpec {
    TableSpec {
        name: t.name.clone(),
        pk: t.pk.clone(),
    }
}

/// One database's sync engine over one remote.
pub struct Engine<R: Remote> {
    config: Config,
    specs: Vec<TableSpec>,
    local: Local,
    /// Shared with the task that fetches a page ahead (`pull`).
    remote: std::sync::Arc<R>,
    /// Shared with the local API, which checks a person's merged row with
    /// the same schema and validator (`ops::settle`).
    policies: Arc<Policies>,
    /// The app's schema version the engine was last fitted to (`schema`).
    schema_version: i64,
    /// Which tables map integer keys, and the foreign keys to them.
    keys: crate::local::KeyPlan,
    /// Changes per push request and rows per pull page now (see `pace`).
    push_pace: Pace,
    pull_pace: Pace,
    /// Whether a round asks every table's first page in one request.
    combined: pull_all::Combined,
    /// Whether the server answers a push with every table's first page
    /// (`ebb_push_pull`; an install by an older ebb does not).
    push_pull: bool,
    /// The first pages the last push of this round brought back.
    pulled_with_push: Option<std::collections::HashMap<String, pull_all::Fetched>>,
    owner: String,
    metrics: Metrics,
    progress: Progress,
}

impl<R: Remote> Engine<R> {
    /// Opens the database, installs (or updates) the capture triggers and
    /// loads the policies. Fails before anything syncs when any of it is wrong.
    pub fn new(config: Config, remote: R) -> Result<Self, SyncError> {
        let mut local = Local::open(&config.database, config.sync.busy_timeout)?;
        local.set_cache(config.sync.local_cache, config.sync.local_wal)?;
        let specs: Vec<TableSpec> = config.tables.iter().map(spec).collect();
        let policies = Policies::load(&config)?;
        let fitted = schema::fit(&mut local, &config, &specs, &policies)?;
        let owner = format!("pid {} ({})", std::process::id(), uuid::Uuid::new_v4());
        let s = &config.sync;
        let (push_pace, pull_pace) = (
            Pace::new(s.batch_size, s.max_batch_size, s.answer_time),
            Pace::new(s.pull_page_size, s.max_pull_page_size, s.answer_time)
                .with_max_bytes(s.max_pull_page_bytes),
        );
        Ok(Engine {
            config,
            specs,
            local,
            remote: std::sync::Arc::new(remote),
            policies: Arc::new(policies),
            keys: fitted.keys,
            schema_version: fitted.version,
            push_pace,
            pull_pace,
            combined: pull_all::Combined::Ask,
            push_pull: true,
            pulled_with_push: None,
            owner,
            metrics: Metrics::new(),
            progress: Progress::hidden(),
        })
    }

    /// Counts into `metrics` (shared with the `/metrics` endpoint).
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Shows pull progress (initial sync) on `progress`.
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn local(&self) -> &Local {
        &self.local
    }

    pub fn local_mut(&mut self) -> &mut Local {
        &mut self.local
    }

    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    /// The policies, to share (the local API validates with them).
    pub fn shared_policies(&self) -> Arc<Policies> {
        Arc::clone(&self.policies)
    }

    /// One round: take the lock, push the queue, pull every table, release.
    /// `Err` only when the round could not run or the lock was lost;
    /// remote failures end the round early and show in `report.error`.
    pub async fn run_once(&mut self) -> Result<RoundReport, SyncError> {
        let ttl = self.config.sync.lease;
        let took = self.local.lease_acquire(&self.owner, ttl, now_ms())?;
        let mut report = RoundReport::default();
        match took {
            Lease::Held { owner, expires_at } => {
                return Err(SyncError::Busy { owner, expires_at });
            }
            Lease::Acquired {
                took_over,
                recovered,
            } => {
                if let Some(previous) = took_over {
                    tracing::warn!(%previous, recovered, "took over an expired sync lock");
                }
                report.recovered = recovered;
            }
        }
        let started = std::time::Instant::now();
        let result = self.round(&mut report).await;
        if !matches!(result, Err(SyncError::LeaseLost)) {
            self.prune_conflicts();
        }
        self.metrics.observe_round(started.elapsed());
        self.metrics.count_invalid(report.invalid as u64);
        self.metrics.count_dead(report.dead as u64);
        for (call, n) in self.policies.take_plugin_calls() {
            self.metrics
                .add_plugin_calls(&call.table, call.kind, call.result, n);
        }
        let error = match &result {
            Ok(()) => None,
            Err(e) => Some(e.to_string()),
        };
        report.error = error.clone();
        // The round's record and the lock's release in one transaction
        // (the lock is not ours to release once it was lost).
        let release = match result {
            Err(SyncError::LeaseLost) => None,
            _ => Some(self.owner.as_str()),
        };
        // The tables it completed (those pulled before a round-ending
        // error too) with the round's record.
        let now = now_ms();
        let synced = &report.completed_tables;
        self.local
            .record_round(error.is_none(), error.as_deref(), now, synced, release)?;
        for table in synced {
            self.metrics.set_last_sync(table, now);
        }
        match result {
            Ok(()) | Err(SyncError::Remote(_) | SyncError::Pull(_)) => Ok(report),
            Err(e) => Err(e),
        }
    }

    async fn round(&mut self, report: &mut RoundReport) -> Result<(), SyncError> {
        for (table, outcome) in self.policies.reload_changed() {
            match outcome {
                Ok(()) => tracing::info!(%table, "plugin reloaded"),
                Err(e) => {
                    tracing::error!(%table, error = %e, "plugin reload failed; keeping the old one")
                }
            }
        }
        self.refit_if_changed()?;
        // Holding the lock, every item still in flight belongs to a round
        // that died: it goes back to pending.
        report.recovered += self.local.recover_inflight(i64::MAX)?;
        self.metrics.set_queue(&self.local.queue_depth()?);
        self.pulled_with_push = None;
        let failed_tables = self.push(report).await?;
        let mut pull_failures = Vec::new();
        let mut first_pages = self.pull_first_pages().await?;
        // The names alone: a table's config (its schema) is no round's to copy.
        let names: Vec<String> = self.config.tables.iter().map(|t| t.name.clone()).collect();
        let set_aside = self.local.deferred_tables()?;
        for name in names {
            let first = first_pages.remove(&name);
            let waiting = set_aside.contains(&name);
            match self.pull_table(&name, first, waiting, report).await {
                Ok(()) => {}
                // One table refused (permissions, not installed on the
                // server): the others still sync.
                Err(SyncError::Remote(e)) if push::blames_the_batch(&e) => {
                    tracing::error!(table = %name, error = %e, "pull failed");
                    pull_failures.push(format!("{name}: {e}"));
                    continue;
                }
                // The tables pulled before it did complete (`run_once`
                // records them).
                Err(e) => return Err(e),
            }
            if !failed_tables.contains(&name) {
                report.completed_tables.push(name);
            }
        }
        // Rows a constraint held back (a parent that had not arrived yet)
        // are tried again now that every table has pulled.
        let retried = self.local.retry_held(now_ms())?;
        if retried > 0 {
            tracing::info!(retried, "rows held by a local constraint applied");
        }
        self.announce_skipped(report)?;
        if pull_failures.is_empty() {
            if self.combined == pull_all::Combined::Rest {
                self.combined = pull_all::Combined::Ask;
            }
            Ok(())
        } else {
            Err(SyncError::Pull(pull_failures))
        }
    }

    /// Deletes settled conflicts older than `sync.keep_resolved_conflicts`
    /// (run at the end of every round the lock was kept through, however
    /// it ended). History is not worth a failed round: an error is only
    /// logged, and the next round tries again.
    fn prune_conflicts(&mut self) {
        let keep = self.config.sync.keep_resolved_conflicts;
        match self.local.prune_conflicts(keep, now_ms()) {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "settled conflicts past their retention deleted"),
            Err(e) => tracing::warn!(error = %e, "could not delete old settled conflicts"),
        }
    }

    fn renew(&mut self) -> Result<(), SyncError> {
        if self
            .local
            .lease_renew(&self.owner, self.config.sync.lease, now_ms())?
        {
            Ok(())
        } else {
            Err(SyncError::LeaseLost)
        }
    }
}

/// Runs a plugin call (up to its wall-clock limit) without stalling the
/// other tasks of a multi-threaded runtime (the daemon's /metrics server);
/// on a current-thread runtime it simply runs.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Milliseconds from a duration, saturating.
pub(crate) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
