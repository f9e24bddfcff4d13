//! The client half of the Phoenix channel protocol as Supabase Realtime
//! speaks it (vsn 1.0.0, JSON objects): the frames ebb sends (join,
//! heartbeat, access token) and what it makes of the frames it receives.
//!
//! Pure functions, no I/O: text in, an [`Incoming`] out. Whatever a server
//! sends, decoding never panics; a frame it does not understand is
//! [`Incoming::Ignored`]. Tokens are written into frames and never into an
//! [`Incoming`] or an error. Used by `driver.rs`.

use serde_json::{Value, json};

use super::Nudge;

/// The broadcast event ebb's triggers send (realtime.sql).
pub(super) const CHANGE_EVENT: &str = "change";

/// What one received frame means to the listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Incoming {
    /// The answer to the frame sent with `msg_ref`; `reason` when refused.
    Reply {
        msg_ref: String,
        ok: bool,
        reason: Option<String>,
    },
    /// A table moved.
    Nudge(Nudge),
    /// The server closed or failed the channel (`phx_close`, `phx_error`,
    /// or a `system` error such as an expired token): join again.
    Closed { reason: String },
    /// Anything else (presence, other events, other topics, garbage).
    Ignored,
}

/// The `phx_join` of the private channel `topic` (`realtime:<name>`).
pub(super) fn join(topic: &str, msg_ref: &str, token: Option<&str>) -> String {
    let mut payload = json!({
        "config": {
            "broadcast": { "ack": false, "self": false },
            "presence": { "key": "", "enabled": false },
            "postgres_changes": [],
            "private": true,
        }
    });
    if let Some(token) = token {
        payload["access_token"] = json!(token);
    }
    frame(topic, "phx_join", payload, msg_ref, Some(msg_ref))
}

/// A heartbeat on topic `phoenix`.
pub(super) fn heartbeat(msg_ref: &str) -> String {
    frame("phoenix", "heartbeat", json!({}), msg_ref, None)
}

/// A refreshed access token for the joined channel `topic`.
pub(super) fn access_token(topic: &str, msg_ref: &str, join_ref: &str, token: &str) -> String {
    frame(
        topic,
        "access_token",
        json!({ "access_token": token }),
        msg_ref,
        Some(join_ref),
    )
}

fn frame(
    topic: &str,
    event: &str,
    payload: Value,
    msg_ref: &str,
    join_ref: Option<&str>,
) -> String {
    json!({
        "topic": topic,
        "event": event,
        "payload": payload,
        "ref": msg_ref,
        "join_ref": join_ref,
    })
    .to_string()
}

/// Reads one text frame received on a socket joined to `topic`.
pub(super) fn decode(text: &str, topic: &str) -> Incoming {
    let Ok(Value::Object(frame)) = serde_json::from_str::<Value>(text) else {
        return Incoming::Ignored;
    };
    let field = |key: &str| frame.get(key).and_then(Value::as_str);
    let payload = frame.get("payload").unwrap_or(&Value::Null);
    let (Some(frame_topic), Some(event)) = (field("topic"), field("event")) else {
        return Incoming::Ignored;
    };
    if event == "phx_reply" {
        let Some(msg_ref) = reference(frame.get("ref")) else {
            return Incoming::Ignored;
        };
        let ok = payload["status"].as_str() == Some("ok");
        let reason = (!ok).then(|| {
            short(
                payload["response"]["reason"]
                    .as_str()
                    .or(payload["response"]["message"].as_str())
                    .unwrap_or("refused without a reason"),
            )
        });
        return Incoming::Reply {
            msg_ref,
            ok,
            reason,
        };
    }
    if frame_topic != topic {
        return Incoming::Ignored;
    }
    match event {
        "broadcast" if payload["event"].as_str() == Some(CHANGE_EVENT) => {
            let inner = &payload["payload"];
            match inner["table"]
                .as_str()
                .filter(|t| !t.is_empty() && t.len() <= 255)
            {
                Some(table) => Incoming::Nudge(Nudge::Table {
                    table: table.to_string(),
                    txid: inner["txid"].as_str().map(short),
                }),
                None => Incoming::Ignored,
            }
        }
        "phx_close" => Incoming::Closed {
            reason: "the server closed the channel".into(),
        },
        "phx_error" => Incoming::Closed {
            reason: "the channel failed on the server".into(),
        },
        "system" if payload["status"].as_str() == Some("error") => Incoming::Closed {
            reason: short(payload["message"].as_str().unwrap_or("system error")),
        },
        _ => Incoming::Ignored,
    }
}

/// A ref as text: realtime-js and ebb send strings, other servers numbers.
fn reference(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Server text kept to a sane length for status and logs.
fn short(text: &str) -> String {
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPIC: &str = "realtime:ebb";

    #[test]
    fn the_join_is_what_realtime_js_sends_for_a_private_channel() {
        let frame: Value = serde_json::from_str(&join(TOPIC, "1", Some("tok"))).expect("json");
        assert_eq!(frame["event"], "phx_join");
        assert_eq!(frame["topic"], TOPIC);
        assert_eq!(
            (frame["ref"].as_str(), frame["join_ref"].as_str()),
            (Some("1"), Some("1"))
        );
        assert_eq!(frame["payload"]["config"]["private"], true);
        assert_eq!(frame["payload"]["access_token"], "tok");
        let anonymous: Value = serde_json::from_str(&join(TOPIC, "1", None)).expect("json");
        assert!(anonymous["payload"].get("access_token").is_none());
        let hb: Value = serde_json::from_str(&heartbeat("2")).expect("json");
        assert_eq!(
            (hb["topic"].as_str(), hb["event"].as_str()),
            (Some("phoenix"), Some("heartbeat"))
        );
        let at: Value = serde_json::from_str(&access_token(TOPIC, "3", "1", "new")).expect("json");
        assert_eq!(at["payload"]["access_token"], "new");
    }

    #[test]
    fn supabase_broadcasts_become_nudges() {
        // As Supabase delivers a realtime.send from the database.
        let text = r#"{"event":"broadcast","payload":{"event":"change","meta":{"id":"x"},
            "payload":{"id":"u","table":"products","txid":"812"},"type":"broadcast"},
            "ref":null,"topic":"realtime:ebb"}"#;
        assert_eq!(
            decode(text, TOPIC),
            Incoming::Nudge(Nudge::Table {
                table: "products".into(),
                txid: Some("812".into())
            })
        );
        assert_eq!(decode(text, "realtime:other"), Incoming::Ignored);
        let other_event = text.replace(r#""event":"change""#, r#""event":"chat""#);
        assert_eq!(decode(&other_event, TOPIC), Incoming::Ignored);
    }

    #[test]
    fn replies_closes_and_garbage() {
        let ok = r#"{"event":"phx_reply","payload":{"response":{"postgres_changes":[]},"status":"ok"},"ref":"1","topic":"realtime:ebb"}"#;
        assert_eq!(
            decode(ok, TOPIC),
            Incoming::Reply {
                msg_ref: "1".into(),
                ok: true,
                reason: None
            }
        );
        let refused = r#"{"event":"phx_reply","payload":{"response":{"reason":"Unauthorized: no"},"status":"error"},"ref":2,"topic":"realtime:ebb"}"#;
        assert_eq!(
            decode(refused, TOPIC),
            Incoming::Reply {
                msg_ref: "2".into(),
                ok: false,
                reason: Some("Unauthorized: no".into())
            }
        );
        let expired = r#"{"event":"system","payload":{"status":"error","message":"Token has expired 3 seconds ago"},"topic":"realtime:ebb"}"#;
        assert!(
            matches!(decode(expired, TOPIC), Incoming::Closed { reason } if reason.contains("expired"))
        );
        let close = r#"{"event":"phx_close","payload":{},"topic":"realtime:ebb"}"#;
        assert!(matches!(decode(close, TOPIC), Incoming::Closed { .. }));
        let long = format!(
            r#"{{"event":"system","payload":{{"status":"error","message":"{}"}},"topic":"realtime:ebb"}}"#,
            "x".repeat(5000)
        );
        assert!(matches!(decode(&long, TOPIC), Incoming::Closed { reason } if reason.len() == 200));
        for garbage in [
            "",
            "null",
            "[]",
            "[1,2,3,4,5]",
            r#"{"event":"phx_reply"}"#,
            r#"{"topic":"realtime:ebb","event":"broadcast","payload":{"event":"change","payload":{"table":7}}}"#,
            r#"{"topic":"realtime:ebb","event":"broadcast","payload":"x"}"#,
            r#"{"topic":"realtime:ebb","event":"phx_reply","ref":{}}"#,
        ] {
            assert_eq!(decode(garbage, TOPIC), Incoming::Ignored, "{garbage}");
        }
    }
}
