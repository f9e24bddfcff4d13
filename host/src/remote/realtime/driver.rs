//! The listener's task: connect, join, heartbeat, relay nudges, and on any
//! failure report [`Status::Polling`] with the reason, wait (backoff with
//! jitter) and start over. Ends when the nudge receiver is dropped (or the
//! [`Listener`](super::Listener) aborts it).
//!
//! A dead socket is noticed by a heartbeat still unanswered at the next
//! one (or a join unanswered by then), as realtime-js does. The access
//! token is re-read at every heartbeat and sent again when it changed.
//! Logs say what happened, never the key, the token or the URL's query.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{Connector, connect_async_tls_with_config};

use super::phoenix::{self, Incoming};
use super::{Nudge, Settings, Status};

/// Largest frame accepted from the server: nudges are tiny.
const MAX_FRAME: usize = 1 << 20;

/// Why a connection ended.
enum End {
    /// The nudge receiver is gone: stop for good.
    Stop,
    /// Lost or refused; try again after the backoff.
    Lost(String),
}

pub(super) async fn run(
    settings: Settings,
    nudges: mpsc::Sender<Nudge>,
    status: watch::Sender<Status>,
) {
    let connector = tls();
    let mut outbox = Outbox {
        tx: nudges,
        overflow: false,
    };
    let mut backoff = settings.initial_backoff;
    loop {
        let (end, joined) = connection(&settings, &connector, &mut outbox, &status).await;
        let reason = match end {
            End::Stop => return,
            End::Lost(reason) => scrub(&reason, &settings),
        };
        if joined {
            backoff = settings.initial_backoff;
        }
        let wait = jittered(backoff);
        let retry_in_ms = wait.as_millis() as u64;
        if matches!(*status.borrow(), Status::Polling { .. }) {
            tracing::debug!(reason = %reason, retry_in_ms, "realtime: still down");
        } else {
            tracing::warn!(reason = %reason, retry_in_ms,
                "realtime: disconnected; polling until the socket is back");
        }
        status.send_replace(Status::Polling { reason });
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = outbox.tx.closed() => return,
        }
        backoff = (backoff * 2).min(settings.max_backoff);
    }
}

/// One socket, from connect to its end; also says whether it had joined.
async fn connection(
    settings: &Settings,
    connector: &Option<Connector>,
    outbox: &mut Outbox,
    status: &watch::Sender<Status>,
) -> (End, bool) {
    let mut url = settings.url.clone();
    if let Some(key) = settings.key.as_ref().and_then(|k| k.apikey().to_str().ok()) {
        url.query_pairs_mut().append_pair("apikey", key);
    }
    url.query_pairs_mut().append_pair("vsn", "1.0.0");
    let Ok(mut request) = url.as_str().into_client_request() else {
        return (
            End::Lost("the Realtime URL is not a websocket URL".into()),
            false,
        );
    };
    request.headers_mut().insert(
        "X-Client-Info",
        HeaderValue::from_static(concat!("ebb/", env!("CARGO_PKG_VERSION"))),
    );
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME))
        .max_frame_size(Some(MAX_FRAME));
    let connect = connect_async_tls_with_config(request, Some(config), true, connector.clone());
    let mut ws = match tokio::time::timeout(settings.connect_timeout, connect).await {
        Err(_) => return (End::Lost("connecting timed out".into()), false),
        Ok(Err(e)) => return (End::Lost(describe(&e)), false),
        Ok(Ok((ws, _response))) => ws,
    };
    let mut counter: u64 = 1;
    let join_ref = counter.to_string();
    let mut sent_token = token(settings);
    let join = phoenix::join(&settings.topic, &join_ref, sent_token.as_deref());
    if let Err(e) = ws.send(Message::text(join)).await {
        return (End::Lost(describe(&e)), false);
    }
    let mut joined = false;
    let mut pending_heartbeat: Option<String> = None;
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + settings.heartbeat,
        settings.heartbeat,
    );
    // After a stall (a suspended laptop) one late tick, not a burst that
    // would find the heartbeat just sent unanswered.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            frame = ws.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_))) | None => {
                        return (End::Lost("the server closed the socket".into()), joined);
                    }
                    Some(Err(e)) => return (End::Lost(describe(&e)), joined),
                    Some(Ok(_)) => continue,
                };
                match phoenix::decode(text.as_str(), &settings.topic) {
                    Incoming::Reply { msg_ref, ok, reason } if msg_ref == join_ref => {
                        if !ok {
                            let reason = reason.unwrap_or_default();
                            return (End::Lost(format!("the join was refused: {reason}")), false);
                        }
                        joined = true;
                        tracing::info!(topic = %settings.topic, "realtime: joined; server changes arrive as nudges");
                        status.send_replace(Status::Connected);
                        if !outbox.send(Nudge::All) {
                            return (End::Stop, joined);
                        }
                    }
                    Incoming::Reply { msg_ref, .. } => {
                        if pending_heartbeat.as_deref() == Some(msg_ref.as_str()) {
                            pending_heartbeat = None;
                        }
                    }
                    Incoming::Nudge(nudge) if joined => {
                        if !outbox.send(nudge) {
                            return (End::Stop, joined);
                        }
                    }
                    Incoming::Closed { reason } => return (End::Lost(reason), joined),
                    Incoming::Nudge(_) | Incoming::Ignored => {}
                }
            }
            _ = tick.tick() => {
                if pending_heartbeat.is_some() {
                    return (End::Lost("a heartbeat went unanswered".into()), joined);
                }
                if !joined {
                    return (End::Lost("the join went unanswered".into()), false);
                }
                counter += 1;
                let msg_ref = counter.to_string();
                let mut frames = vec![phoenix::heartbeat(&msg_ref)];
                pending_heartbeat = Some(msg_ref);
                let now = token(settings);
                if now != sent_token && let Some(new) = now.as_deref() {
                    counter += 1;
                    frames.push(phoenix::access_token(&settings.topic, &counter.to_string(), &join_ref, new));
                    tracing::info!("realtime: sending the re-read access token");
                    sent_token = now;
                }
                for frame in frames {
                    if let Err(e) = ws.send(Message::text(frame)).await {
                        return (End::Lost(describe(&e)), joined);
                    }
                }
            }
            _ = outbox.tx.closed() => {
                let _ = ws.close(None).await;
                return (End::Stop, joined);
            }
        }
    }
}

/// The token to join with: the access token (a changed file re-read), or
/// the API key when there is none.
fn token(settings: &Settings) -> Option<String> {
    let header = settings.bearer.header()?;
    let text = header.to_str().ok()?;
    text.strip_prefix("Bearer ").map(str::to_string)
}

/// Nudges to the loop without ever waiting for it: what does not fit is
/// remembered as one [`Nudge::All`].
struct Outbox {
    tx: mpsc::Sender<Nudge>,
    overflow: bool,
}

impl Outbox {
    /// False when the receiver is gone.
    fn send(&mut self, nudge: Nudge) -> bool {
        use mpsc::error::TrySendError;
        if self.overflow {
            match self.tx.try_send(Nudge::All) {
                Ok(()) => self.overflow = false,
                Err(TrySendError::Full(_)) => return true,
                Err(TrySendError::Closed(_)) => return false,
            }
        }
        match self.tx.try_send(nudge) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.overflow = true;
                true
            }
            Err(TrySendError::Closed(_)) => false,
        }
    }
}

/// A websocket error in words, without the URL (its query holds the key).
fn describe(e: &WsError) -> String {
    match e {
        WsError::Http(response) => {
            let body = response
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned())
                .unwrap_or_default();
            format!(
                "the server refused the websocket: HTTP {} {body}",
                response.status().as_u16()
            )
        }
        WsError::Io(io) => format!("network: {}", io.kind()),
        WsError::Tls(_) => "TLS handshake failed".into(),
        WsError::Url(_) => "the Realtime URL is not usable".into(),
        WsError::Capacity(_) => "the server sent a frame over 1 MiB".into(),
        WsError::ConnectionClosed | WsError::AlreadyClosed => "the socket closed".into(),
        WsError::Protocol(p) => format!("websocket protocol: {p}"),
        other => format!(
            "websocket: {}",
            other.to_string().chars().take(120).collect::<String>()
        ),
    }
}

/// `reason` with the key and the token cut out, whatever echoed them.
fn scrub(reason: &str, settings: &Settings) -> String {
    let mut out = reason.to_string();
    let key = settings
        .key
        .as_ref()
        .and_then(|k| k.apikey().to_str().ok().map(str::to_string));
    for secret in [key, token(settings)].into_iter().flatten() {
        if secret.len() >= 4 {
            out = out.replace(&secret, "[redacted]");
        }
    }
    out
}

/// `d` times a random factor in [0.8, 1.2].
fn jittered(d: Duration) -> Duration {
    d.mul_f64(rand::rng().random_range(0.8..=1.2))
}

/// rustls with ring and the webpki roots, as reqwest is built, chosen
/// here so no process-wide default provider is needed.
fn tls() -> Option<Connector> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Some(Connector::Rustls(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_outbox_never_waits_and_turns_overflow_into_one_pull_all() {
        let (tx, mut rx) = mpsc::channel(2);
        let mut out = Outbox {
            tx,
            overflow: false,
        };
        let t = |n: &str| Nudge::Table {
            table: n.into(),
            txid: None,
        };
        for n in ["a", "b", "c", "d"] {
            assert!(out.send(t(n)));
        }
        assert_eq!(rx.recv().await, Some(t("a")));
        assert_eq!(rx.recv().await, Some(t("b")));
        assert!(out.send(t("e")));
        assert_eq!(rx.recv().await, Some(Nudge::All), "c and d were dropped");
        assert_eq!(rx.recv().await, Some(t("e")));
        drop(rx);
        assert!(!out.send(t("f")), "the receiver is gone");
    }

    #[test]
    fn jitter_stays_within_a_fifth() {
        for _ in 0..100 {
            let j = jittered(Duration::from_secs(10));
            assert!(
                j >= Duration::from_secs(8) && j <= Duration::from_secs(12),
                "{j:?}"
            );
        }
        assert!(tls().is_some());
    }
}
