//! `ebb service install | uninstall`: `ebb run` as a Windows service, for
//! tills that sync from boot without anyone logged in; and `ebb service
//! run`, what the service control manager starts.
//!
//! Owns the service's registration (name, account, command line, log file)
//! and its link to the control manager: the stop and shutdown controls
//! become the daemon loop's shutdown future (`sync::run_until`), so a
//! round in progress finishes before the service reports stopped. It must
//! not sync by any other path than `ebb run`'s. Elsewhere than on Windows
//! the commands refuse and name systemd (docs/operations.md). Called by
//! `cli::dispatch`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
pub enum ServiceCommand {
    /// Register `ebb run` for this policies.toml as a service that starts
    /// with Windows (run from an administrator's prompt; start it with
    /// `sc start NAME`).
    Install(InstallArgs),
    /// Stop the service and remove it (the database and the log are kept).
    Uninstall(NameArgs),
    /// What the service control manager starts; not for a person.
    #[command(hide = true)]
    Run(RunArgs),
}

#[derive(Args, Debug)]
pub struct NameArgs {
    /// The service's name: one service per database (ebb-shop, ebb-cafe).
    #[arg(long, default_value = "ebb")]
    name: String,
}

#[derive(Args, Debug)]
pub struct InstallArgs {
    #[command(flatten)]
    name: NameArgs,
    /// The account the service runs as. By default its own virtual account
    /// NT SERVICE\NAME, which reads and writes nothing until granted (the
    /// command prints the grants); LocalSystem can do anything on the till.
    #[arg(long)]
    account: Option<String>,
    /// Where the service writes its log (it has no console). By default
    /// ebb-NAME.log beside policies.toml.
    #[arg(long)]
    log: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    name: NameArgs,
    /// The log file: appended to, created when missing.
    #[arg(long)]
    log: PathBuf,
}

pub async fn service(config: &Path, command: ServiceCommand) -> anyhow::Result<ExitCode> {
    #[cfg(windows)]
    {
        match command {
            ServiceCommand::Install(args) => windows::install(config, args),
            ServiceCommand::Uninstall(args) => windows::uninstall(&args.name),
            ServiceCommand::Run(args) => windows::run(config, args),
        }
    }
    #[cfg(not(windows))]
    {
        let _ = (config, command);
        anyhow::bail!(
            "ebb service is for Windows; elsewhere run `ebb run` under systemd \
             (docs/operations.md has the unit)"
        )
    }
}

#[cfg(windows)]
mod windows;
