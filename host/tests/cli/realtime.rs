//! Event-driven sync between two real `ebb run` processes through a real
//! `ebb-gateway`: with `sync.interval` at an hour, only push-on-write on
//! till A and the server's nudge to till B can explain a row arriving.
//! Holds that it arrives (no timing is asserted), that B reconnects after
//! the gateway restarts, and that the poll delivers with Realtime off or
//! when every nudge is lost.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use super::run::{Daemon, get, wait_for};
use super::support::{PG, Server, World, free_port, id};

/// Appends `extra` to a device's policies.toml.
fn configure(w: &World, config: &str, extra: &str) {
    let path = w.path(config);
    let text = std::fs::read_to_string(&path).expect("policies.toml") + extra;
    std::fs::write(&path, text).expect("policies.toml");
}

/// `ebb run` on a device, logging (with debug lines) to `<config>.log`.
fn run(w: &World, config: &str) -> Daemon {
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
fn stop(w: &World, config: &str, mut daemon: Daemon) -> String {
    if let Some(mut child) = daemon.0.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
    std::fs::read_to_string(w.path(&format!("{config}.log"))).unwrap_or_default()
}

/// [`wait_for`], printing both tills' and the gateway's logs on a timeout.
fn wait(w: &World, server: &Server, what: &str, ready: impl FnMut() -> bool) {
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

fn insert_customer(w: &World, device: &str, customer: &str) {
    w.app_sql(
        device,
        &format!(
            "INSERT INTO customers VALUES ('{customer}', 'Ann', NULL, NULL, NULL, \
             '2025-01-01T00:00:00Z')"
        ),
    );
}

fn has_customer(w: &World, device: &str, customer: &str) -> bool {
    let db = rusqlite::Connection::open(w.path(device).join("app.db")).expect("app.db");
    db.query_row(
        "SELECT COUNT(*) FROM customers WHERE id = ?1",
        [customer],
        |r| r.get::<_, i64>(0),
    )
    .is_ok_and(|n| n == 1)
}

/// The Realtime state B's `/api/status` shows.
fn realtime_state(port: u16) -> String {
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

const EVENTS_ONLY: &str = "\n[sync]\ninterval = \"1h\"\n\n[realtime]\n\
                           initial_backoff = \"100ms\"\nmax_backoff = \"500ms\"\n";

/// Tills A and B running on Realtime events only (their poll an hour
/// away), both sockets joined: (A's config, B's, B's API port, A, B).
fn two_on_events(w: &World, server: &Server) -> (String, String, u16, Daemon, Daemon) {
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

#[test]
fn a_write_on_one_till_shows_on_the_other_by_events_and_after_a_gateway_restart() {
    let w = World::new();
    let mut server = Server::start(&w);
    let (a, b, port, till_a, till_b) = two_on_events(&w, &server);

    let first = id();
    insert_customer(&w, "a", &first);
    wait(&w, &server, "the row on B", || {
        has_customer(&w, "b", &first)
    });

    // The gateway goes away and comes back: B says it polls, then rejoins.
    server.restart(&w);
    wait(&w, &server, "B's socket rejoined", || {
        realtime_state(port) == "connected"
    });
    let second = id();
    insert_customer(&w, "a", &second);
    wait(&w, &server, "the later row on B", || {
        has_customer(&w, "b", &second)
    });

    let (_, metrics) = get(port, "/metrics").expect("/metrics answers");
    assert!(metrics.contains("ebb_realtime_connected 1"), "{metrics}");
    let logs = [stop(&w, &a, till_a), stop(&w, &b, till_b)];
    let b_log = &logs[1];
    assert!(b_log.contains("realtime is down"), "{b_log}");
    for log in logs {
        w.saw(log);
    }
    w.saw(server.log_text());
    w.assert_key_never_shown();
}

#[test]
fn with_realtime_off_the_poll_still_delivers() {
    let w = World::new();
    let server = Server::start(&w);
    let a = w.device("a", &server.url);
    let b = w.device("b", &server.url);
    let (port_a, port) = (free_port(), free_port());
    configure(
        &w,
        &a,
        &format!(
            "\n[sync]\ninterval = \"1h\"\n\n[realtime]\nenabled = false\n\n\
             [ops]\nlisten = \"127.0.0.1:{port_a}\"\n"
        ),
    );
    configure(
        &w,
        &b,
        &format!(
            "\n[sync]\ninterval = \"300ms\"\n\n[realtime]\nenabled = false\n\n\
             [ops]\nlisten = \"127.0.0.1:{port}\"\n"
        ),
    );
    let till_a = run(&w, &a);
    let till_b = run(&w, &b);
    wait(&w, &server, "A's API", || realtime_state(port_a) == "off");
    wait(&w, &server, "B's API", || realtime_state(port) == "off");

    // A pushes on the write (its own poll is an hour away); B polls.
    let customer = id();
    insert_customer(&w, "a", &customer);
    wait(&w, &server, "the row on B", || {
        has_customer(&w, "b", &customer)
    });
    let (_, metrics) = get(port, "/metrics").expect("/metrics answers");
    assert!(metrics.contains("ebb_realtime_connected 0"), "{metrics}");
    w.saw(stop(&w, &a, till_a));
    w.saw(stop(&w, &b, till_b));
    w.assert_key_never_shown();
}

#[test]
fn nudges_that_never_arrive_cost_latency_not_rows() {
    let w = World::new();
    let server = Server::start(&w);
    let a = w.device("a", &server.url);
    let b = w.device("b", &server.url);
    let (port_a, port) = (free_port(), free_port());
    let listen = |port: u16| format!("\n[ops]\nlisten = \"127.0.0.1:{port}\"\n");
    configure(&w, &a, &format!("{EVENTS_ONLY}{}", listen(port_a)));
    // B joins a topic nobody broadcasts on: every nudge is lost to it, as
    // behind a proxy that drops them; its poll still brings the row.
    configure(
        &w,
        &b,
        &format!(
            "\n[sync]\ninterval = \"300ms\"\n\n[realtime]\ntopic = \"nobody\"\n{}",
            listen(port)
        ),
    );
    let till_a = run(&w, &a);
    let till_b = run(&w, &b);
    wait(&w, &server, "A's socket joined", || {
        realtime_state(port_a) == "connected"
    });
    wait(&w, &server, "B's socket joined", || {
        realtime_state(port) == "connected"
    });
    let customer = id();
    insert_customer(&w, "a", &customer);
    wait(&w, &server, "the row on B", || {
        has_customer(&w, "b", &customer)
    });
    w.saw(stop(&w, &a, till_a));
    w.saw(stop(&w, &b, till_b));
    w.assert_key_never_shown();
}

/// A nudge for rows that sit behind a transaction still open on the server
/// (another client's): B's pull finds the horizon held and takes nothing,
/// and no second nudge comes. B pulls again soon by itself (its poll is
/// an hour away), and gets the row once the other transaction ends.
#[test]
fn a_nudged_pull_held_by_an_open_transaction_is_tried_again() {
    let w = World::new();
    let server = Server::start(&w);
    let (a, b, _, till_a, till_b) = two_on_events(&w, &server);

    // Another client's transaction, open before A's push and after it.
    let mut open = Command::new("psql")
        .args([&format!("{PG} dbname={}", server.db), "-qAt"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("psql runs");
    let mut stdin = open.stdin.take().expect("psql's stdin");
    stdin
        .write_all(b"BEGIN;\nSELECT pg_current_xact_id();\n")
        .expect("psql takes the statements");
    let mut first = [0u8; 1];
    let mut out = open.stdout.take().expect("psql's stdout");
    out.read_exact(&mut first)
        .expect("the transaction has an id");

    let customer = id();
    insert_customer(&w, "a", &customer);
    let pushed = || {
        server.query(&format!(
            "SELECT count(*) FROM customers WHERE id = '{customer}'"
        ))
    };
    wait(&w, &server, "A's push", || pushed() == "1");
    // B was nudged and found the row behind the open transaction.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        !has_customer(&w, "b", &customer),
        "pulled past an open transaction"
    );
    stdin.write_all(b"COMMIT;\n").expect("psql commits");
    drop(stdin);
    let _ = open.wait();
    wait(
        &w,
        &server,
        "the row on B after the transaction ended",
        || has_customer(&w, "b", &customer),
    );
    for log in [stop(&w, &a, till_a), stop(&w, &b, till_b)] {
        w.saw(log);
    }
    w.assert_key_never_shown();
}
