//! Sync counters, gauges and the round-duration histogram, kept in a
//! `prometheus-client` registry and rendered in the Prometheus text
//! exposition format (version 0.0.4).
//!
//! [`Metrics`] owns the metric names, label names and help texts (all names
//! start with `ebb_`; docs/operations.md lists them and a test holds the
//! two together). It is cheap to clone (one `Arc`): `sync` records,
//! `ops::server` renders. It decides nothing and does no I/O. Label values
//! are escaped by the encoder, so a table or error kind with quotes or
//! newlines cannot break the output; nothing here panics on any input.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};

use crate::local::QUEUE_STATES;

/// The `Content-Type` of what [`Metrics::render`] returns.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Upper bounds (seconds) of the round-duration histogram buckets.
const ROUND_BUCKETS: [f64; 10] = [0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

/// A label set: `N` (label name, value) pairs, names fixed per family.
type Labels<const N: usize> = [(&'static str, String); N];
type Counters<const N: usize> = Family<Labels<N>, Counter>;
type FloatGauge = Gauge<f64, AtomicU64>;
type Gauges<const N: usize> = Family<Labels<N>, FloatGauge>;

#[derive(Debug)]
struct Inner {
    registry: Registry,
    pushed: Counters<1>,
    pulled: Counters<1>,
    conflicts: Counters<2>,
    overwritten: Counters<2>,
    changed_by_server: Counters<1>,
    skipped_writes: Counters<2>,
    push_errors: Counters<1>,
    requests: Counters<2>,
    items_invalid: Counter,
    items_dead: Counter,
    plugin_calls: Counters<3>,
    queue_depth: Gauges<1>,
    /// Every queue state `queue_depth` has a series for.
    queue_states: Mutex<BTreeSet<String>>,
    last_sync: Gauges<1>,
    pull_lag: FloatGauge,
    realtime_connected: Gauge,
    rounds: Histogram,
}

/// The process's sync metrics. Clones share the same values.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// A new metric, registered in `r` under `name` with `help`.
fn register<M: Metric + Clone + Default>(r: &mut Registry, name: &str, help: &str) -> M {
    let metric = M::default();
    r.register(name, help, metric.clone());
    metric
}

/// `[(name, value), ...]` from label names and values.
fn labels<const N: usize>(names: [&'static str; N], values: [&str; N]) -> Labels<N> {
    let mut values = values.into_iter();
    names.map(|name| (name, values.next().unwrap_or_default().to_owned()))
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut r = Registry::default();
        // Counters are registered without `_total`: the encoder appends it
        // (`ebb_pushed` is served as `ebb_pushed_total`). The encoder also
        // ends every help text with a full stop.
        let pushed = register(
            &mut r,
            "ebb_pushed",
            "Changes the server applied, per table",
        );
        let pulled = register(
            &mut r,
            "ebb_pulled",
            "Rows pulled from the server and applied locally, per table",
        );
        let conflicts = register(
            &mut r,
            "ebb_conflicts",
            "Conflicts met, per table and how they were settled (resolved, manual)",
        );
        let overwritten = register(
            &mut r,
            "ebb_overwritten",
            "Writes a conflict policy discarded, per table and side (local, remote)",
        );
        let changed_by_server = register(
            &mut r,
            "ebb_changed_by_server",
            "This device's writes the server stored with other values (a trigger, a default, a column type), taken here, per table",
        );
        let skipped_writes = register(
            &mut r,
            "ebb_skipped_writes",
            "Writes an app trigger made to a synced table (table) while ebb applied pulled rows of a table (by, the same one for a trigger writing its own table), skipped",
        );
        let push_errors = register(
            &mut r,
            "ebb_push_errors",
            "Failed request attempts to the remote (push and pull), per error kind",
        );
        let requests = register(
            &mut r,
            "ebb_requests",
            "Request attempts to the remote, per RPC and result (ok, error)",
        );
        let items_invalid = register(
            &mut r,
            "ebb_items_invalid",
            "Queue items marked invalid (failed validation)",
        );
        let items_dead = register(
            &mut r,
            "ebb_items_dead",
            "Queue items marked dead (retries exhausted)",
        );
        let plugin_calls = register(
            &mut r,
            "ebb_plugin_calls",
            "Policy plugin calls, per table, plugin kind (validate, resolve) and result",
        );
        let queue_depth = register(&mut r, "ebb_queue_depth", "Local queue items per state");
        let last_sync = register(
            &mut r,
            "ebb_last_sync_timestamp_seconds",
            "Unix time of the last complete sync, per table",
        );
        let pull_lag = register(
            &mut r,
            "ebb_pull_lag_seconds",
            "How long the server's transaction horizon has been held back",
        );
        let realtime_connected = register(
            &mut r,
            "ebb_realtime_connected",
            "1 while the server's change nudges (Realtime) arrive, 0 while polling at sync.interval",
        );
        let rounds = Histogram::new(ROUND_BUCKETS);
        r.register(
            "ebb_round_duration_seconds",
            "Wall time of one sync round",
            rounds.clone(),
        );
        let metrics = Metrics {
            inner: Arc::new(Inner {
                registry: r,
                pushed,
                pulled,
                conflicts,
                overwritten,
                changed_by_server,
                skipped_writes,
                push_errors,
                requests,
                items_invalid,
                items_dead,
                plugin_calls,
                queue_depth,
                // `ebb_queue_depth` always has a series for each state (0
                // when empty), so an alert on one sees a value, never an
                // absence.
                queue_states: Mutex::new(QUEUE_STATES.iter().map(|s| s.to_string()).collect()),
                last_sync,
                pull_lag,
                realtime_connected,
                rounds,
            }),
        };
        metrics.set_queue(&BTreeMap::new());
        metrics
    }

    /// `n` changes of `table` were applied by the server.
    pub fn add_pushed(&self, table: &str, n: u64) {
        let key = labels(["table"], [table]);
        self.inner.pushed.get_or_create(&key).inc_by(n);
    }

    /// `n` rows of `table` were pulled and applied.
    pub fn add_pulled(&self, table: &str, n: u64) {
        let key = labels(["table"], [table]);
        self.inner.pulled.get_or_create(&key).inc_by(n);
    }

    /// A conflict on `table` settled as `outcome` (`resolved`, `manual`).
    pub fn count_conflict(&self, table: &str, outcome: &str) {
        let key = labels(["table", "outcome"], [table, outcome]);
        self.inner.conflicts.get_or_create(&key).inc();
    }

    /// A policy settled a conflict of `table` by discarding a write of
    /// `side` (`local` or `remote`).
    pub fn count_overwritten(&self, table: &str, side: &str) {
        let key = labels(["table", "side"], [table, side]);
        self.inner.overwritten.get_or_create(&key).inc();
    }

    /// `n` of this device's writes to `table` came back from the server
    /// with other values (`sync::echo`).
    pub fn count_changed_by_server(&self, table: &str, n: usize) {
        if n > 0 {
            let key = labels(["table"], [table]);
            self.inner
                .changed_by_server
                .get_or_create(&key)
                .inc_by(n as u64);
        }
    }

    /// `n` writes an app trigger made to `table` while ebb applied pulled
    /// rows of `by` were skipped (`local::skip`).
    pub fn count_skipped_writes(&self, table: &str, by: &str, n: u64) {
        let key = labels(["table", "by"], [table, by]);
        self.inner.skipped_writes.get_or_create(&key).inc_by(n);
    }

    /// A request attempt failed with `kind` (`RemoteError::kind()`).
    pub fn count_push_error(&self, kind: &str) {
        let key = labels(["kind"], [kind]);
        self.inner.push_errors.get_or_create(&key).inc();
    }

    /// One request to `rpc` (`ebb_push`, `ebb_pull`) ended as `result`
    /// (`ok` or `error`).
    pub fn count_request(&self, rpc: &str, result: &str) {
        let key = labels(["rpc", "result"], [rpc, result]);
        self.inner.requests.get_or_create(&key).inc();
    }

    /// `n` items were marked invalid.
    pub fn count_invalid(&self, n: u64) {
        self.inner.items_invalid.inc_by(n);
    }

    /// `n` items were marked dead.
    pub fn count_dead(&self, n: u64) {
        self.inner.items_dead.inc_by(n);
    }

    /// `n` plugin calls for `table` of plugin `kind` (`validate`, `resolve`)
    /// ended as `result` (`ok`, `timeout`, `trap`, ...; see
    /// `policy::PluginCall`).
    pub fn add_plugin_calls(&self, table: &str, kind: &str, result: &str, n: u64) {
        let key = labels(["table", "kind", "result"], [table, kind, result]);
        self.inner.plugin_calls.get_or_create(&key).inc_by(n);
    }

    /// A sync round took `d`.
    pub fn observe_round(&self, d: Duration) {
        self.inner.rounds.observe(d.as_secs_f64());
    }

    /// The queue per state: the usual states and every state seen before
    /// are served, at 0 when absent from `depth`.
    pub fn set_queue(&self, depth: &BTreeMap<String, u64>) {
        let mut states = self
            .inner
            .queue_states
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        states.extend(depth.keys().cloned());
        for state in states.iter() {
            let n = depth.get(state).copied().unwrap_or(0);
            let key = labels(["state"], [state]);
            self.inner.queue_depth.get_or_create(&key).set(n as f64);
        }
    }

    /// `table` last completed a sync at `unix_ms`.
    pub fn set_last_sync(&self, table: &str, unix_ms: i64) {
        let key = labels(["table"], [table]);
        let seconds = unix_ms as f64 / 1000.0;
        self.inner.last_sync.get_or_create(&key).set(seconds);
    }

    /// The server's horizon has been held back for `lag` (zero when moving).
    pub fn set_pull_lag(&self, lag: Duration) {
        self.inner.pull_lag.set(lag.as_secs_f64());
    }

    /// Whether the Realtime socket is joined (nudges arrive).
    pub fn set_realtime_connected(&self, connected: bool) {
        self.inner.realtime_connected.set(i64::from(connected));
    }

    /// Everything, in the Prometheus text format 0.0.4 ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail, and our label values encode as
        // plain strings; should the encoder still refuse, serve what it
        // wrote rather than nothing.
        if let Err(e) = prometheus_text::encode(&mut out, &self.inner.registry) {
            tracing::warn!(error = %e, "metrics could not be rendered completely");
        }
        out
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
