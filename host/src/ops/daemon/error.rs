//! Why the daemon could not start or stopped: the one error type
//! [`Daemon::start`](super::Daemon::start) and [`Daemon::run`](super::Daemon::run)
//! return, each variant a different thing for the caller to fix.

use crate::local::LocalError;
use crate::sync::SyncError;

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The engine could not be built (database, triggers, policies): the
    /// user's to fix, reported before anything syncs.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// `ops.listen` could not be bound (in use, not allowed).
    #[error("ops.listen: cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// The API token could not be read, or is missing where it is needed
    /// (a listener off loopback).
    #[error("{0}")]
    Token(String),
    /// The database failed between rounds (status, history); the loop stops.
    #[error(transparent)]
    Local(#[from] LocalError),
}
