//! `[realtime]` of policies.toml: raw -> [`RealtimeConfig`], with its
//! defaults (those of `RealtimeConfig::default`) and rules: a topic the
//! server's triggers and Realtime accept, durations above zero, backoff
//! bounds in order. Reads nothing; called by `resolve` only. The client
//! that uses it is `remote::realtime`.

use std::time::Duration;

use super::RealtimeConfig;
use super::raw::RawRealtime;
use super::resolve::Ctx;
use crate::config::ConfigError;

/// Longest `realtime.topic` (Realtime's limit on a whole topic is 255).
const MAX_TOPIC: usize = 200;

pub(super) fn realtime(cx: &Ctx, r: Option<&RawRealtime>) -> Result<RealtimeConfig, ConfigError> {
    let d = RealtimeConfig::default();
    let topic = match r.and_then(|r| r.topic.as_deref()) {
        None => d.topic,
        Some(t) => {
            let ok = |c: char| c.is_ascii_alphanumeric() || "_-.:".contains(c);
            if t.is_empty() || t.len() > MAX_TOPIC || !t.chars().all(ok) {
                return Err(cx.invalid(
                    "realtime.topic",
                    format!(
                        "{t:?}: 1 to {MAX_TOPIC} of the characters A-Z a-z 0-9 _ - . : \
                         (ebb joins realtime:<topic>)"
                    ),
                ));
            }
            t.to_string()
        }
    };
    let duration = |key: &str, raw: Option<&String>, default: Duration| {
        cx.duration(&format!("realtime.{key}"), raw, default, true)
    };
    let heartbeat = duration(
        "heartbeat",
        r.and_then(|r| r.heartbeat.as_ref()),
        d.heartbeat,
    )?;
    let initial_backoff = duration(
        "initial_backoff",
        r.and_then(|r| r.initial_backoff.as_ref()),
        d.initial_backoff,
    )?;
    let max_backoff = duration(
        "max_backoff",
        r.and_then(|r| r.max_backoff.as_ref()),
        d.max_backoff,
    )?;
    if max_backoff < initial_backoff {
        return Err(cx.invalid(
            "realtime.max_backoff",
            format!(
                "{} is shorter than realtime.initial_backoff ({})",
                humantime::format_duration(max_backoff),
                humantime::format_duration(initial_backoff)
            ),
        ));
    }
    Ok(RealtimeConfig {
        enabled: r.and_then(|r| r.enabled).unwrap_or(d.enabled),
        topic,
        heartbeat,
        initial_backoff,
        max_backoff,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::RealtimeConfig;
    use crate::config::tests::{ok, refused_all};

    #[test]
    fn realtime_defaults_and_set_values() {
        assert_eq!(ok("").realtime, RealtimeConfig::default());
        let d = RealtimeConfig::default();
        assert!(d.enabled);
        assert_eq!(d.topic, "ebb");
        assert_eq!(
            (d.heartbeat, d.initial_backoff, d.max_backoff),
            (
                Duration::from_secs(25),
                Duration::from_secs(1),
                Duration::from_secs(30)
            )
        );
        let c = ok(
            "[realtime]\nenabled = false\ntopic = \"shop-7:changes\"\nheartbeat = \"10s\"\n\
                    initial_backoff = \"250ms\"\nmax_backoff = \"2m\"\n",
        )
        .realtime;
        assert!(!c.enabled);
        assert_eq!(c.topic, "shop-7:changes");
        assert_eq!(c.heartbeat, Duration::from_secs(10));
        assert_eq!(c.initial_backoff, Duration::from_millis(250));
        assert_eq!(c.max_backoff, Duration::from_secs(120));
    }

    #[test]
    fn realtime_refusals_name_the_key() {
        refused_all(&[
            ("[realtime]\ntopic = \"\"\n", "realtime.topic", "1 to 200"),
            (
                "[realtime]\ntopic = \"a b\"\n",
                "realtime.topic",
                "realtime:<topic>",
            ),
            ("[realtime]\ntopic = \"ébb\"\n", "realtime.topic", "A-Z"),
            (
                "[realtime]\nheartbeat = \"0s\"\n",
                "realtime.heartbeat",
                "longer than zero",
            ),
            (
                "[realtime]\ninitial_backoff = \"soon\"\n",
                "realtime.initial_backoff",
                "soon",
            ),
            (
                "[realtime]\ninitial_backoff = \"1m\"\nmax_backoff = \"10s\"\n",
                "realtime.max_backoff",
                "shorter than realtime.initial_backoff",
            ),
            ("[realtime]\nenabled = \"yes\"\n", "realtime.enabled", ""),
        ]);
    }
}
