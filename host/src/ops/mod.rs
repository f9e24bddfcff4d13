//! Operations: how a person, a monitor or the app beside ebb sees and
//! steers sync.
//!
//! - [`daemon`]: the loop of `ebb run` (rounds, health, history, events,
//!   notify, shutdown), the library's own; an embedder calls it too;
//! - [`metrics`]: counters, gauges and a histogram in Prometheus text format;
//! - [`health`]: the `[alerts]` rules, a pure function from a snapshot to
//!   healthy / problems;
//! - [`view`]: what `ebb status`, `/health` and `/api/status` show;
//! - [`status`]: what `ebb status` prints (text and `--json`);
//! - [`events`]: live events and their bounded fan-out;
//! - [`server`]: `/metrics` and `/health` over HTTP while `ebb run` is up;
//! - [`api`]: the local JSON API and Server-Sent Events (docs/api.md);
//! - [`console`]: the web console at `/`, embedded;
//! - [`settle`]: a person settling a conflict (CLI and API alike);
//! - [`progress`]: progress bars and progress events for long pulls.
//!
//! Data flows one way: `daemon` drives `sync::Engine` and reads the local
//! state after each round; `api` reads the state and makes only a person's
//! changes (settle, retry) through `local`, then nudges the daemon. Nothing
//! here decides what a round does or talks to the remote.

pub mod api;
pub mod console;
pub mod daemon;
pub mod events;
pub mod health;
pub mod metrics;
pub mod progress;
pub mod server;
pub mod settle;
pub mod status;
pub mod view;

pub use daemon::{Daemon, DaemonError, DaemonHandle};
pub use events::{Event, Events};
pub use health::{Health, HealthInput, Problem, ProblemKind, Severity, assess};
pub use metrics::Metrics;
pub use progress::{Progress, TableProgress};
pub use status::{StatusView, TableView, render_text};
