//! One websocket's channels, as a state machine with no I/O: frames in,
//! frames out. It answers heartbeats, joins (checked by the caller's
//! [`Authorize`]), leaves and token refreshes as Supabase Realtime does,
//! relays ebb's change nudges to the private channels joined to their
//! topic, and closes channels whose token expired. While the gateway is
//! not listening to the database it refuses joins and closes the channels
//! it has, so a till never shows "connected" while nudges cannot come,
//! and pulls once when it joins again.
//!
//! What a client may not do here: broadcast to others (the gateway relays
//! the database's nudges only) or join more than [`MAX_CHANNELS`] topics.
//! Driven by `socket.rs`.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::Notice;
use super::protocol::Frame;

/// Channels one socket may join at once (Supabase's default limit is 100).
pub(crate) const MAX_CHANNELS: usize = 100;

/// What a join or token refresh is allowed, decided by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Access {
    /// Without a token of its own (JWT mode, the shared key or nothing):
    /// may join public channels only, as `anon` on Supabase.
    pub(crate) anonymous: bool,
    /// The token's `exp` (unix seconds), when it has one.
    pub(crate) expires_at: Option<u64>,
}

/// Checks an access token (`None`: none sent); `Err` is the reason given
/// to the client, never the token.
pub(crate) type Authorize<'a> = &'a dyn Fn(Option<&str>) -> Result<Access, String>;

struct Channel {
    join_ref: Option<String>,
    private: bool,
    expires_at: Option<u64>,
}

/// Why joins are refused while the gateway's LISTEN connection is down.
pub(crate) const NOT_LISTENING: &str =
    "UnableToConnectToProject: the gateway is not listening to the database; try again";

/// The channels joined on one socket.
#[derive(Default)]
pub(crate) struct Session {
    channels: HashMap<String, Channel>,
    /// The gateway's LISTEN connection's generation (0: down, and joins
    /// are refused: nudges would be lost).
    generation: u64,
}

impl Session {
    /// The answers to one frame from the client.
    pub(crate) fn on_frame(&mut self, frame: Frame, authorize: Authorize) -> Vec<Frame> {
        match (frame.topic.as_str(), frame.event.as_str()) {
            ("phoenix", "heartbeat") => vec![Frame::reply(&frame, "ok", json!({}))],
            (_, "phx_join") => self.join(frame, authorize),
            (topic, "phx_leave") => {
                self.channels.remove(topic);
                vec![Frame::reply(&frame, "ok", json!({}))]
            }
            (topic, "access_token") if self.channels.contains_key(topic) => {
                self.refresh(frame, authorize)
            }
            (topic, _) if self.channels.contains_key(topic) => Vec::new(),
            _ => vec![Frame::reply(
                &frame,
                "error",
                json!({ "reason": "unmatched topic" }),
            )],
        }
    }

    /// Follows the gateway's LISTEN connection: `generation` is 0 while
    /// it is down, and a new number each time it listens again. Any change
    /// closes every channel: nudges were lost in between, so its till
    /// rejoins and pulls once.
    pub(crate) fn set_listening(&mut self, generation: u64) -> Vec<Frame> {
        let changed = generation != self.generation;
        self.generation = generation;
        if !changed {
            return Vec::new();
        }
        self.close_all(NOT_LISTENING)
    }

    /// Closes every channel with `message` (the socket fell behind, or
    /// the LISTEN connection changed): each till rejoins and pulls once.
    pub(crate) fn close_all(&mut self, message: &str) -> Vec<Frame> {
        let topics: Vec<String> = self.channels.keys().cloned().collect();
        topics
            .iter()
            .flat_map(|topic| self.close(topic, message))
            .collect()
    }

    fn join(&mut self, frame: Frame, authorize: Authorize) -> Vec<Frame> {
        let refuse =
            |reason: String| vec![Frame::reply(&frame, "error", json!({ "reason": reason }))];
        let Some(name) = frame
            .topic
            .strip_prefix("realtime:")
            .filter(|n| !n.is_empty())
        else {
            return refuse("topics are named realtime:<topic>".into());
        };
        if !self.channels.contains_key(&frame.topic) && self.channels.len() >= MAX_CHANNELS {
            return refuse(format!(
                "ChannelRateLimitReached: at most {MAX_CHANNELS} channels"
            ));
        }
        let private = frame.payload["config"]["private"]
            .as_bool()
            .unwrap_or(false);
        let access = match authorize(frame.payload["access_token"].as_str()) {
            Ok(access) => access,
            Err(reason) => return refuse(reason),
        };
        if private && access.anonymous {
            return refuse(format!(
                "Unauthorized: You do not have permissions to read from this Channel topic: {name}"
            ));
        }
        if self.generation == 0 {
            return refuse(NOT_LISTENING.into());
        }
        self.channels.insert(
            frame.topic.clone(),
            Channel {
                join_ref: frame.join_ref.clone().or_else(|| frame.msg_ref.clone()),
                private,
                expires_at: access.expires_at,
            },
        );
        vec![Frame::reply(
            &frame,
            "ok",
            json!({ "postgres_changes": [] }),
        )]
    }

    fn refresh(&mut self, frame: Frame, authorize: Authorize) -> Vec<Frame> {
        let Some(token) = frame.payload["access_token"].as_str() else {
            return Vec::new();
        };
        let refused = match authorize(Some(token)) {
            Ok(access) => match self.channels.get_mut(&frame.topic) {
                Some(channel) if !(channel.private && access.anonymous) => {
                    channel.expires_at = access.expires_at;
                    return Vec::new();
                }
                _ => "Unauthorized: the new token may not read this channel".to_string(),
            },
            Err(reason) => reason,
        };
        self.close(&frame.topic, &refused)
    }

    /// Closes every channel whose token expired by `now` (unix seconds).
    pub(crate) fn expire(&mut self, now: u64) -> Vec<Frame> {
        let expired: Vec<String> = self
            .channels
            .iter()
            .filter(|(_, c)| c.expires_at.is_some_and(|exp| exp <= now))
            .map(|(topic, _)| topic.clone())
            .collect();
        expired
            .iter()
            .flat_map(|topic| self.close(topic, "Token has expired"))
            .collect()
    }

    /// A `system` error then `phx_close`, as Realtime ends a channel.
    fn close(&mut self, topic: &str, message: &str) -> Vec<Frame> {
        let Some(channel) = self.channels.remove(topic) else {
            return Vec::new();
        };
        let name = topic.strip_prefix("realtime:").unwrap_or(topic);
        let system = json!({
            "status": "error", "extension": "system", "message": message, "channel": name,
        });
        let mut close = Frame::push(topic, "phx_close", json!({}));
        close.join_ref = channel.join_ref.clone();
        close.msg_ref = channel.join_ref;
        vec![Frame::push(topic, "system", system), close]
    }

    /// The broadcast of `notice` to this socket, if it joined its topic as
    /// a private channel (ebb's nudges are private messages, as
    /// `realtime.send(..., private => true)` makes them on Supabase).
    pub(crate) fn on_notice(&self, notice: &Notice) -> Option<Frame> {
        let topic = format!("realtime:{}", notice.topic);
        let channel = self.channels.get(&topic)?;
        channel.private.then(|| {
            Frame::push(
                &topic,
                "broadcast",
                json!({ "type": "broadcast", "event": notice.event, "payload": notice.payload }),
            )
        })
    }

    /// How many channels are joined.
    pub(crate) fn len(&self) -> usize {
        self.channels.len()
    }
}

/// The `exp` claim of a token's claims JSON, when it is a number.
pub(crate) fn expiry(claims: Option<&str>) -> Option<u64> {
    let claims: Value = serde_json::from_str(claims?).ok()?;
    claims["exp"]
        .as_f64()
        .filter(|e| *e >= 0.0)
        .map(|e| e as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::protocol::Vsn;

    /// A session on a gateway that listens.
    fn listening() -> Session {
        let mut s = Session::default();
        s.set_listening(1);
        s
    }

    fn frame(text: &str) -> Frame {
        Frame::decode(Vsn::V1, text).expect("frame")
    }

    fn join(private: bool, token: &str) -> Frame {
        frame(&format!(
            r#"{{"topic":"realtime:ebb","event":"phx_join","ref":"1","join_ref":"1",
                "payload":{{"config":{{"private":{private}}},"access_token":"{token}"}}}}"#
        ))
    }

    fn tokens(token: Option<&str>) -> Result<Access, String> {
        match token {
            Some("user") => Ok(Access {
                anonymous: false,
                expires_at: Some(100),
            }),
            Some("later") => Ok(Access {
                anonymous: false,
                expires_at: Some(500),
            }),
            Some("anon") | None => Ok(Access {
                anonymous: true,
                expires_at: None,
            }),
            _ => Err("InvalidJWTToken: bad".into()),
        }
    }

    fn notice() -> Notice {
        Notice {
            topic: "ebb".into(),
            event: "change".into(),
            payload: json!({"table": "t"}),
        }
    }

    #[test]
    fn a_private_join_needs_a_token_and_then_receives_nudges() {
        let mut s = listening();
        let out = s.on_frame(join(true, "anon"), &tokens);
        assert_eq!(out[0].payload["status"], "error", "{out:?}");
        assert!(s.on_notice(&notice()).is_none());
        let out = s.on_frame(join(true, "forged"), &tokens);
        assert_eq!(out[0].payload["response"]["reason"], "InvalidJWTToken: bad");

        let out = s.on_frame(join(true, "user"), &tokens);
        assert_eq!(
            out[0].payload,
            json!({"status": "ok", "response": {"postgres_changes": []}})
        );
        let b = s.on_notice(&notice()).expect("a broadcast");
        assert_eq!(
            (b.topic.as_str(), b.event.as_str()),
            ("realtime:ebb", "broadcast")
        );
        assert_eq!(
            b.payload,
            json!({"type": "broadcast", "event": "change", "payload": {"table": "t"}})
        );
        let other = Notice {
            topic: "other".into(),
            ..notice()
        };
        assert!(s.on_notice(&other).is_none());
    }

    #[test]
    fn public_channels_get_no_private_nudges() {
        let mut s = listening();
        let out = s.on_frame(join(false, "anon"), &tokens);
        assert_eq!(out[0].payload["status"], "ok");
        assert!(s.on_notice(&notice()).is_none());
    }

    #[test]
    fn heartbeats_leaves_and_unknown_topics_are_answered() {
        let mut s = listening();
        let hb = s.on_frame(
            frame(r#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"9"}"#),
            &tokens,
        );
        assert_eq!(
            (hb[0].event.as_str(), hb[0].msg_ref.as_deref()),
            ("phx_reply", Some("9"))
        );
        let stray = s.on_frame(
            frame(r#"{"topic":"realtime:x","event":"broadcast","ref":"2"}"#),
            &tokens,
        );
        assert_eq!(stray[0].payload["response"]["reason"], "unmatched topic");
        s.on_frame(join(true, "user"), &tokens);
        assert!(
            s.on_frame(
                frame(r#"{"topic":"realtime:ebb","event":"broadcast","payload":{}}"#),
                &tokens
            )
            .is_empty()
        );
        s.on_frame(
            frame(r#"{"topic":"realtime:ebb","event":"phx_leave","ref":"3"}"#),
            &tokens,
        );
        assert_eq!(s.len(), 0);
        let bad = s.on_frame(
            frame(r#"{"topic":"ebb","event":"phx_join","ref":"4"}"#),
            &tokens,
        );
        assert_eq!(bad[0].payload["status"], "error");
    }

    #[test]
    fn an_expired_token_closes_the_channel_unless_refreshed() {
        let mut s = listening();
        s.on_frame(join(true, "user"), &tokens);
        assert!(s.expire(99).is_empty());
        let refresh =
            r#"{"topic":"realtime:ebb","event":"access_token","payload":{"access_token":"later"}}"#;
        assert!(s.on_frame(frame(refresh), &tokens).is_empty());
        assert!(s.expire(100).is_empty(), "refreshed to 500");
        let out = s.expire(500);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].event, "system");
        assert_eq!(out[0].payload["message"], "Token has expired");
        assert_eq!(
            (out[1].event.as_str(), out[1].join_ref.as_deref()),
            ("phx_close", Some("1"))
        );
        assert_eq!(s.len(), 0);
        // A refresh with a bad token closes at once.
        s.on_frame(join(true, "user"), &tokens);
        let bad =
            r#"{"topic":"realtime:ebb","event":"access_token","payload":{"access_token":"x"}}"#;
        assert_eq!(s.on_frame(frame(bad), &tokens).len(), 2);
        assert_eq!(expiry(Some(r#"{"exp": 12.5}"#)), Some(12));
        assert_eq!(expiry(Some("not json")), None);
    }

    #[test]
    fn while_the_database_is_not_listened_to_joins_are_refused_and_channels_closed() {
        let mut s = Session::default();
        let out = s.on_frame(join(true, "user"), &tokens);
        assert_eq!(out[0].payload["status"], "error");
        assert_eq!(out[0].payload["response"]["reason"], NOT_LISTENING);
        assert_eq!(s.len(), 0);

        assert!(s.set_listening(1).is_empty(), "nothing joined yet");
        assert_eq!(
            s.on_frame(join(true, "user"), &tokens)[0].payload["status"],
            "ok"
        );
        assert!(s.set_listening(1).is_empty(), "the same LISTEN");
        let out = s.set_listening(0);
        assert_eq!(
            (out[0].event.as_str(), out[1].event.as_str()),
            ("system", "phx_close")
        );
        assert_eq!(out[0].payload["message"], NOT_LISTENING);
        assert_eq!(s.len(), 0);
        assert!(s.on_notice(&notice()).is_none());

        // Lost and back while the socket was busy: seen as a new LISTEN.
        s.set_listening(2);
        s.on_frame(join(true, "user"), &tokens);
        assert_eq!(s.set_listening(3).len(), 2, "closed: nudges were lost");
        s.on_frame(join(true, "user"), &tokens);
        assert_eq!(s.close_all("behind").len(), 2);
        assert_eq!(s.len(), 0);
    }
}
