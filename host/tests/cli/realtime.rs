//! Event-driven sync between two real `ebb run` processes through a real
//! `ebb-gateway`: with `sync.interval` at an hour, only push-on-write on
//! till A and the server's nudge to till B can explain a row arriving.
//! Holds that it arrives (no timing is asserted), that B reconnects after
//! the gateway restarts, and that the poll delivers with Realtime off or
//! when every nudge is lost. (A nudged pull held by an open transaction:
//! tests/horizon.rs, a binary of its own.)

use super::events::{
    EVENTS_ONLY, configure, has_customer, insert_customer, realtime_state, run, stop,
    two_on_events, wait,
};
use super::run::get;
use super::support::{Server, World, free_port, id};

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
