//! The starter policies.toml that `ebb init` writes.
//!
//! Owns the text only: every section with its defaults shown as comments,
//! and every table of the app's database as a commented-out `[tables.NAME]`
//! block, so nothing syncs until the user opts a table in. It must not read
//! or write files (the CLI does); its output must load with `parse`, with
//! or without any table block uncommented (tested below).

use std::fmt::Write;
use std::path::Path;

use super::units;

const HEADER: &str = "\
# ebb configuration (policies.toml), written by `ebb init`.
# Commented-out values are the defaults. Durations: \"250ms\", \"30s\", \"5m\",
# \"1h\". Sizes: \"8KiB\", \"32MiB\" or a number of bytes. Relative paths are
# resolved against this file's directory. Editors can complete keys from
# schemas/policies.schema.json. `ebb check` validates everything.

";

const SECTIONS: &str = r#"
[remote]
# The project URL (Supabase: https://PROJECT.supabase.co). https is required
# except on loopback.
url = "https://your-project.supabase.co"
# The PostgREST root; default {url}/rest/v1. Set it for a self-hosted
# PostgREST or `ebb gateway`.
# rest_root = "https://your-project.supabase.co/rest/v1"
# Where the API key is read from: an environment variable, or a file (one of
# the two). Never write the key itself in this file.
# api_key_env = "EBB_API_KEY"
# api_key_file = "secrets/ebb.key"
# The token sent as `Authorization: Bearer` when it is not the API key (default
# none). On Supabase, a user's JWT beside the anon key, so row level security
# sees this device; a file is re-read when it changes.
# access_token_env = "EBB_ACCESS_TOKEN"
# access_token_file = "secrets/till.jwt"
# Time limit of one whole request, and of connecting.
# timeout = "30s"
# connect_timeout = "10s"

[sync]
# Time between sync rounds in `ebb run`.
# interval = "30s"
# Changes per push request, rows per pull request.
# batch_size = 100
# pull_page_size = 500
# How long the sync lock is held without renewal before another process may
# take it over.
# lease = "60s"
# How long a SQLite statement waits for the app's write lock.
# busy_timeout = "5s"
# `ebb sync --once` waits for a running sync instead of exiting.
# wait_for_lock = false
# Plans of one pulled page when the app keeps editing its rows meanwhile;
# then the round ends with an error and the page is pulled next round.
# max_replans = 5
# How long settled conflicts are kept for `ebb conflicts list --all` and
# `ebb policy replay` (at least 1h; "0s" forever). Open ones always stay.
# keep_resolved_conflicts = "90d"

[retry]
# Tries of one item before it is marked dead.
# max_attempts = 5
# Exponential backoff between tries, randomised by +/- jitter (0 to 1).
# initial_backoff = "1s"
# max_backoff = "5m"
# jitter = 0.2
# Dead items get a fresh set of tries after this long ("0s" never).
# retry_dead_after = "1h"

[rate_limit]
# Token bucket in front of every request; Retry-After is honoured on top.
# requests_per_second = 10
# burst = 20
# A server's Retry-After longer than this is cut to it.
# max_retry_after = "1h"

[alerts]
# `ebb status` and /health turn unhealthy when failed / attempted requests
# over error_window exceed max_error_rate (0 to 1),
# max_error_rate = 0.5
# error_window = "15m"
# (judged once at least min_requests were made in the window),
# min_requests = 5
# when an item waits longer than stuck_after,
# stuck_after = "1h"
# when a table's last complete sync is older than max_last_sync_age,
# max_last_sync_age = "1h"
# or when the server's transaction horizon lags more than max_pull_lag.
# max_pull_lag = "10m"
# Program run for each manual conflict, dead item or health change, with a
# JSON event on stdin (default: none).
# notify_command = ["/usr/local/bin/ebb-notify"]

[ops]
# /metrics and /health while `ebb run` is up ("" disables).
# listen = "127.0.0.1:9464"
# Log lines: "text" or "json".
# log_format = "text"

[plugin_limits]
# Sandbox limits of one plugin call; a table may override them in
# [tables.NAME.limits].
# fuel = 5000000
# fuel_per_byte = 400
# timeout = "1s"
# memory = "32MiB"
# max_input = "1MiB"
# max_output = "1MiB"
# max_log = "8KiB"

# Synced tables. None is synced until you uncomment its block; every other
# table is never read, pushed or pulled. Keep parents before children so
# foreign keys hold.
"#;

/// The starter text for the database at `db` (written as given: pass it
/// relative to where policies.toml will live) holding `tables`.
pub fn starter(db: &Path, tables: &[String]) -> String {
    let mut out = String::from(HEADER);
    out.push_str("# The app's SQLite file.\n");
    let db = toml::Value::String(db.to_string_lossy().into_owned());
    let _ = writeln!(out, "database = {db}");
    out.push_str(SECTIONS);
    let mut any = false;
    for name in tables {
        if name.starts_with("sqlite_") || name.to_ascii_lowercase().starts_with("_ebb") {
            continue;
        }
        any = true;
        if let Err(why) = units::identifier(name) {
            let _ = writeln!(out, "\n# Not syncable: {why}.");
            continue;
        }
        let _ = write!(
            out,
            "\n# [tables.{name}]\n\
             # pk = \"id\"\n\
             # schema = \"schemas/{name}.schema.json\"\n\
             # validate = \"plugins/{name}_validator.wasm\"\n\
             # conflict = \"server_wins\"   # server_wins | client_wins | merge | manual | plugin\n\
             # resolver = \"plugins/{name}_resolver.wasm\"   # with conflict = \"plugin\"\n"
        );
    }
    if !any {
        out.push_str("\n# (the database has no tables yet)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConflictPolicy, PluginLimits, parse};

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn starter_loads_with_nothing_synced() {
        let text = starter(
            Path::new("app.db"),
            &names(&["products", "users", "_ebb_queue", "sqlite_sequence"]),
        );
        assert!(text.contains("# [tables.products]"));
        assert!(text.contains("# [tables.users]"));
        assert!(!text.contains("_ebb_queue"));
        assert!(!text.contains("sqlite_sequence"));
        let dir = tempfile::tempdir().unwrap();
        let config = parse(&text, &dir.path().join("policies.toml")).unwrap();
        assert!(config.tables.is_empty());
        assert_eq!(config.database, dir.path().join("app.db"));
        assert_eq!(config.sync.batch_size, 100);
    }

    #[test]
    fn every_default_shown_is_the_real_default() {
        // Uncommenting every `# key = value` line (but one key source, the
        // plugin-only resolver and the example notify command) must change
        // nothing.
        let text = starter(Path::new("app.db"), &names(&["orders"]));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policies.toml");
        let plain = parse(&text, &path).unwrap();
        let skip = [
            "api_key_file",
            "access_token_env",
            "access_token_file",
            "resolver",
            "validate",
            "schema",
            "notify_command",
            "rest_root",
        ];
        let opened: String = text
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest) if rest.contains(" = ") && !skip.iter().any(|k| rest.starts_with(k)) => {
                    rest
                }
                Some(rest) if rest.starts_with("[tables.") && rest.ends_with(']') => rest,
                _ => line,
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let full = parse(&opened, &path).unwrap();
        assert_eq!(full.tables.len(), 1);
        assert_eq!(full.tables[0].conflict, ConflictPolicy::ServerWins);
        assert_eq!(full.tables[0].pk, "id");
        assert_eq!(full.tables[0].limits, PluginLimits::default());
        let strip = |c: &crate::config::Config| {
            format!(
                "{:?}{:?}{:?}{:?}{:?}{:?}",
                c.remote, c.sync, c.retry, c.rate_limit, c.alerts, c.ops
            )
        };
        assert_eq!(strip(&plain), strip(&full));
    }

    #[test]
    fn odd_names_are_noted_not_offered() {
        let text = starter(Path::new("my app.db"), &names(&["order items"]));
        assert!(text.contains("# Not syncable: \"order items\" is not a plain identifier"));
        assert!(!text.contains("[tables.order items]"));
        assert!(starter(Path::new("a.db"), &[]).contains("no tables yet"));
        let dir = tempfile::tempdir().unwrap();
        assert!(parse(&text, &dir.path().join("policies.toml")).is_ok());
    }
}
