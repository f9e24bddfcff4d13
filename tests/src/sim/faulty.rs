//! [`Faulty`]: a [`Remote`] in front of another that breaks the calls a
//! script names: the request lost, the answer lost, the request sent twice,
//! delayed (applied later, after other tills' requests), 429 and 503
//! answers, and the till killed before or after the server saw the request.
//!
//! The script is set per sync round by the simulation (`arm`), keyed by the
//! call's index within the round, so a plan replays the same faults. A
//! round may also carry hooks (`during`): something the world does while
//! that call is in flight (the app writing, say), run as the call starts. Every
//! injected fault is counted by kind and logged for the trace. A kill
//! never resolves the call: the simulation races the round with
//! [`Faulty::killed`] and drops it, as a `kill -9` would end it. Clones
//! share the script, the counts and the delayed requests.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use ebb::model::{Change, Cursor, PullPage, PushResult};
use ebb::remote::{Remote, RemoteError};

/// One kind of injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// The request never reaches the server (a network error).
    LoseRequest,
    /// The server answers, the answer never arrives (a timeout).
    LoseAnswer,
    /// The request reaches the server twice; the second answer is returned.
    Duplicate,
    /// The request is held in the network: the till times out, and the
    /// server gets it later, after other tills' requests.
    Delay,
    /// Answered now, and a copy reaches the server again later.
    DelayedDuplicate,
    /// 429 with Retry-After.
    RateLimited,
    /// 503 (nothing applied).
    Unavailable,
    /// The till dies before the request leaves.
    KillBefore,
    /// The server applies the request, then the till dies.
    KillAfter,
}

impl Fault {
    /// Every kind, in a fixed order.
    pub const ALL: [Fault; 9] = [
        Fault::LoseRequest,
        Fault::LoseAnswer,
        Fault::Duplicate,
        Fault::Delay,
        Fault::DelayedDuplicate,
        Fault::RateLimited,
        Fault::Unavailable,
        Fault::KillBefore,
        Fault::KillAfter,
    ];

    /// A short fixed name for traces and figures.
    pub fn name(self) -> &'static str {
        match self {
            Fault::LoseRequest => "lose-request",
            Fault::LoseAnswer => "lose-answer",
            Fault::Duplicate => "duplicate",
            Fault::Delay => "delay",
            Fault::DelayedDuplicate => "delayed-duplicate",
            Fault::RateLimited => "429",
            Fault::Unavailable => "503",
            Fault::KillBefore => "kill-before",
            Fault::KillAfter => "kill-after",
        }
    }

    /// What the fault becomes on a pull (a read has nothing to deliver
    /// later): a delay is a lost request, a delayed copy a duplicate.
    fn on_pull(self) -> Fault {
        match self {
            Fault::Delay => Fault::LoseRequest,
            Fault::DelayedDuplicate => Fault::Duplicate,
            other => other,
        }
    }
}

/// Something that happens while a call is in flight.
pub type Hook = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct State {
    script: BTreeMap<u32, Fault>,
    hooks: BTreeMap<u32, Hook>,
    call: u32,
    counts: BTreeMap<Fault, u64>,
    delayed: Vec<Vec<Change>>,
    log: Vec<String>,
    killed: bool,
}

struct Control {
    state: Mutex<State>,
    kill: Notify,
}

/// A remote that fails as scripted. Cheap to clone; clones share everything.
pub struct Faulty<R> {
    inner: Arc<R>,
    control: Arc<Control>,
}

impl<R> Clone for Faulty<R> {
    fn clone(&self) -> Self {
        Faulty {
            inner: Arc::clone(&self.inner),
            control: Arc::clone(&self.control),
        }
    }
}

impl<R: Remote> Faulty<R> {
    /// `inner` with no faults scripted.
    pub fn new(inner: R) -> Faulty<R> {
        Faulty {
            inner: Arc::new(inner),
            control: Arc::new(Control {
                state: Mutex::new(State::default()),
                kill: Notify::new(),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.control.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Scripts the next round: call `i` (0-based, pushes and pulls alike)
    /// gets `faults[i]`. Resets the call count and the kill flag.
    pub fn arm(&self, faults: &[(u32, Fault)]) {
        let mut s = self.state();
        s.script = faults.iter().copied().collect();
        s.hooks.clear();
        s.call = 0;
        s.killed = false;
    }

    /// Runs `hook` as call `call` of the armed round starts (before its
    /// fault, if any). Hooks of calls the round never makes do not run.
    pub fn during(&self, call: u32, hook: Hook) {
        self.state().hooks.insert(call, hook);
    }

    /// No faults from now on (calls pass straight through).
    pub fn disarm(&self) {
        self.arm(&[]);
    }

    /// Resolves once a scripted kill has happened in this round.
    pub async fn killed(&self) {
        self.control.kill.notified().await;
    }

    /// Whether a kill happened since the last `arm`.
    pub fn was_killed(&self) -> bool {
        self.state().killed
    }

    /// Faults injected so far, by kind.
    pub fn counts(&self) -> BTreeMap<Fault, u64> {
        self.state().counts.clone()
    }

    /// Trace lines of the faults injected since the last call.
    pub fn take_log(&self) -> Vec<String> {
        std::mem::take(&mut self.state().log)
    }

    /// Requests held in the network, not yet delivered.
    pub fn delayed(&self) -> usize {
        self.state().delayed.len()
    }

    /// Delivers the oldest held request to the server now; its answer
    /// goes nowhere. `None` when nothing is held.
    pub async fn deliver(&self) -> Option<Result<Vec<PushResult>, RemoteError>> {
        let changes = {
            let mut s = self.state();
            if s.delayed.is_empty() {
                return None;
            }
            s.delayed.remove(0)
        };
        Some(self.inner.push(&changes).await)
    }

    /// Runs this call's hook, then returns its scripted fault, counted and
    /// logged.
    fn next(&self, what: &str, pull: bool) -> Option<Fault> {
        let (call, hook) = {
            let mut s = self.state();
            let call = s.call;
            s.call += 1;
            (call, s.hooks.remove(&call))
        };
        if let Some(hook) = hook {
            // Not under the lock: the hook may take its time.
            hook();
        }
        let mut s = self.state();
        let fault = s.script.get(&call).copied()?;
        let fault = if pull { fault.on_pull() } else { fault };
        *s.counts.entry(fault).or_insert(0) += 1;
        s.log
            .push(format!("call {call} ({what}): {}", fault.name()));
        Some(fault)
    }

    fn hold_back(&self, changes: &[Change]) {
        self.state().delayed.push(changes.to_vec());
    }

    /// Marks the round killed and never returns: the round is dropped.
    async fn die<T>(&self) -> T {
        self.state().killed = true;
        self.control.kill.notify_one();
        std::future::pending().await
    }
}

fn timeout(endpoint: &str) -> RemoteError {
    RemoteError::Timeout {
        endpoint: endpoint.into(),
        after: Duration::from_secs(20),
    }
}

fn network(endpoint: &str) -> RemoteError {
    RemoteError::Network {
        endpoint: endpoint.into(),
        message: "connection reset (injected)".into(),
    }
}

fn http(endpoint: &str, status: u16) -> RemoteError {
    RemoteError::Http {
        endpoint: endpoint.into(),
        status,
        code: None,
        message: format!("injected {status}"),
        details: None,
        hint: None,
        retry_after: (status == 429).then_some(Duration::from_secs(1)),
    }
}

impl<R: Remote> Remote for Faulty<R> {
    async fn push(&self, changes: &[Change]) -> Result<Vec<PushResult>, RemoteError> {
        const AT: &str = "sim/rpc/ebb_push";
        let what = format!("push of {}", changes.len());
        match self.next(&what, false) {
            None => self.inner.push(changes).await,
            Some(Fault::LoseRequest) => Err(network(AT)),
            Some(Fault::LoseAnswer) => {
                let _ = self.inner.push(changes).await;
                Err(timeout(AT))
            }
            Some(Fault::Duplicate) => {
                let _ = self.inner.push(changes).await;
                self.inner.push(changes).await
            }
            Some(Fault::Delay) => {
                self.hold_back(changes);
                Err(timeout(AT))
            }
            Some(Fault::DelayedDuplicate) => {
                self.hold_back(changes);
                self.inner.push(changes).await
            }
            Some(Fault::RateLimited) => Err(http(AT, 429)),
            Some(Fault::Unavailable) => Err(http(AT, 503)),
            Some(Fault::KillBefore) => self.die().await,
            Some(Fault::KillAfter) => {
                let _ = self.inner.push(changes).await;
                self.die().await
            }
        }
    }

    async fn pull(
        &self,
        table: &str,
        cursor: &Cursor,
        page: usize,
    ) -> Result<PullPage, RemoteError> {
        const AT: &str = "sim/rpc/ebb_pull";
        match self.next(&format!("pull of {table}"), true) {
            None => self.inner.pull(table, cursor, page).await,
            Some(Fault::LoseRequest | Fault::Delay) => Err(network(AT)),
            Some(Fault::LoseAnswer) => {
                let _ = self.inner.pull(table, cursor, page).await;
                Err(timeout(AT))
            }
            Some(Fault::Duplicate | Fault::DelayedDuplicate) => {
                let _ = self.inner.pull(table, cursor, page).await;
                self.inner.pull(table, cursor, page).await
            }
            Some(Fault::RateLimited) => Err(http(AT, 429)),
            Some(Fault::Unavailable) => Err(http(AT, 503)),
            Some(Fault::KillBefore) => self.die().await,
            Some(Fault::KillAfter) => {
                let _ = self.inner.pull(table, cursor, page).await;
                self.die().await
            }
        }
    }
}
