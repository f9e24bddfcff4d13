//! Drives one websocket: reads frames into the [`Session`], writes its
//! answers and the nudges it relays, closes channels whose token expired
//! or whose nudges stopped (the gateway's LISTEN connection lost), and ends the socket when the client goes quiet for [`IDLE`], closes it,
//! or the gateway stops. Called by `mod.rs` after the upgrade.
//!
//! Nothing the client sends can panic or stall it: malformed frames are
//! dropped (debug log, without their content), binary frames are ignored.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use tokio::sync::{broadcast, watch};

use super::protocol::{Frame, Vsn};
use super::session::Session;
use super::{Notice, join_check};
use crate::Shared;

/// A socket that sends nothing (not even a heartbeat) for this long is
/// closed, as Phoenix's transport timeout does.
const IDLE: Duration = Duration::from_secs(60);

/// How often expired tokens are looked for.
const EXPIRY_TICK: Duration = Duration::from_secs(1);

/// What a socket listens to besides its client.
pub(super) struct Feeds {
    /// The database's nudges.
    pub(super) notices: broadcast::Receiver<Arc<Notice>>,
    /// The gateway's LISTEN connection's generation (0: down).
    pub(super) listening: watch::Receiver<u64>,
    /// The gateway is stopping.
    pub(super) stop: watch::Receiver<bool>,
}

pub(super) async fn run(
    mut ws: WebSocket,
    vsn: Vsn,
    shared: Arc<Shared>,
    apikey: String,
    feeds: Feeds,
) {
    let Feeds {
        mut notices,
        mut listening,
        mut stop,
    } = feeds;
    let mut session = Session::default();
    session.set_listening(*listening.borrow_and_update());
    let authorize = |token: Option<&str>| join_check(&shared, &apikey, token);
    let mut tick = tokio::time::interval(EXPIRY_TICK);
    let idle = tokio::time::sleep(IDLE);
    tokio::pin!(idle);
    tracing::debug!(target: "ebb_gateway", "realtime socket opened");
    loop {
        let out: Vec<Frame> = tokio::select! {
            incoming = ws.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    idle.as_mut().reset(tokio::time::Instant::now() + IDLE);
                    match Frame::decode(vsn, text.as_str()) {
                        Ok(frame) => session.on_frame(frame, &authorize),
                        Err(why) => {
                            tracing::debug!(target: "ebb_gateway", why, "realtime frame dropped");
                            Vec::new()
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {
                    // Pings are answered by the library; binary is not read.
                    idle.as_mut().reset(tokio::time::Instant::now() + IDLE);
                    Vec::new()
                }
            },
            notice = notices.recv() => match notice {
                Ok(notice) => session.on_notice(&notice).into_iter().collect(),
                // Nudges were lost: its tills rejoin and pull once.
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(target: "ebb_gateway", skipped = n, "realtime socket behind; closing its channels");
                    session.close_all("the socket fell behind; rejoin")
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = tick.tick() => session.expire(now()),
            changed = listening.changed() => match changed {
                Ok(()) => session.set_listening(*listening.borrow_and_update()),
                Err(_) => break,
            },
            _ = &mut idle => {
                let _ = close(&mut ws, "heartbeat timeout").await;
                break;
            }
            _ = stop.changed() => {
                let _ = close(&mut ws, "server shutting down").await;
                break;
            }
        };
        for frame in out {
            if ws
                .send(Message::Text(frame.encode(vsn).into()))
                .await
                .is_err()
            {
                tracing::debug!(target: "ebb_gateway", "realtime socket closed");
                return;
            }
        }
    }
    tracing::debug!(target: "ebb_gateway", channels = session.len(), "realtime socket closed");
}

async fn close(ws: &mut WebSocket, reason: &'static str) -> Result<(), axum::Error> {
    ws.send(Message::Close(Some(CloseFrame {
        code: 1001,
        reason: reason.into(),
    })))
    .await
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
