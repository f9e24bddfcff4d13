//! The gateway's Realtime endpoint: `GET /realtime/v1/websocket`, the
//! subset of Supabase Realtime's Phoenix channel protocol that carries
//! ebb's change nudges, so a till (or `@supabase/realtime-js`) cannot tell
//! it from Supabase: join a private channel `realtime:<topic>` with an
//! access token, heartbeat on topic `phoenix`, refresh the token with
//! `access_token`, and receive `broadcast` messages
//! `{"type":"broadcast","event":"change","payload":{"table","txid"}}`.
//!
//! The nudges come from one `LISTEN ebb_changes` connection (`listen.rs`),
//! fed by the triggers `ebb remote-sql` installs (realtime.sql), and fan
//! out to every socket through a broadcast channel ([`Hub`]). A socket that
//! falls behind loses nudges, never data: a nudge only makes a till pull
//! sooner.
//!
//! Auth is the HTTP routes' (`auth.rs`): the `apikey` query parameter (or
//! header) must be the shared key, checked before the upgrade; each join's
//! `access_token` is checked as a bearer token would be. In JWT mode a
//! private channel needs a token of its own, as Supabase's policy on
//! realtime.messages admits `authenticated` only. Neither key nor token is
//! ever logged. Files: `protocol.rs` (frames), `session.rs` (one socket's
//! channels, no I/O), `socket.rs` (drives a socket), `listen.rs` (LISTEN).

mod listen;
mod protocol;
mod session;
mod socket;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::{broadcast, watch};

pub(crate) use listen::listen;

use crate::Shared;
use crate::error::ApiError;
use protocol::Vsn;
use session::Access;

/// Nudges buffered per socket; a socket further behind skips the oldest.
const BUFFER: usize = 1024;

/// Largest frame a client may send: joins and heartbeats are small.
const MAX_FRAME: usize = 64 << 10;

/// One change nudge, as the trigger sent it on `ebb_changes`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Notice {
    /// The topic without `realtime:` (`realtime.topic` in policies.toml).
    pub(crate) topic: String,
    /// The broadcast event: `change`.
    pub(crate) event: String,
    /// `{"table", "txid"}`.
    pub(crate) payload: Value,
}

impl Notice {
    /// Reads a NOTIFY payload; `None` for anything else.
    pub(crate) fn parse(text: &str) -> Option<Notice> {
        let value: Value = serde_json::from_str(text).ok()?;
        let topic = value["topic"].as_str().filter(|t| !t.is_empty())?;
        let event = value["event"].as_str().filter(|e| !e.is_empty())?;
        value["payload"].is_object().then(|| Notice {
            topic: topic.to_string(),
            event: event.to_string(),
            payload: value["payload"].clone(),
        })
    }
}

/// What the sockets share: the nudges, the LISTEN connection's generation
/// (set by `listen.rs`: 0 while it is down, when joins are refused; a new
/// number each time it listens again), and the stop signal.
pub(crate) struct Hub {
    pub(crate) notices: broadcast::Sender<Arc<Notice>>,
    pub(crate) listening: Arc<watch::Sender<u64>>,
    stop: watch::Receiver<bool>,
}

impl Hub {
    /// A hub and the sender that stops every socket (send `true`).
    pub(crate) fn new() -> (Hub, watch::Sender<bool>) {
        let (notices, _) = broadcast::channel(BUFFER);
        let (stop_tx, stop) = watch::channel(false);
        let listening = Arc::new(watch::channel(0).0);
        let hub = Hub {
            notices,
            listening,
            stop,
        };
        (hub, stop_tx)
    }

    /// The stop signal, for the LISTEN task.
    pub(crate) fn stop(&self) -> watch::Receiver<bool> {
        self.stop.clone()
    }
}

/// `GET /realtime/v1/websocket?apikey=...&vsn=1.0.0`: checks the key and
/// upgrades. A wrong key is PostgREST's 401, as for the RPCs.
pub(crate) async fn websocket(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let Some(vsn) = Vsn::parse(params.get("vsn").map(String::as_str)) else {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "PGRST100",
            "Unsupported vsn: the gateway speaks 1.0.0 and 2.0.0",
        )
        .into_response();
    };
    let apikey = match params.get("apikey") {
        Some(key) => Some(key.clone()),
        None => headers
            .get("apikey")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    let Some(apikey) = apikey else {
        return ApiError::unauthorized(
            "No API key found in request",
            "Send the key as the `apikey` query parameter.",
        )
        .into_response();
    };
    if !crate::auth::same_key(apikey.as_bytes(), &shared.key_digest) {
        return ApiError::unauthorized("Invalid API key", "Double check the gateway's API key.")
            .into_response();
    }
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let stop = shared.realtime.stop.clone();
    let notices = shared.realtime.notices.subscribe();
    let listening = shared.realtime.listening.subscribe();
    let feeds = socket::Feeds {
        notices,
        listening,
        stop,
    };
    upgrade
        .max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .on_upgrade(move |ws| socket::run(ws, vsn, shared, apikey, feeds))
}

/// What a join with `token` may do, by the HTTP routes' rules (`apikey`
/// was checked at the upgrade); `Err` is the reason told to the client,
/// one of the gateway's fixed texts, never the token.
pub(crate) fn join_check(
    shared: &Shared,
    apikey: &str,
    token: Option<&str>,
) -> Result<Access, String> {
    let refused = |e: ApiError| format!("Unauthorized: {}", e.message);
    let mut headers = HeaderMap::new();
    let key = HeaderValue::from_str(apikey).map_err(|_| "Unauthorized: Invalid API key")?;
    headers.insert("apikey", key);
    if let Some(token) = token {
        let bearer = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| "Unauthorized: JWT couldn't be decoded")?;
        headers.insert(header::AUTHORIZATION, bearer);
    }
    let identity = crate::auth::identify(&headers, shared).map_err(refused)?;
    Ok(Access {
        anonymous: shared.jwt.is_some() && identity.anonymous,
        expires_at: session::expiry(identity.claims.as_deref()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_payloads_are_read_and_anything_else_ignored() {
        let n =
            Notice::parse(r#"{"topic":"ebb","event":"change","payload":{"table":"t","txid":"9"}}"#)
                .expect("a nudge");
        assert_eq!((n.topic.as_str(), n.event.as_str()), ("ebb", "change"));
        assert_eq!(n.payload["txid"], "9");
        for bad in [
            "",
            "{}",
            "[1]",
            r#"{"topic":"","event":"c","payload":{}}"#,
            r#"{"topic":"t","event":"c","payload":1}"#,
        ] {
            assert!(Notice::parse(bad).is_none(), "{bad}");
        }
    }
}
