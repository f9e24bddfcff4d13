//! A device: a temp dir with the example app's SQLite file (example/app.sql),
//! a policies.toml written for it, the API key in a file, a sync engine over
//! the real PostgREST client, and an `app()` connection that plays the
//! application (foreign keys on, writing its own tables as the app would).
//!
//! Owns its temp dir; the server side belongs to [`crate::Env`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use ebb::config::Config;
use ebb::remote::postgrest::Client;
use ebb::sync::{Engine, RoundReport, SyncError};
use rusqlite::Connection;
use rusqlite::types::ValueRef;
use serde_json::{Map, Value};
use tempfile::TempDir;

/// How a device is configured: the policies.toml body of each synced table
/// (besides `pk` and `schema`), and a few top-level knobs.
#[derive(Debug, Clone)]
pub struct DeviceSpec {
    /// (table, extra TOML lines), in config order.
    pub tables: Vec<(String, String)>,
    /// `[sync] batch_size` (default 100 here: small batches make tests page and split; ebb ships 1000).
    pub batch_size: usize,
    /// `[sync] pull_page_size` (default 500 here; ebb ships 2000).
    pub pull_page_size: usize,
    /// `[sync] max_batch_size` and `max_pull_page_size`; `None` (the
    /// default here): the starting sizes, so batches and pages never grow
    /// and tests page and split as they say.
    pub max_sizes: Option<(usize, usize)>,
    /// More `[sync]` lines (e.g. `answer_time = "100ms"`).
    pub sync_extra: String,
    /// `[sync] lease` (default "60s").
    pub lease: String,
    /// `[retry] max_attempts` (default 5).
    pub max_attempts: u32,
    /// The key the device sends; `None`: the gateway's.
    pub api_key: Option<String>,
}

impl Default for DeviceSpec {
    /// The four example tables, all `server_wins`, no plugins.
    fn default() -> Self {
        DeviceSpec {
            tables: crate::pg::EXAMPLE_TABLES
                .iter()
                .map(|(t, _)| (t.to_string(), "conflict = \"server_wins\"".to_string()))
                .collect(),
            batch_size: 100,
            pull_page_size: 500,
            max_sizes: None,
            sync_extra: String::new(),
            lease: "60s".into(),
            max_attempts: 5,
            api_key: None,
        }
    }
}

impl DeviceSpec {
    /// Sets every table's conflict policy (`"server_wins"`, `"manual"`, ...).
    pub fn conflict_all(mut self, policy: &str) -> Self {
        for (_, body) in &mut self.tables {
            *body = format!("conflict = \"{policy}\"");
        }
        self
    }

    /// Replaces one table's extra TOML lines.
    pub fn table(mut self, table: &str, body: &str) -> Self {
        for (t, b) in &mut self.tables {
            if t == table {
                *b = body.to_string();
            }
        }
        self
    }

    /// The shipped policies.toml's tables, with the example plugins.
    pub fn shipped() -> Self {
        let p = |name: &str| crate::plugin_path(name).display().to_string();
        DeviceSpec::default()
            .table(
                "products",
                &format!(
                    "validate = \"{}\"\nconflict = \"plugin\"\nresolver = \"{}\"",
                    p("products_validator"),
                    p("stock_resolver")
                ),
            )
            .table(
                "customers",
                "conflict = \"merge\"\nmerge_on_both = \"remote\"",
            )
            .table(
                "debts",
                &format!(
                    "conflict = \"plugin\"\nresolver = \"{}\"",
                    p("debts_resolver")
                ),
            )
            .table("debt_payments", "conflict = \"client_wins\"")
    }

    /// The policies.toml text for a device whose remote is `rest_root`.
    pub fn policies_toml(&self, rest_root: &str) -> String {
        let url = rest_root.trim_end_matches("/rest/v1");
        let (max_batch, max_page) = self
            .max_sizes
            .unwrap_or((self.batch_size, self.pull_page_size));
        let mut text = format!(
            "database = \"app.db\"\n\n\
             [remote]\nurl = \"{url}\"\nrest_root = \"{rest_root}\"\n\
             api_key_file = \"api_key\"\ntimeout = \"20s\"\nconnect_timeout = \"2s\"\n\n\
             [sync]\nbatch_size = {}\npull_page_size = {}\nmax_batch_size = {max_batch}\n\
             max_pull_page_size = {max_page}\nlease = \"{}\"\n{}\n\n\
             [retry]\nmax_attempts = {}\ninitial_backoff = \"10ms\"\nmax_backoff = \"50ms\"\n\n\
             [rate_limit]\nrequests_per_second = 10000\nburst = 10000\nrows_per_second = 0\n\n\
             [ops]\nlisten = \"\"\n",
            self.batch_size, self.pull_page_size, self.lease, self.sync_extra, self.max_attempts
        );
        for (table, body) in &self.tables {
            let schema = crate::repo_path(&format!("schemas/{table}.schema.json"));
            text.push_str(&format!(
                "\n[tables.{table}]\npk = \"id\"\nschema = \"{}\"\n{body}\n",
                schema.display()
            ));
        }
        text
    }
}

/// One device.
pub struct Device {
    pub dir: TempDir,
    pub config: Config,
    pub engine: Engine<Client>,
    app: Connection,
}

impl Device {
    /// Creates the app database and the config in a temp dir, then the engine.
    pub fn create(spec: &DeviceSpec, rest_root: &str, key: &str) -> Result<Device> {
        Device::create_from(spec, rest_root, key, None)
    }

    /// As `create`, but the app database is a byte-for-byte copy of
    /// `source`'s (checkpointed first), as when a till's disk is cloned.
    pub fn copy_of(source: &Device, rest_root: &str, key: &str) -> Result<Device> {
        let spec = DeviceSpec::default();
        Device::create_from(&spec, rest_root, key, Some(source))
    }

    fn create_from(
        spec: &DeviceSpec,
        rest_root: &str,
        key: &str,
        source: Option<&Device>,
    ) -> Result<Device> {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("app.db");
        let app = match source {
            Some(source) => {
                source
                    .app
                    .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
                    .context("checkpoint the source database")?;
                std::fs::copy(source.db_path(), &db).context("copy the source database")?;
                open_app(&db)?
            }
            None => {
                let app = open_app(&db)?;
                let schema = std::fs::read_to_string(crate::repo_path("example/app.sql"))?;
                app.execute_batch(&schema)
                    .context("apply example/app.sql")?;
                app
            }
        };
        std::fs::write(
            dir.path().join("api_key"),
            spec.api_key.as_deref().unwrap_or(key),
        )?;
        let path = dir.path().join("policies.toml");
        std::fs::write(&path, spec.policies_toml(rest_root))?;
        let config = ebb::config::load(&path).context("load the device's policies.toml")?;
        let engine = new_engine(&config)?;
        Ok(Device {
            dir,
            config,
            engine,
            app,
        })
    }

    /// The device's SQLite file.
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("app.db")
    }

    /// A second engine on the same database and config (sync_lock tests).
    pub fn second_engine(&self) -> Result<Engine<Client>> {
        new_engine(&self.config)
    }

    /// The device's engine (its local state: status, rows taken).
    pub fn engine(&self) -> &Engine<Client> {
        &self.engine
    }

    /// The application's connection.
    pub fn app(&self) -> &Connection {
        &self.app
    }

    /// A new application connection (e.g. for a proxy hook on another thread).
    pub fn new_app_connection(&self) -> Result<Connection> {
        open_app(&self.db_path())
    }

    /// One sync round.
    pub async fn sync(&mut self) -> Result<RoundReport, SyncError> {
        self.engine.run_once().await
    }

    /// One sync round that must end without an error.
    pub async fn sync_ok(&mut self) -> Result<RoundReport> {
        let report = self.engine.run_once().await.context("sync round failed")?;
        if let Some(error) = &report.error {
            anyhow::bail!("sync round reported an error: {error}; report: {report:?}");
        }
        Ok(report)
    }

    /// Inserts `row` (a JSON object) into `table` through the app.
    pub fn insert(&self, table: &str, row: &Value) -> Result<()> {
        insert(&self.app, table, row)
    }

    /// Sets the given columns of row `id`.
    pub fn update(&self, table: &str, id: &str, changes: &Value) -> Result<()> {
        update(&self.app, table, id, changes)
    }

    /// Deletes row `id` through the app.
    pub fn delete(&self, table: &str, id: &str) -> Result<()> {
        self.app
            .execute(&format!("DELETE FROM \"{table}\" WHERE id = ?1"), [id])
            .with_context(|| format!("delete {table} {id}"))?;
        Ok(())
    }

    /// The row as JSON, `None` when absent.
    pub fn row(&self, table: &str, id: &str) -> Result<Option<Value>> {
        read_row(&self.app, table, id)
    }

    /// Rows in `table`.
    pub fn count(&self, table: &str) -> Result<i64> {
        Ok(self
            .app
            .query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
                r.get(0)
            })?)
    }

    /// Queue rows of `table` (every state), read straight from `_ebb_queue`.
    pub fn queued(&self, table: &str) -> Result<i64> {
        Ok(self.app.query_row(
            "SELECT count(*) FROM _ebb_queue WHERE tbl = ?1",
            [table],
            |r| r.get(0),
        )?)
    }

    /// Every queue row: (table, pk, state).
    pub fn queue(&self) -> Result<Vec<(String, String, String)>> {
        let mut stmt = self
            .app
            .prepare("SELECT tbl, pk, state FROM _ebb_queue ORDER BY tbl, pk")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn new_engine(config: &Config) -> Result<Engine<Client>> {
    let remote = Client::new(&config.remote, &config.rate_limit).context("build the client")?;
    Engine::new(config.clone(), remote).context("build the engine")
}

/// Opens the app database the way the example app does.
pub fn open_app(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL;")?;
    Ok(conn)
}

fn to_sql(value: &Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match value {
        Value::Null => V::Null,
        Value::Bool(b) => V::Integer(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => V::Integer(i),
            None => V::Real(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => V::Text(s.clone()),
        other => V::Text(other.to_string()),
    }
}

fn object(value: &Value) -> Result<&Map<String, Value>> {
    value.as_object().context("a row must be a JSON object")
}

/// `INSERT INTO table (cols) VALUES (...)` from a JSON object.
pub fn insert(conn: &Connection, table: &str, row: &Value) -> Result<()> {
    let row = object(row)?;
    let cols: Vec<String> = row.keys().map(|k| format!("\"{k}\"")).collect();
    let marks: Vec<String> = (1..=row.len()).map(|i| format!("?{i}")).collect();
    let sql = format!(
        "INSERT INTO \"{table}\" ({}) VALUES ({})",
        cols.join(", "),
        marks.join(", ")
    );
    let values: Vec<_> = row.values().map(to_sql).collect();
    conn.execute(&sql, rusqlite::params_from_iter(values))
        .with_context(|| format!("insert into {table}"))?;
    Ok(())
}

/// `UPDATE table SET col = ... WHERE id = ?` from a JSON object.
pub fn update(conn: &Connection, table: &str, id: &str, changes: &Value) -> Result<()> {
    let changes = object(changes)?;
    let sets: Vec<String> = changes
        .keys()
        .enumerate()
        .map(|(i, k)| format!("\"{k}\" = ?{}", i + 2))
        .collect();
    let sql = format!("UPDATE \"{table}\" SET {} WHERE id = ?1", sets.join(", "));
    let mut values = vec![rusqlite::types::Value::Text(id.to_string())];
    values.extend(changes.values().map(to_sql));
    let n = conn
        .execute(&sql, rusqlite::params_from_iter(values))
        .with_context(|| format!("update {table} {id}"))?;
    anyhow::ensure!(n == 1, "update {table} {id}: no such row");
    Ok(())
}

/// The row as a JSON object, `None` when absent.
pub fn read_row(conn: &Connection, table: &str, id: &str) -> Result<Option<Value>> {
    let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\" WHERE id = ?1"))?;
    let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
    let mut rows = stmt.query([id])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let mut out = Map::new();
    for (i, name) in names.iter().enumerate() {
        let value = match row.get_ref(i)? {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(n) => Value::from(n),
            ValueRef::Real(f) => Value::from(f),
            ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Value::String(format!("<{} bytes>", b.len())),
        };
        out.insert(name.clone(), value);
    }
    Ok(Some(Value::Object(out)))
}
