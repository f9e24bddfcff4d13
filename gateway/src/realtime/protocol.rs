//! The Phoenix channel frames Supabase Realtime speaks, as text: vsn 1.0.0
//! (a JSON object `{"join_ref","ref","topic","event","payload"}`, the
//! default of `@supabase/realtime-js` and ebb's client) and vsn 2.0.0 (a
//! JSON array `[join_ref, ref, topic, event, payload]`).
//!
//! Pure functions: bytes in, a [`Frame`] or an error out; a [`Frame`] in,
//! text out. No frame, however malformed, panics here. Binary frames (2.0.0
//! user broadcasts from a client) are not read: the gateway accepts no
//! broadcasts from clients. Used by `session.rs`.

use serde_json::{Value, json};

/// The serializer a socket asked for with `?vsn=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Vsn {
    /// `1.0.0` (and no `vsn` at all): JSON objects.
    V1,
    /// `2.0.0`: JSON arrays.
    V2,
}

impl Vsn {
    /// The serializer for `?vsn=...`; `None` for one the gateway does not
    /// speak (the upgrade is refused).
    pub(crate) fn parse(vsn: Option<&str>) -> Option<Vsn> {
        match vsn {
            None | Some("1.0.0") => Some(Vsn::V1),
            Some("2.0.0") => Some(Vsn::V2),
            Some(_) => None,
        }
    }
}

/// One message, either way.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Frame {
    pub(crate) join_ref: Option<String>,
    pub(crate) msg_ref: Option<String>,
    pub(crate) topic: String,
    pub(crate) event: String,
    pub(crate) payload: Value,
}

/// Longest topic or event name read: Realtime's own limit is 255 bytes.
const MAX_NAME: usize = 255;

impl Frame {
    /// A message from the server (no refs: a push, not a reply).
    pub(crate) fn push(topic: &str, event: &str, payload: Value) -> Frame {
        Frame {
            join_ref: None,
            msg_ref: None,
            topic: topic.to_string(),
            event: event.to_string(),
            payload,
        }
    }

    /// The `phx_reply` to `to`: `{"status": status, "response": response}`.
    pub(crate) fn reply(to: &Frame, status: &str, response: Value) -> Frame {
        Frame {
            join_ref: to.join_ref.clone(),
            msg_ref: to.msg_ref.clone(),
            topic: to.topic.clone(),
            event: "phx_reply".to_string(),
            payload: json!({ "status": status, "response": response }),
        }
    }

    /// Reads a text frame; the error says what is wrong, for a debug log.
    pub(crate) fn decode(vsn: Vsn, text: &str) -> Result<Frame, &'static str> {
        let value: Value = serde_json::from_str(text).map_err(|_| "not JSON")?;
        let (join_ref, msg_ref, topic, event, payload) = match (vsn, value) {
            (Vsn::V1, Value::Object(mut o)) => (
                o.remove("join_ref"),
                o.remove("ref"),
                o.remove("topic"),
                o.remove("event"),
                o.remove("payload"),
            ),
            (Vsn::V2, Value::Array(a)) if a.len() == 5 => {
                let mut it = a.into_iter();
                (it.next(), it.next(), it.next(), it.next(), it.next())
            }
            (Vsn::V1, _) => return Err("not a JSON object"),
            (Vsn::V2, _) => return Err("not a JSON array of five"),
        };
        let name = |v: Option<Value>, what| match v {
            Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_NAME => Ok(s),
            _ => Err(what),
        };
        Ok(Frame {
            join_ref: reference(join_ref)?,
            msg_ref: reference(msg_ref)?,
            topic: name(topic, "no topic")?,
            event: name(event, "no event")?,
            payload: payload.unwrap_or(Value::Null),
        })
    }

    /// The frame as text in `vsn`.
    pub(crate) fn encode(&self, vsn: Vsn) -> String {
        let value = match vsn {
            Vsn::V1 => json!({
                "topic": self.topic,
                "event": self.event,
                "payload": self.payload,
                "ref": self.msg_ref,
                "join_ref": self.join_ref,
            }),
            Vsn::V2 => json!([
                self.join_ref,
                self.msg_ref,
                self.topic,
                self.event,
                self.payload
            ]),
        };
        value.to_string()
    }
}

/// A `ref`: a string (as realtime-js sends), a number (other Phoenix
/// clients) kept as its text, or absent.
fn reference(v: Option<Value>) -> Result<Option<String>, &'static str> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= MAX_NAME => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err("a ref that is neither a string nor a number"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_realtime_js_join_is_read_in_both_versions() {
        let v1 = r#"{"topic":"realtime:ebb","event":"phx_join","payload":{"config":{"private":true},"access_token":"t"},"ref":"1","join_ref":"1"}"#;
        let f = Frame::decode(Vsn::V1, v1).expect("v1");
        assert_eq!(
            (f.topic.as_str(), f.event.as_str()),
            ("realtime:ebb", "phx_join")
        );
        assert_eq!(
            (f.msg_ref.as_deref(), f.join_ref.as_deref()),
            (Some("1"), Some("1"))
        );
        assert_eq!(f.payload["config"]["private"], true);
        let v2 = r#"["3","3","realtime:ebb","phx_join",{"config":{}}]"#;
        let f = Frame::decode(Vsn::V2, v2).expect("v2");
        assert_eq!(f.msg_ref.as_deref(), Some("3"));
        let hb = r#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":7}"#;
        assert_eq!(
            Frame::decode(Vsn::V1, hb).expect("hb").msg_ref.as_deref(),
            Some("7")
        );
    }

    #[test]
    fn replies_and_pushes_are_written_as_phoenix_does() {
        let join = Frame::decode(
            Vsn::V1,
            r#"{"topic":"realtime:a","event":"phx_join","payload":{},"ref":"2","join_ref":"2"}"#,
        )
        .expect("join");
        let reply = Frame::reply(&join, "ok", json!({"postgres_changes": []}));
        let text: Value = serde_json::from_str(&reply.encode(Vsn::V1)).expect("json");
        assert_eq!(
            text,
            json!({"topic": "realtime:a", "event": "phx_reply", "ref": "2", "join_ref": "2",
                   "payload": {"status": "ok", "response": {"postgres_changes": []}}})
        );
        let push = Frame::push("realtime:a", "broadcast", json!({"type": "broadcast"}));
        assert_eq!(
            push.encode(Vsn::V2),
            r#"[null,null,"realtime:a","broadcast",{"type":"broadcast"}]"#
        );
    }

    #[test]
    fn malformed_frames_are_errors_not_panics() {
        let long = format!(r#"{{"topic":"{}","event":"x"}}"#, "t".repeat(300));
        for bad in [
            "",
            "nul",
            "[]",
            "{}",
            "[1,2,3]",
            r#"{"topic":1,"event":"x"}"#,
            r#"{"topic":"t","event":""}"#,
            r#"{"topic":"t","event":"x","ref":{}}"#,
            r#"["a","b","t"]"#,
            &long,
            "\u{0}\u{ffff}",
        ] {
            assert!(Frame::decode(Vsn::V1, bad).is_err(), "v1 accepted {bad:?}");
            assert!(Frame::decode(Vsn::V2, bad).is_err(), "v2 accepted {bad:?}");
        }
        assert_eq!(Vsn::parse(Some("3.0.0")), None);
        assert_eq!(Vsn::parse(None), Some(Vsn::V1));
    }
}
