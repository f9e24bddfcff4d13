//! Server change nudges over Supabase Realtime (or `ebb-gateway`'s copy of
//! it): a [`Listener`] keeps a websocket to `{remote.url}/realtime/v1`,
//! joins the private channel `realtime:<realtime.topic>` with the access
//! token, heartbeats, re-reads a rotated token file and sends it, rejoins
//! with backoff, and hands "table X moved" [`Nudge`]s to whoever drives
//! sync, with a [`Status`] it can show (connected, or polling and why).
//!
//! It decides nothing about syncing: a nudge only says "pull this table
//! now". The pull stays the source of truth, so a lost or repeated nudge
//! costs latency, never rows; after every (re)join it sends [`Nudge::All`],
//! since nudges may have been missed while it was away. The daemon loop
//! polls at `sync.interval` whatever the status.
//!
//! Owns only the socket: `phoenix.rs` (frames, no I/O), `driver.rs` (the
//! task). The API key and token never appear in a log, a status or an
//! error: they travel in the URL's query and the join frame only.
//! Started by the daemon loop with [`Listener::start`].

mod driver;
mod phoenix;

use std::fmt;
use std::time::Duration;

use reqwest::Url;
use tokio::sync::{mpsc, watch};

use super::RemoteError;
use super::postgrest::ApiKey;
use super::postgrest::token::Bearer;
use crate::config::Config;

/// Nudges waiting for the loop; when it falls further behind, the ones
/// that do not fit become one [`Nudge::All`].
const QUEUE: usize = 64;

/// What the server says moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nudge {
    /// `table` changed in transaction `txid` (as text; absent when the
    /// server did not say).
    Table { table: String, txid: Option<String> },
    /// Pull every table: the channel was (re)joined, or nudges were
    /// dropped because the loop was behind.
    All,
}

/// Whether nudges are flowing, for status, metrics and events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// The first connection is being made.
    Connecting,
    /// Joined: the server's changes arrive as nudges.
    Connected,
    /// The socket is down or the join was refused: sync relies on polling
    /// at `sync.interval` until it is back. `reason` is safe to show (no
    /// key, no token).
    Polling { reason: String },
}

/// How to reach the server, from [`Config`].
pub struct Settings {
    /// `ws(s)://host/realtime/v1/websocket`, without the query.
    url: Url,
    key: Option<ApiKey>,
    bearer: Bearer,
    /// `realtime:<topic>`.
    topic: String,
    heartbeat: Duration,
    initial_backoff: Duration,
    max_backoff: Duration,
    connect_timeout: Duration,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("url", &self.url.as_str())
            .field("topic", &self.topic)
            .field("heartbeat", &self.heartbeat)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// The settings `config` asks for; `None` when `realtime.enabled` is
    /// false. The key and token are read as for PostgREST (a token file is
    /// re-read when it changes); one that cannot be read is a
    /// [`RemoteError::Config`] naming its source.
    pub fn from_config(config: &Config) -> Result<Option<Settings>, RemoteError> {
        let realtime = &config.realtime;
        if !realtime.enabled {
            return Ok(None);
        }
        let remote = &config.remote;
        let key = ApiKey::configured(remote)?;
        let bearer = Bearer::new(key.as_ref(), remote.access_token.as_ref())?;
        Ok(Some(Settings {
            url: websocket_url(&remote.url)?,
            key,
            bearer,
            topic: format!("realtime:{}", realtime.topic),
            heartbeat: realtime.heartbeat,
            initial_backoff: realtime.initial_backoff,
            max_backoff: realtime.max_backoff,
            connect_timeout: remote.connect_timeout,
        }))
    }
}

/// `{url}/realtime/v1/websocket` with `http` -> `ws`, `https` -> `wss`.
/// The config already refused plain http off loopback.
fn websocket_url(project: &str) -> Result<Url, RemoteError> {
    let base = project.trim().trim_end_matches('/');
    let mut url = Url::parse(&format!("{base}/realtime/v1/websocket"))
        .map_err(|e| RemoteError::Config(format!("remote.url: not a URL ({e})")))?;
    let scheme = match url.scheme() {
        "https" => "wss",
        "http" => "ws",
        other => {
            return Err(RemoteError::Config(format!(
                "remote.url: unsupported scheme {other:?} for Realtime"
            )));
        }
    };
    url.set_scheme(scheme)
        .map_err(|()| RemoteError::Config("remote.url: cannot make a websocket URL".into()))?;
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// The running listener. Dropping it stops the socket.
pub struct Listener {
    status: watch::Receiver<Status>,
    task: tokio::task::JoinHandle<()>,
}

impl Listener {
    /// Starts connecting (in a task of the current tokio runtime, which
    /// must exist) and returns the nudges as they come. The task ends when
    /// the [`Listener`] or the receiver is dropped.
    pub fn start(settings: Settings) -> (Listener, mpsc::Receiver<Nudge>) {
        let (nudges_tx, nudges) = mpsc::channel(QUEUE);
        let (status_tx, status) = watch::channel(Status::Connecting);
        let task = tokio::spawn(driver::run(settings, nudges_tx, status_tx));
        (Listener { status, task }, nudges)
    }

    /// The status now.
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// The status as it changes (for events and metrics).
    pub fn watch(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// Connects and joins once, for `ebb check`: `Ok` when the channel was
    /// joined, else the reason (as [`Status::Polling`] gives it). Bounded
    /// by `remote.connect_timeout` plus one `realtime.heartbeat`.
    pub async fn probe(settings: Settings) -> Result<(), String> {
        let (listener, _nudges) = Listener::start(settings);
        let mut status = listener.watch();
        loop {
            match &*status.borrow_and_update() {
                Status::Connected => return Ok(()),
                Status::Polling { reason } => return Err(reason.clone()),
                Status::Connecting => {}
            }
            if status.changed().await.is_err() {
                return Err("the listener stopped".into());
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_websocket_url_follows_the_project_url() {
        let url = |u: &str| websocket_url(u).expect("url").to_string();
        assert_eq!(
            url("https://xyz.supabase.co"),
            "wss://xyz.supabase.co/realtime/v1/websocket"
        );
        assert_eq!(
            url("http://127.0.0.1:54321/"),
            "ws://127.0.0.1:54321/realtime/v1/websocket"
        );
        assert!(websocket_url("ftp://x").is_err());
        assert!(websocket_url("not a url").is_err());
    }
}
