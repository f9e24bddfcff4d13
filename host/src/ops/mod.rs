//! Operations: how a person or a monitor sees sync.
//!
//! - [`metrics`]: counters, gauges and a histogram in Prometheus text format;
//! - [`health`]: the `[alerts]` rules, a pure function from a snapshot to
//!   healthy / problems;
//! - [`status`]: what `ebb status` prints (text and `--json`);
//! - [`server`]: `/metrics` and `/health` over HTTP while `ebb run` is up;
//! - [`progress`]: progress bars for long pulls that do not tear log lines.
//!
//! Everything here reports; nothing here decides what sync does, opens the
//! database or talks to the remote. `sync` and `cli` fill the inputs.

pub mod health;
pub mod metrics;
pub mod progress;
pub mod server;
pub mod status;

pub use health::{Health, HealthInput, Problem, ProblemKind, Severity, assess};
pub use metrics::Metrics;
pub use progress::{Progress, TableProgress};
pub use status::{StatusView, TableView, render_text};
