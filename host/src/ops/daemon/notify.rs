//! `alerts.notify_command`: one JSON event on the stdin of a program the
//! user names (argv, no shell), for each round that left conflicts for a
//! person or made items dead, each round whose policies discarded writes,
//! and each health change. Never waited for; a command that cannot start
//! or fails is a warning log line, never a stop. Called by the daemon.

use crate::sync::now_ms;

/// A value as JSON (`null` should it not serialize).
pub(super) fn to_json(value: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_default()
}

/// Runs `command` with `{"event": kind, "at": ms, "data": body}` on stdin.
pub(super) async fn notify(command: &Option<Vec<String>>, kind: &str, body: serde_json::Value) {
    let Some(argv) = command else { return };
    let Some((program, rest)) = argv.split_first() else {
        return;
    };
    let event = serde_json::json!({ "event": kind, "at": now_ms(), "data": body });
    let spawned = tokio::process::Command::new(program)
        .args(rest)
        .stdin(std::process::Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(%program, error = %e, "alerts.notify_command could not start");
            return;
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        use tokio::io::AsyncWriteExt;
        let _ = stdin.write_all(event.to_string().as_bytes()).await;
    }
    let program = program.clone();
    tokio::spawn(async move {
        match child.wait().await {
            Ok(s) if s.success() => {}
            Ok(s) => tracing::warn!(%program, status = %s, "alerts.notify_command failed"),
            Err(e) => tracing::warn!(%program, error = %e, "alerts.notify_command failed"),
        }
    });
}
