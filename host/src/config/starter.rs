//! The starter policies.toml that `ebb init` writes.
//!
//! Owns the text only: every section with its defaults shown as comments,
//! and every table of the app's database in foreign-key order (parents
//! first) as a `[tables.NAME]` block with what `survey` suggests for it
//! (its key, `keys = "map"` for integer keys, counters merged by delta)
//! and why, commented out unless opted in, so nothing syncs until the user
//! says so. Tables it leaves out (the app's own sync bookkeeping, tables
//! without a one-column key) get a comment saying why. It must not read
//! or write files (the CLI does); its output must load with `parse`, with
//! or without any table block uncommented (tested in `starter_tests.rs`).

use std::fmt::Write;
use std::path::Path;

use super::survey::{Advice, AppTable, Offer, advise, parents_first};

/// Where `ebb init` writes the policies.toml JSON Schema, relative to the
/// config's directory; the first line of the starter points editors at it.
pub const POLICIES_SCHEMA_FILE: &str = "schemas/policies.schema.json";

const HEADER: &str = "\
#:schema ./schemas/policies.schema.json
# ebb configuration (policies.toml), written by `ebb init`.
# Commented-out values are the defaults. Durations: \"250ms\", \"30s\", \"5m\",
# \"1h\". Sizes: \"8KiB\", \"32MiB\" or a number of bytes. Relative paths are
# resolved against this file's directory. The first line points editors
# (taplo, Even Better TOML) at the JSON Schema of this file, which `ebb init`
# wrote beside it, so they complete and check keys. `ebb check` validates
# everything.

";

const SECTIONS: &str = r#"
[remote]
# The project URL (Supabase: https://PROJECT.supabase.co). https is required
# except on loopback.
url = "https://your-project.supabase.co"
# The PostgREST root; default {url}/rest/v1. Set it for a self-hosted
# PostgREST or `ebb-gateway`.
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
# Changes per push request and rows per pull request to start with; each
# doubles (up to its max) while the server answers a full one within half
# of answer_time, and halves when an answer takes longer.
# batch_size = 1000
# pull_page_size = 2000
# max_batch_size = 2000
# max_pull_page_size = 6000
# The most bytes one pull answer grows to, whatever its rows.
# max_pull_page_bytes = "4MiB"
# answer_time = "1s"
# SQLite page cache of ebb's own connection.
# local_cache = "16MiB"
# How much WAL ebb's own connection writes before a checkpoint.
# local_wal = "64MiB"
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
# Tries of one item before it is marked dead (a round that cannot reach the
# server at all costs no item a try).
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
# Rows pushed or pulled a second, across tables (0: no limit).
# rows_per_second = 50000
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

# Synced tables, parents before children (foreign keys), each with what
# `ebb init` suggests and why. None is synced until you uncomment its block
# (the lines from [tables.NAME] down); every other table is never read,
# pushed or pulled. Keep parents before children so foreign keys hold.
"#;

/// What `ebb init` writes.
#[derive(Debug, Clone)]
pub struct Starter {
    /// policies.toml.
    pub text: String,
    /// The tables given a `[tables.NAME]` block, in file order (parents
    /// first): the ones whose row schemas are worth inferring.
    pub tables: Vec<String>,
}

/// The starter for the database at `db` (written as given: pass it
/// relative to where policies.toml will live) holding `tables`, in any
/// order. Blocks of the tables named in `opted` are written uncommented.
pub fn starter(db: &Path, tables: &[AppTable], opted: &[String]) -> Starter {
    let mut blocks = Vec::new();
    let text = starter_text(db, tables, opted, &mut blocks);
    Starter {
        text,
        tables: blocks,
    }
}

fn starter_text(
    db: &Path,
    tables: &[AppTable],
    opted: &[String],
    blocks: &mut Vec<String>,
) -> String {
    let mut out = String::from(HEADER);
    // The first table with an integer key, once its key mode is explained.
    let mut explained: Option<String> = None;
    out.push_str("# The app's SQLite file.\n");
    let db = toml::Value::String(db.to_string_lossy().into_owned());
    let _ = writeln!(out, "database = {db}");
    out.push_str(SECTIONS);
    let tables: Vec<AppTable> = tables
        .iter()
        .filter(|t| {
            let lower = t.name.to_ascii_lowercase();
            !lower.starts_with("sqlite_") && !lower.starts_with("_ebb")
        })
        .cloned()
        .collect();
    if tables.is_empty() {
        out.push_str("\n# (the database has no tables yet)\n");
        return out;
    }
    let (ordered, cycle) = parents_first(&tables);
    for i in ordered {
        table(&mut out, &tables[i], &tables, opted, blocks, &mut explained);
    }
    if !cycle.is_empty() {
        let names: Vec<&str> = cycle.iter().map(|i| tables[*i].name.as_str()).collect();
        let _ = write!(
            out,
            "\n# A cycle of foreign keys among {}: no order lists every parent before\n\
             # its children, and `ebb check` refuses a table listed before a table it\n\
             # references. Leave at least one of them out (or drop one of the foreign\n\
             # keys from the app's schema).\n",
            names.join(", ")
        );
        for i in cycle {
            table(&mut out, &tables[i], &tables, opted, blocks, &mut explained);
        }
    }
    out
}

/// One table: its block with the reasons above it, or why it is left out.
fn table(
    out: &mut String,
    t: &AppTable,
    all: &[AppTable],
    opted: &[String],
    blocks: &mut Vec<String>,
    explained: &mut Option<String>,
) {
    let is_opted = opted.contains(&t.name);
    let offer = match advise(t, all, is_opted) {
        Advice::Left(why) => {
            out.push('\n');
            comment(out, &why);
            return;
        }
        Advice::Offer(offer) => offer,
    };
    blocks.push(t.name.clone());
    out.push('\n');
    for why in reasons(t, &offer, explained) {
        comment(out, &why);
    }
    let c = if is_opted { "" } else { "# " };
    let name = &t.name;
    let _ = writeln!(out, "{c}[tables.{name}]");
    let _ = writeln!(out, "{c}pk = \"{}\"", offer.pk);
    if offer.integer_key {
        let _ = writeln!(out, "{c}keys = \"map\"   # shared | map | single_writer");
    }
    if !offer.references.is_empty() {
        let pairs: Vec<String> = offer
            .references
            .iter()
            .map(|(column, parent)| format!("{column} = \"{parent}\""))
            .collect();
        let _ = writeln!(out, "{c}references = {{ {} }}", pairs.join(", "));
    }
    let _ = writeln!(out, "{c}schema = \"schemas/{name}.schema.json\"");
    if offer.counters.is_empty() {
        let _ = writeln!(
            out,
            "{c}conflict = \"server_wins\"   # server_wins | client_wins | merge | manual | plugin"
        );
    } else {
        let fields: Vec<String> = offer.counters.iter().map(|f| format!("\"{f}\"")).collect();
        let _ = writeln!(
            out,
            "{c}conflict = \"merge\"   # server_wins | client_wins | merge | manual | plugin"
        );
        let _ = writeln!(out, "{c}delta_fields = [{}]", fields.join(", "));
    }
    let _ = write!(
        out,
        "# validate = \"plugins/{name}_validator.wasm\"\n\
         # resolver = \"plugins/{name}_resolver.wasm\"   # with conflict = \"plugin\"\n"
    );
}

/// Why the block says what it says, one paragraph each. `explained`: the
/// table whose paragraph already said what keys = "map" does.
fn reasons(t: &AppTable, offer: &Offer, explained: &mut Option<String>) -> Vec<String> {
    let mut out = Vec::new();
    let name = &t.name;
    if let Some(why) = &offer.bookkeeping {
        out.push(format!(
            "{name} looks like the app's own sync bookkeeping ({why}), but you opted it \
             in: each till's rows of it will reach every other till."
        ));
    }
    if !offer.secrets.is_empty() {
        out.push(format!(
            "{name} may hold secrets ({}): leave it out unless every till and the \
             server should have them.",
            offer.secrets.join(", ")
        ));
    }
    if let (true, Some(first)) = (offer.integer_key, explained.as_ref()) {
        out.push(format!(
            "{name}.{pk} is an INTEGER key each till mints on its own: keys = \"map\", as \
             for {first} above.",
            pk = offer.pk
        ));
    } else if offer.integer_key {
        *explained = Some(name.clone());
        out.push(format!(
            "{name}.{pk} is an INTEGER key each till mints on its own, so keys = \"map\": \
             the app's ids never change, rows from other tills get fresh local ids here, \
             and the server holds global keys; ebb translates {pk} and every foreign key \
             pointing at it. (keys = \"single_writer\" instead if only one till, or the \
             server, ever creates {name} rows.)",
            pk = offer.pk
        ));
    }
    for (column, parent) in &offer.references {
        out.push(format!(
            "{name}.{column} looks like a key of {parent} but the schema does not declare \
             it (REFERENCES): with the references line its ids are translated too."
        ));
    }
    if !offer.counters.is_empty() {
        let (these, look) = match offer.counters.as_slice() {
            [one] => (one.clone(), "looks like a counter"),
            many => (many.join(", "), "look like counters"),
        };
        out.push(format!(
            "{name}.{these} {look} the app adds to and takes from, so conflict = \"merge\" \
             with delta_fields: when two tills change it offline, both changes count \
             (10 - 3 here and 10 - 2 there give 5), where server_wins would keep one \
             till's value and lose the other's change."
        ));
    }
    out
}

/// `text` as `# ` comment lines of at most 78 columns.
fn comment(out: &mut String, text: &str) {
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() > 1 && line.len() + 1 + word.len() > 78 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("#");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
}

#[cfg(test)]
#[path = "starter_tests.rs"]
mod tests;
