//! Test support: a scratch PostgreSQL database per test, created with a
//! unique name and dropped when the value goes out of scope (also when the
//! test panics). Used by the SQL tests here and the gateway contract suite.
//!
//! Connects with `EBB_TEST_PG` (libpq key=value or URL, without dbname),
//! default `host=/var/run/postgresql user=postgres`.

use tokio_postgres::{Client, NoTls};

/// The example app's tables, as a user would create them before applying
/// the install script (testdata/contract_schema.sql, which the gateway's
/// contract suite uses too).
pub(crate) const EXAMPLE_SCHEMA: &str = include_str!("testdata/contract_schema.sql");

/// The (table, pk) list matching [`EXAMPLE_SCHEMA`].
pub(crate) fn example_tables() -> Vec<(String, String)> {
    ["products", "customers", "debts", "debt_payments"]
        .iter()
        .map(|t| (t.to_string(), "id".to_string()))
        .collect()
}

fn base() -> String {
    std::env::var("EBB_TEST_PG").unwrap_or_else(|_| "host=/var/run/postgresql user=postgres".into())
}

/// A database that exists for the lifetime of this value.
pub(crate) struct ScratchDb {
    pub(crate) name: String,
}

impl ScratchDb {
    /// Creates an empty database named `ebb_t_{tag}_{random}`.
    pub(crate) async fn create(tag: &str) -> ScratchDb {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("ebb_t_{tag}_{}", &id[..12]);
        let admin = connect_to(&format!("{} dbname=postgres", base())).await;
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create scratch database");
        ScratchDb { name }
    }

    /// Creates a database with [`EXAMPLE_SCHEMA`] and ebb installed on it.
    pub(crate) async fn with_example() -> ScratchDb {
        let db = ScratchDb::create("ex").await;
        let client = db.connect().await;
        client.batch_execute(EXAMPLE_SCHEMA).await.expect("schema");
        client
            .batch_execute(&super::install_sql(&example_tables()))
            .await
            .expect("install");
        db
    }

    /// libpq connection string for this database.
    pub(crate) fn conn_str(&self) -> String {
        format!("{} dbname={}", base(), self.name)
    }

    /// A new connection to this database.
    pub(crate) async fn connect(&self) -> Client {
        connect_to(&self.conn_str()).await
    }
}

async fn connect_to(conn_str: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(conn_str, NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to test PostgreSQL ({conn_str}): {e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime: use a thread with its own.
        let joined = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let admin = connect_to(&format!("{} dbname=postgres", base())).await;
                let _ = admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await;
            });
        })
        .join();
        if joined.is_err() {
            eprintln!("could not drop scratch database {}", self.name);
        }
    }
}

/// Waits until every transaction that committed before this call is below
/// the server's pull horizon. The horizon is cluster-wide: a transaction
/// open in any database (another test, another helper) holds pulls back,
/// so a test that pulls what it just wrote must wait for it, not assume it.
pub(crate) async fn settle(client: &Client) {
    let mark: String = client
        .query_one("SELECT pg_current_xact_id()::text", &[])
        .await
        .expect("xact id")
        .get(0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let passed: bool = client
            .query_one(
                "SELECT pg_snapshot_xmin(pg_current_snapshot()) > $1::text::xid8",
                &[&mark],
            )
            .await
            .expect("horizon")
            .get(0);
        if passed {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "horizon stuck behind {mark} for 60s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
