//! Raw policies.toml -> the validated `Config`: defaults, units, paths,
//! cross-key rules.
//!
//! Owns every default (the ones documented on the `Config` types) and every
//! rule the JSON Schema cannot state: durations and sizes, one key source,
//! resolver only with the plugin strategy, merge keys only with merge,
//! identifiers, duplicate tables, limits inheriting `[plugin_limits]`. Reads
//! the row schema files named by tables (and nothing else). Called by `load`
//! only, after the schema check; errors name the dotted key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::raw::{
    RawAlerts, RawConfig, RawLimits, RawOps, RawRateLimit, RawRemote, RawRetry, RawSize, RawSync,
    RawTable,
};
use super::units;
use super::*;

/// The strategies `conflict` accepts, as written in the file.
pub const STRATEGIES: [&str; 5] = ["server_wins", "client_wins", "merge", "manual", "plugin"];

/// Where the file is: for error messages and relative paths.
struct Ctx<'a> {
    path: &'a Path,
    dir: PathBuf,
}

impl Ctx<'_> {
    fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            key: key.to_string(),
            message: message.into(),
        }
    }

    fn file(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    /// A duration, or `default` when unset; `nonzero` refuses "0s".
    fn duration(
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

    fn size(&self, key: &str, raw: Option<&RawSize>, default: u64) -> Result<u64, ConfigError> {
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
        database: cx.file(&raw.database),
        remote: remote(&cx, &raw.remote)?,
        sync: sync(&cx, raw.sync.as_ref())?,
        retry: retry(&cx, raw.retry.as_ref())?,
        rate_limit: rate_limit(&cx, raw.rate_limit.as_ref())?,
        alerts: alerts(&cx, raw.alerts.as_ref())?,
        ops: ops(&cx, raw.ops.as_ref())?,
        tables,
    })
}

fn remote(cx: &Ctx, r: &RawRemote) -> Result<RemoteConfig, ConfigError> {
    let url = r.url.trim().trim_end_matches('/').to_string();
    units::http_url(&url).map_err(|m| cx.invalid("remote.url", m))?;
    let rest_root = match &r.rest_root {
        Some(root) => root.trim().trim_end_matches('/').to_string(),
        None => format!("{url}/rest/v1"),
    };
    units::http_url(&rest_root).map_err(|m| cx.invalid("remote.rest_root", m))?;
    let api_key = match (&r.api_key_env, &r.api_key_file) {
        (Some(_), Some(_)) => {
            return Err(cx.invalid(
                "remote.api_key_file",
                "set only one of api_key_env and api_key_file",
            ));
        }
        (Some(var), None) => KeySource::Env(var.clone()),
        (None, Some(file)) => KeySource::File(cx.file(file)),
        (None, None) => KeySource::Env("EBB_API_KEY".to_string()),
    };
    Ok(RemoteConfig {
        url,
        rest_root,
        api_key,
        timeout: cx.duration(
            "remote.timeout",
            r.timeout.as_ref(),
            Duration::from_secs(30),
            true,
        )?,
        connect_timeout: cx.duration(
            "remote.connect_timeout",
            r.connect_timeout.as_ref(),
            Duration::from_secs(10),
            true,
        )?,
    })
}

fn sync(cx: &Ctx, s: Option<&RawSync>) -> Result<SyncConfig, ConfigError> {
    let count = |key: &str, v: Option<u64>, default: usize| -> Result<usize, ConfigError> {
        match v {
            None => Ok(default),
            Some(0) => Err(cx.invalid(key, "must be at least 1")),
            Some(n) => usize::try_from(n).map_err(|_| cx.invalid(key, "too large")),
        }
    };
    Ok(SyncConfig {
        interval: cx.duration(
            "sync.interval",
            s.and_then(|s| s.interval.as_ref()),
            Duration::from_secs(30),
            true,
        )?,
        batch_size: count("sync.batch_size", s.and_then(|s| s.batch_size), 100)?,
        pull_page_size: count("sync.pull_page_size", s.and_then(|s| s.pull_page_size), 500)?,
        lease: cx.duration(
            "sync.lease",
            s.and_then(|s| s.lease.as_ref()),
            Duration::from_secs(60),
            true,
        )?,
        busy_timeout: cx.duration(
            "sync.busy_timeout",
            s.and_then(|s| s.busy_timeout.as_ref()),
            Duration::from_secs(5),
            false,
        )?,
        wait_for_lock: s.and_then(|s| s.wait_for_lock).unwrap_or(false),
    })
}

fn retry(cx: &Ctx, r: Option<&RawRetry>) -> Result<RetryConfig, ConfigError> {
    let max_attempts = match r.and_then(|r| r.max_attempts) {
        None => 5,
        Some(0) => return Err(cx.invalid("retry.max_attempts", "must be at least 1")),
        Some(n) => u32::try_from(n).map_err(|_| cx.invalid("retry.max_attempts", "too large"))?,
    };
    let initial_backoff = cx.duration(
        "retry.initial_backoff",
        r.and_then(|r| r.initial_backoff.as_ref()),
        Duration::from_secs(1),
        true,
    )?;
    let max_backoff = cx.duration(
        "retry.max_backoff",
        r.and_then(|r| r.max_backoff.as_ref()),
        Duration::from_secs(300),
        true,
    )?;
    if max_backoff < initial_backoff {
        return Err(cx.invalid(
            "retry.max_backoff",
            format!(
                "{} is shorter than retry.initial_backoff ({})",
                humantime::format_duration(max_backoff),
                humantime::format_duration(initial_backoff)
            ),
        ));
    }
    let jitter = r.and_then(|r| r.jitter).unwrap_or(0.2);
    if !(0.0..=1.0).contains(&jitter) {
        return Err(cx.invalid("retry.jitter", format!("{jitter} is outside 0 to 1")));
    }
    let dead = cx.duration(
        "retry.retry_dead_after",
        r.and_then(|r| r.retry_dead_after.as_ref()),
        Duration::from_secs(3600),
        false,
    )?;
    Ok(RetryConfig {
        max_attempts,
        initial_backoff,
        max_backoff,
        jitter,
        retry_dead_after: (!dead.is_zero()).then_some(dead),
    })
}

fn rate_limit(cx: &Ctx, r: Option<&RawRateLimit>) -> Result<RateLimitConfig, ConfigError> {
    let requests_per_second = r.and_then(|r| r.requests_per_second).unwrap_or(10.0);
    if !(requests_per_second.is_finite() && requests_per_second > 0.0) {
        return Err(cx.invalid(
            "rate_limit.requests_per_second",
            format!("{requests_per_second} must be above 0"),
        ));
    }
    let burst = match r.and_then(|r| r.burst) {
        None => 20,
        Some(0) => return Err(cx.invalid("rate_limit.burst", "must be at least 1")),
        Some(b) => u32::try_from(b).map_err(|_| cx.invalid("rate_limit.burst", "too large"))?,
    };
    Ok(RateLimitConfig {
        requests_per_second,
        burst,
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
    let hour = Duration::from_secs(3600);
    Ok(AlertsConfig {
        max_error_rate,
        error_window: cx.duration(
            "alerts.error_window",
            a.and_then(|a| a.error_window.as_ref()),
            Duration::from_secs(900),
            true,
        )?,
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
    Ok(OpsConfig { listen, log_format })
}

/// `prefix` is "plugin_limits" or "tables.NAME.limits"; unset keys take `base`.
fn limits(
    cx: &Ctx,
    prefix: &str,
    raw: Option<&RawLimits>,
    base: &PluginLimits,
) -> Result<PluginLimits, ConfigError> {
    let Some(l) = raw else {
        return Ok(base.clone());
    };
    let key = |k: &str| format!("{prefix}.{k}");
    let out = PluginLimits {
        fuel: l.fuel.unwrap_or(base.fuel),
        fuel_per_byte: l.fuel_per_byte.unwrap_or(base.fuel_per_byte),
        timeout: cx.duration(&key("timeout"), l.timeout.as_ref(), base.timeout, true)?,
        memory: cx.size(&key("memory"), l.memory.as_ref(), base.memory)?,
        max_input: cx.size(&key("max_input"), l.max_input.as_ref(), base.max_input)?,
        max_output: cx.size(&key("max_output"), l.max_output.as_ref(), base.max_output)?,
        max_log: cx.size(&key("max_log"), l.max_log.as_ref(), base.max_log)?,
    };
    if out.fuel == 0 {
        return Err(cx.invalid(&key("fuel"), "must be at least 1"));
    }
    if !(64 << 10..=4 << 30).contains(&out.memory) {
        return Err(cx.invalid(
            &key("memory"),
            format!(
                "{} bytes is outside 64KiB (one wasm page) to 4GiB",
                out.memory
            ),
        ));
    }
    for (name, v) in [("max_input", out.max_input), ("max_output", out.max_output)] {
        if v == 0 {
            return Err(cx.invalid(&key(name), "must be at least 1 byte"));
        }
    }
    Ok(out)
}

fn table(
    cx: &Ctx,
    name: &str,
    t: &RawTable,
    base: &PluginLimits,
) -> Result<TableConfig, ConfigError> {
    let key = |k: &str| format!("tables.{name}.{k}");
    units::identifier(name)
        .map_err(|m| cx.invalid(&format!("tables.{name}"), format!("bad table name: {m}")))?;
    let pk = t.pk.clone().unwrap_or_else(|| "id".to_string());
    units::identifier(&pk).map_err(|m| cx.invalid(&key("pk"), m))?;
    let strategy = t.conflict.as_deref().unwrap_or("server_wins");
    if strategy != "merge" {
        for (k, set) in [
            ("merge_on_both", t.merge_on_both.is_some()),
            ("delta_fields", t.delta_fields.is_some()),
        ] {
            if set {
                return Err(cx.invalid(
                    &key(k),
                    format!("only used with conflict = \"merge\" (conflict is \"{strategy}\")"),
                ));
            }
        }
    }
    if strategy != "plugin" && t.resolver.is_some() {
        return Err(cx.invalid(
            &key("resolver"),
            format!("only used with conflict = \"plugin\" (conflict is \"{strategy}\")"),
        ));
    }
    let conflict = match strategy {
        "server_wins" => ConflictPolicy::ServerWins,
        "client_wins" => ConflictPolicy::ClientWins,
        "manual" => ConflictPolicy::Manual,
        "merge" => merge(cx, name, &pk, t)?,
        "plugin" => match &t.resolver {
            Some(file) => ConflictPolicy::Plugin(cx.file(file)),
            None => {
                return Err(cx.invalid(
                    &key("resolver"),
                    "missing: conflict = \"plugin\" needs resolver = \"path/to/resolver.wasm\"",
                ));
            }
        },
        other => {
            return Err(cx.invalid(
                &key("conflict"),
                format!(
                    "unknown strategy {other:?} (expected {})",
                    STRATEGIES.join(" | ")
                ),
            ));
        }
    };
    Ok(TableConfig {
        name: name.to_string(),
        pk,
        schema: row_schema(cx, name, t.schema.as_deref())?,
        validate: t.validate.as_deref().map(|f| cx.file(f)),
        conflict,
        limits: limits(cx, &key("limits"), t.limits.as_ref(), base)?,
    })
}

fn merge(cx: &Ctx, name: &str, pk: &str, t: &RawTable) -> Result<ConflictPolicy, ConfigError> {
    let on_both = match t.merge_on_both.as_deref().unwrap_or("remote") {
        "remote" => BothChanged::Remote,
        "local" => BothChanged::Local,
        "manual" => BothChanged::Manual,
        other => {
            return Err(cx.invalid(
                &format!("tables.{name}.merge_on_both"),
                format!("unknown value {other:?} (expected remote | local | manual)"),
            ));
        }
    };
    let delta_fields = t.delta_fields.clone().unwrap_or_default();
    let key = format!("tables.{name}.delta_fields");
    for (i, field) in delta_fields.iter().enumerate() {
        units::identifier(field).map_err(|m| cx.invalid(&key, m))?;
        if field == pk {
            return Err(cx.invalid(&key, format!("{field:?} is the primary key, not a counter")));
        }
        if delta_fields[..i].contains(field) {
            return Err(cx.invalid(&key, format!("{field:?} is listed twice")));
        }
    }
    Ok(ConflictPolicy::Merge {
        on_both,
        delta_fields,
    })
}

/// The named schema file (which must exist and be JSON), or the default
/// `schemas/NAME.schema.json` when that file exists.
fn row_schema(
    cx: &Ctx,
    name: &str,
    named: Option<&str>,
) -> Result<Option<SchemaFile>, ConfigError> {
    let key = format!("tables.{name}.schema");
    let path = match named {
        Some(file) => cx.file(file),
        None => {
            let default = cx.dir.join("schemas").join(format!("{name}.schema.json"));
            if !default.is_file() {
                return Ok(None);
            }
            default
        }
    };
    let shown = path.display();
    let text = std::fs::read_to_string(&path)
        .map_err(|e| cx.invalid(&key, format!("cannot read {shown}: {e}")))?;
    let schema: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| cx.invalid(&key, format!("{shown} is not JSON: {e}")))?;
    if !(schema.is_object() || schema.is_boolean()) {
        return Err(cx.invalid(
            &key,
            format!("{shown} is not a JSON Schema (expected an object)"),
        ));
    }
    Ok(Some(SchemaFile { path, schema }))
}
