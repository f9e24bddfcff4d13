//! Commands that set ebb up after `ebb init` (`init.rs`): `check`
//! (everything verified before anything runs: config, local tables and
//! their keys, schemas and plugins, the remote, Realtime, and column types
//! on both sides, `typecheck.rs`) and `remote-sql` (what to apply on the
//! server).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};

use super::load::{self, load_config};
use super::typecheck::{self, Finding, Severity};
use crate::config::{self, Config, KeyMode, TableConfig};
use crate::local::inspect::{self, Affinity, affinity};
use crate::model::Cursor;
use crate::policy::Policies;
use crate::remote::Remote;
use crate::remote::postgrest::Client;

/// Every check prints a line; exit 0 only when all pass.
pub async fn check(config_path: &Path) -> anyhow::Result<ExitCode> {
    let config = match config::load(config_path) {
        Ok(c) => c,
        Err(e) => {
            say!("FAIL  config: {}", load::locate(&e));
            return Ok(ExitCode::FAILURE);
        }
    };
    let results = [
        (
            "config",
            Ok(format!("{} tables synced", config.tables.len())),
        ),
        ("local tables", check_local(&config)),
        (
            "schemas and plugins",
            Policies::load(&config)
                .map(|_| String::from("loaded"))
                .map_err(Into::into),
        ),
        ("remote", check_remote(&config).await),
    ];
    let mut ok = true;
    // Types are compared once both sides answered.
    let both_ok = results[1].1.is_ok() && results[3].1.is_ok();
    for (name, result) in results {
        match result {
            Ok(detail) => say!("ok    {name}: {detail}"),
            Err(e) => {
                ok = false;
                say!("FAIL  {name}: {}", load::render_error(&e));
            }
        }
    }
    match check_realtime(&config).await {
        Ok(line) => say!("ok    realtime: {line}"),
        // Polling still syncs: a warning, not a failure.
        Err(line) => say!("WARN  realtime: {line}"),
    }
    if both_ok {
        match check_types(&config).await {
            Ok(findings) if findings.is_empty() => {
                say!("ok    types: every synced column has a matching type on the server")
            }
            Ok(findings) => {
                for f in findings {
                    let label = match f.severity {
                        Severity::Changes => {
                            ok = false;
                            "FAIL"
                        }
                        Severity::Risk => "WARN",
                    };
                    say!("{label}  types: {}", f.line);
                }
            }
            Err(e) => {
                ok = false;
                say!("FAIL  types: {}", load::render_error(&e));
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn check_local(config: &Config) -> anyhow::Result<String> {
    let db = &config.database;
    if !db.exists() {
        bail!("database {} does not exist", db.display());
    }
    for t in &config.tables {
        let info =
            inspect::describe_file(db, &t.name).with_context(|| format!("tables.{}", t.name))?;
        let pks: Vec<&str> = info
            .columns
            .iter()
            .filter(|c| c.pk)
            .map(|c| c.name.as_str())
            .collect();
        if pks != [t.pk.as_str()] {
            bail!(
                "tables.{}.pk: the table's primary key is ({}), expected the one column \"{}\"",
                t.name,
                pks.join(", "),
                t.pk
            );
        }
        let integer = info
            .column(&t.pk)
            .is_some_and(|c| affinity(&c.decl_type) == Affinity::Integer);
        if integer && t.keys == KeyMode::Shared {
            bail!(
                "tables.{name}.keys: {name}.{pk} is an INTEGER key each device mints on its \
                 own, so two tills would both create {name} {pk} 1 and overwrite each other's \
                 rows; set keys = \"map\" (each device keeps its own ids, ebb maps them to the \
                 server's keys), or keys = \"single_writer\" if only one writer ever creates rows",
                name = t.name,
                pk = t.pk
            );
        }
    }
    let names: Vec<String> = config.tables.iter().map(|t| t.name.clone()).collect();
    for (index, t) in names.iter().enumerate() {
        let later = foreign_parents(db, t)?
            .into_iter()
            .find(|p| names[index + 1..].contains(p));
        if let Some(parent) = later {
            bail!(
                "tables.{t} references {parent} (a foreign key) but is listed before it: \
                 list [tables.{parent}] first so parents are pushed and pulled before children"
            );
        }
    }
    Ok(format!("{} ok in {}", config.tables.len(), db.display()))
}

/// The tables `table` references through foreign keys (itself excluded).
fn foreign_parents(db: &Path, table: &str) -> anyhow::Result<Vec<String>> {
    let mut parents: Vec<String> = Vec::new();
    for (_, parent) in super::init::foreign_keys(db, table)? {
        if !parent.eq_ignore_ascii_case(table) && !parents.contains(&parent) {
            parents.push(parent);
        }
    }
    Ok(parents)
}

/// The columns of `t` holding keys of a `keys = "map"` table: its own key
/// when mapped, and its foreign keys (declared or in the schema) to one.
fn mapped_key_columns(config: &Config, t: &TableConfig) -> anyhow::Result<Vec<String>> {
    let mapped = |name: &str| {
        config
            .tables
            .iter()
            .any(|x| x.name == name && x.keys == KeyMode::Map)
    };
    let mut columns = Vec::new();
    if t.keys == KeyMode::Map {
        columns.push(t.pk.clone());
    }
    let declared = t.references.iter().cloned();
    for (column, parent) in super::init::foreign_keys(&config.database, &t.name)?
        .into_iter()
        .chain(declared)
    {
        if mapped(&parent) && !columns.contains(&column) {
            columns.push(column);
        }
    }
    Ok(columns)
}

async fn check_remote(config: &Config) -> anyhow::Result<String> {
    let client = Client::new(&config.remote, &config.rate_limit)?;
    for t in &config.tables {
        client
            .pull(&t.name, &Cursor::default(), 1)
            .await
            .with_context(|| format!("ebb_pull on table {}", t.name))?;
    }
    // Without ebb_pull_all (an install by an older ebb) sync still works,
    // with one request per table and round instead of one.
    let cursors: Vec<(String, Cursor)> = config
        .tables
        .iter()
        .map(|t| (t.name.clone(), Cursor::default()))
        .collect();
    let combined = match client.pull_all(&cursors, 1).await {
        Ok(_) => "",
        Err(e) if e.is_missing_function("ebb_pull_all") => {
            " (no ebb_pull_all: apply `ebb remote-sql` again so that a round pulls every table in one request)"
        }
        Err(e) => return Err(e).context("ebb_pull_all"),
    };
    // Nor without ebb_push_pull: a round that pushes then makes two
    // requests instead of one. Probed with an empty push (writes nothing).
    let joined = match client.push_pull(&[], &cursors, 1).await {
        Ok(_) => "",
        Err(e) if e.is_missing_function("ebb_push_pull") => {
            " (no ebb_push_pull: apply `ebb remote-sql` again so that a round that pushes an edit is one request)"
        }
        Err(e) => return Err(e).context("ebb_push_pull"),
    };
    Ok(format!(
        "{} answers ebb_pull for every table{combined}{joined}",
        config.remote.rest_root
    ))
}

/// Whether the till would receive the server's change nudges: off, joined,
/// or why not (then `ebb run` polls), and whether every synced table has
/// its nudge trigger on this topic (`ebb_nudges`).
async fn check_realtime(config: &Config) -> Result<String, String> {
    let every = humantime::format_duration(config.sync.interval);
    let settings = match crate::remote::realtime::Settings::from_config(config) {
        Ok(None) => {
            return Ok(format!(
                "off (realtime.enabled = false): polling every {every}"
            ));
        }
        Ok(Some(s)) => s,
        Err(e) => {
            return Err(format!(
                "cannot be set up ({e}): ebb run will poll every {every}"
            ));
        }
    };
    let topic = &config.realtime.topic;
    let bound = config.remote.connect_timeout + config.realtime.heartbeat + Duration::from_secs(1);
    let probe = crate::remote::realtime::Listener::probe(settings);
    match tokio::time::timeout(bound, probe).await {
        Ok(Ok(())) => {
            let triggers = server_nudges(config).await?;
            Ok(format!("joined realtime:{topic}; {triggers}"))
        }
        Ok(Err(reason)) => Err(format!(
            "not joined ({reason}): ebb run will poll every {every}"
        )),
        Err(_) => Err(format!(
            "no join within {}: ebb run will poll every {every}",
            humantime::format_duration(bound)
        )),
    }
}

/// Whether every synced table nudges on `realtime.topic`: the sentence to
/// show, or what is missing (a warning: polling still syncs).
async fn server_nudges(config: &Config) -> Result<String, String> {
    let every = humantime::format_duration(config.sync.interval);
    let topic = &config.realtime.topic;
    let client = Client::new(&config.remote, &config.rate_limit).map_err(|e| e.to_string())?;
    let nudges = match client.nudges().await {
        Ok(n) => n,
        Err(e) if e.is_missing_function("ebb_nudges") => {
            return Err(format!(
                "joined realtime:{topic}, but the server has no nudge triggers (an install from \
                 before them: apply `ebb remote-sql` again); ebb run will poll every {every}"
            ));
        }
        Err(e) => return Err(format!("joined realtime:{topic}; ebb_nudges failed: {e}")),
    };
    let missing: Vec<&str> = config
        .tables
        .iter()
        .map(|t| t.name.as_str())
        .filter(|t| nudges.tables.get(*t).and_then(Option::as_deref) != Some(topic.as_str()))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "joined realtime:{topic}, but on the server {} nudge(s) no till on this topic: apply \
             `ebb remote-sql` again (changes there wait for the poll every {every})",
            missing.join(", ")
        ));
    }
    let via = if nudges.realtime {
        "Supabase Realtime and pg_notify"
    } else {
        "pg_notify (ebb-gateway)"
    };
    Ok(format!("every synced table nudges through {via}"))
}

/// Every synced column's local type and values against the server's
/// column: one finding per pair that would not round-trip, and per column
/// only one side has.
async fn check_types(config: &Config) -> anyhow::Result<Vec<Finding>> {
    let client = Client::new(&config.remote, &config.rate_limit)?;
    let mut findings = Vec::new();
    for t in &config.tables {
        let server = client.describe(&t.name).await.with_context(|| {
            format!(
                "ebb_describe on table {} (an install from before it: apply `ebb remote-sql` again)",
                t.name
            )
        })?;
        let info = inspect::describe_file(&config.database, &t.name)?;
        let keyed = mapped_key_columns(config, t)?;
        for local in &info.columns {
            // Exactly as spelled: ebb_push writes the row's keys that name
            // a column, and "Name" does not name "name".
            let Some(theirs) = server.iter().find(|s| s.column == local.name) else {
                let spelled = server
                    .iter()
                    .find(|s| s.column.eq_ignore_ascii_case(&local.name));
                findings.extend(typecheck::missing(&t.name, Some(local), spelled));
                continue;
            };
            // Global keys (device number * 10^12 + id) need bigint.
            if keyed.contains(&local.name) && theirs.type_name != "bigint" {
                findings.push(Finding {
                    severity: Severity::Changes,
                    line: format!(
                        "{}.{}: {} on the server holds keys of a keys = \"map\" table: global keys \
                         (device number * 10^12 + local id) need bigint",
                        t.name, local.name, theirs.type_name
                    ),
                });
                continue;
            }
            let scale = typecheck::scale_of(local, theirs);
            let seen = typecheck::observe(&config.database, &t.name, &local.name, scale)?;
            findings.extend(typecheck::judge(&t.name, local, theirs, &seen));
        }
        for theirs in &server {
            if !info.columns.iter().any(|c| c.name == theirs.column) {
                findings.extend(typecheck::missing(&t.name, None, Some(theirs)));
            }
        }
    }
    Ok(findings)
}

pub fn remote_sql(config_path: &Path) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let tables: Vec<(String, String)> = config
        .tables
        .iter()
        .map(|t| (t.name.clone(), t.pk.clone()))
        .collect();
    let script = crate::remote::sql::install_sql_on(&tables, &config.realtime.topic);
    say!("{}", script.trim_end());
    Ok(ExitCode::SUCCESS)
}
