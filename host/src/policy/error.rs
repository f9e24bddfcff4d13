//! `PolicyError`: why a plugin could not be loaded or could not answer.
//!
//! Every variant names the plugin (its file name) and the cause; `Policies`
//! adds the table and pk when it turns one into a violation or a manual
//! conflict. A plugin's verdict (violations, `manual(reason)`) is a value,
//! never one of these. Messages never carry row contents.

use std::time::Duration;

/// Why a plugin load or call failed. In every case the item at hand is
/// what pays: validation fails closed (the row is invalid), resolution falls
/// back to manual. Nothing here is retryable by calling again: plugins are
/// deterministic.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read, or is not a valid component, or does not
    /// link against the host. The plugin author's (or the config's) fault.
    #[error("plugin {plugin}: cannot load: {message}")]
    Load { plugin: String, message: String },
    /// The component exports neither `ebb:policy/validate@0.1.0` nor
    /// `ebb:policy/resolve@0.1.0` (wrong version, wrong interface). `found`
    /// lists what it does export.
    #[error(
        "plugin {plugin}: exports {found}, expected ebb:policy/validate@0.1.0 or \
         ebb:policy/resolve@0.1.0"
    )]
    UnsupportedInterface { plugin: String, found: String },
    /// The component imports something other than `ebb:policy/host@0.1.0`
    /// (and the type-only `ebb:policy/types@0.1.0`). Refused at load.
    #[error(
        "plugin {plugin}: forbidden import `{import}`: plugins are pure functions: no WASI, \
         clock, files, network or randomness (only ebb:policy/host@0.1.0 may be imported)"
    )]
    ForbiddenImport { plugin: String, import: String },
    /// The call used up its fuel budget (a loop, or too much work).
    #[error("plugin {plugin}: out of fuel ({fuel} units)")]
    OutOfFuel { plugin: String, fuel: u64 },
    /// The call ran past its wall-clock bound and was interrupted.
    #[error("plugin {plugin}: timed out after {after:?}")]
    Timeout { plugin: String, after: Duration },
    /// The plugin asked for more linear memory than its cap allows.
    #[error("plugin {plugin}: memory limit of {limit} bytes exceeded")]
    MemoryLimit { plugin: String, limit: u64 },
    /// Any other trap (unreachable, stack overflow, out-of-bounds access).
    #[error("plugin {plugin}: trapped: {message}")]
    Trap { plugin: String, message: String },
    /// The input (table name plus rows) is larger than `max_input`; the
    /// plugin was not called.
    #[error("plugin {plugin}: input of {size} bytes exceeds the limit of {limit}")]
    InputTooLarge {
        plugin: String,
        size: u64,
        limit: u64,
    },
    /// The plugin's answer is larger than `max_output`.
    #[error("plugin {plugin}: output of {size} bytes exceeds the limit of {limit}")]
    OutputTooLarge {
        plugin: String,
        size: u64,
        limit: u64,
    },
    /// A merged row that is not a JSON object.
    #[error("plugin {plugin}: merged row is not a JSON object: {message}")]
    OutputNotJson { plugin: String, message: String },
    /// A merged row that fails the table's JSON Schema.
    #[error("plugin {plugin}: merged row fails the schema of table {table}: {errors}")]
    OutputSchema {
        plugin: String,
        table: String,
        errors: String,
    },
    /// The plugin returned its own `err(message)`.
    #[error("plugin {plugin}: failed: {message}")]
    PluginError { plugin: String, message: String },
    /// A plugin configured at `key` (`tables.NAME.validate` or
    /// `tables.NAME.resolver`) failed to load; `source` says why.
    #[error("policies.toml: {key}: {source}")]
    Config {
        key: String,
        source: Box<PolicyError>,
    },
    /// A table's JSON Schema file is not a valid schema.
    #[error("table {table}: bad JSON Schema {path}: {message}")]
    Schema {
        table: String,
        path: String,
        message: String,
    },
}

impl PolicyError {
    /// The underlying error, without the config key `Config` adds.
    pub fn root(&self) -> &PolicyError {
        match self {
            PolicyError::Config { source, .. } => source.root(),
            other => other,
        }
    }
}
