//! What wakes the daemon between its `sync.interval` rounds: the server's
//! change nudges (`remote::realtime`), the Realtime socket going up or
//! down, and a committed local write.
//!
//! A local write is seen by watching the database's files, not the app's
//! tables: every [`WRITE_POLL`] one `stat` of the `-wal` file and of the
//! database file (size and modification time). A commit in WAL mode
//! appends to the `-wal` file, so it shows within a few milliseconds, at
//! the cost of two system calls and no SQLite lock (docs/operations.md,
//! "Realtime", says why this over `PRAGMA data_version`). ebb's own writes
//! change the files too: the daemon re-reads them after each round
//! ([`Wake::settle`]) and starts a push only when the queue has pending
//! items, so pulled rows never start a push.
//!
//! Owns no decision about rounds (the daemon debounces), and never sees the
//! key or the token (the listener keeps them). Called by the daemon only.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::time::{Interval, MissedTickBehavior};

use crate::config::Config;
use crate::ops::Metrics;
use crate::ops::events::{Event, Events};
use crate::remote::realtime::{Listener, Nudge, Settings, Status};

/// How often the database's files are looked at.
pub(super) const WRITE_POLL: Duration = Duration::from_millis(10);

/// After a change of the files, and after each round, the queue is asked
/// again this long after, then twice as long after each time, up to
/// [`RECHECK_UNTIL`]: a commit's frames reach the `-wal` file before the
/// commit is visible to another connection, and between the two the app's
/// connection syncs the file (`synchronous = FULL`, SQLite's default),
/// which a loaded machine or a slow disk can stretch well past a few
/// looks (a write missed so waited for the next `sync.interval`). The
/// round's own settling takes the files as they are, so a commit that
/// became visible just after the round asked the queue is found the same
/// way. At most nine looks of the queue (a read of one row) a change.
const RECHECK_FIRST: Duration = Duration::from_millis(10);
/// The last gap between two looks of [`RECHECK_FIRST`]'s sequence.
const RECHECK_UNTIL: Duration = Duration::from_millis(2_560);

/// What woke the daemon.
#[derive(Debug)]
pub(super) enum Woken {
    /// The server says something moved (or the socket was (re)joined).
    Pull,
    /// The database's files changed: maybe the app wrote.
    Write,
    /// The Realtime socket's status changed.
    Realtime(Status),
}

/// The Realtime state `GET /api/status` shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RealtimeView {
    /// `realtime.enabled`.
    pub enabled: bool,
    /// `off`, `connecting`, `connected` or `polling`.
    pub state: String,
    /// Why it is polling (safe to show: no key, no token).
    pub reason: Option<String>,
}

impl RealtimeView {
    /// Before the daemon loop starts.
    pub fn initial(enabled: bool) -> RealtimeView {
        RealtimeView {
            enabled,
            state: if enabled { "connecting" } else { "off" }.into(),
            reason: None,
        }
    }

    pub(super) fn of(status: &Status) -> RealtimeView {
        let (state, reason) = match status {
            Status::Connecting => ("connecting", None),
            Status::Connected => ("connected", None),
            Status::Polling { reason } => ("polling", Some(reason.clone())),
        };
        RealtimeView {
            enabled: true,
            state: state.into(),
            reason,
        }
    }
}

/// Says in the log, the metrics, the events and `GET /api/status` that the
/// Realtime socket went up or down.
pub(super) fn announce(
    status: &Status,
    metrics: &Metrics,
    events: &Events,
    shown: &watch::Sender<RealtimeView>,
) {
    let view = RealtimeView::of(status);
    metrics.set_realtime_connected(*status == Status::Connected);
    match status {
        Status::Connected => tracing::info!("realtime connected: server changes start pulls"),
        Status::Polling { reason } => tracing::warn!(
            %reason,
            "realtime is down: polling at sync.interval until it is back"
        ),
        Status::Connecting => {}
    }
    events.emit(Event::RealtimeChanged {
        state: view.state.clone(),
        reason: view.reason.clone(),
    });
    let _ = shown.send(view);
}

/// The sources that wake the daemon.
pub(super) struct Wake {
    /// Kept alive for the socket; dropped with the daemon loop.
    _listener: Option<Listener>,
    nudges: Option<mpsc::Receiver<Nudge>>,
    status: Option<watch::Receiver<Status>>,
    files: Files,
    tick: Interval,
    /// The next look that reports a write although the files did not
    /// change, and the gap after it (`None`: no more).
    recheck: Option<(Instant, Duration)>,
}

impl Wake {
    /// Starts the Realtime listener when `realtime.enabled` (a listener
    /// that cannot be set up is reported as polling, with the reason) and
    /// takes a first look at the database's files.
    pub(super) fn start(config: &Config) -> (Wake, Option<Status>) {
        let (listener, nudges, status, first) = match Settings::from_config(config) {
            Ok(None) => (None, None, None, None),
            Ok(Some(settings)) => {
                let (listener, nudges) = Listener::start(settings);
                let status = listener.watch();
                (Some(listener), Some(nudges), Some(status), None)
            }
            Err(e) => {
                let reason = format!("realtime could not be set up: {e}");
                (None, None, None, Some(Status::Polling { reason }))
            }
        };
        let mut tick = tokio::time::interval(WRITE_POLL);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let wake = Wake {
            _listener: listener,
            nudges,
            status,
            files: Files::new(&config.database),
            tick,
            recheck: None,
        };
        (wake, first)
    }

    /// Takes the database's files as they are now: ebb's own writes (the
    /// round just run) wake nothing.
    pub(super) fn settle(&mut self) {
        self.files.changed();
        self.recheck = first_recheck(Instant::now());
    }

    /// Waits for the next wake-up. Cancel-safe: nothing is lost when
    /// another branch of a `select!` wins.
    pub(super) async fn next(&mut self) -> Woken {
        loop {
            tokio::select! {
                nudge = recv(&mut self.nudges) => match nudge {
                    Some(_) => return Woken::Pull,
                    // The listener stopped: no more nudges, polling remains.
                    None => self.nudges = None,
                },
                status = changed(&mut self.status) => match status {
                    Some(s) => return Woken::Realtime(s),
                    None => self.status = None,
                },
                _ = self.tick.tick() => {
                    let now = Instant::now();
                    if self.files.changed() {
                        self.recheck = first_recheck(now);
                        return Woken::Write;
                    }
                    if let Some((at, gap)) = self.recheck
                        && now >= at
                    {
                        self.recheck = next_recheck(now, gap);
                        return Woken::Write;
                    }
                }
            }
        }
    }
}

/// The first look of the queue after a change (or a round) at `now`.
fn first_recheck(now: Instant) -> Option<(Instant, Duration)> {
    Some((now + RECHECK_FIRST, RECHECK_FIRST))
}

/// The look after one taken at `now`, `gap` after the one before it.
fn next_recheck(now: Instant, gap: Duration) -> Option<(Instant, Duration)> {
    let gap = gap * 2;
    (gap <= RECHECK_UNTIL).then_some((now + gap, gap))
}

async fn recv(nudges: &mut Option<mpsc::Receiver<Nudge>>) -> Option<Nudge> {
    match nudges {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn changed(status: &mut Option<watch::Receiver<Status>>) -> Option<Status> {
    match status {
        Some(rx) => match rx.changed().await {
            Ok(()) => Some(rx.borrow_and_update().clone()),
            Err(_) => None,
        },
        None => std::future::pending().await,
    }
}

/// Size and modification time of a file (`None` when absent).
type Look = Option<(u64, Option<SystemTime>)>;

/// The database file and its `-wal`, as last looked at.
struct Files {
    paths: [PathBuf; 2],
    last: [Look; 2],
}

impl Files {
    fn new(database: &Path) -> Files {
        let mut wal = database.as_os_str().to_owned();
        wal.push("-wal");
        let paths = [PathBuf::from(wal), database.to_path_buf()];
        let last = [look(&paths[0]), look(&paths[1])];
        Files { paths, last }
    }

    /// Whether either file differs from the last look (and remembers this
    /// one).
    fn changed(&mut self) -> bool {
        let now = [look(&self.paths[0]), look(&self.paths[1])];
        let changed = now != self.last;
        self.last = now;
        changed
    }
}

fn look(path: &Path) -> Look {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.len(), m.modified().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_to_the_wal_is_seen_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("app.db");
        let mut files = Files::new(&db);
        assert!(!files.changed(), "nothing there, nothing changed");
        std::fs::write(dir.path().join("app.db-wal"), b"frame").expect("write");
        assert!(files.changed());
        assert!(!files.changed(), "seen once");
        std::fs::write(dir.path().join("app.db-wal"), b"frame, frame").expect("write");
        assert!(files.changed());
    }

    #[test]
    fn the_queue_is_asked_again_doubling_for_a_few_seconds() {
        let start = Instant::now();
        let mut looks = vec![];
        let mut next = first_recheck(start);
        while let Some((at, gap)) = next {
            looks.push(at.duration_since(start).as_millis());
            next = next_recheck(at, gap);
        }
        assert_eq!(looks, [10, 30, 70, 150, 310, 630, 1270, 2550, 5110]);
    }

    #[test]
    fn the_view_names_the_state_and_reason() {
        assert_eq!(RealtimeView::initial(false).state, "off");
        let v = RealtimeView::of(&Status::Polling {
            reason: "the server is unreachable".into(),
        });
        assert_eq!(
            (v.state.as_str(), v.reason.as_deref()),
            ("polling", Some("the server is unreachable"))
        );
        assert_eq!(RealtimeView::of(&Status::Connected).state, "connected");
    }
}
