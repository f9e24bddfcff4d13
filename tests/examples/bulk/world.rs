//! One benchmark world: a database of its own (named `<prefix>_<random>`,
//! the example app's server schema, or the point of sale's, and ebb's
//! install script) and a gateway
//! in a separate process over it. Dropping the world stops that process
//! (by its own handle) and drops that database; it never touches a
//! database it did not create.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ebb_tests::pg::{self, TestDb};

/// How the gateway is started: a program and its leading arguments.
#[derive(Debug, Clone)]
pub struct GatewayCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
}

impl GatewayCommand {
    /// `--gateway "CMD ARGS"`, else `EBB_GATEWAY`, else the `ebb-gateway`
    /// binary of the target dir (release, then debug).
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
        bail!(
            "no gateway binary: build one (cargo build --release -p ebb-gateway) \
             or pass --gateway / EBB_GATEWAY"
        )
    }
}

pub struct World {
    /// The database (dropped after `Drop` stopped the gateway).
    pub db: TestDb,
    gateway: Child,
    addr: SocketAddr,
    key: String,
}

impl World {
    /// Creates the database (the example app's) and starts the gateway
    /// over it.
    pub async fn create(prefix: &str, gateway: &GatewayCommand) -> Result<World> {
        let schema = std::fs::read_to_string(ebb_tests::repo_path("example/server.sql"))?;
        World::create_with(prefix, gateway, &schema, &pg::EXAMPLE_TABLES).await
    }

    /// Creates the database with another app's server schema and ebb
    /// installed on `tables`, and starts the gateway over it.
    pub async fn create_with(
        prefix: &str,
        gateway: &GatewayCommand,
        schema: &str,
        tables: &[(&str, &str)],
    ) -> Result<World> {
        let db = TestDb::create_named(prefix, schema, tables).await?;
        let conn_str = db.conn_str();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let key = format!("bench-{}", &id[..16]);
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
            db,
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

    /// Waits until every committed transaction is below the pull horizon
    /// (up to 15 minutes: the horizon is cluster-wide, and another user of
    /// the cluster may hold it with a long transaction).
    pub async fn settle(&self) -> Result<()> {
        pg::settle_within(&self.db.connect().await?, Duration::from_secs(900)).await
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
                &[&self.db.name],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| cpu_of(&format!("/proc/{}/stat", r.get::<_, i32>(0))))
            .sum())
    }
}

impl Drop for World {
    /// Stops the gateway first; then `db` drops its database.
    fn drop(&mut self) {
        let _ = self.gateway.kill();
        let _ = self.gateway.wait();
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
