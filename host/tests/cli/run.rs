//! `ebb run`: the daemon syncs every interval, serves /health and
//! /metrics on ops.listen, runs alerts.notify_command, and stops cleanly on
//! SIGTERM.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::support::{Server, World, free_port, id};

/// GET `path` on loopback `port`: (status line, body), or None when
/// nothing answers yet.
pub(super) fn get(port: u16, path: &str) -> Option<(String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    Some((head.lines().next()?.to_string(), body.to_string()))
}

/// Kills the daemon if the test fails before stopping it.
pub(super) struct Daemon(pub(super) Option<std::process::Child>);

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `ready` every 20ms for up to 20s.
pub(super) fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn run_syncs_serves_health_notifies_and_stops_on_sigterm() {
    let w = World::new();
    let server = Server::start(&w);
    let a = w.device("a", &server.url);
    let port = free_port();
    let extra = format!(
        "\n[sync]\ninterval = \"200ms\"\n\n[ops]\nlisten = \"127.0.0.1:{port}\"\n\n\
         [alerts]\nnotify_command = [\"sh\", \"-c\", \"cat >> events.jsonl; echo >> events.jsonl\"]\n"
    );
    let path = w.path(&a);
    let config = std::fs::read_to_string(&path).unwrap() + &extra;
    std::fs::write(&path, config).unwrap();

    let daemon = Command::new(env!("CARGO_BIN_EXE_ebb"))
        .args(["--config", &a, "run"])
        .current_dir(w.dir.path())
        .env("EBB_API_KEY", &w.key)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ebb run starts");
    let mut daemon = Daemon(Some(daemon));
    let pid = daemon
        .0
        .as_ref()
        .map(|c| c.id().to_string())
        .unwrap_or_default();

    wait_for("/health", || {
        get(port, "/health").is_some_and(|(s, _)| s.contains("200"))
    });
    let (_, health) = get(port, "/health").expect("/health answers");
    assert!(health.contains("\"healthy\":true"), "{health}");
    // Series appear once counted: the queue gauge and the requests always.
    let (_, metrics) = get(port, "/metrics").expect("/metrics answers");
    assert!(
        metrics.contains("ebb_queue_depth{state=\"pending\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ebb_requests_total{rpc=\"ebb_pull_all\",result=\"ok\"}"),
        "{metrics}"
    );

    // A row the app writes while the daemon runs reaches the server.
    let customer = id();
    w.app_sql(
        "a",
        &format!(
            "INSERT INTO customers VALUES ('{customer}', 'Ann', NULL, NULL, NULL, '2025-01-01T00:00:00Z')"
        ),
    );
    let sql = format!("select count(*) from customers where id = '{customer}'");
    wait_for("the row on the server", || server.query(&sql) == "1");
    wait_for("the push counted", || {
        get(port, "/metrics")
            .is_some_and(|(_, m)| m.contains("ebb_pushed_total{table=\"customers\"} 1"))
    });
    wait_for("the health event", || {
        std::fs::read_to_string(w.path("events.jsonl")).is_ok_and(|t| t.contains("\"health\""))
    });

    let term = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(term.success());
    let child = daemon.0.take().expect("still running");
    let out = child.wait_with_output().expect("ebb run stops");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("stopped"), "{stderr}");
    w.saw(stderr);
    w.saw(String::from_utf8_lossy(&out.stdout).into_owned());
    w.saw(std::fs::read_to_string(w.path("events.jsonl")).unwrap_or_default());
    w.saw(server.log_text());
    w.assert_key_never_shown();
}
