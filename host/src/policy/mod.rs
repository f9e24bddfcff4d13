//! Per-table policies: JSON Schema checks, the built-in conflict strategies
//! and sandboxed WebAssembly plugins.
//!
//! Owns everything wasmtime (nothing outside this folder may use it):
//! - `policies.rs`: [`Policies`], built once from the `Config`, asked by
//!   `sync` to validate outgoing rows and settle conflicts; hot-reloads
//!   changed plugin files (`reload.rs`).
//! - `calls.rs`: [`PluginCall`], the tally of plugin calls `Policies`
//!   keeps for `sync`'s metrics.
//! - `plugin.rs`: [`Plugin`], one loaded component and its sandboxed calls
//!   (also used by `ebb policy run` / `replay`).
//! - `sandbox.rs`: the engine, epoch thread, component cache, store limits.
//! - `pool.rs`: how the engine allocates instances (a pool of slots with
//!   copy-on-write memory images) and the slot each call claims.
//! - `schema.rs`: compiled JSON Schemas, errors as field paths.
//! - `shape.rs`: the check of a merged row (same key, the table's columns,
//!   the schema), shared by `Policies::resolve` and `ebb policy run`.
//! - `signature.rs`: load-time check of exported function types.
//! - `merge.rs`: the built-in three-way merge.
//! - `error.rs`: [`PolicyError`].
//!
//! It must not touch SQLite or the network, and it never panics on plugin
//! output: a plugin failure costs the one item (validation fails closed,
//! resolution falls back to manual) and is reported as a value.

mod bindings;
mod calls;
mod error;
pub mod merge;
mod plugin;
mod policies;
mod pool;
mod reload;
mod sandbox;
mod schema;
mod shape;
mod signature;

pub use calls::PluginCall;
pub use error::PolicyError;
pub use plugin::{
    CallFailure, CallReport, HOST_IMPORT, Plugin, RESOLVE_EXPORT, Resolution, VALIDATE_EXPORT,
};
pub use policies::Policies;
pub use sandbox::{Level, Sandbox};
pub use schema::{TableSchema, summary};
pub use shape::{Answerer, Shape, ShapeError, check_merged};

use crate::model::Row;

/// One conflicting row: each side `None` when deleted; `base` `None` when
/// the device never saw the row from the server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConflictInput {
    pub local: Option<Row>,
    pub remote: Option<Row>,
    pub base: Option<Row>,
}

/// Whether an outgoing row may be pushed.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Valid,
    /// Not pushed: the queue item becomes `invalid` with these reasons.
    Invalid(Vec<Violation>),
}

impl Verdict {
    pub fn is_valid(&self) -> bool {
        matches!(self, Verdict::Valid)
    }
}

/// One broken rule: the field (a dotted path, empty for the whole row) and a
/// message for the person who must fix the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub message: String,
}

/// How one conflict is settled.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Keep the local row (or deletion); push it over the remote one.
    TakeLocal,
    /// Take the remote row (or deletion); drop the local edit.
    TakeRemote,
    /// A new row replacing both (`None`: the row is deleted on both sides).
    Merged(Option<Row>),
    /// Left to a person, with the reason shown to them.
    Manual(String),
}
