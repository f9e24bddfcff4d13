//! The daemon of `ebb run`, owned by the library: a round every
//! `sync.interval`, and sooner when something moved: at once when the API
//! asks, [`NUDGE_DELAY`] after the server's nudge (Realtime), and
//! `sync.push_delay` after a committed local write (`wake`). Then health,
//! metrics, history, events and `alerts.notify_command`, until the shutdown
//! future an embedder or the CLI passes in completes. It serves `/metrics`,
//! `/health`, the local API and the console on `ops.listen`.
//!
//! Events only make rounds sooner: the `sync.interval` poll runs whatever
//! the Realtime socket does, so a lost nudge or a missed write costs
//! latency, never data.
//!
//! ```no_run
//! # async fn demo(config: ebb::config::Config, remote: impl ebb::remote::Remote) {
//! let daemon = ebb::ops::daemon::Daemon::start(config, remote).await.unwrap();
//! let mut events = daemon.events().subscribe();      // in-process events
//! daemon.run(async { /* e.g. the app's quit signal */ }).await.unwrap();
//! # }
//! ```
//!
//! Owns the loop and its one set of log lines; decides nothing about
//! what a round does (`sync::Engine::run_once`) or what is healthy
//! (`ops::health`). `watch` turns two looks at the state into events;
//! `notify` runs the notify command; `soon` says when the next round is
//! due after one; `wake` watches what should start a round sooner
//! (nudges, the socket, local writes); `serve` binds and serves
//! `ops.listen`.

mod error;
mod notify;
mod serve;
mod soon;
pub mod wake;
pub mod watch;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::{Notify, watch as channel};

use crate::config::Config;
use crate::local::{HistorySample, Local};
use crate::ops::api::{Api, Parts, Rules};
use crate::ops::events::{Event, Events, RoundCounts};
use crate::ops::{Health, Metrics, Progress, view};
use crate::remote::Remote;
use crate::remote::realtime::Status;
use crate::sync::{Engine, now_ms};
pub use error::DaemonError;
use soon::{Soon, Turn};
use wake::{RealtimeView, Wake, Woken};
use watch::Seen;

/// How long nudges from the server are gathered before the pull they
/// start (the nudges of one server transaction arrive together).
pub const NUDGE_DELAY: Duration = Duration::from_millis(20);

/// Held items read per look (the events name at most
/// [`watch::MAX_ITEM_EVENTS`] of them).
const HELD_LOOK: usize = 1000;

/// How long a stopping daemon waits for its server's open requests.
const SERVER_GRACE: Duration = Duration::from_secs(5);

/// Steers a running daemon: start a round now, follow its events.
#[derive(Clone, Debug)]
pub struct DaemonHandle {
    nudge: Arc<Notify>,
    events: Events,
}

impl DaemonHandle {
    /// Starts a round now (or right after the running one).
    pub fn sync_now(&self) {
        self.nudge.notify_one();
    }

    /// The event hub.
    pub fn events(&self) -> Events {
        self.events.clone()
    }
}

/// A started daemon: the engine built, the listener bound, not yet looping.
pub struct Daemon<R: Remote> {
    engine: Engine<R>,
    metrics: Metrics,
    events: Events,
    seen: Arc<Mutex<Seen>>,
    nudge: Arc<Notify>,
    rounds: Arc<AtomicU64>,
    health: channel::Sender<Health>,
    /// The device id the engine syncs as (renewed by `ebb device --new`).
    device: channel::Sender<String>,
    stop: channel::Sender<bool>,
    realtime: channel::Sender<RealtimeView>,
    server: Option<(TcpListener, Api)>,
}

impl<R: Remote> Daemon<R> {
    /// Builds the engine over `remote`, binds `ops.listen` (when set) and
    /// reads the API token. Off loopback the token is required.
    pub async fn start(config: Config, remote: R) -> Result<Daemon<R>, DaemonError> {
        let metrics = Metrics::new();
        let events = Events::new(config.ops.event_buffer);
        let engine = Engine::new(config.clone(), remote)?
            .with_metrics(metrics.clone())
            .with_progress(Progress::events(events.clone()));
        let mut seen = Seen::default();
        let _ = seen.update(
            &engine.local().conflicts(false)?,
            &engine
                .local()
                .queue_items(&["invalid", "dead"], HELD_LOOK)?,
        );
        let seen = Arc::new(Mutex::new(seen));
        let (health, health_rx) = channel::channel(Health::not_assessed());
        let (device, device_rx) = channel::channel(engine.local().device_id().to_string());
        let (stop, stop_rx) = channel::channel(false);
        let (realtime, realtime_rx) =
            channel::channel(RealtimeView::initial(config.realtime.enabled));
        let (nudge, rounds) = (Arc::new(Notify::new()), Arc::new(AtomicU64::new(0)));
        let server = match &config.ops.listen {
            None => None,
            Some(addr) => {
                let (listener, bound, token) = serve::bind(&config, addr).await?;
                let loopback = bound.ip().is_loopback();
                let local = Local::open(&config.database, config.sync.busy_timeout)?;
                let api = Api::new(Parts {
                    config: Arc::new(config.clone()),
                    local,
                    policies: engine.shared_policies(),
                    events: events.clone(),
                    seen: Arc::clone(&seen),
                    nudge: Arc::clone(&nudge),
                    health: health_rx,
                    device: device_rx,
                    stop: stop_rx,
                    realtime: realtime_rx,
                    rounds: Arc::clone(&rounds),
                    rules: Rules {
                        port: bound.port(),
                        loopback,
                        token: token.clone(),
                    },
                });
                Some((listener, api))
            }
        };
        Ok(Daemon {
            engine,
            metrics,
            events,
            seen,
            nudge,
            rounds,
            health,
            device,
            stop,
            realtime,
            server,
        })
    }

    /// Where the API and console are served (the port, when `ops.listen`
    /// asked for port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.server.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// The event hub: subscribe to follow the daemon in-process.
    pub fn events(&self) -> Events {
        self.events.clone()
    }

    /// The daemon's metrics (what `/metrics` serves).
    pub fn metrics(&self) -> Metrics {
        self.metrics.clone()
    }

    /// A handle to steer the running daemon from elsewhere.
    pub fn handle(&self) -> DaemonHandle {
        DaemonHandle {
            nudge: Arc::clone(&self.nudge),
            events: self.events.clone(),
        }
    }

    /// Rounds until `shutdown` completes: a round that started finishes
    /// (each batch it settled is committed), then `shutdown` is checked.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
        let server = self.server.take().map(|(listener, api)| {
            let health = self.health.subscribe();
            serve::spawn(
                listener,
                api,
                self.metrics.clone(),
                health,
                self.stop.subscribe(),
            )
        });
        let result = self.rounds(shutdown).await;
        let _ = self.stop.send(true);
        if let Some(server) = server {
            let _ = tokio::time::timeout(SERVER_GRACE, server).await;
        }
        tracing::info!("stopped");
        result
    }

    async fn rounds(&mut self, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
        tokio::pin!(shutdown);
        let config = self.engine.config().clone();
        let notify = config.alerts.notify_command.clone();
        let (interval, push_delay) = (config.sync.interval, config.sync.push_delay);
        let (mut wake, first) = Wake::start(&config);
        self.metrics.set_realtime_connected(false);
        if let Some(status) = first {
            self.realtime_changed(&status);
        }
        let (mut soon, mut nudged) = (Soon::default(), false);
        loop {
            // The database busy past its timeout after a round is no reason
            // to stop syncing: the next round reads the state again.
            let turn = self.round(&notify).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "could not read the local state after a round");
                Turn::default()
            });
            wake.settle();
            let mut due = soon.after(&turn, || self.pending(), nudged, push_delay, Instant::now());
            nudged = false;
            let poll = Instant::now() + interval;
            loop {
                let until = due.map_or(poll, |d: Instant| d.min(poll));
                tokio::select! {
                    _ = &mut shutdown => return Ok(()),
                    _ = tokio::time::sleep_until(until.into()) => break,
                    _ = self.nudge.notified() => break,
                    woken = wake.next() => match woken {
                        Woken::Pull => {
                            nudged = true;
                            due.get_or_insert(Instant::now() + NUDGE_DELAY);
                        }
                        Woken::Write if due.is_none() && self.pending() => {
                            due = Some(Instant::now() + push_delay);
                        }
                        Woken::Write => {}
                        Woken::Realtime(status) => self.realtime_changed(&status),
                    },
                }
            }
        }
    }

    /// Whether the queue has items waiting for their first push (the app
    /// wrote). Unreadable counts as yes: the round reports why.
    fn pending(&self) -> bool {
        let local = self.engine.local();
        local
            .queue_items(&["pending"], 1)
            .map_or(true, |items| !items.is_empty())
    }

    /// The Realtime socket went up or down: said in the log, the metrics,
    /// the events and `GET /api/status`.
    fn realtime_changed(&self, status: &Status) {
        wake::announce(status, &self.metrics, &self.events, &self.realtime);
    }

    /// One turn: the round, then what it changed, announced.
    async fn round(&mut self, notify: &Option<Vec<String>>) -> Result<Turn, DaemonError> {
        let round = self.rounds.fetch_add(1, Ordering::Relaxed) + 1;
        self.events.emit(Event::RoundStarted { round });
        let (started, t0) = (Instant::now(), now_ms());
        let report = match self.engine.run_once().await {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(error = %e, "sync round did not run");
                self.events.emit(Event::RoundSkipped {
                    reason: e.to_string(),
                });
                None
            }
        };
        let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let config = self.engine.config().clone();
        // Reads in a block of their own: no borrow of the database is held
        // across an await.
        let (health, changes, settled, sample) = {
            let local = self.engine.local();
            let status = local.status(now_ms(), config.alerts.error_window)?;
            let health = view::health(&config, &status, now_ms());
            self.metrics.set_queue(&status.queue);
            let conflicts = local.conflicts(false)?;
            let held = local.queue_items(&["invalid", "dead"], HELD_LOOK)?;
            let changes = self
                .seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .update(&conflicts, &held);
            let settled: Vec<Event> = changes
                .settled
                .iter()
                .map(|(id, table, pk)| Event::ConflictSettled {
                    id: *id,
                    table: table.clone(),
                    pk: pk.clone(),
                    resolution: local.conflict(*id).ok().and_then(|c| c.resolution),
                })
                .collect();
            let sample = HistorySample {
                at: now_ms(),
                ran: report.is_some(),
                failed: report.as_ref().is_some_and(|r| r.error.is_some()),
                pushed: report.as_ref().map_or(0, |r| r.pushed as u64),
                pulled: report.as_ref().map_or(0, |r| r.pulled as u64),
                conflicts: report.as_ref().map_or(0, |r| r.manual as u64),
                errors: local.failed_requests_since(t0)?,
                queue_depth: status.queue.values().sum(),
                round_ms: ms,
            };
            (health, changes.events, settled, sample)
        };
        let keep = config.ops.history_keep;
        self.engine.local_mut().record_history(&sample, keep)?;
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
            self.events.emit(Event::RoundFinished {
                round,
                counts: RoundCounts::of(r, ms),
            });
        }
        for e in changes.into_iter().chain(settled) {
            self.events.emit(e);
        }
        if let Some(r) = &report {
            if r.manual > 0 || r.dead > 0 {
                notify::notify(notify, "items", notify::to_json(r)).await;
            }
            if r.overwritten_local + r.overwritten_remote > 0 {
                self.events.emit(Event::Overwritten {
                    local: r.overwritten_local,
                    remote: r.overwritten_remote,
                });
                notify::notify(notify, "overwritten", notify::to_json(r)).await;
            }
        }
        let changed = self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .health_changed(&health);
        let flipped = self.health.borrow().healthy != health.healthy || round == 1;
        if changed {
            self.events.emit(Event::HealthChanged {
                health: health.clone(),
            });
        }
        if flipped {
            notify::notify(notify, "health", notify::to_json(&health)).await;
        }
        let _ = self.health.send(health);
        let id = self.engine.local().device_id();
        if *self.device.borrow() != id {
            let _ = self.device.send(id.to_string());
        }
        Ok(Turn {
            ok: report.as_ref().is_some_and(|r| r.error.is_none()),
            held: report.is_some_and(|r| r.pull_held_since.is_some()),
        })
    }
}
