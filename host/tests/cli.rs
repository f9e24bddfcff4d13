//! The real `ebb` binary, end to end: help, init, check, remote-sql, sync,
//! status, queue, conflicts, policy run/replay. SQLite files live in temp
//! dirs; the remote is a real Postgres scratch database behind a real
//! `ebb-gateway` process (see cli/support.rs). Needs PostgreSQL
//! (scripts/pg-setup.sh) and the example plugins (scripts/build-plugins.sh).

#[path = "cli/api.rs"]
mod api;
#[path = "cli/api_support.rs"]
mod api_support;
#[path = "cli/conflicts.rs"]
mod conflicts;
#[path = "cli/console.rs"]
mod console;
#[path = "cli/device.rs"]
mod device;
#[path = "cli/events.rs"]
mod events;
#[path = "cli/lock.rs"]
mod lock;
#[path = "cli/policy.rs"]
mod policy;
#[path = "cli/pos.rs"]
mod pos;
#[path = "cli/pos_tills.rs"]
mod pos_tills;
#[path = "cli/realtime.rs"]
mod realtime;
#[path = "cli/run.rs"]
mod run;
#[path = "cli/support.rs"]
mod support;

use serde_json::Value;
use support::{Server, World, id};

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

#[test]
fn help_teaches_every_command() {
    let w = World::new();
    let top = w.ebb(&["--help"]).expect(0).stdout;
    for word in [
        "init",
        "check",
        "remote-sql",
        "sync",
        "status",
        "queue",
        "conflicts",
    ] {
        assert!(top.contains(word), "ebb --help lacks {word}:\n{top}");
    }
    for word in ["Exit codes", "EBB_API_KEY", "--config"] {
        assert!(top.contains(word), "ebb --help lacks {word}:\n{top}");
    }
    let cases: &[(&[&str], &[&str])] = &[
        (&["init"], &["--db", "--table", "--force", "Examples"]),
        (&["check"], &["EBB_API_KEY", "Exit code"]),
        (&["remote-sql"], &["psql"]),
        (&["sync"], &["--once", "--json", "--wait", "3"]),
        (&["run"], &["/metrics"]),
        (&["status"], &["--json", "healthy"]),
        (&["queue"], &["--state", "invalid", "--limit"]),
        (&["conflicts"], &["list", "show", "resolve", "--take local"]),
        (&["conflicts", "list"], &["--all", "--json"]),
        (
            &["conflicts", "resolve"],
            &["--take", "--row", "local", "remote"],
        ),
        (&["policy"], &["run", "replay", "--validate"]),
        (
            &["policy", "run"],
            &["--validate", "--conflict", "--table", "fuel"],
        ),
        (&["policy", "replay"], &["--table", "--plugin"]),
    ];
    for (command, words) in cases {
        let mut args = command.to_vec();
        args.push("--help");
        let help = w.ebb(&args).expect(0).stdout;
        for word in *words {
            assert!(
                help.contains(word),
                "ebb {command:?} --help lacks {word}:\n{help}"
            );
        }
    }
    assert!(
        w.ebb(&["frobnicate"])
            .expect(2)
            .stderr
            .contains("frobnicate")
    );
    // The gateway moved to its own program; the old command says where.
    let moved = w
        .ebb(&["gateway", "--listen", "127.0.0.1:1"])
        .expect(2)
        .stderr;
    assert!(moved.contains("ebb-gateway"), "{moved}");
    assert!(!w.ebb(&["--help"]).expect(0).stdout.contains("gateway"));
}

#[test]
fn init_writes_a_starter_that_loads_and_opts_tables_in() {
    let w = World::new();
    let app = std::fs::read_to_string(support::root().join("example/app.sql")).unwrap();
    rusqlite::Connection::open(w.path("app.db"))
        .unwrap()
        .execute_batch(&app)
        .unwrap();

    let out = w.ebb(&["init", "--db", "app.db"]).expect(0);
    assert!(out.stdout.contains("wrote policies.toml"), "{out:?}");
    let text = std::fs::read_to_string(w.path("policies.toml")).unwrap();
    for t in [
        "products",
        "customers",
        "debts",
        "debt_payments",
        "users",
        "licenses",
    ] {
        assert!(
            text.contains(&format!("# [tables.{t}]")),
            "{t} not listed:\n{text}"
        );
    }
    assert!(!text.lines().any(|l| l.starts_with("[tables.")), "{text}");
    assert!(text.contains("database = \"app.db\""));
    // It loads: remote-sql reads it (no table synced yet).
    w.ebb(&["remote-sql"]).expect(0);

    let again = w
        .ebb(&["init", "--db", "app.db", "--table", "products"])
        .expect(2);
    assert!(again.stderr.contains("already exists") && again.stderr.contains("--force"));
    assert_eq!(
        std::fs::read_to_string(w.path("policies.toml")).unwrap(),
        text
    );

    let out = w.ebb(&[
        "init",
        "--db",
        "app.db",
        "--table",
        "products,customers",
        "--force",
    ]);
    out.expect(0);
    let text = std::fs::read_to_string(w.path("policies.toml")).unwrap();
    assert!(text.contains("\n[tables.products]\n") && text.contains("\n[tables.customers]\n"));
    assert!(text.contains("# [tables.users]") && !text.contains("# [tables.products]"));
    let schema = json(&std::fs::read_to_string(w.path("schemas/products.schema.json")).unwrap());
    assert_eq!(schema["properties"]["price_cents"]["type"], "integer");
    let sql = w.ebb(&["remote-sql"]).expect(0).stdout;
    assert!(sql.contains("products") && !sql.contains("licenses"));

    // Children after parents, whatever order they were named in.
    let args = [
        "init",
        "--db",
        "app.db",
        "--table",
        "debts,customers,debts",
        "--force",
    ];
    let out = w.ebb(&args).expect(0);
    assert!(out.stdout.contains("parents before children"), "{out:?}");
    let text = std::fs::read_to_string(w.path("policies.toml")).unwrap();
    let at = |t: &str| text.find(&format!("\n[tables.{t}]\n")).expect(t);
    assert!(at("customers") < at("debts"), "{text}");

    let bad = w
        .ebb(&["init", "--db", "app.db", "--table", "nope", "--force"])
        .expect(2);
    assert!(
        bad.stderr.contains("--table nope") && bad.stderr.contains("debts"),
        "{bad:?}"
    );
    let missing = w.ebb(&["init", "--db", "gone.db", "--force"]).expect(2);
    assert!(missing.stderr.contains("gone.db"), "{missing:?}");
    assert!(!w.path("gone.db").exists());
}

#[test]
fn check_points_at_the_broken_line_and_key() {
    let w = World::new();
    let config = w.device("a", "http://127.0.0.1:1");
    let path = w.path(&config);
    let good = std::fs::read_to_string(&path).unwrap();

    let wrong_type = good.replace("[retry]\n", "[retry]\nmax_attempts = \"many\"\n");
    std::fs::write(&path, &wrong_type).unwrap();
    let out = w.ebb(&["--config", &config, "check"]);
    assert_ne!(out.code, 0);
    let line = wrong_type
        .lines()
        .position(|l| l.starts_with("max_attempts"))
        .unwrap()
        + 1;
    let expected = format!("policies.toml:{line}: retry.max_attempts:");
    assert!(out.all().contains(&expected), "want {expected}:\n{out:?}");
    // Every other command says the same, with exit code 2.
    let out = w.ebb(&["--config", &config, "status"]).expect(2);
    assert!(out.stderr.contains(&expected), "{out:?}");

    let unknown = good.replace("conflict = \"manual\"", "conflict = \"maybe\"");
    std::fs::write(&path, &unknown).unwrap();
    let out = w.ebb(&["--config", &config, "check"]);
    assert_ne!(out.code, 0);
    let line = unknown
        .lines()
        .position(|l| l.contains("\"maybe\""))
        .unwrap()
        + 1;
    let expected = format!("policies.toml:{line}: tables.customers.conflict:");
    assert!(out.all().contains(&expected), "want {expected}:\n{out:?}");

    // Foreign keys: debts references customers, so customers comes first.
    let (head, customers) = good.split_once("[tables.customers]").unwrap();
    let (customers, debts) = customers.split_once("[tables.debts]").unwrap();
    let children_first = format!("{head}[tables.debts]{debts}\n[tables.customers]{customers}");
    std::fs::write(&path, children_first).unwrap();
    let out = w.ebb(&["--config", &config, "check"]).expect(1);
    assert!(
        out.stdout
            .contains("FAIL  local tables: tables.debts references customers")
            && out.stdout.contains("list [tables.customers] first"),
        "{out:?}"
    );

    // A database path that leads nowhere is refused, not created empty.
    std::fs::write(&path, good.replace("\"app.db\"", "\"gone.db\"")).unwrap();
    for command in [
        &["status"][..],
        &["sync", "--once"],
        &["queue"],
        &["conflicts", "list"],
    ] {
        let mut args = vec!["--config", &config];
        args.extend_from_slice(command);
        let out = w.ebb(&args).expect(2);
        assert!(out.stderr.contains("gone.db does not exist"), "{out:?}");
    }
    assert!(!w.path("a/gone.db").exists());

    std::fs::write(&path, good.replace("[retry]", "[retry")).unwrap();
    let out = w.ebb(&["--config", &config, "check"]);
    assert_ne!(out.code, 0);
    let line = good.lines().position(|l| l == "[retry]").unwrap() + 1;
    assert!(
        out.all().contains(&format!("policies.toml:{line}:")),
        "{out:?}"
    );
}

#[test]
fn check_sync_status_and_the_lock_against_a_real_gateway() {
    let w = World::new();
    let server = Server::start(&w);
    let a = w.device("a", &server.url);
    let (customer, debt) = (id(), id());
    w.app_sql(
        "a",
        &format!(
            "INSERT INTO customers VALUES ('{customer}', 'Ann', NULL, NULL, NULL, '2025-01-01T00:00:00Z');
             INSERT INTO debts VALUES ('{debt}', '{customer}', 1000, 0, 'open', NULL, '2025-01-01T00:00:00Z');"
        ),
    );

    let check = w.ebb(&["--config", &a, "check"]).expect(0).stdout;
    for part in ["config", "local tables", "schemas and plugins", "remote"] {
        assert!(check.contains(&format!("ok    {part}:")), "{check}");
    }
    assert!(
        check.contains(
            "ok    realtime: joined realtime:ebb; every synced table nudges through pg_notify"
        ),
        "{check}"
    );
    let refused = w
        .ebb_with_key(&["--config", &a, "check"], "not-the-key")
        .expect(1);
    assert!(
        refused.stdout.contains("FAIL  remote") && refused.stdout.contains("401"),
        "{refused:?}"
    );
    // Refused at the join: a warning (polling still syncs), with the reason.
    assert!(
        refused.stdout.contains("WARN  realtime: not joined"),
        "{refused:?}"
    );

    let synced = w.ebb(&["--config", &a, "sync", "--once"]).expect(0).stdout;
    assert!(synced.contains("pushed 2,"), "{synced}");
    assert_eq!(
        server.query(&format!(
            "select name from customers where id = '{customer}'"
        )),
        "Ann"
    );
    let report = json(
        &w.ebb(&["--config", &a, "sync", "--once", "--json"])
            .expect(0)
            .stdout,
    );
    assert_eq!(report["pushed"], 0);
    assert_eq!(report["error"], Value::Null);
    assert_eq!(report["completed_tables"].as_array().map(Vec::len), Some(3));

    let status = w.ebb(&["--config", &a, "status"]).expect(0).stdout;
    assert!(
        status.contains("healthy") && status.contains("debts"),
        "{status}"
    );
    let status = json(
        &w.ebb(&["--config", &a, "status", "--json"])
            .expect(0)
            .stdout,
    );
    assert_eq!(status["health"]["healthy"], true);
    assert_eq!(status["tables"].as_array().map(Vec::len), Some(3));

    // Another process holds the sync lock: exit 3, nothing synced.
    let db = rusqlite::Connection::open(w.path("a/app.db")).unwrap();
    let hold = |ms: i64| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        db.execute(
            "INSERT OR REPLACE INTO _ebb_meta (key, value) VALUES ('lease_owner', 'pid 1 (other)'),
               ('lease_expires_at', ?1)",
            [now + ms],
        )
        .unwrap()
    };
    hold(60_000);
    w.app_sql(
        "a",
        &format!("UPDATE customers SET name = 'Anna' WHERE id = '{customer}'"),
    );
    let busy = w.ebb(&["--config", &a, "sync", "--once"]).expect(3);
    assert!(
        busy.stderr.contains("another ebb (pid 1 (other))"),
        "{busy:?}"
    );
    assert!(busy.stderr.contains("--wait"), "{busy:?}");
    assert_eq!(
        server.query(&format!(
            "select name from customers where id = '{customer}'"
        )),
        "Ann"
    );
    // --wait waits the lease out, then syncs.
    hold(300);
    let waited = w
        .ebb(&["--config", &a, "sync", "--once", "--wait"])
        .expect(0)
        .stdout;
    assert!(waited.contains("pushed 1,"), "{waited}");
    assert_eq!(
        server.query(&format!(
            "select name from customers where id = '{customer}'"
        )),
        "Anna"
    );

    // A device whose every request is refused is unhealthy.
    let b = w.device("b", &server.url);
    let never = w
        .ebb(&["--config", &b, "status", "--json"])
        .expect(1)
        .stdout;
    assert!(never.contains("never synced"), "{never}");
    let failed = w
        .ebb_with_key(&["--config", &b, "sync", "--once"], "not-the-key")
        .expect(1);
    assert!(
        failed.stdout.contains("ended early") && failed.stdout.contains("401"),
        "{failed:?}"
    );
    let status = json(
        &w.ebb(&["--config", &b, "status", "--json"])
            .expect(1)
            .stdout,
    );
    assert_eq!(status["health"]["healthy"], false);
    w.ebb(&["--config", &b, "status"]).expect(1);

    w.saw(server.log_text());
    w.assert_key_never_shown();
}

#[test]
fn queue_shows_invalid_rows_with_their_violation() {
    let w = World::new();
    let server = Server::start(&w);
    let a = w.device("a", &server.url);
    w.app_sql(
        "a",
        "INSERT INTO customers VALUES ('not-a-uuid', 'Bad', NULL, NULL, NULL, '2025-01-01T00:00:00Z');",
    );
    let report = json(
        &w.ebb(&["--config", &a, "sync", "--once", "--json"])
            .expect(0)
            .stdout,
    );
    assert_eq!(report["invalid"], 1, "{report}");
    assert_eq!(server.query("select count(*) from customers"), "0");

    let held = w
        .ebb(&["--config", &a, "queue", "--state", "invalid"])
        .expect(0)
        .stdout;
    assert!(
        held.contains("invalid") && held.contains("customers/not-a-uuid"),
        "{held}"
    );
    assert!(
        held.contains("id: \"not-a-uuid\" does not match"),
        "no violation shown:\n{held}"
    );
    let items = json(
        &w.ebb(&["--config", &a, "queue", "--state", "invalid,dead", "--json"])
            .stdout,
    );
    assert_eq!(items.as_array().map(Vec::len), Some(1), "{items}");
    assert_eq!(items[0]["state"], "invalid");
    let none = w
        .ebb(&["--config", &a, "queue", "--state", "dead"])
        .expect(0)
        .stdout;
    assert!(none.contains("no items in state dead"), "{none}");
    w.ebb(&["--config", &a, "queue", "--state", "bogus"])
        .expect(2);

    w.saw(server.log_text());
    w.assert_key_never_shown();
}

#[test]
fn an_unreachable_remote_ends_the_round_with_plain_logs() {
    let w = World::new();
    let a = w.device("a", "http://127.0.0.1:1");
    let out = w.ebb(&["--config", &a, "sync", "--once"]).expect(1);
    assert!(
        out.stdout.contains("the round ended early: cannot reach"),
        "{out:?}"
    );
    assert!(out.stdout.contains("the queue is kept"), "{out:?}");
    assert!(out.stderr.contains("WARN"), "{out:?}");
    assert!(
        !out.stderr.contains('\u{1b}'),
        "colour codes in a pipe: {out:?}"
    );
    w.ebb(&["--config", &a, "status"]).expect(1);
    w.assert_key_never_shown();
}
