//! `ebb sync --once` and `ebb run`: build the engine over the PostgREST
//! client and drive it; `run` also serves /metrics and /health and runs
//! the notify command on new conflicts, dead items and health changes.

use std::future::Future;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::load::load_with_database;
use super::view;
use crate::config::Config;
use crate::ops::{Health, Metrics, Progress};
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

/// The daemon: rounds every `sync.interval` until Ctrl-C / SIGTERM.
pub async fn run(path: &Path, _args: RunArgs) -> anyhow::Result<ExitCode> {
    let config = load_with_database(path)?;
    let metrics = Metrics::new();
    let notify = config.alerts.notify_command.clone();
    let listen = config.ops.listen.clone();
    let interval = config.sync.interval;
    let mut engine = engine(config)?.with_metrics(metrics.clone());
    let (health_tx, health_rx) = tokio::sync::watch::channel(Health::not_assessed());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    if let Some(addr) = listen {
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("ops.listen: cannot listen on {addr}"))?;
        tracing::info!(%addr, "serving /metrics and /health");
        let mut stop = stop_rx.clone();
        let server = crate::ops::server::serve(listener, metrics.clone(), health_rx, async move {
            let _ = stop.wait_for(|s| *s).await;
        });
        tokio::spawn(server);
    }
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let mut last_healthy = None;
    loop {
        let report = match engine.run_once().await {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(error = %e, "sync round did not run");
                None
            }
        };
        let status = engine
            .local()
            .status(now_ms(), engine.config().alerts.error_window)?;
        let health = view::health(engine.config(), &status, now_ms());
        metrics.set_queue(&status.queue);
        if let Some(r) = &report {
            tracing::info!(
                pushed = r.pushed,
                pulled = r.pulled,
                manual = r.manual,
                invalid = r.invalid,
                dead = r.dead,
                error = r.error.as_deref().unwrap_or(""),
                "round"
            );
            if r.manual > 0 || r.dead > 0 {
                notify_event(&notify, "items", serde_json::to_value(r)?).await;
            }
            // A write a policy discarded is announced too (counts, never values).
            if r.overwritten_local + r.overwritten_remote > 0 {
                notify_event(&notify, "overwritten", serde_json::to_value(r)?).await;
            }
        }
        if last_healthy != Some(health.healthy) {
            notify_event(&notify, "health", serde_json::to_value(&health)?).await;
            last_healthy = Some(health.healthy);
        }
        let _ = health_tx.send(health);
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(interval) => {}
        }
    }
    let _ = stop_tx.send(true);
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Registers for SIGINT and SIGTERM at once (a signal during the first
/// round is caught, not fatal) and completes when either arrives.
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
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs `alerts.notify_command` with a JSON event on stdin. A failing
/// command is logged, never fatal.
async fn notify_event(command: &Option<Vec<String>>, kind: &str, body: serde_json::Value) {
    let Some(argv) = command else { return };
    let Some((program, rest)) = argv.split_first() else {
        return;
    };
    let event = serde_json::json!({ "event": kind, "at": now_ms(), "data": body });
    let spawned = tokio::process::Command::new(program)
        .args(rest)
        .stdin(std::process::Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(%program, error = %e, "alerts.notify_command could not start");
            return;
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        use tokio::io::AsyncWriteExt;
        let _ = stdin.write_all(event.to_string().as_bytes()).await;
    }
    let program = program.clone();
    tokio::spawn(async move {
        match child.wait().await {
            Ok(s) if s.success() => {}
            Ok(s) => tracing::warn!(%program, status = %s, "alerts.notify_command failed"),
            Err(e) => tracing::warn!(%program, error = %e, "alerts.notify_command failed"),
        }
    });
}
