//! `ebb status`, `ebb queue` and `ebb conflicts`: read (and, for
//! `conflicts resolve`, settle through `ops::settle`, as the local API
//! does) the local state. None of them talks to the remote.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{ArgGroup, Args, Subcommand};

use super::Output;
use super::load::open;
use crate::local::{Choice, QUEUE_STATES};
use crate::model::Row;
use crate::ops::settle::{Refused, settle};
use crate::ops::view;
use crate::sync::now_ms;

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    out: Output,
}

#[derive(Args, Debug)]
pub struct QueueArgs {
    /// Only items in these states (comma-separated); default: all.
    #[arg(long, value_delimiter = ',', value_parser = QUEUE_STATES)]
    state: Vec<String>,
    /// At most this many items.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    #[command(flatten)]
    out: Output,
}

#[derive(Subcommand, Debug)]
pub enum ConflictsCommand {
    /// Open conflicts (with --all, settled ones too).
    List {
        /// Settled conflicts too, with how they were settled (kept for
        /// sync.keep_resolved_conflicts, default 90 days).
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        out: Output,
    },
    /// One conflict as JSON, with its local, remote and base rows.
    Show {
        /// The conflict's number, as `ebb conflicts list` shows it (#ID).
        id: i64,
    },
    /// Settle a conflict: keep the local row, take the remote one, or
    /// write the row in FILE (a JSON object). The next sync pushes it.
    #[command(group(ArgGroup::new("how").required(true).args(["take", "row"])))]
    Resolve {
        /// The conflict's number, as `ebb conflicts list` shows it (#ID).
        id: i64,
        /// Keep this device's row (local) or the server's (remote).
        #[arg(long, value_parser = ["local", "remote"])]
        take: Option<String>,
        /// Write this row instead: a JSON object with every column.
        #[arg(long, value_name = "FILE")]
        row: Option<PathBuf>,
    },
}

/// Exit 0 when healthy, 1 when not.
pub fn status(path: &Path, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let (config, local) = open(path)?;
    let now = now_ms();
    let status = local.status(now, config.alerts.error_window)?;
    let view = view::status_view(&config, &status, now);
    if args.out.json {
        say!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        say!("{}", crate::ops::render_text(&view).trim_end());
    }
    Ok(if view.health.healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn queue(path: &Path, args: QueueArgs) -> anyhow::Result<ExitCode> {
    let (_, local) = open(path)?;
    let states: Vec<&str> = args.state.iter().map(String::as_str).collect();
    let items = local.queue_items(&states, args.limit)?;
    if args.out.json {
        say!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(ExitCode::SUCCESS);
    }
    if items.is_empty() {
        if args.state.is_empty() {
            say!("the queue is empty");
        } else {
            say!("no items in state {}", args.state.join(", "));
        }
    }
    for i in items {
        let op = match i.op {
            crate::model::Op::Upsert => "upsert",
            crate::model::Op::Delete => "delete",
        };
        say!(
            "{:<8} {}/{} {op}, attempts {}",
            i.state,
            i.table,
            i.pk,
            i.attempts
        );
        if let Some(e) = i.error {
            say!("         {e}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn conflicts(path: &Path, cmd: ConflictsCommand) -> anyhow::Result<ExitCode> {
    let (config, mut local) = open(path)?;
    match cmd {
        ConflictsCommand::List { all, out } => {
            let list = local.conflicts(all)?;
            if out.json {
                say!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                say!("no {}conflicts", if all { "" } else { "open " });
            } else {
                for c in list {
                    say!(
                        "#{} {}/{} policy {} — {}{}",
                        c.id,
                        c.table,
                        c.pk,
                        c.policy,
                        c.reason,
                        c.resolution
                            .map(|r| format!(" (settled: {r})"))
                            .unwrap_or_default()
                    );
                }
            }
        }
        ConflictsCommand::Show { id } => {
            let c = local
                .conflict(id)
                .with_context(|| format!("conflict #{id}: see `ebb conflicts list --all`"))?;
            say!("{}", serde_json::to_string_pretty(&c)?);
        }
        ConflictsCommand::Resolve { id, take, row } => {
            let (choice, file) = match (take.as_deref(), row) {
                (Some("local"), None) => (Choice::Local, None),
                (Some("remote"), None) => (Choice::Remote, None),
                (None, Some(file)) => (Choice::Row(read_row(&file)?), Some(file)),
                _ => bail!("say how to settle it: --take local, --take remote or --row FILE"),
            };
            // Only a row written by hand is checked against the policies
            // (plugins compiled): taking a side needs none of them.
            let policies = match &choice {
                Choice::Row(_) => Some(crate::policy::Policies::load(&config)?),
                _ => None,
            };
            match settle(&mut local, policies.as_ref(), id, choice, now_ms()) {
                Ok(c) => say!(
                    "conflict #{id} ({}/{}) settled; the next sync carries it",
                    c.table,
                    c.pk
                ),
                Err(Refused::NotFound { .. }) => {
                    bail!("conflict #{id} not found: see `ebb conflicts list --all`")
                }
                Err(e @ (Refused::NotARow { .. } | Refused::Invalid { .. })) => {
                    let file = file.as_deref().unwrap_or(Path::new("the row"));
                    bail!("{}: {e}; nothing changed", file.display())
                }
                Err(e) => bail!(e),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_row(file: &Path) -> anyhow::Result<Row> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    match value {
        serde_json::Value::Object(row) => Ok(row),
        _ => bail!("{}: expected a JSON object (one row)", file.display()),
    }
}
