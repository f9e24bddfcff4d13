//! The deterministic simulation of issue 6, "exact under every fault:
//! counters never drift": several tills, each a real SQLite file with the
//! real sync engine, against one server, under scripted faults, with an
//! oracle that checks that nothing was lost, nothing diverged and every
//! counter is exact.
//!
//! - [`FakeRemote`] (`fake`): an in-process server with the contract of
//!   `ebb_push` / `ebb_pull` (host/src/remote/sql), on the example app's
//!   tables (`schema`). [`Backoffice`] (`backoffice`) is SQL made directly
//!   on a server: the fake's, or [`PgBackoffice`] on real PostgreSQL.
//!   tests/tests/sim/contract.rs holds both servers to the same cases.
//! - [`Faulty`] (`faulty`): a `Remote` wrapper that loses, duplicates,
//!   delays and refuses calls, or kills the till mid-round, as scripted.
//! - [`Plan`] (`plan`): a seed's starting rows and steps, drawn by
//!   `generate`, printed by `show`; `app` plays the point-of-sale's writes,
//!   `till` a till and its engine, `run` the scheduler (`steps` one step,
//!   `converge` the end of a run), `ledger` what the server must end with,
//!   `oracle` the judgement, `stats` the figures, `shrink` the shortest
//!   failing plan and its reproduction.
//!
//! Used by tests/tests/sim.rs (contract cases, named scenarios, 200 seeds
//! on the fake and a few on the gateway) and tests/examples/chaos.rs (any
//! number of seeds, with figures).

pub mod app;
pub mod backoffice;
mod converge;
pub mod fake;
pub mod faulty;
pub mod generate;
pub mod ledger;
pub mod oracle;
pub mod plan;
pub mod run;
pub mod schema;
pub mod show;
pub mod shrink;
pub mod stats;
mod steps;
pub mod till;

pub use backoffice::{Backoffice, PgBackoffice};
pub use fake::FakeRemote;
pub use faulty::{Fault, Faulty};
pub use generate::generate;
pub use oracle::Verdict;
pub use plan::{Plan, Shape, Step};
pub use run::{Mode, Outcome, run};
pub use shrink::{Checked, check};
pub use stats::Stats;
