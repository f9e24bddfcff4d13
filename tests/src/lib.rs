//! The end-to-end harness of ebb: real PostgreSQL, the real gateway, the
//! real PostgREST client, real SQLite files, the real sync engine.
//!
//! - [`pg`]: a fresh database per test (example/server.sql + ebb's install
//!   script), dropped at the end.
//! - [`gateway`]: `ebb_gateway::serve` in-process on 127.0.0.1:0.
//! - [`proxy`]: a [`FaultProxy`] in front of the gateway (down, lost
//!   responses, hooks while a request is in flight).
//! - [`device`]: a temp dir with the example app's SQLite file, its
//!   policies.toml and an engine; `app()` plays the application.
//! - [`rows`]: example rows with fresh uuids.
//! - [`pos`]: the founding app's point-of-sale schema (integer keys).
//! - [`sim`]: the deterministic simulation (a fake server with the same
//!   contract, fault injection, tills, an oracle), for tests/tests/sim.rs
//!   and tests/examples/chaos.rs.
//!
//! [`Env`] ties them together: one database, one gateway, one proxy, and
//! any number of devices pointed at the proxy. The suite is in
//! tests/tests/e2e/ and the benchmark in tests/examples/bench_sync.rs; this
//! crate is used by nothing else.

pub mod device;
pub mod gateway;
pub mod pg;
pub mod pos;
pub mod proxy;
pub mod rows;
pub mod sim;

use std::path::PathBuf;

use anyhow::Result;

pub use device::{Device, DeviceSpec};
pub use gateway::Gateway;
pub use pg::TestDb;
pub use proxy::FaultProxy;

/// A path inside the repository (the workspace root).
pub fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

/// The cargo target dir (`CARGO_TARGET_DIR`, else `<repo>/target`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => repo_path("target"),
    }
}

/// An example plugin built by scripts/build-plugins.sh, e.g.
/// `plugin_path("stock_resolver")`.
pub fn plugin_path(name: &str) -> PathBuf {
    target_dir().join("plugins").join(format!("{name}.wasm"))
}

/// Builds the example plugins with scripts/build-plugins.sh unless all
/// three are already there. Serialized across the tests of one process.
pub fn ensure_plugins() -> Result<()> {
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let names = ["products_validator", "stock_resolver", "debts_resolver"];
    if names.iter().all(|n| plugin_path(n).exists()) {
        return Ok(());
    }
    let status = std::process::Command::new("bash")
        .arg(repo_path("scripts/build-plugins.sh"))
        .arg(target_dir().join("plugins"))
        .env("CARGO_TARGET_DIR", target_dir())
        .status()?;
    anyhow::ensure!(
        status.success(),
        "scripts/build-plugins.sh failed: {status}"
    );
    Ok(())
}

/// The `ebb` binary, when a build left one in the target dir.
pub fn ebb_binary() -> Option<PathBuf> {
    ["debug", "release"]
        .iter()
        .map(|p| target_dir().join(p).join("ebb"))
        .find(|p| p.exists())
}

/// One test's world: a fresh database, a gateway over it, a fault proxy in
/// front of the gateway. Devices connect through the proxy.
pub struct Env {
    // Field order is drop order: stop traffic before dropping the database.
    pub proxy: FaultProxy,
    pub gateway: Gateway,
    pub db: TestDb,
}

impl Env {
    /// Sets up the database, the gateway and the proxy.
    pub async fn new() -> Result<Env> {
        let db = TestDb::create().await?;
        let gateway = Gateway::start(&db.conn_str()).await?;
        let proxy = FaultProxy::start(gateway.addr()).await?;
        Ok(Env { proxy, gateway, db })
    }

    /// The REST root devices use (through the proxy).
    pub fn rest_root(&self) -> String {
        format!("http://{}/rest/v1", self.proxy.addr())
    }

    /// A new device configured by `spec`, syncing through the proxy.
    pub fn device(&self, spec: &DeviceSpec) -> Result<Device> {
        Device::create(spec, &self.rest_root(), self.gateway.key())
    }

    /// A new device whose database is a copy of `source`'s file.
    pub fn device_copied_from(&self, source: &Device) -> Result<Device> {
        Device::copy_of(source, &self.rest_root(), self.gateway.key())
    }

    /// A new device with the default spec (all tables server_wins).
    pub fn default_device(&self) -> Result<Device> {
        self.device(&DeviceSpec::default())
    }

    /// Waits for the pull horizon to pass every committed transaction.
    pub async fn settle(&self) -> Result<()> {
        self.db.settle().await
    }
}

/// The seed of a randomized test: `EBB_SEED`, else a fresh one. Printed so
/// that a failure replays with `EBB_SEED=<seed>`.
pub fn seed() -> u64 {
    let seed = std::env::var("EBB_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| uuid::Uuid::new_v4().as_u64_pair().0);
    eprintln!("EBB_SEED={seed}");
    seed
}
