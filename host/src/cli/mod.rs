//! The `ebb` command: argument parsing (clap), logging setup and dispatch.
//!
//! Each subcommand lives in its own file and is glue only: it loads the
//! config, builds the objects through their one construction path and
//! prints. anyhow is used here and nowhere else in the crate.

/// `println!` that hands a closed stdout (`ebb status | head`) back as an
/// error instead of panicking; `main` then exits quietly.
macro_rules! say {
    () => {
        $crate::cli::write_line(format_args!(""))?
    };
    ($($arg:tt)*) => {
        $crate::cli::write_line(format_args!($($arg)*))?
    };
}

mod device;
mod init;
mod inspect;
mod load;
mod observe;
mod policy;
mod service;
mod setup;
mod sync;
mod typecheck;
mod typecheck_dates;

/// Where `ebb status` and `/health` are built (moved to [`crate::ops::view`]).
pub use crate::ops::view;

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
#[command(
    name = "ebb",
    version,
    propagate_version = true,
    after_long_help = AFTER_HELP
)]
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
    /// Write a starter policies.toml for an existing SQLite file: its tables
    /// parents first, each with a suggested key mode and conflict policy and
    /// why, none synced until you opt in (--table opts in), plus inferred
    /// row JSON Schemas and the policies.toml schema in schemas/ (existing
    /// files are kept).
    #[command(after_help = "\
Examples:
  ebb init --db app.db                              # every table listed, commented out
  ebb init --db app.db --table products,customers   # opt two tables in
  ebb --config shop/policies.toml init --db shop/app.db --force")]
    Init(init::InitArgs),
    /// Validate config, schemas, plugins, local tables and the remote
    /// before anything runs. Exit code 0 when everything is ready, 1 when a
    /// check failed (each prints an "ok" or "FAIL" line).
    ///
    /// The remote check calls ebb_pull with the API key from the variable
    /// named by remote.api_key_env (default EBB_API_KEY) or remote.api_key_file;
    /// the types check then compares each synced column with the server's
    /// (ebb_describe): FAIL when values would change, WARN when the types
    /// differ but nothing stored today is affected.
    Check,
    /// Print the SQL to apply once on the server (psql or Supabase's SQL
    /// editor): sync columns, triggers, tombstones, ebb_push and ebb_pull.
    #[command(after_help = "\
Example:
  ebb remote-sql | psql \"$SUPABASE_DB_URL\" -v ON_ERROR_STOP=1
Apply the app's own tables first; re-running the output is safe.")]
    RemoteSql,
    /// Push the queue and pull every table, once. Exit code 0 when the
    /// round completed, 1 when it ended early (the queue is kept), 3 when
    /// another sync holds the lock.
    Sync(sync::SyncArgs),
    /// Sync every `sync.interval` until interrupted, serving /metrics,
    /// /health, the local API (/api, docs/api.md) and the web console (/)
    /// on `ops.listen`.
    Run(sync::RunArgs),
    /// Show sync health, the queue, per-table last sync and conflicts.
    /// Exit code 0 when healthy, 1 when not.
    Status(inspect::StatusArgs),
    /// List queued changes, with why they are held (invalid, dead, retry).
    #[command(after_help = "\
Examples:
  ebb queue --state invalid,dead   # what is held and why
  ebb queue --json --limit 10")]
    Queue(inspect::QueueArgs),
    /// List, show and settle conflicts left for manual resolution.
    #[command(
        subcommand,
        after_help = "\
Examples:
  ebb conflicts list
  ebb conflicts show 3
  ebb conflicts resolve 3 --take local     # or --take remote, or --row fixed.json"
    )]
    Conflicts(inspect::ConflictsCommand),
    /// Run and test WebAssembly policy plugins.
    #[command(
        subcommand,
        after_help = "\
Examples:
  ebb policy run target/plugins/products_validator.wasm --validate row.json
  ebb policy run debts_resolver.wasm --conflict conflict.json --table debts
  ebb policy replay --table debts --plugin new_debts_resolver.wasm"
    )]
    Policy(policy::PolicyCommand),
    /// The gateway is its own program now, `ebb-gateway`, so that a till
    /// carries no Postgres client; this only says so.
    #[command(hide = true, disable_help_flag = true)]
    Gateway {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        args: Vec<String>,
    },
    /// Print this database's device id; --new gives it a new one (after
    /// cloning a till's disk block by block: file copies are detected).
    #[command(after_help = "\
Examples:
  ebb device          # the id this database syncs as
  ebb device --new    # on a till cloned from another's disk image, before its first sync")]
    Device(device::DeviceArgs),
    /// Run `ebb run` as a Windows service that starts with Windows:
    /// install it, uninstall it.
    #[command(
        subcommand,
        after_help = "\
Examples (from an administrator's prompt):
  ebb --config C:\\shop\\policies.toml service install
  sc start ebb
  ebb service uninstall"
    )]
    Service(service::ServiceCommand),
}

const AFTER_HELP: &str = "\
Exit codes:
  0  done: ready (check), healthy (status), the round completed (sync)
  1  the command ran and found a problem: a check failed, unhealthy, the
     round ended early (the queue is kept), a plugin answered invalid
  2  usage or setup error: bad flags, policies.toml does not load, a file
     is missing; nothing was changed
  3  another ebb holds this database's sync lock (ebb sync --wait waits)

Environment:
  EBB_API_KEY   the remote's API key (the variable named by remote.api_key_env;
                or remote.api_key_file). Never written in policies.toml.
  EBB_CONFIG    the configuration file, instead of --config
  RUST_LOG      log filter, e.g. RUST_LOG=ebb=debug

Run `ebb COMMAND --help` for each command's flags and examples.";

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
        Err(e) if load::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ebb: {}", load::render_error(&e));
            ExitCode::from(2)
        }
    }
}

/// One line to stdout; the error (a closed pipe) goes back to the command.
fn write_line(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)?;
    out.write_all(b"\n")
}

async fn dispatch(cli: Cli, progress: crate::ops::Progress) -> anyhow::Result<ExitCode> {
    let config = cli.config;
    match cli.command {
        Command::Init(args) => init::init(&config, args),
        Command::Check => setup::check(&config).await,
        Command::RemoteSql => setup::remote_sql(&config),
        Command::Sync(args) => sync::once(&config, args, progress).await,
        Command::Run(args) => sync::run(&config, args).await,
        Command::Status(args) => inspect::status(&config, args),
        Command::Queue(args) => inspect::queue(&config, args),
        Command::Conflicts(cmd) => inspect::conflicts(&config, cmd),
        Command::Policy(cmd) => policy::run(&config, cmd),
        Command::Gateway { .. } => anyhow::bail!(
            "the gateway is its own program: run `ebb-gateway` with the same flags \
             (build it with `cargo build --release -p ebb-gateway`)"
        ),
        Command::Device(args) => device::device(&config, args),
        Command::Service(cmd) => service::service(&config, cmd).await,
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
    // Colour only for a person at a terminal: not in files, pipes or
    // journald, and not when NO_COLOR is set.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
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
