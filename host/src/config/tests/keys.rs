//! Every key outside `[tables]`: its default, a set value, and the refusals
//! that are about the file as a whole (required keys, URLs, key literals,
//! TOML and I/O errors). One refused value per key is in `refused`.

use std::time::Duration;

use super::{MIN, err_of, ok};
use crate::config::{ConfigError, KeySource, LogFormat, PluginLimits};

const S: fn(u64) -> Duration = Duration::from_secs;

#[test]
fn defaults_of_every_key() {
    let c = ok("");
    assert!(c.database.ends_with("app.db") && c.database.is_absolute());
    assert_eq!(c.remote.url, "https://xyz.supabase.co");
    assert_eq!(c.remote.rest_root, "https://xyz.supabase.co/rest/v1");
    assert_eq!(c.remote.api_key, Some(KeySource::Env("EBB_API_KEY".into())));
    assert!(c.remote.api_key_required);
    assert_eq!((c.remote.timeout, c.remote.connect_timeout), (S(30), S(10)));
    let s = &c.sync;
    assert_eq!(
        (s.interval, s.batch_size, s.pull_page_size),
        (S(30), 1000, 2000)
    );
    assert_eq!(
        (s.lease, s.busy_timeout, s.wait_for_lock, s.max_replans),
        (S(60), S(5), false, 5)
    );
    assert_eq!(s.keep_resolved_conflicts, Some(S(90 * 24 * 3600)));
    assert_eq!(s.push_delay, Duration::from_millis(50));
    assert_eq!(
        (s.max_batch_size, s.max_pull_page_size, s.answer_time),
        (2000, 6000, S(1))
    );
    assert_eq!(s.max_pull_page_bytes, 4 << 20);
    assert_eq!((s.local_cache, s.local_wal), (16 << 20, 64 << 20));
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
    assert_eq!(l.rows_per_second, 50_000.0);
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
    assert_eq!(c.ops.api_token, KeySource::Env("EBB_API_TOKEN".into()));
    assert_eq!((c.ops.history_keep, c.ops.sse_keepalive), (S(86400), S(15)));
    assert_eq!(c.ops.event_buffer, 256);
    assert!(c.tables.is_empty());
}

#[test]
fn set_values_are_read() {
    let c = ok(r#"rest_root = "http://127.0.0.1:3000/"
api_key_file = "secrets/key"
access_token_env = "TILL_TOKEN"
timeout = "45s"
connect_timeout = "250ms"
[sync]
interval = "1m"
batch_size = 7
pull_page_size = 9
max_batch_size = 3
max_pull_page_size = 90
max_pull_page_bytes = "64KiB"
answer_time = "250ms"
local_cache = 1048576
local_wal = "2MiB"
lease = "2m"
busy_timeout = "0s"
wait_for_lock = true
max_replans = 1
keep_resolved_conflicts = "0s"
push_delay = "0s"
[retry]
max_attempts = 1
initial_backoff = "2s"
max_backoff = "2s"
jitter = 0
retry_dead_after = "0s"
[rate_limit]
requests_per_second = 0.5
burst = 1
rows_per_second = 0
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
api_token_file = "secrets/api-token"
history_keep = "2h"
sse_keepalive = "5s"
event_buffer = 16
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
        matches!(&c.remote.api_key, Some(KeySource::File(p)) if p.is_absolute() && p.ends_with("secrets/key"))
    );
    assert_eq!(
        c.remote.access_token,
        Some(KeySource::Env("TILL_TOKEN".into()))
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
    assert_eq!(s.keep_resolved_conflicts, None, "\"0s\" keeps forever");
    assert_eq!(s.push_delay, S(0));
    // A max below the starting size is the starting size.
    assert_eq!(
        (s.max_batch_size, s.max_pull_page_size, s.answer_time),
        (7, 90, Duration::from_millis(250))
    );
    assert_eq!((s.local_cache, s.local_wal), (1 << 20, 2 << 20));
    assert_eq!(s.max_pull_page_bytes, 64 << 10);
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
    assert_eq!(l.rows_per_second, 0.0, "0: no limit on rows");
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
    assert!(
        matches!(&c.ops.api_token, KeySource::File(p) if p.is_absolute() && p.ends_with("secrets/api-token"))
    );
    assert_eq!((c.ops.history_keep, c.ops.sse_keepalive), (S(7200), S(5)));
    assert_eq!(c.ops.event_buffer, 16);
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
    for k in [
        "api_key",
        "service_role_key",
        "anon_key",
        "access_token",
        "jwt",
    ] {
        let e = err_of(&format!("{MIN}{k} = \"sb_secret_abc123\"\n"));
        let shown = e.to_string();
        assert_eq!(e.key(), Some(format!("remote.{k}").as_str()));
        assert!(shown.contains("do not belong in policies.toml"), "{shown}");
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

#[test]
fn one_source_per_secret() {
    let e = err_of(&format!(
        "{MIN}access_token_env = \"T\"\naccess_token_file = \"t.jwt\"\n"
    ));
    assert_eq!(e.key(), Some("remote.access_token_file"));
    assert!(e.to_string().contains("set only one"), "{e}");
    let e = err_of(&format!("{MIN}api_key_env = \"K\"\napi_key_file = \"k\"\n"));
    assert_eq!(e.key(), Some("remote.api_key_file"));
}

#[test]
fn the_key_is_optional_beside_a_token_and_absent_when_anonymous() {
    // A token and no key source named: EBB_API_KEY if set, else no key.
    let c = ok("access_token_env = \"TILL_TOKEN\"\n");
    assert_eq!(c.remote.api_key, Some(KeySource::Env("EBB_API_KEY".into())));
    assert!(!c.remote.api_key_required);
    // A key source named beside a token: required.
    let c = ok("access_token_env = \"TILL_TOKEN\"\napi_key_env = \"ANON\"\n");
    assert!(c.remote.api_key_required);

    let c = ok("anonymous = true\n");
    assert_eq!((c.remote.api_key, c.remote.access_token), (None, None));
    let c = ok("anonymous = false\n");
    assert!(c.remote.api_key.is_some() && c.remote.api_key_required);
    for with in [
        "api_key_env = \"K\"",
        "api_key_file = \"k\"",
        "access_token_env = \"T\"",
    ] {
        let e = err_of(&format!("{MIN}anonymous = true\n{with}\n"));
        assert_eq!(e.key(), Some("remote.anonymous"), "{with}");
        assert!(e.to_string().contains("sends neither key nor token"), "{e}");
    }
}
