//! A fresh PostgreSQL database per test: created from the admin connection
//! with a unique name `ebb_t_<pid>_<random>`, given the example app's server schema
//! (example/server.sql) and ebb's install script, dropped when the value is
//! dropped (backends terminated first, also when the test panics).
//!
//! It owns nothing but its own database. Connects with `EBB_TEST_PG` (libpq
//! key=value, without dbname), default `host=/var/run/postgresql user=postgres`.
//! Used by [`crate::Env`]; tests reach it as `env.db`.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use tokio_postgres::{Client, NoTls};

/// The example app's synced tables with their primary keys, parents first.
pub const EXAMPLE_TABLES: [(&str, &str); 4] = [
    ("products", "id"),
    ("customers", "id"),
    ("debts", "id"),
    ("debt_payments", "id"),
];

/// The libpq connection string of the test cluster, without a database.
pub fn base_conn() -> String {
    std::env::var("EBB_TEST_PG").unwrap_or_else(|_| "host=/var/run/postgresql user=postgres".into())
}

/// Opens a connection and drives it on the current runtime.
pub async fn connect(conn_str: &str) -> Result<Client> {
    let (client, connection) = tokio_postgres::connect(conn_str, NoTls)
        .await
        .with_context(|| {
            format!("connect to the test PostgreSQL ({conn_str}); run scripts/pg-setup.sh?")
        })?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// One test's (or benchmark's) database, dropped with this value.
pub struct TestDb {
    /// `ebb_t_<pid>_<random>`, or `<prefix>_<random>` ([`TestDb::create_named`]).
    pub name: String,
}

impl TestDb {
    /// Creates the database, applies example/server.sql and
    /// `ebb::remote::sql::install_sql` for the four example tables.
    pub async fn create() -> Result<TestDb> {
        let schema = std::fs::read_to_string(crate::repo_path("example/server.sql"))
            .context("read example/server.sql")?;
        TestDb::create_with(&schema, &EXAMPLE_TABLES).await
    }

    /// Creates the database with another app's server schema (SQL text)
    /// and installs ebb on `tables` ((table, key column), parents first).
    pub async fn create_with(schema: &str, tables: &[(&str, &str)]) -> Result<TestDb> {
        drop_stale(&connect(&format!("{} dbname=postgres", base_conn())).await?).await;
        // The creating process in the name: `drop_stale` drops only the
        // databases of test processes that are gone.
        TestDb::create_named(&format!("ebb_t_{}", std::process::id()), schema, tables).await
    }

    /// [`TestDb::create_with`], named `<prefix>_<random>`, and without
    /// dropping anyone's stale `ebb_t_%` databases (benchmarks touch only
    /// the databases they create).
    pub async fn create_named(
        prefix: &str,
        schema: &str,
        tables: &[(&str, &str)],
    ) -> Result<TestDb> {
        let admin = connect(&format!("{} dbname=postgres", base_conn())).await?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("{prefix}_{}", &id[..16]);
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .with_context(|| format!("create database {name}"))?;
        let db = TestDb { name };
        let client = db.connect().await?;
        client
            .batch_execute(schema)
            .await
            .context("apply the server schema")?;
        let tables: Vec<(String, String)> = tables
            .iter()
            .map(|(t, pk)| (t.to_string(), pk.to_string()))
            .collect();
        client
            .batch_execute(&ebb::remote::sql::install_sql(&tables))
            .await
            .context("apply install_sql")?;
        Ok(db)
    }

    /// libpq connection string for this database.
    pub fn conn_str(&self) -> String {
        format!("{} dbname={}", base_conn(), self.name)
    }

    /// A new connection to this database (plain SQL, as a server-side user).
    pub async fn connect(&self) -> Result<Client> {
        connect(&self.conn_str()).await
    }

    /// Runs SQL text directly on the server (no ebb involved).
    pub async fn exec(&self, sql: &str) -> Result<()> {
        self.connect()
            .await?
            .batch_execute(sql)
            .await
            .with_context(|| sql.to_string())
    }

    /// The row as JSON without ebb's `_ebb_*` columns, `None` when absent.
    pub async fn row(&self, table: &str, id: &str) -> Result<Option<Value>> {
        let client = self.connect().await?;
        let sql = format!(
            "SELECT to_jsonb(t) - '_ebb_version' - '_ebb_txid' - '_ebb_origin' \
             FROM \"{table}\" t WHERE id = $1"
        );
        let row = client.query_opt(&sql, &[&id]).await?;
        Ok(row.map(|r| r.get::<_, Value>(0)))
    }

    /// `_ebb_version` of the row, `None` when absent.
    pub async fn version(&self, table: &str, id: &str) -> Result<Option<i64>> {
        let client = self.connect().await?;
        let sql = format!("SELECT _ebb_version FROM \"{table}\" WHERE id = $1");
        Ok(client.query_opt(&sql, &[&id]).await?.map(|r| r.get(0)))
    }

    /// Number of rows in `table`.
    pub async fn count(&self, table: &str) -> Result<i64> {
        let client = self.connect().await?;
        let sql = format!("SELECT count(*) FROM \"{table}\"");
        Ok(client.query_one(&sql, &[]).await?.get(0))
    }

    /// Whether the server has a table of that name (users, licenses must not).
    pub async fn has_table(&self, table: &str) -> Result<bool> {
        let client = self.connect().await?;
        let found = client
            .query_one(
                "SELECT to_regclass($1) IS NOT NULL",
                &[&format!("public.{table}")],
            )
            .await?;
        Ok(found.get(0))
    }

    /// Waits until every transaction committed before this call is below
    /// the server's pull horizon. The horizon is cluster-wide: a
    /// transaction open anywhere (another test) holds pulls back, so a test
    /// that pulls what it just wrote waits for it instead of assuming it.
    pub async fn settle(&self) -> Result<()> {
        settle_on(&self.connect().await?).await
    }
}

/// Waits on `client`'s server until every transaction committed before
/// this call is below the pull horizon (see [`TestDb::settle`]), at most
/// 60 s.
pub async fn settle_on(client: &Client) -> Result<()> {
    settle_within(client, Duration::from_secs(60)).await
}

/// [`settle_on`], waiting at most `limit`; says so on stderr when it
/// waits more than 5 s (another user of the cluster holds the horizon).
pub async fn settle_within(client: &Client, limit: Duration) -> Result<()> {
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
            eprintln!("waiting for a transaction open elsewhere on the cluster");
            told = true;
        }
        if started.elapsed() > limit {
            bail!("server horizon stuck behind {mark} for {limit:?} (a transaction left open?)");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Drops the `ebb_t_<pid>_<random>` databases of test processes of this
/// machine that are gone (killed runs), never those of a running suite.
/// Names from before the pid was in them go when older than an hour.
async fn drop_stale(admin: &Client) {
    let Ok(rows) = admin
        .query(
            "SELECT d.datname, (pg_stat_file('base/' || d.oid || '/PG_VERSION')).modification \
                   < now() - interval '1 hour' \
             FROM pg_database d WHERE d.datname LIKE 'ebb\\_t\\_%'",
            &[],
        )
        .await
    else {
        return;
    };
    for row in rows {
        let (name, old): (String, bool) = (row.get(0), row.get(1));
        let stale = match creator(&name) {
            Some(pid) => !process_alive(pid),
            None => old,
        };
        if !stale {
            continue;
        }
        let _ = admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await;
    }
}

/// The pid in `ebb_t_<pid>_<random>`.
fn creator(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("ebb_t_")?;
    let (pid, random) = rest.split_once('_')?;
    (random.len() == 16).then_some(())?;
    pid.parse().ok()
}

/// Whether process `pid` runs on this machine; true where that cannot be
/// told (no /proc), so nothing is dropped there.
fn process_alive(pid: u32) -> bool {
    let proc = std::path::Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop may run inside the test's runtime: use a thread with its own.
        let dropped = std::thread::spawn(move || -> Result<()> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let admin = connect(&format!("{} dbname=postgres", base_conn())).await?;
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await?;
                Ok(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_with_a_creator_are_judged_by_it() {
        assert_eq!(creator("ebb_t_4242_0123456789abcdef"), Some(4242));
        // Before the pid was in the name; and names of other kinds.
        assert_eq!(creator("ebb_t_0123456789abcdef"), None);
        assert_eq!(creator("ebb_t_tag_0123456789abcdef"), None);
        assert_eq!(creator("ebb_bench_0123456789abcdef"), None);
        assert!(process_alive(std::process::id()));
    }
}
