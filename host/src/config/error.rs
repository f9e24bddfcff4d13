//! `ConfigError`: why policies.toml was refused.
//!
//! Owns the error type and its one-line rendering, `{file}: {dotted.key}:
//! {message}` (or `{file}:{line}:{col}: {message}` for TOML syntax), so every
//! message points at the place to fix. It must never carry a secret: the
//! file holds none (a key literal is refused without echoing it). Produced
//! by `load` and `resolve`; shown by the CLI (`ebb check`, every command).

use std::path::PathBuf;

/// policies.toml could not be used. Every variant is the user's to fix in the
/// file (or the files it names); nothing is retried and nothing has run.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// policies.toml could not be read (missing, unreadable, not UTF-8).
    #[error("{}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// The text is not valid TOML, or a value has the wrong type for its key.
    /// `line` and `col` are 1-based.
    #[error("{}:{line}:{col}: {message}", path.display())]
    Toml {
        path: PathBuf,
        line: usize,
        col: usize,
        message: String,
    },
    /// The file does not match `schemas/policies.schema.json`: an unknown
    /// key, a missing one, a wrong type or a value out of range.
    #[error("{}: {key}: {message}", path.display())]
    Schema {
        path: PathBuf,
        key: String,
        message: String,
    },
    /// The file is well formed but a value cannot be honoured: a bad
    /// duration or size, an unknown strategy, a missing resolver, a named
    /// schema file that is absent or not JSON, a key literal.
    #[error("{}: {key}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
}

impl ConfigError {
    /// The dotted key the error is about, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Schema { key, .. } | ConfigError::Invalid { key, .. } => Some(key),
            ConfigError::Io { .. } | ConfigError::Toml { .. } => None,
        }
    }
}
