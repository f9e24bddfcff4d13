//! Raw policies.toml -> the validated `Config`: defaults, units, paths,
//! cross-key rules.
//!
//! Owns the defaults (the ones documented on the `Config` types) and the
//! rules the JSON Schema cannot state, but for the sections with a file of
//! their own (`remote`, `rounds`, `realtime`, `tables`): durations and sizes, one key source,
//! resolver only with the plugin strategy, merge keys only with merge,
//! identifiers, duplicate tables, limits inheriting `[plugin_limits]`. Reads
//! nothing itself; `tables` (the per-table half) reads the row schema files.
//! Called by `load` only, after the schema check; errors name the dotted key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::raw::{RawAlerts, RawConfig, RawOps, RawSize};
use super::remote::remote;
use super::rounds::{rate_limit, retry, sync};
use super::tables::{limits, table};
use super::units;
use super::*;

/// The strategies `conflict` accepts, as written in the file.
pub const STRATEGIES: [&str; 5] = ["server_wins", "client_wins", "merge", "manual", "plugin"];

/// Where the file is: for error messages and relative paths.
pub(super) struct Ctx<'a> {
    pub(super) path: &'a Path,
    pub(super) dir: PathBuf,
}

impl Ctx<'_> {
    pub(super) fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// The path written at `key`, relative to the file's directory unless
    /// absolute (`/srv/shop/app.db`; on Windows `C:\shop\app.db` or
    /// `\\server\shop\app.db`; backslashes and forward slashes both
    /// separate there). A control character is refused: in a double-quoted
    /// TOML string `\n`, `\t`, `\r`, `\b` and `\f` are escapes, so the Windows
    /// path "C:\new\till.db" would silently name another file.
    pub(super) fn file(&self, key: &str, written: &str) -> Result<PathBuf, ConfigError> {
        if let Some(c) = written.chars().find(|c| c.is_control()) {
            return Err(self.invalid(
                key,
                format!(
                    "the path {written:?} holds the control character {c:?}: in double \
                     quotes a backslash starts an escape (\"\\n\" is a newline); write \
                     Windows paths in single quotes ('C:\\shop\\app.db') or with forward \
                     slashes (\"C:/shop/app.db\")"
                ),
            ));
        }
        Ok(self.dir.join(written))
    }

    /// A duration, or `default` when unset; `nonzero` refuses "0s".
    pub(super) fn duration(
        &self,
        key: &str,
        raw: Option<&String>,
        default: Duration,
        nonzero: bool,
    ) -> Result<Duration, ConfigError> {
        let Some(text) = raw else { return Ok(default) };
        let d = units::duration(text).map_err(|m| self.invalid(key, m))?;
        if nonzero && d.is_zero() {
            return Err(self.invalid(key, format!("must be longer than zero (got {text:?})")));
        }
        Ok(d)
    }

    pub(super) fn size(
        &self,
        key: &str,
        raw: Option<&RawSize>,
        default: u64,
    ) -> Result<u64, ConfigError> {
        match raw {
            None => Ok(default),
            Some(RawSize::Bytes(n)) => Ok(*n),
            Some(RawSize::Text(t)) => units::size(t).map_err(|m| self.invalid(key, m)),
        }
    }
}

pub(super) fn resolve(raw: RawConfig, path: &Path) -> Result<Config, ConfigError> {
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let cx = Ctx { path, dir };
    let base_limits = limits(
        &cx,
        "plugin_limits",
        raw.plugin_limits.as_ref(),
        &PluginLimits::default(),
    )?;
    let mut tables: Vec<TableConfig> = Vec::with_capacity(raw.tables.len());
    for (name, table) in &raw.tables {
        let name = name.get_ref();
        let resolved = self::table(&cx, name, table, &base_limits)?;
        if let Some(other) = tables.iter().find(|t| t.name.eq_ignore_ascii_case(name)) {
            return Err(cx.invalid(
                &format!("tables.{name}"),
                format!("duplicate of tables.{} (SQL names ignore case)", other.name),
            ));
        }
        tables.push(resolved);
    }
    Ok(Config {
        path: path.to_path_buf(),
        database: cx.file("database", &raw.database)?,
        remote: remote(&cx, &raw.remote)?,
        sync: sync(&cx, raw.sync.as_ref())?,
        retry: retry(&cx, raw.retry.as_ref())?,
        rate_limit: rate_limit(&cx, raw.rate_limit.as_ref())?,
        alerts: alerts(&cx, raw.alerts.as_ref())?,
        ops: ops(&cx, raw.ops.as_ref())?,
        realtime: super::realtime::realtime(&cx, raw.realtime.as_ref())?,
        tables,
    })
}

fn alerts(cx: &Ctx, a: Option<&RawAlerts>) -> Result<AlertsConfig, ConfigError> {
    let max_error_rate = a.and_then(|a| a.max_error_rate).unwrap_or(0.5);
    if !(0.0..=1.0).contains(&max_error_rate) {
        return Err(cx.invalid(
            "alerts.max_error_rate",
            format!("{max_error_rate} is outside 0 to 1"),
        ));
    }
    let notify_command = match a.and_then(|a| a.notify_command.as_ref()) {
        Some(argv) if argv.first().is_none_or(|p| p.is_empty()) => {
            return Err(cx.invalid(
                "alerts.notify_command",
                "needs a program name first (leave the key out to disable)",
            ));
        }
        other => other.cloned(),
    };
    let min_requests = match a.and_then(|a| a.min_requests) {
        None => 5,
        Some(0) => return Err(cx.invalid("alerts.min_requests", "must be at least 1")),
        Some(n) => n,
    };
    let hour = Duration::from_secs(3600);
    Ok(AlertsConfig {
        max_error_rate,
        error_window: cx.duration(
            "alerts.error_window",
            a.and_then(|a| a.error_window.as_ref()),
            Duration::from_secs(900),
            true,
        )?,
        min_requests,
        stuck_after: cx.duration(
            "alerts.stuck_after",
            a.and_then(|a| a.stuck_after.as_ref()),
            hour,
            true,
        )?,
        max_last_sync_age: cx.duration(
            "alerts.max_last_sync_age",
            a.and_then(|a| a.max_last_sync_age.as_ref()),
            hour,
            true,
        )?,
        max_pull_lag: cx.duration(
            "alerts.max_pull_lag",
            a.and_then(|a| a.max_pull_lag.as_ref()),
            Duration::from_secs(600),
            true,
        )?,
        notify_command,
    })
}

fn ops(cx: &Ctx, o: Option<&RawOps>) -> Result<OpsConfig, ConfigError> {
    let listen = match o
        .and_then(|o| o.listen.as_deref())
        .unwrap_or("127.0.0.1:9464")
        .trim()
    {
        "" => None,
        addr => {
            units::listen_addr(addr).map_err(|m| cx.invalid("ops.listen", m))?;
            Some(addr.to_string())
        }
    };
    let log_format = match o.and_then(|o| o.log_format.as_deref()).unwrap_or("text") {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => {
            return Err(cx.invalid(
                "ops.log_format",
                format!("unknown format {other:?} (expected text | json)"),
            ));
        }
    };
    let api_token = match (
        o.and_then(|o| o.api_token_env.as_ref()),
        o.and_then(|o| o.api_token_file.as_deref()),
    ) {
        (Some(_), Some(_)) => {
            return Err(cx.invalid(
                "ops.api_token_file",
                "set only one of api_token_env and api_token_file",
            ));
        }
        (Some(var), None) => KeySource::Env(var.clone()),
        (None, Some(file)) => KeySource::File(cx.file("ops.api_token_file", file)?),
        (None, None) => KeySource::Env("EBB_API_TOKEN".to_string()),
    };
    let history_keep = cx.duration(
        "ops.history_keep",
        o.and_then(|o| o.history_keep.as_ref()),
        Duration::from_secs(24 * 3600),
        true,
    )?;
    if history_keep > Duration::from_secs(7 * 24 * 3600) {
        return Err(cx.invalid(
            "ops.history_keep",
            "at most 7d (one row per minute is kept in the database)",
        ));
    }
    let sse_keepalive = cx.duration(
        "ops.sse_keepalive",
        o.and_then(|o| o.sse_keepalive.as_ref()),
        Duration::from_secs(15),
        true,
    )?;
    let event_buffer = match o.and_then(|o| o.event_buffer) {
        None => 256,
        Some(n @ 16..=65536) => n as usize,
        Some(n) => {
            return Err(cx.invalid(
                "ops.event_buffer",
                format!("must be between 16 and 65536 (got {n})"),
            ));
        }
    };
    Ok(OpsConfig {
        listen,
        log_format,
        api_token,
        history_keep,
        sse_keepalive,
        event_buffer,
    })
}
