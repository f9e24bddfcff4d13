//! `ebb sync --once` and `ebb run`: build the engine over the PostgREST
//! client and drive it. `run` hands it to the library's daemon
//! ([`crate::ops::daemon`]: rounds, /metrics, /health, the local API, the
//! console, events, the notify command) with the stop signal below.

use std::future::Future;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::load::load_with_database;
use crate::config::Config;
use crate::ops::{Daemon, Progress};
use crate::remote::postgrest::Client;
use crate::sync::{Engine, RoundReport, SyncError, now_ms};

#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  ebb sync --once          # one round; the API key comes from EBB_API_KEY
  ebb sync --once --json   # the round's report as JSON on stdout
  ebb sync --wait          # queue behind a running `ebb run` instead of exiting 3")]
pub struct SyncArgs {
    /// Run one round and exit (the only mode of `ebb sync`; `ebb run` loops).
    #[arg(long, default_value_t = true)]
    once: bool,
    /// Print the round's report as JSON (pushed, pulled, resolved, manual,
    /// invalid, retrying, dead, completed_tables, recovered, error).
    #[arg(long)]
    json: bool,
    /// Wait for another running sync instead of exiting (overrides
    /// sync.wait_for_lock).
    #[arg(long)]
    wait: bool,
}

#[derive(Args, Debug)]
pub struct RunArgs {}

pub(super) fn engine(config: Config) -> anyhow::Result<Engine<Client>> {
    let client = Client::new(&config.remote, &config.rate_limit)
        .context("cannot set up the connection to the remote")?;
    Engine::new(config, client).context("cannot start sync")
}

/// One round. Exit 0 when it completed, 1 when it ended early (remote
/// down, auth refused: the queue is kept), 3 when another sync holds the lock.
pub async fn once(path: &Path, args: SyncArgs, progress: Progress) -> anyhow::Result<ExitCode> {
    let config = load_with_database(path)?;
    let wait = args.wait || config.sync.wait_for_lock;
    let lease = config.sync.lease;
    let mut engine = engine(config)?.with_progress(progress);
    let report = loop {
        match engine.run_once().await {
            Err(SyncError::Busy { owner, expires_at }) if wait => {
                let left = (expires_at - now_ms()).clamp(100, crate::sync::ms(lease).max(100));
                tracing::info!(%owner, "another sync is running; waiting");
                tokio::time::sleep(Duration::from_millis(left as u64)).await;
            }
            Err(e @ SyncError::Busy { .. }) => {
                eprintln!("ebb: {e}; nothing was synced: try again later or pass --wait");
                return Ok(ExitCode::from(3));
            }
            // Not a setup error: another process took the lock over. What
            // this round settled stays settled; the rest waits for it.
            Err(e @ SyncError::LeaseLost) => {
                eprintln!(
                    "ebb: {e}; this round stopped (what it settled is kept, the rest is left to the other process)"
                );
                return Ok(ExitCode::from(3));
            }
            other => break other?,
        }
    };
    print_report(&report, args.json)?;
    Ok(if report.error.is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_report(report: &RoundReport, json: bool) -> anyhow::Result<()> {
    if json {
        say!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    say!(
        "pushed {}, pulled {}, conflicts resolved {}, left for you {}, invalid {}, retrying {}, dead {}",
        report.pushed,
        report.pulled,
        report.resolved,
        report.manual,
        report.invalid,
        report.retrying,
        report.dead
    );
    // A transaction open for an instant somewhere on the cluster is normal;
    // one that has held the horizon for a while is worth a line.
    if let Some(since) = report.pull_held_since
        && now_ms() - since >= 1000
    {
        let ago = crate::ops::status::ago(now_ms(), since);
        say!(
            "pull held back since {ago} by a transaction open on the server: newer rows wait for it"
        );
    }
    if report.deferred > 0 {
        say!(
            "{} pulled row(s) set aside until this device's unanswered push of them is settled",
            report.deferred
        );
    }
    if report.overwritten_local + report.overwritten_remote > 0 {
        say!(
            "overwritten by conflict policies: {} local write(s), {} remote write(s) (ebb conflicts list --all)",
            report.overwritten_local,
            report.overwritten_remote
        );
    }
    if report.changed_by_server > 0 {
        say!(
            "{} row(s) this device wrote came back from the server with other values (a trigger, a default or a column type of its own): taken here as the server has them (the log names their columns)",
            report.changed_by_server
        );
    }
    if report.skipped_writes > 0 {
        say!(
            "{} write(s) an app trigger made to a synced table while ebb applied pulled rows were skipped: the device that made the change synced them (the log names the tables)",
            report.skipped_writes
        );
    }
    if report.recovered > 0 {
        say!(
            "recovered {} items left in flight by an interrupted sync",
            report.recovered
        );
    }
    if let Some(e) = &report.error {
        say!("the round ended early: {e}");
        say!("nothing is lost: the queue is kept and retried next round");
    }
    if report.manual > 0 {
        say!("see `ebb conflicts list` for the conflicts left for you");
    }
    if report.invalid > 0 {
        say!("see `ebb queue --state invalid` for the rows held as invalid");
    }
    Ok(())
}

/// The daemon: rounds every `sync.interval` until Ctrl-C / SIGTERM (on
/// Windows Ctrl-C, Ctrl-Break or the console closing).
pub async fn run(path: &Path, _args: RunArgs) -> anyhow::Result<ExitCode> {
    run_until(path, shutdown_signal()).await
}

/// The daemon loop of `ebb run` and the Windows service
/// ([`crate::ops::daemon`], the library's): a round that has started
/// finishes (each batch it settled is committed), then `shutdown` is
/// checked before the next.
pub(super) async fn run_until(
    path: &Path,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<ExitCode> {
    let config = load_with_database(path)?;
    let client = Client::new(&config.remote, &config.rate_limit)
        .context("cannot set up the connection to the remote")?;
    let daemon = Daemon::start(config, client)
        .await
        .context("cannot start sync")?;
    daemon.run(shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

/// Registers for every stop request at once (one arriving during the first
/// round is caught, not fatal) and completes when the first arrives:
/// SIGINT and SIGTERM on unix; Ctrl-C, Ctrl-Break, the console closing and
/// system shutdown on Windows, where a service's stop comes through its
/// control handler instead (`service`). Windows ends the process 5 s
/// after the console closes, round or not.
pub(super) fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async fn wait(signal: Option<Signal>) {
            match signal {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        async move {
            tokio::select! {
                _ = wait(term) => {}
                _ = wait(int) => {}
            }
        }
    }
    #[cfg(windows)]
    {
        use tokio::signal::windows::{ctrl_break, ctrl_c, ctrl_close, ctrl_shutdown};
        let c = ctrl_c().ok();
        let brk = ctrl_break().ok();
        let close = ctrl_close().ok();
        let down = ctrl_shutdown().ok();
        /// The first event of one kind; never, when it could not be
        /// registered (no console).
        async fn wait(event: Option<impl Future<Output = Option<()>>>) {
            match event {
                Some(event) => {
                    event.await;
                }
                None => std::future::pending().await,
            }
        }
        async move {
            let (mut c, mut brk, mut close, mut down) = (c, brk, close, down);
            tokio::select! {
                _ = wait(c.as_mut().map(|s| s.recv())) => {}
                _ = wait(brk.as_mut().map(|s| s.recv())) => {}
                _ = wait(close.as_mut().map(|s| s.recv())) => {}
                _ = wait(down.as_mut().map(|s| s.recv())) => {}
            }
        }
    }
    #[cfg(not(any(unix, windows)))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
