//! One metric family (a name, its label names, one atomic value per label
//! set) and the Prometheus text-format pieces it renders with: label
//! escaping and Go-style float text.
//!
//! Owned by `ops::metrics`, which holds the families and renders them in
//! order; this module knows no metric names and does no I/O. Values are
//! plain atomics, so a poisoned lock is recovered, never a panic.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Monotonic integer.
    Counter,
    /// An f64 stored as bits.
    Gauge,
}

/// One metric name with its label names and one value per label set.
pub(super) struct Family {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
    values: RwLock<BTreeMap<Vec<String>, Arc<AtomicU64>>>,
}

impl Family {
    pub(super) fn new(
        name: &'static str,
        help: &'static str,
        kind: Kind,
        labels: &'static [&'static str],
    ) -> Self {
        let family = Family {
            name,
            help,
            kind,
            labels,
            values: RwLock::new(BTreeMap::new()),
        };
        // A family without labels always has its one series (0 until set).
        if labels.is_empty() {
            family.cell(&[]);
        }
        family
    }

    pub(super) fn cell(&self, label_values: &[&str]) -> Arc<AtomicU64> {
        debug_assert_eq!(label_values.len(), self.labels.len(), "{}", self.name);
        let key: Vec<String> = label_values.iter().map(|v| (*v).to_owned()).collect();
        if let Some(cell) = self.read().get(&key) {
            return cell.clone();
        }
        let mut map = self.values.write().unwrap_or_else(|p| p.into_inner());
        map.entry(key)
            .or_insert_with(|| {
                let zero = match self.kind {
                    Kind::Counter => 0,
                    Kind::Gauge => 0f64.to_bits(),
                };
                Arc::new(AtomicU64::new(zero))
            })
            .clone()
    }

    pub(super) fn read(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, BTreeMap<Vec<String>, Arc<AtomicU64>>> {
        // Values are plain atomics: a panic elsewhere cannot corrupt them.
        self.values.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn add(&self, label_values: &[&str], n: u64) {
        self.cell(label_values).fetch_add(n, Ordering::Relaxed);
    }

    pub(super) fn set(&self, label_values: &[&str], v: f64) {
        self.cell(label_values)
            .store(v.to_bits(), Ordering::Relaxed);
    }

    pub(super) fn render(&self, out: &mut String) {
        let kind = match self.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {kind}", self.name);
        for (values, cell) in self.read().iter() {
            let raw = cell.load(Ordering::Relaxed);
            let value = match self.kind {
                Kind::Counter => raw.to_string(),
                Kind::Gauge => format_float(f64::from_bits(raw)),
            };
            let pairs: Vec<(&str, &str)> = self
                .labels
                .iter()
                .copied()
                .zip(values.iter().map(String::as_str))
                .collect();
            let _ = writeln!(out, "{}{} {value}", self.name, label_set(&pairs));
        }
    }
}

/// `{a="x",b="y"}`, or nothing for no labels.
fn label_set(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// Label value escaping of the text format: backslash, double quote, newline.
fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Go-style float text: `NaN`, `+Inf`, `-Inf`, or the shortest decimal.
pub(super) fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        v.to_string()
    }
}
