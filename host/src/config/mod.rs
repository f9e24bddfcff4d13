//! policies.toml: the one file that holds every tunable.
//!
//! Two stages, as in ripgrep's LowArgs -> HiArgs: `raw` mirrors the TOML
//! (serde, `deny_unknown_fields`, `Option` where unset differs from zero),
//! `load` checks it against `schemas/policies.schema.json`, applies the
//! documented defaults, parses durations and resolves paths into the
//! validated `Config` below. Parsing has no side effects: nothing is opened,
//! connected or created here (the API key is read later, by `remote`); the
//! only files read are policies.toml and the row schemas it names.
//! Every error names the file and the dotted key.
//!
//! Files: `load` (entry points, TOML and schema stages), `raw` (the serde
//! mirror), `resolve` (defaults and file-wide rules), `tables` (per-table
//! rules, row schema files, limits), `units` (durations, sizes, identifiers,
//! URLs), `error` (`ConfigError`), `starter` (what `ebb init` writes) and
//! `survey` (what it suggests for each of the app's tables).
//! Callers: the CLI (every command, `ebb check`, `ebb init`) and library
//! users; everything downstream takes a `Config`, never the raw file.

use std::path::PathBuf;
use std::time::Duration;

mod error;
mod load;
pub mod raw;
mod realtime;
mod remote;
mod resolve;
mod rounds;
mod starter;
mod survey;
mod tables;
#[cfg(test)]
mod tests;
pub(crate) mod units;

pub use error::ConfigError;
pub use load::{POLICIES_SCHEMA, load, parse};
pub use resolve::STRATEGIES;
pub use starter::{POLICIES_SCHEMA_FILE, Starter, starter};
pub use survey::{AppColumn, AppTable};

/// The validated configuration. Relative paths in the file are resolved
/// against the directory that holds policies.toml.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where policies.toml was read from.
    pub path: PathBuf,
    /// `database`: the app's SQLite file.
    pub database: PathBuf,
    pub remote: RemoteConfig,
    pub sync: SyncConfig,
    pub retry: RetryConfig,
    pub rate_limit: RateLimitConfig,
    pub alerts: AlertsConfig,
    pub ops: OpsConfig,
    pub realtime: RealtimeConfig,
    /// `[tables.NAME]`, in file order. Only these tables are ever read,
    /// captured, pushed or pulled; every other table (users, licenses) is
    /// never touched on either side. Order matters: parents before
    /// children, so foreign keys hold while pushing and pulling.
    pub tables: Vec<TableConfig>,
}

/// `[remote]`
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// `url`: the project URL, e.g. `https://xyz.supabase.co`.
    pub url: String,
    /// `rest_root`: defaults to `{url}/rest/v1` (Supabase); a self-hosted
    /// PostgREST or `ebb-gateway` serves at its own root.
    pub rest_root: String,
    /// `api_key_env` / `api_key_file`: where the key is read from. Never the
    /// key itself: policies.toml is not a place for secrets. `None` with
    /// `anonymous = true`.
    pub api_key: Option<KeySource>,
    /// Whether the key must be there: yes unless an access token is
    /// configured and no key source was named (then `EBB_API_KEY` is sent
    /// when it is set, as a self-hosted PostgREST with JWTs needs no key).
    pub api_key_required: bool,
    /// `access_token_env` / `access_token_file` (default none): where the
    /// token sent as `Authorization: Bearer` is read from, when it is not
    /// the API key: on Supabase, a user's JWT beside the anon key, so row
    /// level security sees this device's identity. A file is re-read when
    /// it changes, so a token refresher can rotate it while ebb runs.
    pub access_token: Option<KeySource>,
    /// `timeout` (default 30s): one whole request.
    pub timeout: Duration,
    /// `connect_timeout` (default 10s).
    pub connect_timeout: Duration,
}

/// Where the API key (or the access token) comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `api_key_env = "EBB_API_KEY"` (the default).
    Env(String),
    /// `api_key_file = "secrets/key"`: the file's content, trimmed.
    File(PathBuf),
}

/// `[sync]`
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// `interval` (default 30s): time between rounds in `ebb run`.
    pub interval: Duration,
    /// `batch_size` (default 1000): changes per `ebb_push` request to
    /// start with; it grows while the server keeps up (see `answer_time`).
    pub batch_size: usize,
    /// `pull_page_size` (default 2000): rows per `ebb_pull` request to
    /// start with (two pages are in memory at once: one applied, the next
    /// fetched); grows like `batch_size`.
    pub pull_page_size: usize,
    /// `max_batch_size` (default 2000, never below `batch_size`): the
    /// most changes one push request grows to.
    pub max_batch_size: usize,
    /// `max_pull_page_size` (default 6000, never below `pull_page_size`):
    /// the most rows one pull request grows to.
    pub max_pull_page_size: usize,
    /// `max_pull_page_bytes` (default 4 MiB): the most one pull answer
    /// grows to in bytes, whatever its rows (a page of wide rows stays
    /// smaller): bounds the client's memory.
    pub max_pull_page_bytes: u64,
    /// `answer_time` (default 1s): a full batch or page answered within
    /// half of this doubles the next one (up to the max); one answered
    /// slower halves it (down to one). Bounds the server's time per request.
    pub answer_time: Duration,
    /// `local_cache` (default 16 MiB): SQLite's page cache on ebb's own
    /// connection. Larger pays on bulk pulls into big tables (each page
    /// touches index pages all over a table), in peak RSS.
    pub local_cache: u64,
    /// `local_wal` (default 64 MiB): how much WAL ebb's own connection
    /// writes before checkpointing it into the database file. An index
    /// page every pulled page touches is copied into the file once per
    /// checkpoint, not once per page; the WAL file grows to about this.
    pub local_wal: u64,
    /// `lease` (default 60s): how long the sync lock is held without
    /// renewal; a lock older than this is taken over and its in-flight
    /// items return to pending.
    pub lease: Duration,
    /// `busy_timeout` (default 5s): how long a SQLite statement waits for
    /// the app's write lock.
    pub busy_timeout: Duration,
    /// `wait_for_lock` (default false): `ebb sync --once` waits for another
    /// sync holding the lock instead of exiting with a message.
    pub wait_for_lock: bool,
    /// `max_replans` (default 5): how many times a pulled page is read
    /// again and planned again when the app edits one of its rows between
    /// planning and applying. After that the round ends with an error and the page is
    /// pulled again next round. At least 1.
    pub max_replans: usize,
    /// `keep_resolved_conflicts` (default 90d; "0s" keeps forever): settled
    /// conflicts (resolved by a person or a policy, superseded, retried)
    /// older than this are deleted from `_ebb_conflicts` at the end of each
    /// round; open ones are never deleted. At least 1h when set. `None`
    /// when kept forever.
    pub keep_resolved_conflicts: Option<Duration>,
    /// `push_delay` (default 50ms): how long `ebb run` waits after it sees
    /// a committed local write before it starts a push, so a burst of
    /// writes goes in a few batches. "0s" pushes at once.
    pub push_delay: Duration,
}

/// `[retry]`
#[derive(Debug, Clone)]
pub struct RetryConfig {
    /// `max_attempts` (default 5): tries of one item (or one request within
    /// a round) before it is marked dead; a round in which the server could
    /// not be reached at all charges no item. At least 1.
    pub max_attempts: u32,
    /// `initial_backoff` (default 1s).
    pub initial_backoff: Duration,
    /// `max_backoff` (default 5m).
    pub max_backoff: Duration,
    /// `jitter` (default 0.2): backoff is multiplied by a random factor in
    /// [1 - jitter, 1 + jitter]. 0 to 1.
    pub jitter: f64,
    /// `retry_dead_after` (default 1h; "0s" disables): dead items are given
    /// a fresh set of attempts after this long, so an outage that outlasts
    /// the retries does not strand data. `None` when disabled.
    pub retry_dead_after: Option<Duration>,
}

/// `[rate_limit]`: a token bucket in front of every request to the remote.
#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    /// `requests_per_second` (default 10).
    pub requests_per_second: f64,
    /// `burst` (default 20).
    pub burst: u32,
    /// `rows_per_second` (default 50000; 0: no limit): rows pushed or
    /// pulled a second, across tables, a second's worth at once. A request
    /// that moves more makes the next one wait until they are paid back.
    pub rows_per_second: f64,
    /// `max_retry_after` (default 1h): a server's `Retry-After` longer than
    /// this is cut to it, so a confused proxy cannot stall sync for days.
    /// Rounds still back off by `[retry]`. Longer than zero.
    pub max_retry_after: Duration,
}

/// `[alerts]`: when `ebb status` and `/health` report unhealthy.
#[derive(Debug, Clone)]
pub struct AlertsConfig {
    /// `max_error_rate` (default 0.5): failed / attempted requests over the
    /// last `error_window` above which sync is unhealthy.
    pub max_error_rate: f64,
    /// `error_window` (default 15m).
    pub error_window: Duration,
    /// `min_requests` (default 5): with fewer requests than this in
    /// `error_window` the error rate is not judged, so one failure out of
    /// one is not an outage. At least 1.
    pub min_requests: u64,
    /// `stuck_after` (default 1h): an item pending, in retry or in flight
    /// longer than this is stuck.
    pub stuck_after: Duration,
    /// `max_last_sync_age` (default 1h): a synced table whose last complete
    /// sync is older than this is stale.
    pub max_last_sync_age: Duration,
    /// `max_pull_lag` (default 10m): the server's txid horizon held back this
    /// long (a transaction left open) is reported.
    pub max_pull_lag: Duration,
    /// `notify_command` (default none): argv run for each new manual
    /// conflict, dead item or health change, with a JSON event on stdin.
    pub notify_command: Option<Vec<String>>,
}

/// `[ops]`
#[derive(Debug, Clone)]
pub struct OpsConfig {
    /// `listen` (default "127.0.0.1:9464"; "" disables): `/metrics` and
    /// `/health` while `ebb run` is up. Loopback only unless the user
    /// writes another address.
    pub listen: Option<String>,
    /// `log_format` (default "text"): "text" or "json".
    pub log_format: LogFormat,
    /// `api_token_env` (default "EBB_API_TOKEN") / `api_token_file`: where
    /// the local API's token is read from. Changes through `/api` need it;
    /// a `listen` address off loopback needs it for every `/api` route.
    pub api_token: KeySource,
    /// `history_keep` (default 24h, at most 7d): how long the per-minute
    /// history behind the console's charts is kept in the database.
    pub history_keep: Duration,
    /// `sse_keepalive` (default 15s): how often an idle `/api/events`
    /// stream gets a comment line, so proxies and readers see it alive.
    pub sse_keepalive: Duration,
    /// `event_buffer` (default 256, 16..=65536): events buffered for each
    /// `/api/events` reader; a reader further behind loses the oldest
    /// (counted), sync never waits for it.
    pub event_buffer: usize,
}

/// `[realtime]`: the server's change nudges over a websocket (Supabase
/// Realtime, or ebb-gateway's copy of it), so a till pulls a table as soon
/// as it moves instead of at its next `sync.interval`. A nudge only starts
/// a pull: lost ones cost latency, never rows.
#[derive(Debug, Clone, PartialEq)]
pub struct RealtimeConfig {
    /// `enabled` (default true): connect to `{remote.url}/realtime/v1`.
    /// Off, or while the socket is down, ebb polls at `sync.interval`.
    pub enabled: bool,
    /// `topic` (default "ebb"): the private channel the server's triggers
    /// broadcast on (`ebb remote-sql` bakes it in); ebb joins
    /// `realtime:<topic>`. 1 to 200 of `A-Z a-z 0-9 _ - . :`.
    pub topic: String,
    /// `heartbeat` (default 25s): how often the socket is proven alive; a
    /// heartbeat unanswered by the next one drops it and reconnects.
    pub heartbeat: Duration,
    /// `initial_backoff` (default 1s): the first wait before reconnecting,
    /// doubled after each failure up to `max_backoff` (default 30s), with
    /// 20% jitter.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        RealtimeConfig {
            enabled: true,
            topic: "ebb".to_string(),
            heartbeat: Duration::from_secs(25),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// `[tables.NAME]`
#[derive(Debug, Clone)]
pub struct TableConfig {
    pub name: String,
    /// `pk` (default "id"): the one-column primary key.
    pub pk: String,
    /// `schema` (default `schemas/NAME.schema.json` when that file exists):
    /// the JSON Schema every outgoing row, plugin input and plugin output is
    /// checked against. Loaded (parsed) by `load`; compiled by `policy`.
    pub schema: Option<SchemaFile>,
    /// `validate`: an optional WASM validator plugin.
    pub validate: Option<PathBuf>,
    /// `conflict` (default "server_wins").
    pub conflict: ConflictPolicy,
    /// `[tables.NAME.limits]`, each key defaulting to `[plugin_limits]`.
    pub limits: PluginLimits,
    /// `keys` (default "shared"): how the primary key crosses devices.
    pub keys: KeyMode,
    /// `references` (default none): foreign key columns the app's schema
    /// does not declare, column -> parent table (declared ones are read
    /// from `PRAGMA foreign_key_list`).
    pub references: Vec<(String, String)>,
}

/// How a table's primary key crosses devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyMode {
    /// `"shared"`: the key means the same row everywhere (text uuids).
    #[default]
    Shared,
    /// `"map"`: an integer key each device mints on its own; ebb keeps a
    /// key map (`_ebb_keys`) to the server's global keys and translates
    /// the key and every foreign key pointing at the table.
    Map,
    /// `"single_writer"`: integer keys minted by one writer only (the
    /// server, or a single till); synced as they are.
    SingleWriter,
}

#[derive(Debug, Clone)]
pub struct SchemaFile {
    pub path: PathBuf,
    pub schema: serde_json::Value,
}

/// How a conflict on this table is settled.
#[derive(Debug, Clone, PartialEq)]
pub enum ConflictPolicy {
    /// `"server_wins"`: the remote row replaces the local edit.
    ServerWins,
    /// `"client_wins"`: the local edit is pushed over the remote row.
    ClientWins,
    /// `"manual"`: recorded in `_ebb_conflicts` for a person to settle.
    Manual,
    /// `"merge"`: field-level three-way merge from the base row. A field
    /// changed on one side takes that side; `delta` fields (numeric
    /// counters) add both sides' changes to the base; a field changed on
    /// both sides follows `on_both`.
    Merge {
        /// `merge_on_both` (default "remote").
        on_both: BothChanged,
        /// `delta_fields` (default []).
        delta_fields: Vec<String>,
    },
    /// `"plugin"` with `resolver = "path.wasm"`.
    Plugin(PathBuf),
}

/// What `merge` does with a field both sides changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BothChanged {
    Remote,
    Local,
    Manual,
}

/// Sandbox limits for one plugin call (`[plugin_limits]`, overridable per
/// table). Defaults from DESIGN.md.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginLimits {
    /// `fuel` (default 5_000_000): fuel for a call, plus `fuel_per_byte`
    /// (default 400) per input byte.
    pub fuel: u64,
    pub fuel_per_byte: u64,
    /// `timeout` (default 1s): wall clock, enforced by epoch interruption.
    pub timeout: Duration,
    /// `memory` (default 32 MiB), in bytes (TOML takes "32MiB").
    pub memory: u64,
    /// `max_input` / `max_output` (default 1 MiB each), in bytes.
    pub max_input: u64,
    pub max_output: u64,
    /// `max_log` (default 8 KiB), in bytes per call.
    pub max_log: u64,
}

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits {
            fuel: 5_000_000,
            fuel_per_byte: 400,
            timeout: Duration::from_secs(1),
            memory: 32 << 20,
            max_input: 1 << 20,
            max_output: 1 << 20,
            max_log: 8 << 10,
        }
    }
}
