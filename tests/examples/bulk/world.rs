//! One benchmark world: a database of its own (named `<prefix>_<random>`,
//! the example app's server schema and ebb's install script) and a gateway
//! in a separate process over it. Dropping the world stops that process
//! (by its own handle) and drops that database; it never touches a
//! database it did not create.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ebb_tests::pg;

/// How the gateway is started: a program and its leading arguments.
#[derive(Debug, Clone)]
pub struct GatewayCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
}

impl GatewayCommand {
    /// `--gateway "CMD ARGS"`, else `EBB_GATEWAY`, else the `ebb-gateway`
    /// binary of the target dir (release, then debug), else `ebb gateway`.
    pub fn find(flag: Option<&str>) -> Result<GatewayCommand> {
        let given = flag
            .map(str::to_string)
            .or_else(|| std::env::var("EBB_GATEWAY").ok());
        if let Some(text) = given {
            let mut words = text.split_whitespace().map(str::to_string);
            let program = words.next().context("the gateway command is empty")?;
            return Ok(GatewayCommand {
                program: program.into(),
                args: words.collect(),
            });
        }
        let target = ebb_tests::target_dir();
        for profile in ["release", "debug"] {
            let own = target.join(profile).join("ebb-gateway");
            if own.exists() {
                return Ok(GatewayCommand {
                    program: own,
                    args: Vec::new(),
                });
            }
        }
        for profile in ["release", "debug"] {
            let ebb = target.join(profile).join("ebb");
            if ebb.exists() {
                return Ok(GatewayCommand {
                    program: ebb,
                    args: vec!["gateway".into()],
                });
            }
        }
        bail!(
            "no gateway binary: build one (cargo build --release -p ebb-gateway, or -p ebb) \
             or pass --gateway / EBB_GATEWAY"
        )
    }
}

pub struct World {
    pub name: String,
    gateway: Child,
    addr: SocketAddr,
    key: String,
}

impl World {
    /// Creates the database and starts the gateway over it.
    pub async fn create(prefix: &str, gateway: &GatewayCommand) -> Result<World> {
        let admin = pg::connect(&format!("{} dbname=postgres", pg::base_conn())).await?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("{prefix}_{}", &id[..12]);
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .with_context(|| format!("create database {name}"))?;
        let schema = std::fs::read_to_string(ebb_tests::repo_path("example/server.sql"))?;
        let tables: Vec<(String, String)> = pg::EXAMPLE_TABLES
            .iter()
            .map(|(t, k)| (t.to_string(), k.to_string()))
            .collect();
        let conn_str = format!("{} dbname={name}", pg::base_conn());
        let client = pg::connect(&conn_str).await?;
        client.batch_execute(&schema).await?;
        client
            .batch_execute(&ebb::remote::sql::install_sql(&tables))
            .await?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let key = format!("bench-{}", &id[12..]);
        let child = Command::new(&gateway.program)
            .args(&gateway.args)
            .args(["--listen", &addr.to_string(), "--database", &conn_str])
            .args(["--api-key-env", "EBB_BENCH_API_KEY", "--pool-size", "4"])
            .env("EBB_BENCH_API_KEY", &key)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("start the gateway {}", gateway.program.display()))?;
        let world = World {
            name,
            gateway: child,
            addr,
            key,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(addr).is_err() {
            if Instant::now() > deadline {
                bail!("the gateway did not listen on {addr} within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(world)
    }

    pub fn rest_root(&self) -> String {
        format!("http://{}/rest/v1", self.addr)
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn conn_str(&self) -> String {
        format!("{} dbname={}", pg::base_conn(), self.name)
    }

    pub async fn exec(&self, sql: &str) -> Result<()> {
        let client = pg::connect(&self.conn_str()).await?;
        client.batch_execute(sql).await.context("server SQL")?;
        Ok(())
    }

    pub async fn count(&self, table: &str) -> Result<i64> {
        let client = pg::connect(&self.conn_str()).await?;
        let row = client
            .query_one(&format!("SELECT count(*) FROM \"{table}\""), &[])
            .await?;
        Ok(row.get(0))
    }

    /// Waits until every committed transaction is below the pull horizon
    /// (up to 15 minutes: the horizon is cluster-wide, and another user of
    /// the cluster may hold it with a long transaction).
    pub async fn settle(&self) -> Result<()> {
        let client = pg::connect(&self.conn_str()).await?;
        let mark: String = client
            .query_one("SELECT pg_current_xact_id()::text", &[])
            .await?
            .get(0);
        let started = Instant::now();
        let mut told = false;
        loop {
            let passed: bool = client
                .query_one(
                    "SELECT pg_snapshot_xmin(pg_current_snapshot()) > $1::text::xid8",
                    &[&mark],
                )
                .await?
                .get(0);
            if passed {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(5) && !told {
                eprintln!("bulk: waiting for a transaction open elsewhere on the cluster");
                told = true;
            }
            if started.elapsed() > Duration::from_secs(900) {
                bail!("server horizon stuck behind {mark} for 15 minutes");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Peak resident set of the gateway process.
    pub fn gateway_peak(&self) -> String {
        peak_of(&format!("/proc/{}/status", self.gateway.id()))
    }

    /// CPU seconds used so far by the gateway process.
    pub fn gateway_cpu(&self) -> f64 {
        cpu_of(&format!("/proc/{}/stat", self.gateway.id()))
    }

    /// CPU seconds used so far by the Postgres backends serving this
    /// database (the gateway's pool), other sessions excluded.
    pub async fn postgres_cpu(&self) -> Result<f64> {
        let client = pg::connect(&format!("{} dbname=postgres", pg::base_conn())).await?;
        let rows = client
            .query(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1",
                &[&self.name],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| cpu_of(&format!("/proc/{}/stat", r.get::<_, i32>(0))))
            .sum())
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = self.gateway.kill();
        let _ = self.gateway.wait();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || -> Result<()> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let admin = pg::connect(&format!("{} dbname=postgres", pg::base_conn())).await?;
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await?;
                Ok(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("bulk: could not drop database {}", self.name);
        }
    }
}

/// `VmHWM` of a /proc status file, e.g. "81234 kB".
pub fn peak_of(path: &str) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Resets this process's peak resident set (Linux 4.0+), so the next
/// reading is the peak of what follows.
pub fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// utime + stime of a /proc stat file, in seconds (100 ticks a second).
pub fn cpu_of(path: &str) -> f64 {
    let Ok(text) = std::fs::read_to_string(path) else {
        return 0.0;
    };
    // The command name may hold spaces: fields count from after its ')'.
    let Some(rest) = text.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    // Fields 14 and 15 of stat are 11 and 12 after the name.
    ticks(11).unwrap_or(0.0) / 100.0 + ticks(12).unwrap_or(0.0) / 100.0
}
