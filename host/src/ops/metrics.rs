//! Sync counters, gauges and the round-duration histogram, rendered in the
//! Prometheus text exposition format (version 0.0.4) by hand.
//!
//! [`Metrics`] is cheap to clone (one `Arc`) and lock-free on the hot path
//! once a label set exists: `sync` records, `ops::server` renders. It
//! decides nothing and does no I/O. Label values are escaped, so a table or
//! error kind with quotes or newlines cannot break the output. All metric
//! names start with `ebb_`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use family::{Family, Kind, format_float};

#[path = "metrics_family.rs"]
mod family;

/// Upper bounds (seconds) of the round-duration histogram buckets.
const ROUND_BUCKETS: [f64; 10] = [0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

struct Histogram {
    /// Non-cumulative counts per bucket of [`ROUND_BUCKETS`], plus +Inf.
    buckets: [AtomicU64; ROUND_BUCKETS.len() + 1],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

struct Inner {
    pushed: Family,
    pulled: Family,
    conflicts: Family,
    overwritten: Family,
    push_errors: Family,
    requests: Family,
    items_invalid: Family,
    items_dead: Family,
    plugin_calls: Family,
    queue_depth: Family,
    last_sync: Family,
    pull_lag: Family,
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

impl Metrics {
    pub fn new() -> Metrics {
        use Kind::{Counter, Gauge};
        let inner = Inner {
            pushed: Family::new(
                "ebb_pushed_total",
                "Changes the server applied, per table.",
                Counter,
                &["table"],
            ),
            pulled: Family::new(
                "ebb_pulled_total",
                "Rows pulled from the server and applied locally, per table.",
                Counter,
                &["table"],
            ),
            conflicts: Family::new(
                "ebb_conflicts_total",
                "Conflicts met, per table and how they were settled.",
                Counter,
                &["table", "outcome"],
            ),
            overwritten: Family::new(
                "ebb_overwritten_total",
                "Writes a conflict policy discarded, per table and side (local, remote).",
                Counter,
                &["table", "side"],
            ),
            push_errors: Family::new(
                "ebb_push_errors_total",
                "Failed pushes, per error kind.",
                Counter,
                &["kind"],
            ),
            requests: Family::new(
                "ebb_requests_total",
                "Requests to the remote, per RPC and result.",
                Counter,
                &["rpc", "result"],
            ),
            items_invalid: Family::new(
                "ebb_items_invalid_total",
                "Queue items marked invalid (failed validation).",
                Counter,
                &[],
            ),
            items_dead: Family::new(
                "ebb_items_dead_total",
                "Queue items marked dead (retries exhausted).",
                Counter,
                &[],
            ),
            plugin_calls: Family::new(
                "ebb_plugin_calls_total",
                "Policy plugin calls, per table, plugin kind and result.",
                Counter,
                &["table", "kind", "result"],
            ),
            queue_depth: Family::new(
                "ebb_queue_depth",
                "Local queue items per state.",
                Gauge,
                &["state"],
            ),
            last_sync: Family::new(
                "ebb_last_sync_timestamp_seconds",
                "Unix time of the last complete sync, per table.",
                Gauge,
                &["table"],
            ),
            pull_lag: Family::new(
                "ebb_pull_lag_seconds",
                "How long the server's txid horizon has been held back.",
                Gauge,
                &[],
            ),
            rounds: Histogram {
                buckets: std::array::from_fn(|_| AtomicU64::new(0)),
                sum_micros: AtomicU64::new(0),
                count: AtomicU64::new(0),
            },
        };
        Metrics {
            inner: Arc::new(inner),
        }
    }

    /// `n` changes of `table` were applied by the server.
    pub fn add_pushed(&self, table: &str, n: u64) {
        self.inner.pushed.add(&[table], n);
    }

    /// `n` rows of `table` were pulled and applied.
    pub fn add_pulled(&self, table: &str, n: u64) {
        self.inner.pulled.add(&[table], n);
    }

    /// A conflict on `table` settled as `outcome` (`local`, `remote`,
    /// `merged`, `manual`, ...).
    pub fn count_conflict(&self, table: &str, outcome: &str) {
        self.inner.conflicts.add(&[table, outcome], 1);
    }

    /// A policy settled a conflict of `table` by discarding a write of
    /// `side` (`local` or `remote`).
    pub fn count_overwritten(&self, table: &str, side: &str) {
        self.inner.overwritten.add(&[table, side], 1);
    }

    /// A push failed with `kind` (e.g. `RemoteError::kind()`).
    pub fn count_push_error(&self, kind: &str) {
        self.inner.push_errors.add(&[kind], 1);
    }

    /// One request to `rpc` (`ebb_push`, `ebb_pull`) ended as `result`
    /// (`ok` or an error kind).
    pub fn count_request(&self, rpc: &str, result: &str) {
        self.inner.requests.add(&[rpc, result], 1);
    }

    /// `n` items were marked invalid.
    pub fn count_invalid(&self, n: u64) {
        self.inner.items_invalid.add(&[], n);
    }

    /// `n` items were marked dead.
    pub fn count_dead(&self, n: u64) {
        self.inner.items_dead.add(&[], n);
    }

    /// One plugin call for `table` of plugin `kind` (`validate`,
    /// `resolve`) ended as `result` (`ok`, `trap`, `timeout`, ...).
    pub fn count_plugin_call(&self, table: &str, kind: &str, result: &str) {
        self.inner.plugin_calls.add(&[table, kind, result], 1);
    }

    /// A sync round took `d`.
    pub fn observe_round(&self, d: Duration) {
        let h = &self.inner.rounds;
        let secs = d.as_secs_f64();
        let i = ROUND_BUCKETS
            .iter()
            .position(|le| secs <= *le)
            .unwrap_or(ROUND_BUCKETS.len());
        h.buckets[i].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        h.sum_micros.fetch_add(micros, Ordering::Relaxed);
        h.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The queue per state; states seen before but absent now drop to 0.
    pub fn set_queue(&self, depth: &BTreeMap<String, u64>) {
        let family = &self.inner.queue_depth;
        let known: Vec<Vec<String>> = family.read().keys().cloned().collect();
        for key in known {
            if let Some(state) = key.first()
                && !depth.contains_key(state)
            {
                family.set(&[state], 0.0);
            }
        }
        for (state, n) in depth {
            family.set(&[state], *n as f64);
        }
    }

    /// `table` last completed a sync at `unix_ms`.
    pub fn set_last_sync(&self, table: &str, unix_ms: i64) {
        self.inner.last_sync.set(&[table], unix_ms as f64 / 1000.0);
    }

    /// The server's horizon has been held back for `lag` (zero when moving).
    pub fn set_pull_lag(&self, lag: Duration) {
        self.inner.pull_lag.set(&[], lag.as_secs_f64());
    }

    /// Everything, in Prometheus text format 0.0.4.
    pub fn render(&self) -> String {
        let i = &self.inner;
        let mut out = String::new();
        for family in [
            &i.pushed,
            &i.pulled,
            &i.conflicts,
            &i.overwritten,
            &i.push_errors,
            &i.requests,
            &i.items_invalid,
            &i.items_dead,
            &i.plugin_calls,
            &i.queue_depth,
            &i.last_sync,
            &i.pull_lag,
        ] {
            family.render(&mut out);
        }
        self.render_rounds(&mut out);
        out
    }

    fn render_rounds(&self, out: &mut String) {
        let h = &self.inner.rounds;
        let name = "ebb_round_duration_seconds";
        let _ = writeln!(out, "# HELP {name} Wall time of one sync round.");
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cumulative = 0u64;
        for (i, le) in ROUND_BUCKETS.iter().enumerate() {
            cumulative += h.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{}\"}} {cumulative}",
                format_float(*le)
            );
        }
        cumulative += h.buckets[ROUND_BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {}", format_float(sum));
        // The count is the +Inf bucket, read once, so the two always agree.
        let _ = writeln!(out, "{name}_count {cumulative}");
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
