//! `ebb policy run` and `ebb policy replay`: plugin author tooling. Both
//! run plugins with production limits and print what they decided, what
//! it cost and what they logged. A merged row is checked as sync checks it
//! (`policy::check_merged`: same key, the table's local columns, the
//! schema), and a refused one is reported with sync's reason, as the manual
//! conflict sync would record. `run` exits 1 when a validator answers
//! invalid or a merged row is refused, so it can gate a script.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::Value;

use super::load::open;
use crate::config::{self, Config, ConflictPolicy, PluginLimits};
use crate::local::{Local, describe, describe_file};
use crate::model::{Row, key_text};
use crate::policy::{
    Answerer, CallFailure, CallReport, Plugin, PolicyError, Resolution, Sandbox, Shape,
    TableSchema, check_merged,
};

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Run PLUGIN once on a row (--validate ROW.json) or a conflict
    /// (--conflict FILE with {"local":..,"remote":..,"base":..}; null for
    /// a deleted side), with the table's limits from policies.toml.
    ///
    /// Prints the verdict (valid / invalid: field: message, or the
    /// resolution), the fuel used, the time taken and the plugin's log
    /// (also when the call fails: then on stderr, before the error).
    /// A merged row is checked as sync checks it (the conflict's key, the
    /// table's columns from the configured database, its schema); a
    /// refused one prints "manual: REASON", as sync would record it.
    /// Exit code 1 when the validator answers invalid or a merged row is
    /// refused.
    Run {
        /// The plugin: a WebAssembly component (.wasm) built with the
        /// ebb-policy SDK.
        plugin: PathBuf,
        /// Validate the row in this JSON file (one object).
        #[arg(
            long,
            value_name = "ROW.json",
            conflicts_with = "conflict",
            required_unless_present = "conflict"
        )]
        validate: Option<PathBuf>,
        /// Resolve the conflict in this JSON file.
        #[arg(long, value_name = "FILE")]
        conflict: Option<PathBuf>,
        /// The table the input belongs to: passed to the plugin and selects
        /// that table's limits. Default: the table policies.toml gives this
        /// plugin to.
        #[arg(long)]
        table: Option<String>,
    },
    /// Re-run the manual conflicts recorded for TABLE (open and settled)
    /// through its resolver (or --plugin NEW.wasm) and print where the
    /// answers differ from what was decided.
    Replay {
        /// A synced table of policies.toml.
        #[arg(long)]
        table: String,
        /// The resolver to try instead of the table's own.
        #[arg(long, value_name = "NEW.wasm")]
        plugin: Option<PathBuf>,
    },
}

pub fn run(config_path: &Path, cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    let sandbox = Sandbox::new()?;
    match cmd {
        PolicyCommand::Run {
            plugin,
            validate,
            conflict,
            table,
        } => {
            let config = config::load(config_path).ok();
            let table = match table {
                Some(t) => t,
                None => table_of(config.as_ref(), &plugin)?,
            };
            let limits = limits_for(config.as_ref(), &table);
            let plugin = Plugin::load(&sandbox, &plugin)?;
            if let Some(file) = validate {
                let row = read_json(&file)?;
                let report = plugin
                    .validate(&limits, &table, &row.to_string())
                    .map_err(show_log)?;
                let verdict = match &report.value {
                    Ok(()) => String::from("valid"),
                    Err(list) => list
                        .iter()
                        .map(|v| match v.field.as_str() {
                            "" => format!("invalid: {}", v.message),
                            field => format!("invalid: {field}: {}", v.message),
                        })
                        .collect::<Vec<_>>()
                        .join("\n"),
                };
                print_report(&verdict, &report)?;
                if report.value.is_err() {
                    return Ok(ExitCode::FAILURE);
                }
            } else if let Some(file) = conflict {
                let c = read_json(&file)?;
                let side = |k: &str| c.get(k).cloned().unwrap_or(Value::Null);
                let base = side("base");
                let base = (!base.is_null()).then(|| base.to_string());
                let report = plugin
                    .resolve(
                        &limits,
                        &table,
                        &side("local").to_string(),
                        &side("remote").to_string(),
                        base.as_deref(),
                    )
                    .map_err(show_log)?;
                if let Resolution::Merged(row) = &report.value {
                    let check = AnswerCheck::new(config.as_ref(), &table, None)?;
                    let pk = check.key_of(&[side("local"), side("remote"), side("base")], row);
                    if let Err(reason) = check.check(plugin.name(), &table, &pk, row) {
                        print_report(&format!("manual: {reason}"), &report)?;
                        eprintln!(
                            "ebb: merged row refused: sync would leave this conflict to a person"
                        );
                        return Ok(ExitCode::FAILURE);
                    }
                }
                print_report(&describe_answer(&report.value), &report)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Replay { table, plugin } => replay(config_path, &sandbox, &table, plugin),
    }
}

fn replay(
    config_path: &Path,
    sandbox: &Sandbox,
    table: &str,
    plugin: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let (config, local) = open(config_path)?;
    let Some(t) = config.tables.iter().find(|t| t.name == table) else {
        bail!(
            "--table {table}: not a synced table in {}",
            config_path.display()
        );
    };
    let path = match (plugin, &t.conflict) {
        (Some(p), _) => p,
        (None, ConflictPolicy::Plugin(p)) => p.clone(),
        (None, _) => bail!("tables.{table} has no resolver plugin; pass --plugin NEW.wasm"),
    };
    let plugin = Plugin::load(sandbox, &path)?;
    let check = AnswerCheck::new(Some(&config), table, Some(&local))?;
    let (mut same, mut differ) = (0, 0);
    for c in local
        .conflicts(true)?
        .into_iter()
        .filter(|c| c.table == table)
    {
        let text = |r: &Option<Row>| {
            r.as_ref()
                .map_or("null".into(), |r| Value::Object(r.clone()).to_string())
        };
        let base = c
            .base
            .as_ref()
            .map(|b| Value::Object(b.clone()).to_string());
        let answer = match plugin.resolve(
            &t.limits,
            table,
            &text(&c.local),
            &text(&c.remote),
            base.as_deref(),
        ) {
            Ok(report) => match &report.value {
                Resolution::Merged(row) => match check.check(plugin.name(), table, &c.pk, row) {
                    Ok(()) => describe_answer(&report.value),
                    Err(reason) => format!("manual: {reason}"),
                },
                other => describe_answer(other),
            },
            Err(e) => format!("error: {e}"),
        };
        // What was decided, and how much of the answer must match: a
        // policy's own decision is compared whole (a merged row field by
        // field); a person's choice by its kind; an open conflict means the
        // policy asked for a person.
        let (decided, whole) = match c.resolution.as_deref() {
            Some(d @ ("take-local" | "take-remote")) => (d.to_string(), true),
            Some(d) if d.starts_with("merged ") => (d.to_string(), true),
            Some("local") => ("take-local (by a person)".to_string(), false),
            Some("remote") => ("take-remote (by a person)".to_string(), false),
            Some("row") => ("merged (a row written by a person)".to_string(), false),
            // Settled by later events, not by a decision: nothing to compare.
            Some(_) => continue,
            None => (format!("manual: {}", c.reason), false),
        };
        let kind = |s: &str| s.split([':', ' ']).next().unwrap_or("").to_string();
        let agrees = if whole {
            answer == decided
        } else {
            kind(&answer) == kind(&decided)
        };
        if agrees {
            same += 1;
        } else {
            differ += 1;
            say!(
                "#{} {}/{}: decided {decided}; plugin now says {answer}",
                c.id,
                c.table,
                c.pk
            );
        }
    }
    say!("{same} conflicts answered as decided, {differ} differ");
    Ok(ExitCode::SUCCESS)
}

fn limits_for(config: Option<&Config>, table: &str) -> PluginLimits {
    config
        .and_then(|c| c.tables.iter().find(|t| t.name == table))
        .map(|t| t.limits.clone())
        .unwrap_or_default()
}

/// The table policies.toml gives `plugin` to, as validator or resolver.
fn table_of(config: Option<&Config>, plugin: &Path) -> anyhow::Result<String> {
    let same = |p: &Path| {
        let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        abs(p) == abs(plugin)
    };
    let found = config.and_then(|c| {
        c.tables.iter().find(|t| {
            t.validate.as_deref().is_some_and(same)
                || matches!(&t.conflict, ConflictPolicy::Plugin(p) if same(p))
        })
    });
    match found {
        Some(t) => Ok(t.name.clone()),
        None => bail!(
            "{}: no table in policies.toml uses this plugin; pass --table NAME \
             (the plugin is told which table the row belongs to)",
            plugin.display()
        ),
    }
}

/// What sync checks a merged answer for `table` against: the key column
/// (policies.toml), the local columns (described from `local`, or from the
/// configured database read-only) and the JSON Schema. What it cannot
/// check is said on stderr.
struct AnswerCheck {
    shape: Option<Shape>,
    schema: Option<TableSchema>,
}

impl AnswerCheck {
    fn new(config: Option<&Config>, table: &str, local: Option<&Local>) -> anyhow::Result<Self> {
        let Some((config, t)) =
            config.and_then(|c| Some((c, c.tables.iter().find(|t| t.name == table)?)))
        else {
            eprintln!(
                "ebb: note: table {table} is not in policies.toml: merged rows are not checked \
                 for their key, columns or schema"
            );
            return Ok(AnswerCheck {
                shape: None,
                schema: None,
            });
        };
        let schema = match &t.schema {
            Some(file) => Some(TableSchema::compile(table, file)?),
            None => None,
        };
        let described = match local {
            Some(local) => describe(local, table),
            None => describe_file(&config.database, table),
        };
        let shape = match described {
            Ok(info) => Shape::new(&t.pk, info.columns.into_iter().map(|c| c.name).collect()),
            Err(e) => {
                eprintln!(
                    "ebb: note: column check skipped (cannot describe table {table} in {}: {e}); \
                     only the key is checked",
                    config.database.display()
                );
                Shape::key_only(&t.pk)
            }
        };
        Ok(AnswerCheck {
            shape: Some(shape),
            schema,
        })
    }

    /// The key of the conflict: the first side's key column that holds a
    /// key, else (nothing to compare with; said on stderr) the answer's own.
    fn key_of(&self, sides: &[Value], answer: &Row) -> String {
        let Some(shape) = &self.shape else {
            return String::new();
        };
        let column = shape.pk_column();
        if let Some(key) = sides.iter().find_map(|s| s.get(column).and_then(key_text)) {
            return key;
        }
        eprintln!(
            "ebb: note: no side of the conflict carries its key {column}: the key is not compared"
        );
        answer.get(column).and_then(key_text).unwrap_or_default()
    }

    fn check(&self, plugin: &str, table: &str, pk: &str, row: &Row) -> Result<(), String> {
        let who = Answerer::Plugin(plugin);
        check_merged(
            who,
            table,
            pk,
            self.shape.as_ref(),
            self.schema.as_ref(),
            row,
        )
    }
}

fn describe_answer(r: &Resolution) -> String {
    match r {
        Resolution::TakeLocal => "take-local".into(),
        Resolution::TakeRemote => "take-remote".into(),
        Resolution::Merged(row) => format!("merged {}", Value::Object(row.clone())),
        Resolution::Manual(reason) => format!("manual: {reason}"),
    }
}

fn print_report<T>(verdict: &str, report: &CallReport<T>) -> anyhow::Result<()> {
    say!("{verdict}");
    say!("fuel used: {}", report.fuel_used);
    say!("time: {:?}", report.elapsed);
    for (level, line) in &report.log {
        say!("log {level:?}: {line}");
    }
    Ok(())
}

/// A failed call's log, printed (to stderr, beside the error that ends the
/// command) so the author sees what the plugin did before it failed.
fn show_log(failure: CallFailure) -> PolicyError {
    let mut err = std::io::stderr().lock();
    for (level, line) in &failure.log {
        let _ = writeln!(err, "log {level:?}: {line}");
    }
    failure.error
}

fn read_json(file: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))
}
