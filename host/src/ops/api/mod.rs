//! The local HTTP API of `ebb run` (docs/api.md): JSON under `/api`, live
//! events at `/api/events`, for the app beside ebb and for the console.
//!
//! - `guard`: Host, Origin and token rules, before any handler;
//! - `read`: status, tables, queue, conflicts, history (GET);
//! - `steer`: resolve a conflict, retry a held item, sync now (POST);
//! - `sse`: the event stream;
//! - `error`: every refusal as a status and a JSON body;
//! - `token`: the token, read once, never shown.
//!
//! The API reads and writes the database through its own `Local`
//! connection (as `ebb conflicts resolve` from another process would),
//! validates with the engine's own `Policies`, announces what it changed
//! on the event hub and nudges the daemon for a round. It never talks to
//! the remote. Built by `ops::daemon`; served by `ops::server`.

mod error;
mod guard;
mod read;
mod sse;
mod steer;
pub mod token;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use tokio::sync::{Notify, watch};

use crate::config::Config;
use crate::local::Local;
use crate::ops::Health;
use crate::ops::daemon::wake::RealtimeView;
use crate::ops::daemon::watch::Seen;
use crate::ops::events::Events;
use crate::policy::Policies;

pub use error::ApiError;
pub use guard::{Rules, check};
pub use token::Token;

/// Everything the handlers share. Clones share it.
#[derive(Clone)]
pub struct Api {
    inner: Arc<Inner>,
    /// Who may call (used by the guard).
    pub(crate) rules: Arc<Rules>,
}

struct Inner {
    config: Arc<Config>,
    local: Mutex<Local>,
    policies: Arc<Policies>,
    events: Events,
    seen: Arc<Mutex<Seen>>,
    nudge: Arc<Notify>,
    health: watch::Receiver<Health>,
    device: watch::Receiver<String>,
    stop: watch::Receiver<bool>,
    realtime: watch::Receiver<RealtimeView>,
    started_at: i64,
    rounds: Arc<AtomicU64>,
}

/// What the daemon hands the API.
pub struct Parts {
    pub config: Arc<Config>,
    /// The API's own connection to the database.
    pub local: Local,
    pub policies: Arc<Policies>,
    pub events: Events,
    pub seen: Arc<Mutex<Seen>>,
    /// Notified to start a round now.
    pub nudge: Arc<Notify>,
    pub health: watch::Receiver<Health>,
    /// The device id the engine syncs as now.
    pub device: watch::Receiver<String>,
    /// Becomes true when the daemon stops: event streams end.
    pub stop: watch::Receiver<bool>,
    /// The Realtime socket's state (`GET /api/status`).
    pub realtime: watch::Receiver<RealtimeView>,
    /// Rounds run so far (`GET /api/daemon`).
    pub rounds: Arc<AtomicU64>,
    pub rules: Rules,
}

impl Api {
    pub fn new(parts: Parts) -> Api {
        Api {
            rules: Arc::new(parts.rules),
            inner: Arc::new(Inner {
                config: parts.config,
                local: Mutex::new(parts.local),
                policies: parts.policies,
                events: parts.events,
                seen: parts.seen,
                nudge: parts.nudge,
                health: parts.health,
                device: parts.device,
                stop: parts.stop,
                realtime: parts.realtime,
                started_at: crate::sync::now_ms(),
                rounds: parts.rounds,
            }),
        }
    }

    /// The `/api` routes and the console at `/`, behind the guard.
    pub fn router(self) -> Router {
        let api = Router::new()
            .route("/api/status", get(read::status))
            .route("/api/tables", get(read::tables))
            .route("/api/queue", get(read::queue))
            .route("/api/conflicts", get(read::conflicts))
            .route("/api/conflicts/{id}", get(read::conflict))
            .route("/api/history", get(read::history))
            .route("/api/daemon", get(read::daemon))
            .route("/api/events", get(sse::events))
            .route("/api/conflicts/{id}/resolve", post(steer::resolve))
            .route("/api/queue/{id}/retry", post(steer::retry))
            .route("/api/sync", post(steer::sync_now))
            .route("/api", get(read::index))
            .route("/api/{*rest}", axum::routing::any(read::no_route))
            .merge(crate::ops::console::routes())
            .with_state(self.clone());
        api.layer(axum::middleware::from_fn_with_state(self, guard::guard))
    }

    /// Runs `f` on the API's connection, off the async threads.
    async fn with_local<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Local, &Inner) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let inner = Arc::clone(&self.inner);
        let joined = tokio::task::spawn_blocking(move || {
            let mut local = inner.local.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut local, &inner)
        })
        .await;
        joined.unwrap_or_else(|e| {
            Err(ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                None,
                format!("the request failed inside ebb: {e}"),
            ))
        })
    }
}

/// How long `GET /api/history` looks back by default (the console's charts).
const DAY: Duration = Duration::from_secs(24 * 3600);
