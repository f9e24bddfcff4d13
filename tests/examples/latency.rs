//! Event-driven sync, measured: N tills as real `ebb run` processes against
//! one `ebb-gateway` over a scratch PostgreSQL database, `sync.interval` at
//! an hour so only push-on-write and the server's nudges move rows. Till A
//! writes a customer, the next till (B, in turn) is watched until the row
//! is in its SQLite file. Prints the edit-to-visible latency (median, p99,
//! max), the gateway's CPU time, and the HTTP requests the gateway served
//! while every till sat idle (heartbeats go over the websockets and are not
//! requests). Asserts nothing about time.
//!
//!   cargo build --release -p ebb -p ebb-gateway
//!   cargo run --release -p ebb-tests --example latency -- --tills 20
//!
//! Options: `--tills N` (default 5, at least 2), `--edits N` (40),
//! `--idle SECONDS` (10), `--burst N` (500 one-row commits on A, then the
//! number of push requests that carried them). Needs PostgreSQL (scripts/pg-setup.sh). Uses the
//! `ebb` and `ebb-gateway` binaries of this example's own profile.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use ebb_tests::repo_path;

const PG: &str = "host=/var/run/postgresql user=postgres";

/// Stops every child and drops the database, however the run ends.
struct World {
    children: Vec<Child>,
    db: String,
}

impl Drop for World {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = psql(
            "postgres",
            &format!("drop database if exists {} with (force)", self.db),
        );
    }
}

fn main() -> Result<()> {
    let (mut tills, mut edits, mut idle, mut burst) = (5usize, 40usize, 10u64, 500usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().context("a value after the option");
        match a.as_str() {
            "--tills" => tills = value()?.parse()?,
            "--edits" => edits = value()?.parse()?,
            "--idle" => idle = value()?.parse()?,
            "--burst" => burst = value()?.parse()?,
            other => {
                bail!("unknown option {other} (--tills N, --edits N, --idle SECONDS, --burst N)")
            }
        }
    }
    ensure!(tills >= 2, "--tills needs at least 2");
    let bin = std::env::current_exe()?
        .parent()
        .and_then(Path::parent)
        .context("the example's directory")?
        .to_path_buf();
    let (ebb, gateway) = (bin.join("ebb"), bin.join("ebb-gateway"));
    ensure!(
        ebb.exists() && gateway.exists(),
        "build them first: cargo build [--release] -p ebb -p ebb-gateway"
    );
    let dir = tempfile::tempdir()?;
    let key = format!("k{}", uuid::Uuid::new_v4().simple());
    let db = format!("ebb_latency_{}", uuid::Uuid::new_v4().simple());
    psql("postgres", &format!("create database {db}"))?;
    let mut world = World {
        children: Vec::new(),
        db: db.clone(),
    };
    let server_sql = std::fs::read_to_string(repo_path("example/server.sql"))?;
    psql(&db, &server_sql)?;

    let port = free_port()?;
    let url = format!("http://127.0.0.1:{port}");
    let mut ports = Vec::new();
    for i in 0..tills {
        ports.push(free_port()?);
        till_files(dir.path(), i, &url, ports[i])?;
    }
    let sql = Command::new(&ebb)
        .args(["--config", "till0/policies.toml", "remote-sql"])
        .current_dir(dir.path())
        .output()?;
    ensure!(sql.status.success(), "remote-sql: {sql:?}");
    psql(&db, &String::from_utf8_lossy(&sql.stdout))?;

    let log = dir.path().join("gateway.log");
    let gw = Command::new(&gateway)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--database", &format!("{PG} dbname={db}")])
        .env("EBB_API_KEY", &key)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()?;
    let gateway_pid = gw.id();
    world.children.push(gw);
    wait("the gateway", Duration::from_secs(20), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    })?;
    for i in 0..tills {
        let child = Command::new(&ebb)
            .args(["--config", &format!("till{i}/policies.toml"), "run"])
            .current_dir(dir.path())
            .env("EBB_API_KEY", &key)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(
                dir.path().join(format!("till{i}.log")),
            )?)
            .spawn()?;
        world.children.push(child);
    }
    for (i, p) in ports.iter().enumerate() {
        wait(&format!("till {i} joined"), Duration::from_secs(60), || {
            realtime_state(*p).as_deref() == Some("connected")
        })?;
    }
    println!("{tills} tills joined; {edits} edits on till 0, each watched on the next till");

    let cpu0 = cpu_seconds(gateway_pid);
    let mut latencies = Vec::new();
    let writer = rusqlite::Connection::open(dir.path().join("till0/app.db"))?;
    for e in 0..edits {
        let b = 1 + e % (tills - 1);
        let reader = rusqlite::Connection::open(dir.path().join(format!("till{b}/app.db")))?;
        let id = uuid::Uuid::new_v4().to_string();
        let started = Instant::now();
        writer.execute(
            "INSERT INTO customers VALUES (?1, 'Ann', NULL, NULL, NULL, '2025-01-01T00:00:00Z')",
            [&id],
        )?;
        wait(
            &format!("edit {e} on till {b}"),
            Duration::from_secs(120),
            || {
                reader
                    .query_row("SELECT COUNT(*) FROM customers WHERE id = ?1", [&id], |r| {
                        r.get::<_, i64>(0)
                    })
                    .is_ok_and(|n| n == 1)
            },
        )?;
        latencies.push(started.elapsed());
        std::thread::sleep(Duration::from_millis(100));
    }
    let cpu_edits = cpu_seconds(gateway_pid) - cpu0;
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "edit on A -> visible on B: median {:?}, p99 {:?}, max {:?} ({} edits)",
        at(0.5),
        at(0.99),
        at(1.0),
        latencies.len()
    );
    println!("gateway CPU during the edits: {cpu_edits:.2} s");

    // A burst: `burst` one-row transactions on A as fast as SQLite takes
    // them; how many pushes carried them, and when the last is on B.
    let pushes0 = requests_to(&log, "ebb_push");
    let started = Instant::now();
    let mut last = String::new();
    for _ in 0..burst {
        last = uuid::Uuid::new_v4().to_string();
        writer.execute(
            "INSERT INTO customers VALUES (?1, 'Bo', NULL, NULL, NULL, '2025-01-01T00:00:00Z')",
            [&last],
        )?;
    }
    let written = started.elapsed();
    let reader = rusqlite::Connection::open(dir.path().join("till1/app.db"))?;
    wait("the burst on till 1", Duration::from_secs(300), || {
        reader
            .query_row(
                "SELECT COUNT(*) FROM customers WHERE id = ?1",
                [&last],
                |r| r.get::<_, i64>(0),
            )
            .is_ok_and(|n| n == 1)
    })?;
    println!(
        "burst of {burst} one-row commits on A (written in {written:?}): {} ebb_push requests, \
         the last on B after {:?}",
        requests_to(&log, "ebb_push") - pushes0,
        started.elapsed()
    );

    // Idle: let the last rounds settle, then count requests.
    std::thread::sleep(Duration::from_secs(2));
    let till_pids: Vec<u32> = world.children[1..].iter().map(Child::id).collect();
    let tills_cpu = || till_pids.iter().map(|p| cpu_seconds(*p)).sum::<f64>();
    let (before, cpu1, tills1) = (requests(&log), cpu_seconds(gateway_pid), tills_cpu());
    std::thread::sleep(Duration::from_secs(idle));
    let (after, cpu2, tills2) = (requests(&log), cpu_seconds(gateway_pid), tills_cpu());
    let n = after.saturating_sub(before);
    println!(
        "idle {idle} s, {tills} tills: {n} HTTP requests ({:.2}/s), gateway CPU {:.3} s, \
         all tills' CPU {:.2} s ({:.2} % of one core per till)",
        n as f64 / idle as f64,
        cpu2 - cpu1,
        tills2 - tills1,
        (tills2 - tills1) / idle as f64 / tills as f64 * 100.0
    );
    Ok(())
}

/// `tillN/app.db` from example/app.sql and its policies.toml.
fn till_files(dir: &Path, i: usize, url: &str, ops_port: u16) -> Result<()> {
    let till = dir.join(format!("till{i}"));
    std::fs::create_dir_all(&till)?;
    let app = std::fs::read_to_string(repo_path("example/app.sql"))?;
    rusqlite::Connection::open(till.join("app.db"))?.execute_batch(&app)?;
    let schema = repo_path("schemas/customers.schema.json");
    let config = format!(
        "database = \"app.db\"\n\n[remote]\nurl = \"{url}\"\n\n[sync]\ninterval = \"1h\"\n\n\
         [ops]\nlisten = \"127.0.0.1:{ops_port}\"\n\n[tables.customers]\nschema = {:?}\n\
         conflict = \"server_wins\"\n",
        schema.display().to_string()
    );
    std::fs::write(till.join("policies.toml"), config)?;
    Ok(())
}

/// The gateway's HTTP requests so far (one log line each).
fn requests(log: &PathBuf) -> usize {
    std::fs::read_to_string(log)
        .map(|t| {
            t.lines()
                .filter(|l| l.contains(" request ") || l.ends_with("request"))
                .count()
        })
        .unwrap_or(0)
}

/// The gateway's requests to `/rpc/<rpc>` so far.
fn requests_to(log: &PathBuf, rpc: &str) -> usize {
    let path = format!("/rpc/{rpc}");
    std::fs::read_to_string(log)
        .map(|t| t.lines().filter(|l| l.contains(&path)).count())
        .unwrap_or(0)
}

/// User plus system CPU seconds of a process (Linux; 0 elsewhere).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn realtime_state(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    let request =
        format!("GET /api/status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let body = text.split_once("\r\n\r\n")?.1;
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v["realtime"]["state"].as_str().map(str::to_string)
}

fn wait(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) -> Result<()> {
    let start = Instant::now();
    while !ready() {
        ensure!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Runs SQL on `db` through psql (stdin), failing with its message.
fn psql(db: &str, sql: &str) -> Result<()> {
    let mut child = Command::new("psql")
        .args([&format!("{PG} dbname={db}"), "-q", "-v", "ON_ERROR_STOP=1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("psql runs")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(sql.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    ensure!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
