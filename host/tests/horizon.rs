//! A nudge for rows that sit behind a transaction still open on the
//! server: the till's pull finds the horizon held, takes nothing, and pulls
//! again soon by itself. A binary of its own: the open transaction holds
//! the horizon of the whole cluster, and would hold back the pulls of the
//! other CLI tests running beside it (cargo runs test binaries one after
//! another). Needs PostgreSQL (scripts/pg-setup.sh).

// Shared with the cli binary, which uses what this one does not.
#![allow(dead_code)]

#[path = "cli/events.rs"]
mod events;
#[path = "cli/run.rs"]
mod run;
#[path = "cli/support.rs"]
mod support;

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use events::{has_customer, insert_customer, stop, two_on_events, wait};
use support::{PG, Server, World, id};

/// A's row is pushed while another client's transaction is open: B is
/// nudged, its pull finds the horizon held and takes nothing, and no
/// second nudge comes. B pulls again soon by itself (its poll is an hour
/// away), and gets the row once the other transaction ends.
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
