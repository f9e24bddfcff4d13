//! What the `ebb` binary tests run against: the real binary, SQLite files
//! in temp dirs shaped like the example app, and a real Postgres scratch
//! database (created per test, dropped on drop) served by a real
//! `ebb-gateway` process on a free loopback port.
//!
//! Every run's stdout and stderr (and the gateway's log) is kept so a test
//! can assert the API key never shows up in any of them.

use std::cell::RefCell;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PG: &str = "host=/var/run/postgresql user=postgres";

/// The repository root (host/..).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `ebb-gateway` binary beside this test's `ebb` (its own crate, so
/// `cargo test --workspace` or scripts/test.sh builds it; `cargo test -p
/// ebb` alone does not).
pub fn gateway_exe() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_ebb")).with_file_name("ebb-gateway");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build -p ebb-gateway` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// `$CARGO_TARGET_DIR/plugins`, where scripts/build-plugins.sh puts the
/// example plugins (the binary is `$CARGO_TARGET_DIR/debug/ebb`).
pub fn plugin(name: &str) -> PathBuf {
    let exe = Path::new(env!("CARGO_BIN_EXE_ebb"));
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|t| t.join("plugins").join(name))
        .unwrap_or_default();
    assert!(
        path.is_file(),
        "{} is missing: run scripts/build-plugins.sh first",
        path.display()
    );
    path
}

/// One command's outcome.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Asserts the exit code, showing the output when it differs.
    #[track_caller]
    pub fn expect(self, code: i32) -> Out {
        assert_eq!(self.code, code, "unexpected exit code\n{self:#?}");
        self
    }

    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// A test's scratch world: a temp dir, the API key, every output seen.
pub struct World {
    pub dir: tempfile::TempDir,
    pub key: String,
    seen: RefCell<Vec<String>>,
}

impl World {
    pub fn new() -> World {
        World {
            dir: tempfile::tempdir().expect("temp dir"),
            key: format!("k{}", uuid::Uuid::new_v4().simple()),
            seen: RefCell::new(Vec::new()),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `ebb ARGS` in the temp dir with the right API key.
    pub fn ebb(&self, args: &[&str]) -> Out {
        self.ebb_with_key(args, &self.key.clone())
    }

    /// `ebb ARGS` in the temp dir with `key` in EBB_API_KEY.
    pub fn ebb_with_key(&self, args: &[&str], key: &str) -> Out {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ebb"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_remove("EBB_CONFIG")
            .env_remove("RUST_LOG")
            .env("EBB_API_KEY", key)
            .stdin(Stdio::null());
        let out = cmd.output().expect("ebb runs");
        let out = Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        self.seen.borrow_mut().push(out.all());
        out
    }

    /// Remembers text some other process printed (the gateway's log).
    pub fn saw(&self, text: String) {
        self.seen.borrow_mut().push(text);
    }

    /// The key appeared in no output of this test.
    #[track_caller]
    pub fn assert_key_never_shown(&self) {
        let seen = self.seen.borrow();
        assert!(!seen.is_empty());
        for text in seen.iter() {
            assert!(!text.contains(&self.key), "the API key leaked in:\n{text}");
        }
    }

    /// A device: `DIR/app.db` from example/app.sql and `DIR/policies.toml`
    /// pointing at `url`. Returns the config path, relative to the world.
    pub fn device(&self, name: &str, url: &str) -> String {
        let dir = self.path(name);
        std::fs::create_dir_all(&dir).expect("device dir");
        let app = std::fs::read_to_string(root().join("example/app.sql")).expect("app.sql");
        let db = rusqlite::Connection::open(dir.join("app.db")).expect("app.db");
        db.execute_batch(&app).expect("app schema");
        let schemas = root().join("schemas");
        let config = DEVICE_CONFIG
            .replace("{url}", url)
            .replace("{schemas}", &schemas.display().to_string())
            .replace(
                "{validator}",
                &plugin("products_validator.wasm").display().to_string(),
            );
        std::fs::write(dir.join("policies.toml"), config).expect("policies.toml");
        format!("{name}/policies.toml")
    }

    /// Runs SQL on a device's app.db (as the app would).
    pub fn app_sql(&self, device: &str, sql: &str) {
        let db = rusqlite::Connection::open(self.path(device).join("app.db")).expect("app.db");
        db.execute_batch(sql).expect("app sql");
    }
}

const DEVICE_CONFIG: &str = r#"
database = "app.db"

[remote]
url = "{url}"

[retry]
initial_backoff = "10ms"

[tables.products]
schema = "{schemas}/products.schema.json"
validate = "{validator}"
conflict = "server_wins"

[tables.customers]
schema = "{schemas}/customers.schema.json"
conflict = "manual"

[tables.debts]
schema = "{schemas}/debts.schema.json"
conflict = "manual"
"#;

/// A scratch Postgres database with the example schema and ebb's remote
/// SQL, served by `ebb-gateway`. Dropped (gateway stopped, database
/// dropped) on drop.
pub struct Server {
    pub db: String,
    pub url: String,
    gateway: Child,
    log: PathBuf,
}

impl Server {
    /// Also proves `ebb remote-sql | psql` applies cleanly (twice).
    pub fn start(world: &World) -> Server {
        // Any config naming the synced tables will do for the SQL.
        let config = world.device("sql", "http://127.0.0.1:1");
        Server::start_with(world, "example/server.sql", &config)
    }

    /// A server from `server_sql` (relative to the repository root) with
    /// `ebb --config CONFIG remote-sql` applied (twice).
    pub fn start_with(world: &World, server_sql: &str, config: &str) -> Server {
        let db = format!("ebb_cli_{}", uuid::Uuid::new_v4().simple());
        psql("postgres", &format!("create database {db}"));
        let server_sql = root().join(server_sql);
        let applied = Command::new("psql")
            .args([
                &format!("{PG} dbname={db}"),
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-f",
            ])
            .arg(&server_sql)
            .output()
            .expect("psql runs");
        assert!(applied.status.success(), "server.sql: {applied:?}");
        let sql = world
            .ebb(&["--config", config, "remote-sql"])
            .expect(0)
            .stdout;
        assert!(sql.contains("ebb_push") && sql.contains("ebb_pull"));
        for _ in 0..2 {
            psql_stdin(&db, &sql);
        }
        let port = free_port();
        let log = world.path(&format!("gateway-{port}.log"));
        let gateway = spawn_gateway(world, &db, port, &log);
        let mut server = Server {
            db,
            url: format!("http://127.0.0.1:{port}"),
            gateway,
            log,
        };
        server.wait_ready(port);
        server
    }

    /// Stops the gateway and starts it again on the same port and
    /// database (its log goes on in the same file).
    pub fn restart(&mut self, world: &World) {
        let _ = self.gateway.kill();
        let _ = self.gateway.wait();
        let port: u16 = self
            .url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the gateway's port");
        self.gateway = spawn_gateway(world, &self.db, port, &self.log);
        self.wait_ready(port);
    }

    fn wait_ready(&mut self, port: u16) {
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = self.gateway.try_wait() {
                panic!("gateway exited ({status}): {}", self.log_text());
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "gateway never listened"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One value (first column of the first row) of a query, as text.
    pub fn query(&self, sql: &str) -> String {
        psql(&self.db, sql)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.gateway.kill();
        let _ = self.gateway.wait();
        let _ = Command::new("psql")
            .args([
                &format!("{PG} dbname=postgres"),
                "-qc",
                &format!("drop database if exists {} with (force)", self.db),
            ])
            .output();
    }
}

/// `ebb-gateway` on `port` over `db`, logging (appending) to `log`.
fn spawn_gateway(world: &World, db: &str, port: u16, log: &Path) -> Child {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("gateway log");
    Command::new(gateway_exe())
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--database", &format!("{PG} dbname={db}")])
        .env("EBB_API_KEY", &world.key)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("log"))
        .stderr(file)
        .spawn()
        .expect("gateway starts")
}

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// `psql -Atc SQL` on `db`; panics with psql's message on failure.
pub fn psql(db: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            &format!("{PG} dbname={db}"),
            "-Atq",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .output()
        .expect("psql runs (is PostgreSQL up? scripts/pg-setup.sh)");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn psql_stdin(db: &str, sql: &str) {
    use std::io::Write;
    let mut child = Command::new("psql")
        .args([&format!("{PG} dbname={db}"), "-q", "-v", "ON_ERROR_STOP=1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql runs");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(sql.as_bytes()).expect("sql to psql");
    }
    let out = child.wait_with_output().expect("psql ends");
    assert!(
        out.status.success(),
        "ebb remote-sql | psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh uuid as text.
pub fn id() -> String {
    uuid::Uuid::new_v4().to_string()
}
