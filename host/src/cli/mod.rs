//! The `ebb` command: argument parsing (clap), logging setup and dispatch.
//!
//! Each subcommand lives in its own file and is glue only: it loads the
//! config, builds the objects through their one construction path and
//! prints. anyhow is used here and nowhere else in the crate.

mod inspect;
mod policy;
mod setup;
mod sync;
mod view;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// ebb keeps an app's local SQLite database in two-way sync with Postgres
/// through PostgREST (Supabase), with per-table validation and conflict
/// policies as sandboxed WebAssembly plugins.
///
/// Start with `ebb init --db app.db`, opt tables in in policies.toml, apply
/// `ebb remote-sql` on the server once, run `ebb check`, then `ebb sync
/// --once` or `ebb run`.
#[derive(Parser, Debug)]
#[command(name = "ebb", version, propagate_version = true)]
pub struct Cli {
    /// The configuration file.
    #[arg(
        long,
        global = true,
        default_value = "policies.toml",
        env = "EBB_CONFIG"
    )]
    config: PathBuf,
    /// Log more (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write a starter policies.toml for an existing SQLite file, with its
    /// tables listed and none synced until you opt in; with --table, opt
    /// tables in and infer their JSON Schemas into schemas/.
    Init(setup::InitArgs),
    /// Validate config, schemas, plugins, local tables and the remote
    /// before anything runs. Exit code 0 when everything is ready.
    Check,
    /// Print the SQL to apply once on the server (psql or Supabase's SQL
    /// editor): sync columns, triggers, tombstones, ebb_push and ebb_pull.
    RemoteSql,
    /// Push the queue and pull every table.
    Sync(sync::SyncArgs),
    /// Sync every `sync.interval` until interrupted, serving /metrics and
    /// /health on `ops.listen`.
    Run(sync::RunArgs),
    /// Show sync health, the queue, per-table last sync and conflicts.
    /// Exit code 0 when healthy, 1 when not.
    Status(inspect::StatusArgs),
    /// List queued changes, with why they are held (invalid, dead, retry).
    Queue(inspect::QueueArgs),
    /// List, show and settle conflicts left for manual resolution.
    #[command(subcommand)]
    Conflicts(inspect::ConflictsCommand),
    /// Run and test WebAssembly policy plugins.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Serve ebb_push and ebb_pull like PostgREST over a Postgres
    /// connection (on-premises shops without Supabase, and the tests).
    Gateway(setup::GatewayArgs),
}

/// Options shared by commands that print.
#[derive(Args, Debug, Clone, Copy)]
struct Output {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// The entry point of the `ebb` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let progress = crate::ops::Progress::new(matches!(cli.command, Command::Run(_)));
    // The log format is a config key; a config that does not load is
    // reported by the command itself, in text.
    let json = crate::config::load(&cli.config)
        .is_ok_and(|c| c.ops.log_format == crate::config::LogFormat::Json);
    init_logging(cli.verbose, json, &progress);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ebb: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(dispatch(cli, progress)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ebb: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn dispatch(cli: Cli, progress: crate::ops::Progress) -> anyhow::Result<ExitCode> {
    let config = cli.config;
    match cli.command {
        Command::Init(args) => setup::init(&config, args),
        Command::Check => setup::check(&config).await,
        Command::RemoteSql => setup::remote_sql(&config),
        Command::Sync(args) => sync::once(&config, args, progress).await,
        Command::Run(args) => sync::run(&config, args).await,
        Command::Status(args) => inspect::status(&config, args),
        Command::Queue(args) => inspect::queue(&config, args),
        Command::Conflicts(cmd) => inspect::conflicts(&config, cmd),
        Command::Policy(cmd) => policy::run(&config, cmd),
        Command::Gateway(args) => setup::gateway(args).await,
    }
}

fn init_logging(verbose: u8, json: bool, progress: &crate::ops::Progress) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(progress.log_writer());
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.with_target(false).try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_takes_config() {
        let cli =
            Cli::try_parse_from(["ebb", "status", "--config", "x.toml", "--json"]).expect("parses");
        assert_eq!(cli.config, PathBuf::from("x.toml"));
    }
}
