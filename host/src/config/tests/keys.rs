//! Every key outside `[tables]`: its default, a set value, a refused value.

use std::time::Duration;

use super::{MIN, err_of, ok, refused_all};
use crate::config::{ConfigError, KeySource, LogFormat, PluginLimits};

const S: fn(u64) -> Duration = Duration::from_secs;

#[test]
fn defaults_of_every_key() {
    let c = ok("");
    assert!(c.database.ends_with("app.db") && c.database.is_absolute());
    assert_eq!(c.remote.url, "https://xyz.supabase.co");
    assert_eq!(c.remote.rest_root, "https://xyz.supabase.co/rest/v1");
    assert_eq!(c.remote.api_key, KeySource::Env("EBB_API_KEY".into()));
    assert_eq!((c.remote.timeout, c.remote.connect_timeout), (S(30), S(10)));
    let s = &c.sync;
    assert_eq!(
        (s.interval, s.batch_size, s.pull_page_size),
        (S(30), 100, 500)
    );
    assert_eq!(
        (s.lease, s.busy_timeout, s.wait_for_lock, s.max_replans),
        (S(60), S(5), false, 5)
    );
    let r = &c.retry;
    assert_eq!(
        (r.max_attempts, r.initial_backoff, r.max_backoff),
        (5, S(1), S(300))
    );
    assert_eq!((r.jitter, r.retry_dead_after), (0.2, Some(S(3600))));
    let l = &c.rate_limit;
    assert_eq!(
        (l.requests_per_second, l.burst, l.max_retry_after),
        (10.0, 20, S(3600))
    );
    let a = &c.alerts;
    assert_eq!(
        (a.max_error_rate, a.error_window, a.stuck_after),
        (0.5, S(900), S(3600))
    );
    assert_eq!(a.min_requests, 5);
    assert_eq!((a.max_last_sync_age, a.max_pull_lag), (S(3600), S(600)));
    assert_eq!(a.notify_command, None);
    assert_eq!(c.ops.listen.as_deref(), Some("127.0.0.1:9464"));
    assert_eq!(c.ops.log_format, LogFormat::Text);
    assert!(c.tables.is_empty());
}

#[test]
fn set_values_are_read() {
    let c = ok(r#"rest_root = "http://127.0.0.1:3000/"
api_key_file = "secrets/key"
timeout = "45s"
connect_timeout = "250ms"
[sync]
interval = "1m"
batch_size = 7
pull_page_size = 9
lease = "2m"
busy_timeout = "0s"
wait_for_lock = true
max_replans = 1
[retry]
max_attempts = 1
initial_backoff = "2s"
max_backoff = "2s"
jitter = 0
retry_dead_after = "0s"
[rate_limit]
requests_per_second = 0.5
burst = 1
max_retry_after = "90s"
[alerts]
max_error_rate = 1
error_window = "5m"
min_requests = 1
stuck_after = "10m"
max_last_sync_age = "2h"
max_pull_lag = "30s"
notify_command = ["notify", "--json"]
[ops]
listen = ""
log_format = "json"
[plugin_limits]
fuel = 10
fuel_per_byte = 0
timeout = "20ms"
memory = 65536
max_input = "1KiB"
max_output = "2KB"
max_log = 0
[tables.t]
"#);
    assert_eq!(c.remote.rest_root, "http://127.0.0.1:3000");
    assert!(
        matches!(&c.remote.api_key, KeySource::File(p) if p.is_absolute() && p.ends_with("secrets/key"))
    );
    assert_eq!(
        (c.remote.timeout, c.remote.connect_timeout),
        (S(45), Duration::from_millis(250))
    );
    let s = &c.sync;
    assert_eq!(
        (s.interval, s.batch_size, s.pull_page_size, s.lease),
        (S(60), 7, 9, S(120))
    );
    assert_eq!(
        (s.busy_timeout, s.wait_for_lock, s.max_replans),
        (S(0), true, 1)
    );
    let r = &c.retry;
    assert_eq!(
        (r.max_attempts, r.initial_backoff, r.max_backoff, r.jitter),
        (1, S(2), S(2), 0.0)
    );
    assert_eq!(r.retry_dead_after, None);
    let l = &c.rate_limit;
    assert_eq!(
        (l.requests_per_second, l.burst, l.max_retry_after),
        (0.5, 1, S(90))
    );
    let a = &c.alerts;
    assert_eq!(
        (a.max_error_rate, a.error_window, a.stuck_after),
        (1.0, S(300), S(600))
    );
    assert_eq!(a.min_requests, 1);
    assert_eq!((a.max_last_sync_age, a.max_pull_lag), (S(7200), S(30)));
    assert_eq!(
        a.notify_command,
        Some(vec!["notify".to_string(), "--json".to_string()])
    );
    assert_eq!(
        (c.ops.listen.clone(), c.ops.log_format),
        (None, LogFormat::Json)
    );
    let want = PluginLimits {
        fuel: 10,
        fuel_per_byte: 0,
        timeout: Duration::from_millis(20),
        memory: 65536,
        max_input: 1024,
        max_output: 2000,
        max_log: 0,
    };
    // [plugin_limits] reaches the tables through inheritance.
    assert_eq!(c.tables[0].limits, want);
}

#[test]
fn refused_values_name_their_key() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "rest_root = \"ftp://x\"\n",
            "remote.rest_root",
            "does not match",
        ),
        (
            "rest_root = \"http://db.example.com/rest/v1\"\n",
            "remote.rest_root",
            "clear text",
        ),
        (
            "api_key_env = \"A\"\napi_key_file = \"k\"\n",
            "remote.api_key_file",
            "only one",
        ),
        (
            "api_key_env = \"MY-KEY\"\n",
            "remote.api_key_env",
            "does not match",
        ),
        (
            "api_key_file = \"\"\n",
            "remote.api_key_file",
            "shorter than 1",
        ),
        ("timeout = \"30\"\n", "remote.timeout", "does not match"),
        ("timeout = \"0s\"\n", "remote.timeout", "longer than zero"),
        (
            "connect_timeout = \"5 fortnights\"\n",
            "remote.connect_timeout",
            "invalid duration",
        ),
        (
            "[sync]\ninterval = \"0ms\"\n",
            "sync.interval",
            "longer than zero",
        ),
        (
            "[sync]\nbatch_size = 0\n",
            "sync.batch_size",
            "less than the minimum of 1",
        ),
        (
            "[sync]\npull_page_size = -5\n",
            "sync.pull_page_size",
            "minimum",
        ),
        ("[sync]\nlease = \"0s\"\n", "sync.lease", "longer than zero"),
        (
            "[sync]\nbusy_timeout = 5\n",
            "sync.busy_timeout",
            "not of type",
        ),
        (
            "[sync]\nwait_for_lock = \"yes\"\n",
            "sync.wait_for_lock",
            "not of type",
        ),
        (
            "[sync]\nmax_replans = 0\n",
            "sync.max_replans",
            "minimum of 1",
        ),
        ("[sync]\nbatchsize = 5\n", "sync.batchsize", "unknown key"),
        (
            "[retry]\nmax_attempts = 0\n",
            "retry.max_attempts",
            "minimum of 1",
        ),
        (
            "[retry]\ninitial_backoff = \"0s\"\n",
            "retry.initial_backoff",
            "longer than zero",
        ),
        (
            "[retry]\nmax_backoff = \"1s\"\ninitial_backoff = \"2s\"\n",
            "retry.max_backoff",
            "shorter than retry.initial_backoff",
        ),
        ("[retry]\njitter = 1.5\n", "retry.jitter", "maximum of 1"),
        ("[retry]\njitter = -0.1\n", "retry.jitter", "minimum of 0"),
        (
            "[retry]\nretry_dead_after = \"never\"\n",
            "retry.retry_dead_after",
            "does not match",
        ),
        (
            "[rate_limit]\nrequests_per_second = 0\n",
            "rate_limit.requests_per_second",
            "less than or equal to the minimum of 0",
        ),
        (
            "[rate_limit]\nburst = 0\n",
            "rate_limit.burst",
            "minimum of 1",
        ),
        (
            "[rate_limit]\nburst = 4294967296\n",
            "rate_limit.burst",
            "too large",
        ),
        (
            "[rate_limit]\nmax_retry_after = \"0s\"\n",
            "rate_limit.max_retry_after",
            "longer than zero",
        ),
        (
            "[rate_limit]\nmax_retry_after = 3600\n",
            "rate_limit.max_retry_after",
            "not of type",
        ),
        (
            "[alerts]\nmin_requests = 0\n",
            "alerts.min_requests",
            "minimum of 1",
        ),
        (
            "[alerts]\nmax_error_rate = 2\n",
            "alerts.max_error_rate",
            "maximum of 1",
        ),
        (
            "[alerts]\nerror_window = \"0s\"\n",
            "alerts.error_window",
            "longer than zero",
        ),
        (
            "[alerts]\nstuck_after = \"\"\n",
            "alerts.stuck_after",
            "does not match",
        ),
        (
            "[alerts]\nmax_last_sync_age = \"0h\"\n",
            "alerts.max_last_sync_age",
            "longer than zero",
        ),
        (
            "[alerts]\nmax_pull_lag = \"0s\"\n",
            "alerts.max_pull_lag",
            "longer than zero",
        ),
        (
            "[alerts]\nnotify_command = []\n",
            "alerts.notify_command",
            "less than 1 item",
        ),
        (
            "[alerts]\nnotify_command = \"notify --json\"\n",
            "alerts.notify_command",
            "not of type",
        ),
        (
            "[alerts]\nnotify_command = [\"\"]\n",
            "alerts.notify_command[0]",
            "shorter than 1",
        ),
        ("[ops]\nlisten = \"9464\"\n", "ops.listen", "not host:port"),
        (
            "[ops]\nlog_format = \"xml\"\n",
            "ops.log_format",
            "unknown value \"xml\" (expected text | json)",
        ),
        (
            "[plugin_limits]\nfuel = 0\n",
            "plugin_limits.fuel",
            "minimum of 1",
        ),
        (
            "[plugin_limits]\nfuel_per_byte = -1\n",
            "plugin_limits.fuel_per_byte",
            "minimum of 0",
        ),
        (
            "[plugin_limits]\ntimeout = \"0s\"\n",
            "plugin_limits.timeout",
            "longer than zero",
        ),
        (
            "[plugin_limits]\nmemory = \"1KiB\"\n",
            "plugin_limits.memory",
            "64KiB",
        ),
        (
            "[plugin_limits]\nmemory = \"8GiB\"\n",
            "plugin_limits.memory",
            "4GiB",
        ),
        (
            "[plugin_limits]\nmemory = \"lots\"\n",
            "plugin_limits.memory",
            "oneOf",
        ),
        (
            "[plugin_limits]\nmax_input = 0\n",
            "plugin_limits.max_input",
            "at least 1 byte",
        ),
        (
            "[plugin_limits]\nmax_output = \"0B\"\n",
            "plugin_limits.max_output",
            "at least 1 byte",
        ),
        (
            "[plugin_limits]\nmax_log = \"8 kb\"\n",
            "plugin_limits.max_log",
            "oneOf",
        ),
        (
            "[plugin_limits]\nfuel_limit = 5\n",
            "plugin_limits.fuel_limit",
            "unknown key",
        ),
    ];
    // Keys of [remote] land in MIN's [remote] section.
    refused_all(cases);
}

#[test]
fn top_level_and_remote_are_required() {
    let e = err_of("[remote]\nurl = \"https://x.supabase.co\"\n");
    assert_eq!(e.to_string(), "policies.toml: database: missing (required)");
    let e = err_of("database = \"app.db\"\n");
    assert_eq!(e.key(), Some("remote"));
    let e = err_of("database = \"app.db\"\n[remote]\n");
    assert_eq!(e.key(), Some("remote.url"));
    let e = err_of("database = \"\"\n[remote]\nurl = \"https://x.co\"\n");
    assert_eq!(e.key(), Some("database"));
    let e = err_of(&format!("{MIN}colour = \"blue\"\n"));
    assert_eq!(e.key(), Some("remote.colour"));
    let e = err_of(&format!("colour = \"blue\"\n{MIN}"));
    assert_eq!(e.to_string(), "policies.toml: colour: unknown key");
}

#[test]
fn url_must_be_https_off_loopback() {
    let e = err_of("database = \"a.db\"\n[remote]\nurl = \"http://shop.example.com\"\n");
    assert_eq!(e.key(), Some("remote.url"));
    assert!(e.to_string().contains("clear text"), "{e}");
    let c = ok_with_url("http://localhost:54321/");
    assert_eq!(
        (c.remote.url.as_str(), c.remote.rest_root.as_str()),
        ("http://localhost:54321", "http://localhost:54321/rest/v1")
    );
}

fn ok_with_url(url: &str) -> crate::config::Config {
    let dir = super::Dir::new();
    dir.parse(&format!("database = \"a.db\"\n[remote]\nurl = \"{url}\"\n"))
        .unwrap()
}

#[test]
fn a_key_literal_is_refused_without_echo() {
    for k in ["api_key", "service_role_key", "anon_key"] {
        let e = err_of(&format!("{MIN}{k} = \"sb_secret_abc123\"\n"));
        let shown = e.to_string();
        assert_eq!(e.key(), Some(format!("remote.{k}").as_str()));
        assert!(
            shown.contains("does not belong in policies.toml"),
            "{shown}"
        );
        assert!(shown.contains("api_key_env"), "{shown}");
        assert!(!shown.contains("sb_secret_abc123"), "{shown}");
    }
}

#[test]
fn toml_errors_carry_line_and_column() {
    let e = err_of("database = \"app.db\"\n[remote]\nurl = https://x\n");
    match &e {
        ConfigError::Toml { line, col, .. } => assert_eq!((*line, *col), (3, 7), "{e}"),
        other => panic!("expected a TOML error, got {other:?}"),
    }
    assert!(e.to_string().starts_with("policies.toml:3:7: "), "{e}");
    let e = err_of("database = \"a\"\ndatabase = \"b\"\n");
    assert!(matches!(e, ConfigError::Toml { line: 2, .. }), "{e}");
}

#[test]
fn a_missing_file_is_an_io_error() {
    let dir = super::Dir::new();
    let e = crate::config::load(&dir.policies()).unwrap_err();
    assert!(matches!(e, ConfigError::Io { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with(&dir.policies().display().to_string())
    );
    dir.write("policies.toml", MIN);
    assert!(crate::config::load(&dir.policies()).is_ok());
}
