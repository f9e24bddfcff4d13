//! What one plugin call gives back: its answer and cost, or why it failed
//! and what the plugin logged before it did.

use std::time::Duration;

use super::super::PolicyError;
use super::super::sandbox::Level;
use crate::model::Row;

/// A resolver's answer, its merged row parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    TakeLocal,
    TakeRemote,
    /// A JSON object (not yet checked against the table's schema).
    Merged(Row),
    Manual(String),
}

/// A successful call's answer and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct CallReport<T> {
    pub value: T,
    /// Fuel consumed, instantiation included.
    pub fuel_used: u64,
    /// Wall-clock time of instantiation plus the call.
    pub elapsed: Duration,
    /// What the plugin logged, capped at `max_log` bytes.
    pub log: Vec<(Level, String)>,
}

impl<T> CallReport<T> {
    /// The same cost and log with the answer mapped.
    pub(super) fn map<U>(self, f: impl FnOnce(T) -> U) -> CallReport<U> {
        let value = f(self.value);
        CallReport {
            value,
            fuel_used: self.fuel_used,
            elapsed: self.elapsed,
            log: self.log,
        }
    }

    /// The call ran but its answer is refused (too large, not JSON, the
    /// plugin's own error): the log is kept for the author.
    pub(super) fn failed(self, error: PolicyError) -> CallFailure {
        CallFailure {
            error,
            log: self.log,
        }
    }
}

/// A failed call: why, and what the plugin logged before it failed (empty
/// when it never ran, e.g. its input was too large). Displays as `error`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{error}")]
pub struct CallFailure {
    pub error: PolicyError,
    pub log: Vec<(Level, String)>,
}

impl From<PolicyError> for CallFailure {
    fn from(error: PolicyError) -> CallFailure {
        CallFailure {
            error,
            log: Vec::new(),
        }
    }
}
