//! The raw shape of policies.toml: serde structs that mirror the file key for
//! key, before any default, unit or path is resolved.
//!
//! Owns only the mirror: `deny_unknown_fields` everywhere, `Option` for every
//! key that may be left out (unset differs from zero). It must not apply
//! defaults or check values; `resolve` does that. Called by `load` only,
//! after the file passed `schemas/policies.schema.json`; the schema and these
//! structs are held to the same key set by the tests in `config/tests`.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `database` (required): the app's SQLite file.
    pub database: String,
    /// `[remote]` (required).
    pub remote: RawRemote,
    /// `[sync]` (every key defaulted).
    pub sync: Option<RawSync>,
    /// `[retry]` (every key defaulted).
    pub retry: Option<RawRetry>,
    /// `[rate_limit]` (every key defaulted).
    pub rate_limit: Option<RawRateLimit>,
    /// `[alerts]` (every key defaulted).
    pub alerts: Option<RawAlerts>,
    /// `[ops]` (every key defaulted).
    pub ops: Option<RawOps>,
    /// `[realtime]` (every key defaulted).
    pub realtime: Option<RawRealtime>,
    /// `[plugin_limits]` (every key defaulted, see `PluginLimits::default`).
    pub plugin_limits: Option<RawLimits>,
    /// `[tables.NAME]` (default: none, so nothing syncs). The key's span
    /// gives the file order, which `resolve` keeps (parents before children).
    #[serde(default, deserialize_with = "tables_in_file_order")]
    pub tables: Vec<(Spanned<String>, RawTable)>,
}

/// `[remote]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRemote {
    /// `url` (required): the project URL.
    pub url: String,
    /// `rest_root` (default `{url}/rest/v1`).
    pub rest_root: Option<String>,
    /// `api_key_env` (default "EBB_API_KEY" when `api_key_file` is unset).
    pub api_key_env: Option<String>,
    /// `api_key_file` (default none): a file holding the key.
    pub api_key_file: Option<String>,
    /// `access_token_env` (default none): a variable holding the bearer token.
    pub access_token_env: Option<String>,
    /// `access_token_file` (default none): a file holding the bearer token.
    pub access_token_file: Option<String>,
    /// `anonymous` (default false): send neither key nor token.
    pub anonymous: Option<bool>,
    /// `timeout` (default "30s").
    pub timeout: Option<String>,
    /// `connect_timeout` (default "10s").
    pub connect_timeout: Option<String>,
}

/// `[sync]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSync {
    /// `interval` (default "30s").
    pub interval: Option<String>,
    /// `batch_size` (default 1000).
    pub batch_size: Option<u64>,
    /// `pull_page_size` (default 2000).
    pub pull_page_size: Option<u64>,
    /// `max_batch_size` (default 2000).
    pub max_batch_size: Option<u64>,
    /// `max_pull_page_size` (default 6000).
    pub max_pull_page_size: Option<u64>,
    /// `max_pull_page_bytes` (default "4MiB").
    pub max_pull_page_bytes: Option<RawSize>,
    /// `answer_time` (default "1s").
    pub answer_time: Option<String>,
    /// `local_cache` (default "16MiB").
    pub local_cache: Option<RawSize>,
    /// `local_wal` (default "64MiB").
    pub local_wal: Option<RawSize>,
    /// `lease` (default "60s").
    pub lease: Option<String>,
    /// `busy_timeout` (default "5s").
    pub busy_timeout: Option<String>,
    /// `wait_for_lock` (default false).
    pub wait_for_lock: Option<bool>,
    /// `max_replans` (default 5): plans of one pulled page before the round
    /// gives up on it.
    pub max_replans: Option<u64>,
    /// `keep_resolved_conflicts` (default "90d"; "0s" keeps forever):
    /// how long settled conflicts stay in `_ebb_conflicts`.
    pub keep_resolved_conflicts: Option<String>,
    /// `push_delay` (default "50ms"): wait after a local write before the
    /// push `ebb run` starts for it.
    pub push_delay: Option<String>,
}

/// `[retry]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    /// `max_attempts` (default 5).
    pub max_attempts: Option<u64>,
    /// `initial_backoff` (default "1s").
    pub initial_backoff: Option<String>,
    /// `max_backoff` (default "5m").
    pub max_backoff: Option<String>,
    /// `jitter` (default 0.2).
    pub jitter: Option<f64>,
    /// `retry_dead_after` (default "1h"; "0s" disables).
    pub retry_dead_after: Option<String>,
}

/// `[rate_limit]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    /// `requests_per_second` (default 10).
    pub requests_per_second: Option<f64>,
    /// `burst` (default 20).
    pub burst: Option<u64>,
    /// `rows_per_second` (default 50000; 0: no limit).
    pub rows_per_second: Option<f64>,
    /// `max_retry_after` (default "1h"): cap on a server's Retry-After.
    pub max_retry_after: Option<String>,
}

/// `[alerts]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlerts {
    /// `max_error_rate` (default 0.5).
    pub max_error_rate: Option<f64>,
    /// `error_window` (default "15m").
    pub error_window: Option<String>,
    /// `min_requests` (default 5): requests in the window before the error
    /// rate is judged.
    pub min_requests: Option<u64>,
    /// `stuck_after` (default "1h").
    pub stuck_after: Option<String>,
    /// `max_last_sync_age` (default "1h").
    pub max_last_sync_age: Option<String>,
    /// `max_pull_lag` (default "10m").
    pub max_pull_lag: Option<String>,
    /// `notify_command` (default none): program and arguments.
    pub notify_command: Option<Vec<String>>,
}

/// `[ops]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOps {
    /// `listen` (default "127.0.0.1:9464"; "" disables).
    pub listen: Option<String>,
    /// `log_format` (default "text").
    pub log_format: Option<String>,
    /// `api_token_env` (default "EBB_API_TOKEN"): the variable holding the
    /// local API's token.
    pub api_token_env: Option<String>,
    /// `api_token_file` (default none): a file holding it instead.
    pub api_token_file: Option<String>,
    /// `history_keep` (default "24h"): how long the console's per-minute
    /// history is kept.
    pub history_keep: Option<String>,
    /// `sse_keepalive` (default "15s"): comment lines on an idle event stream.
    pub sse_keepalive: Option<String>,
    /// `event_buffer` (default 256): events kept for a slow stream reader.
    pub event_buffer: Option<i64>,
}

/// `[realtime]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRealtime {
    /// `enabled` (default true).
    pub enabled: Option<bool>,
    /// `topic` (default "ebb").
    pub topic: Option<String>,
    /// `heartbeat` (default "25s").
    pub heartbeat: Option<String>,
    /// `initial_backoff` (default "1s").
    pub initial_backoff: Option<String>,
    /// `max_backoff` (default "30s").
    pub max_backoff: Option<String>,
}

/// `[plugin_limits]` and `[tables.NAME.limits]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// `fuel` (default 5000000).
    pub fuel: Option<u64>,
    /// `fuel_per_byte` (default 400).
    pub fuel_per_byte: Option<u64>,
    /// `timeout` (default "1s").
    pub timeout: Option<String>,
    /// `memory` (default "32MiB").
    pub memory: Option<RawSize>,
    /// `max_input` (default "1MiB").
    pub max_input: Option<RawSize>,
    /// `max_output` (default "1MiB").
    pub max_output: Option<RawSize>,
    /// `max_log` (default "8KiB").
    pub max_log: Option<RawSize>,
}

/// A size as written: an integer of bytes or a string with a unit.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawSize {
    /// `memory = 33554432`
    Bytes(u64),
    /// `memory = "32MiB"`
    Text(String),
}

/// `[tables.NAME]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTable {
    /// `pk` (default "id").
    pub pk: Option<String>,
    /// `schema` (default "schemas/NAME.schema.json" when it exists).
    pub schema: Option<String>,
    /// `validate` (default none).
    pub validate: Option<String>,
    /// `conflict` (default "server_wins").
    pub conflict: Option<String>,
    /// `resolver` (required with conflict = "plugin", refused otherwise).
    pub resolver: Option<String>,
    /// `merge_on_both` (default "remote"; only with conflict = "merge").
    pub merge_on_both: Option<String>,
    /// `delta_fields` (default []; only with conflict = "merge").
    pub delta_fields: Option<Vec<String>>,
    /// `keys` (default "shared"): "shared" | "map" | "single_writer".
    pub keys: Option<String>,
    /// `references` (default {}): column -> parent table, for foreign keys
    /// the app does not declare (the key map translates them).
    pub references: Option<std::collections::BTreeMap<String, String>>,
    /// `[tables.NAME.limits]` (each key defaults to `[plugin_limits]`).
    pub limits: Option<RawLimits>,
}

/// Reads `[tables]` as a list sorted by where each name appears in the file.
/// toml's map is sorted by key, so the key spans restore the file order.
fn tables_in_file_order<'de, D>(de: D) -> Result<Vec<(Spanned<String>, RawTable)>, D::Error>
where
    D: Deserializer<'de>,
{
    struct Tables;
    impl<'de> Visitor<'de> for Tables {
        type Value = Vec<(Spanned<String>, RawTable)>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a table of [tables.NAME] sections")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(entry) = map.next_entry::<Spanned<String>, RawTable>()? {
                out.push(entry);
            }
            out.sort_by_key(|(name, _)| name.span().start);
            Ok(out)
        }
    }
    de.deserialize_map(Tables)
}
