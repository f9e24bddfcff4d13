//! The sync lock across real processes. A real `ebb-gateway` process is
//! frozen (SIGSTOP) so a first `ebb sync --once` hangs mid-push, holding
//! the lease with its items in flight. Then: a second `ebb sync --once`
//! exits 3 naming the first process; `ebb sync --once --wait` waits; and
//! once the first process is SIGKILLed and its lease has expired, the next
//! sync takes over, reports the recovered items and pushes them exactly
//! once (even though the thawed gateway may still run the dead process's
//! request).
//!
//! Every process spawned here is killed (after a SIGCONT) by [`Procs`] on
//! drop, failure or not; the scratch database goes with [`Server`].

use std::cell::RefCell;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Out, PG, Server, World, free_port, gateway_exe, id};

/// The processes a test spawned. Dropping it thaws and kills every one.
#[derive(Default)]
struct Procs(RefCell<Vec<Child>>);

impl Procs {
    fn spawn(&self, cmd: &mut Command) -> usize {
        let mut all = self.0.borrow_mut();
        all.push(cmd.spawn().expect("the process starts"));
        all.len() - 1
    }

    fn pid(&self, at: usize) -> u32 {
        self.0.borrow()[at].id()
    }

    fn exit_code(&self, at: usize) -> Option<i32> {
        match self.0.borrow_mut()[at].try_wait() {
            Ok(Some(status)) => Some(status.code().unwrap_or(-1)),
            _ => None,
        }
    }

    fn running(&self, at: usize) -> bool {
        self.exit_code(at).is_none()
    }

    /// Waits for the process to exit (at most `limit`); its exit code.
    fn wait(&self, at: usize, limit: Duration) -> i32 {
        let start = Instant::now();
        loop {
            if let Some(code) = self.exit_code(at) {
                return code;
            }
            assert!(
                start.elapsed() < limit,
                "process {} still runs",
                self.pid(at)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&self, at: usize) {
        let child = &mut self.0.borrow_mut()[at];
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for child in self.0.get_mut() {
            signal("CONT", child.id());
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `kill -SIG PID`.
fn signal(sig: &str, pid: u32) -> bool {
    Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Polls `ok` every 20ms for at most 20s.
#[track_caller]
fn until(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < Duration::from_secs(20), "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A test's setup: a scratch database, our own gateway process over it
/// (the one `Server` starts is left unused: we need its pid to freeze it),
/// device `a` with `lease`, and three rows waiting to be pushed.
struct Setup {
    // Field order is drop order: processes before the database.
    procs: Procs,
    gateway: usize,
    server: Server,
    w: World,
    config: String,
    ids: Vec<(&'static str, String)>,
}

impl Setup {
    fn new(lease: &str) -> Setup {
        let w = World::new();
        let server = Server::start(&w);
        let procs = Procs::default();
        let port = free_port();
        let log = std::fs::File::create(w.path("frozen-gateway.log")).expect("log");
        let gateway = procs.spawn(
            Command::new(gateway_exe())
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .args(["--database", &format!("{PG} dbname={}", server.db)])
                .env("EBB_API_KEY", &w.key)
                .env_remove("RUST_LOG")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log),
        );
        until("the gateway listens", || {
            assert!(procs.running(gateway), "the gateway exited");
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        let config = w.device("a", &format!("http://127.0.0.1:{port}"));
        let path = w.path(&config);
        let text = std::fs::read_to_string(&path).expect("policies.toml");
        // No products table: its validator plugin takes seconds to compile
        // in a debug build, and every process here must start well within
        // the lease.
        let (head, products) = text.split_once("[tables.products]").expect("products");
        let (_, rest) = products
            .split_once("[tables.customers]")
            .expect("customers");
        let text = format!("{head}[tables.customers]{rest}").replace(
            "[retry]\n",
            &format!("[sync]\nlease = \"{lease}\"\n\n[retry]\n"),
        );
        std::fs::write(&path, text).expect("policies.toml");
        let (c1, c2, debt) = (id(), id(), id());
        w.app_sql(
            "a",
            &format!(
                "INSERT INTO customers VALUES ('{c1}', 'Ann', NULL, NULL, NULL, '2025-01-01T00:00:00Z');
                 INSERT INTO customers VALUES ('{c2}', 'Bob', NULL, NULL, NULL, '2025-01-01T00:00:00Z');
                 INSERT INTO debts VALUES ('{debt}', '{c1}', 1000, 0, 'open', NULL, '2025-01-01T00:00:00Z');"
            ),
        );
        Setup {
            procs,
            gateway,
            server,
            w,
            config,
            ids: vec![("customers", c1), ("customers", c2), ("debts", debt)],
        }
    }

    /// `ebb --config a/policies.toml sync ARGS`, in the background, its
    /// output in `name.out` / `name.err`.
    fn spawn_sync(&self, name: &str, args: &[&str]) -> usize {
        let out = std::fs::File::create(self.w.path(&format!("{name}.out"))).expect("out");
        let err = std::fs::File::create(self.w.path(&format!("{name}.err"))).expect("err");
        self.procs.spawn(
            Command::new(env!("CARGO_BIN_EXE_ebb"))
                .args(["--config", &self.config, "sync"])
                .args(args)
                .current_dir(self.w.dir.path())
                .env_remove("EBB_CONFIG")
                .env_remove("RUST_LOG")
                .env("EBB_API_KEY", &self.w.key)
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err),
        )
    }

    /// What a background sync printed so far (remembered for the key check).
    fn output(&self, name: &str) -> Out {
        let read = |ext: &str| {
            std::fs::read_to_string(self.w.path(&format!("{name}.{ext}"))).unwrap_or_default()
        };
        let out = Out {
            code: -1,
            stdout: read("out"),
            stderr: read("err"),
        };
        self.w.saw(out.all());
        out
    }

    fn sync(&self, args: &[&str]) -> Out {
        let mut all = vec!["--config", self.config.as_str(), "sync"];
        all.extend_from_slice(args);
        self.w.ebb(&all)
    }

    fn db_path(&self) -> PathBuf {
        self.w.path("a/app.db")
    }

    /// (items in flight, lease owner, lease expiry) read from the device's
    /// SQLite file, as another process sees them; (0, None, 0) before the
    /// first sync set the file up.
    fn lock_state(&self) -> (i64, Option<String>, i64) {
        let db = rusqlite::Connection::open(self.db_path()).expect("app.db");
        db.busy_timeout(Duration::from_secs(5)).expect("busy");
        // Before the first sync opens it, the file has no _ebb_ tables.
        let inflight = db
            .query_row(
                "SELECT count(*) FROM _ebb_queue WHERE state = 'inflight'",
                [],
                |r| r.get(0),
            )
            .unwrap_or(0);
        let meta = |key: &str| {
            db.query_row("SELECT value FROM _ebb_meta WHERE key = ?1", [key], |r| {
                r.get::<_, rusqlite::types::Value>(0)
            })
            .ok()
        };
        let owner = match meta("lease_owner") {
            Some(rusqlite::types::Value::Text(t)) => Some(t),
            _ => None,
        };
        let expires = match meta("lease_expires_at") {
            Some(rusqlite::types::Value::Integer(n)) => n,
            _ => 0,
        };
        (inflight, owner, expires)
    }

    fn queue_len(&self) -> i64 {
        let db = rusqlite::Connection::open(self.db_path()).expect("app.db");
        db.query_row("SELECT count(*) FROM _ebb_queue", [], |r| r.get(0))
            .expect("queue")
    }

    /// Freezes the gateway and starts a sync that hangs mid-push holding
    /// the lease with all three items in flight. Returns it and its pid.
    fn hang_a_sync(&self) -> (usize, u32) {
        assert!(signal("STOP", self.procs.pid(self.gateway)), "SIGSTOP");
        let first = self.spawn_sync("first", &["--once"]);
        let pid = self.procs.pid(first);
        until(
            "the first sync holds the lease with 3 items in flight",
            || {
                assert!(
                    self.procs.running(first),
                    "the first sync exited: {:?}",
                    self.output("first")
                );
                let (inflight, owner, _) = self.lock_state();
                inflight == 3 && owner.is_some_and(|o| o.starts_with(&format!("pid {pid} (")))
            },
        );
        (first, pid)
    }

    /// Every row reached the server exactly once: present, `_ebb_version` 1.
    #[track_caller]
    fn assert_pushed_once(&self) {
        for (table, pk) in &self.ids {
            assert_eq!(
                self.server.query(&format!(
                    "select count(*) || ':' || max(_ebb_version) from {table} where id = '{pk}'"
                )),
                "1:1",
                "{table} {pk}"
            );
        }
        assert_eq!(self.server.query("select count(*) from customers"), "2");
        assert_eq!(self.server.query("select count(*) from debts"), "1");
    }

    fn finish(self) {
        self.w.saw(self.server.log_text());
        self.w
            .saw(std::fs::read_to_string(self.w.path("frozen-gateway.log")).unwrap_or_default());
        self.w.assert_key_never_shown();
    }
}

#[test]
fn a_second_sync_exits_3_and_a_killed_syncs_lease_is_taken_over() {
    let s = Setup::new("4s");
    let (first, pid) = s.hang_a_sync();

    // (a) Another process: exit 3, naming the holder; nothing moves.
    let busy = s.sync(&["--once"]).expect(3);
    assert!(
        busy.stderr.contains(&format!("another ebb (pid {pid} (")),
        "the holder is not named: {busy:?}"
    );
    assert!(
        busy.stderr.contains("nothing was synced") && busy.stderr.contains("--wait"),
        "{busy:?}"
    );
    assert_eq!(s.server.query("select count(*) from customers"), "0");
    assert_eq!(s.lock_state().0, 3, "the busy sync touched the queue");

    // (c) The holder dies mid-push; the gateway thaws and may still run the
    // dead process's request. Its lease stands until it expires...
    s.procs.kill(first);
    assert!(signal("CONT", s.procs.pid(s.gateway)), "SIGCONT");
    let (_, owner, expires) = s.lock_state();
    assert!(owner.is_some_and(|o| o.starts_with(&format!("pid {pid} ("))));
    let left = expires - now_ms();
    assert!(left > 0, "the 4s lease ran out before the test got here");
    let still = s.sync(&["--once"]).expect(3);
    assert!(
        still.stderr.contains(&format!("another ebb (pid {pid} (")),
        "{still:?}"
    );

    // ...and then the next sync takes it over and recovers its items.
    until("the dead process's lease expires", || {
        now_ms() > s.lock_state().2
    });
    assert_eq!(s.lock_state().0, 3, "in-flight items before the takeover");
    let took = s.sync(&["--once"]).expect(0);
    assert!(
        took.stdout
            .contains("recovered 3 items left in flight by an interrupted sync"),
        "{took:?}"
    );
    assert!(took.stdout.contains("pushed 3,"), "{took:?}");
    assert!(
        took.stderr.contains("took over an expired sync lock")
            && took.stderr.contains(&format!("pid {pid} (")),
        "{took:?}"
    );
    s.assert_pushed_once();
    assert_eq!(s.queue_len(), 0);
    assert_eq!(s.lock_state().1, None, "the lease was released");

    // Nothing is pushed twice afterwards.
    let again = s.sync(&["--once"]).expect(0);
    assert!(again.stdout.contains("pushed 0,"), "{again:?}");
    assert!(!again.stdout.contains("recovered"), "{again:?}");
    s.assert_pushed_once();
    s.finish();
}

#[test]
fn sync_wait_waits_for_the_lease_then_takes_over() {
    let s = Setup::new("2s");
    let (first, pid) = s.hang_a_sync();
    let (_, _, expires) = s.lock_state();

    // (b) --wait neither exits 3 nor takes the live lease: it waits.
    let waiter = s.spawn_sync("waiter", &["--once", "--wait"]);
    until("the waiter reports that it waits", || {
        assert!(
            s.procs.running(waiter),
            "the waiter exited: {:?}",
            s.output("waiter")
        );
        s.output("waiter")
            .stderr
            .contains("another sync is running")
    });
    let waiting = s.output("waiter");
    assert!(
        waiting.stderr.contains(&format!("pid {pid} (")),
        "which holder? {waiting:?}"
    );
    let (inflight, owner, _) = s.lock_state();
    assert_eq!(inflight, 3);
    assert!(
        owner.is_some_and(|o| o.starts_with(&format!("pid {pid} ("))),
        "the waiter took a live lease"
    );
    assert!(s.procs.running(waiter));

    // The holder dies; once its lease expires the waiter takes over.
    s.procs.kill(first);
    assert!(signal("CONT", s.procs.pid(s.gateway)), "SIGCONT");
    let code = s.procs.wait(waiter, Duration::from_secs(30));
    let done = now_ms();
    let out = s.output("waiter");
    assert_eq!(code, 0, "{out:?}");
    assert!(
        done >= expires,
        "the waiter finished before the lease expired"
    );
    assert!(
        out.stdout
            .contains("recovered 3 items left in flight by an interrupted sync")
            && out.stdout.contains("pushed 3,"),
        "{out:?}"
    );
    s.assert_pushed_once();
    assert_eq!(s.queue_len(), 0);
    let again = s.sync(&["--once"]).expect(0);
    assert!(again.stdout.contains("pushed 0,"), "{again:?}");
    s.assert_pushed_once();
    s.finish();
}
