//! Two real `ebb run` processes syncing by Realtime events through a real
//! `ebb-gateway`, and what the tests of them need: their configs, starting
//! and stopping them, the app's writes and reads, the API's Realtime state.
//! Shared by cli/realtime.rs and tests/horizon.rs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use super::run::{Daemon, wait_for};
use super::support::{Server, World, free_port};

/// Appends `extra` to a device's policies.toml.
pub(crate) fn configure(w: &World, config: &str, extra: &str) {
    let path = w.path(config);
    let text = std::fs::read_to_string(&path).expect("policies.toml") + extra;
    std::fs::write(&path, text).expect("policies.toml");
}

/// `ebb run` on a device, logging (with debug lines) to `<config>.log`.
pub(crate) fn run(w: &World, config: &str) -> Daemon {
    let log = std::fs::File::create(w.path(&format!("{config}.log"))).expect("log");
    let child = Command::new(env!("CARGO_BIN_EXE_ebb"))
        .args(["--config", config, "run"])
        .current_dir(w.dir.path())
        .env("EBB_API_KEY", &w.key)
        .env("RUST_LOG", "ebb=debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("ebb run starts");
    Daemon(Some(child))
}

/// Stops a daemon and returns what it logged.
pub(crate) fn stop(w: &World, config: &str, mut daemon: Daemon) -> String {
    if let Some(mut child) = daemon.0.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
    std::fs::read_to_string(w.path(&format!("{config}.log"))).unwrap_or_default()
}

/// [`wait_for`], printing both tills' and the gateway's logs on a timeout.
pub(crate) fn wait(w: &World, server: &Server, what: &str, ready: impl FnMut() -> bool) {
    let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| wait_for(what, ready)));
    if let Err(e) = waited {
        for config in ["a/policies.toml", "b/policies.toml"] {
            let log = std::fs::read_to_string(w.path(&format!("{config}.log")));
            eprintln!("--- {config}:\n{}", log.unwrap_or_default());
        }
        eprintln!("--- gateway:\n{}", server.log_text());
        std::panic::resume_unwind(e);
    }
}

pub(crate) fn insert_customer(w: &World, device: &str, customer: &str) {
    w.app_sql(
        device,
        &format!(
            "INSERT INTO customers VALUES ('{customer}', 'Ann', NULL, NULL, NULL, \
             '2025-01-01T00:00:00Z')"
        ),
    );
}

pub(crate) fn has_customer(w: &World, device: &str, customer: &str) -> bool {
    let db = rusqlite::Connection::open(w.path(device).join("app.db")).expect("app.db");
    db.query_row(
        "SELECT COUNT(*) FROM customers WHERE id = ?1",
        [customer],
        |r| r.get::<_, i64>(0),
    )
    .is_ok_and(|n| n == 1)
}

/// The Realtime state B's `/api/status` shows.
pub(crate) fn realtime_state(port: u16) -> String {
    let status = || -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
        let request = format!(
            "GET /api/status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).ok()?;
        let mut text = String::new();
        stream.read_to_string(&mut text).ok()?;
        Some(text.split_once("\r\n\r\n")?.1.to_string())
    };
    status()
        .and_then(|body| serde_json::from_str::<serde_json::Value>(&body).ok())
        .and_then(|v| v["realtime"]["state"].as_str().map(str::to_string))
        .unwrap_or_default()
}

pub(crate) const EVENTS_ONLY: &str = "\n[sync]\ninterval = \"1h\"\n\n[realtime]\n\
                           initial_backoff = \"100ms\"\nmax_backoff = \"500ms\"\n";

/// Tills A and B running on Realtime events only (their poll an hour
/// away), both sockets joined: (A's config, B's, B's API port, A, B).
pub(crate) fn two_on_events(w: &World, server: &Server) -> (String, String, u16, Daemon, Daemon) {
    let a = w.device("a", &server.url);
    let b = w.device("b", &server.url);
    let (port_a, port) = (free_port(), free_port());
    let listen = |port: u16| format!("{EVENTS_ONLY}\n[ops]\nlisten = \"127.0.0.1:{port}\"\n");
    configure(w, &a, &listen(port_a));
    configure(w, &b, &listen(port));
    let till_a = run(w, &a);
    let till_b = run(w, &b);
    // Joined means started: A's triggers are installed before it serves.
    wait(w, server, "A's socket joined", || {
        realtime_state(port_a) == "connected"
    });
    wait(w, server, "B's socket joined", || {
        realtime_state(port) == "connected"
    });
    (a, b, port, till_a, till_b)
}
