//! One simulated till: a real SQLite file made from example/app.sql, its
//! policies.toml, the app's own connection, and a real `ebb::sync::Engine`
//! over a [`Faulty`] remote.
//!
//! It runs one round at a time, racing it with the remote's kill signal:
//! a killed round is dropped mid-flight, and the till comes back as a
//! restarted process would (a new engine on the same file, its lease
//! expired). It also plays the clock between rounds, since the engine
//! reads wall time: every round is one `sync.interval` after the last,
//! so items waiting out a backoff are due again.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use rusqlite::Connection;
use rusqlite::types::ValueRef;
use serde_json::Value;
use tempfile::TempDir;

use super::faulty::{Fault, Faulty, Hook};
use super::plan::TillKnobs;
use super::schema::TABLES;
use crate::device::open_app;
use ebb::config::Config;
use ebb::model::Row;
use ebb::remote::Remote;
use ebb::sync::{Engine, RoundReport, SyncError};

/// How a round ended.
#[derive(Debug)]
pub enum Round {
    /// `run_once` returned (with or without an error in the report).
    Done(Result<RoundReport, SyncError>),
    /// A scripted kill dropped the round; the till was restarted.
    Killed,
}

/// One till.
pub struct Till<R: Remote> {
    pub index: usize,
    config: Config,
    pub app: Connection,
    /// A second app connection, for writes made while a round is out.
    pub inflight: Arc<Mutex<Connection>>,
    pub engine: Engine<Faulty<R>>,
    pub remote: Faulty<R>,
    // Last: the files go after the connections are closed.
    _dir: TempDir,
}

/// The policies.toml of a till. No in-round retries (every backoff is
/// longer than half the lease), so a round's outcome never depends on wall
/// time; merge with delta fields on both counters.
fn policies(knobs: &TillKnobs, rest_root: &str) -> String {
    let url = rest_root.trim_end_matches("/rest/v1");
    let schema = |t: &str| crate::repo_path(&format!("schemas/{t}.schema.json"));
    let mut text = format!(
        "database = \"app.db\"\n\n\
         [remote]\nurl = \"{url}\"\nrest_root = \"{rest_root}\"\n\
         api_key_file = \"api_key\"\ntimeout = \"20s\"\nconnect_timeout = \"2s\"\n\n\
         [sync]\nbatch_size = {}\npull_page_size = {}\nlease = \"1s\"\n\n\
         [retry]\nmax_attempts = 6\ninitial_backoff = \"600ms\"\nmax_backoff = \"600ms\"\n\
         jitter = 0.0\nretry_dead_after = \"1h\"\n\n\
         [rate_limit]\nrequests_per_second = 100000\nburst = 100000\n\n\
         [ops]\nlisten = \"\"\n",
        knobs.batch_size, knobs.pull_page_size
    );
    let tables = [
        ("products", "delta_fields = [\"stock\"]\n"),
        ("customers", ""),
        ("debts", "delta_fields = [\"amount_paid_cents\"]\n"),
        ("debt_payments", ""),
    ];
    for (table, extra) in tables {
        text.push_str(&format!(
            "\n[tables.{table}]\npk = \"id\"\nschema = \"{}\"\n\
             conflict = \"merge\"\nmerge_on_both = \"remote\"\n{extra}",
            schema(table).display()
        ));
    }
    text
}

/// A temp dir on tmpfs when there is one (SQLite's syncs cost nothing there).
fn temp_dir() -> Result<TempDir> {
    let shm = Path::new("/dev/shm");
    let mut builder = tempfile::Builder::new();
    builder.prefix("ebb-sim-");
    Ok(if shm.is_dir() {
        builder.tempdir_in(shm).or_else(|_| builder.tempdir())?
    } else {
        builder.tempdir()?
    })
}

impl<R: Remote> Till<R> {
    /// A new till with an empty app database; `connect` builds its remote
    /// from its config (the fake server, or the real client).
    pub fn create(
        index: usize,
        knobs: &TillKnobs,
        rest_root: &str,
        key: &str,
        connect: impl FnOnce(&Config) -> Result<R>,
    ) -> Result<Till<R>> {
        let dir = temp_dir()?;
        let db = dir.path().join("app.db");
        let app = open_app(&db)?;
        let schema = std::fs::read_to_string(crate::repo_path("example/app.sql"))?;
        app.execute_batch(&schema)
            .context("apply example/app.sql")?;
        std::fs::write(dir.path().join("api_key"), key)?;
        let path = dir.path().join("policies.toml");
        std::fs::write(&path, policies(knobs, rest_root))?;
        let config = ebb::config::load(&path).context("load the till's policies.toml")?;
        let remote = Faulty::new(connect(&config)?);
        let engine = Engine::new(config.clone(), remote.clone()).context("build the engine")?;
        let inflight = Arc::new(Mutex::new(open_app(&db)?));
        Ok(Till {
            index,
            config,
            app,
            inflight,
            engine,
            remote,
            _dir: dir,
        })
    }

    /// One round with `faults` scripted and `during` run as their calls
    /// start; a kill restarts the till.
    pub async fn round(
        &mut self,
        faults: &[(u32, Fault)],
        during: Vec<(u32, Hook)>,
    ) -> Result<Round> {
        self.advance_clock()?;
        self.remote.arm(faults);
        for (call, hook) in during {
            self.remote.during(call, hook);
        }
        let remote = self.remote.clone();
        let outcome = tokio::select! {
            biased;
            report = self.engine.run_once() => Round::Done(report),
            () = remote.killed() => Round::Killed,
        };
        self.remote.disarm();
        if matches!(outcome, Round::Killed) {
            self.restart()?;
        }
        Ok(outcome)
    }

    /// The process died: a new engine on the same file, and the dead
    /// one's lease made to look expired (as it would be, a lease later).
    fn restart(&mut self) -> Result<()> {
        self.app
            .execute(
                "UPDATE _ebb_meta SET value = 0 WHERE key = 'lease_expires_at'",
                [],
            )
            .context("expire the dead engine's lease")?;
        let engine =
            Engine::new(self.config.clone(), self.remote.clone()).context("restart the engine")?;
        // The old engine (and its connection) goes here.
        self.engine = engine;
        Ok(())
    }

    /// A sync interval passes: items waiting out a backoff are due.
    fn advance_clock(&self) -> Result<()> {
        self.app
            .execute(
                "UPDATE _ebb_queue SET next_attempt_at = 0 WHERE state = 'retry'",
                [],
            )
            .context("advance the clock")?;
        Ok(())
    }

    /// `retry.retry_dead_after` passes: dead items get a fresh set of tries.
    pub fn revive_dead(&self) -> Result<()> {
        self.app
            .execute(
                "UPDATE _ebb_queue SET claimed_at = 0 WHERE state = 'dead'",
                [],
            )
            .context("let the dead items' wait pass")?;
        Ok(())
    }

    /// Every row of `table`, by key, as JSON (INTEGER and TEXT as the
    /// server's JSON spells them).
    pub fn rows(&self, table: &str) -> Result<BTreeMap<String, Row>> {
        let mut stmt = self
            .app
            .prepare_cached(&format!("SELECT * FROM \"{table}\" ORDER BY id"))?;
        let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
        let mut rows = stmt.query([])?;
        let mut out = BTreeMap::new();
        while let Some(r) = rows.next()? {
            let mut row = Row::new();
            for (i, name) in names.iter().enumerate() {
                let value = match r.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => Value::from(n),
                    ValueRef::Real(f) => Value::from(f),
                    ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::String(format!("<{} bytes>", b.len())),
                };
                row.insert(name.clone(), value);
            }
            let key = row
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            out.insert(key, row);
        }
        Ok(out)
    }

    /// Rows the till shows as held back: an open conflict, or a queue item
    /// that is invalid, dead or waiting in conflict.
    pub fn held(&self) -> Result<BTreeSet<(String, String)>> {
        let local = self.engine.local();
        let mut held: BTreeSet<(String, String)> = local
            .conflicts(false)?
            .into_iter()
            .map(|c| (c.table, c.pk))
            .collect();
        for item in local.queue_items(&["invalid", "dead", "conflict"], usize::MAX / 2)? {
            held.insert((item.table, item.pk));
        }
        Ok(held)
    }

    /// One line per held row, with why (for the trace).
    pub fn held_lines(&self) -> Result<Vec<String>> {
        let local = self.engine.local();
        let mut out: Vec<String> = local
            .conflicts(false)?
            .into_iter()
            .map(|c| {
                format!(
                    "open conflict {} {} ({}): {}",
                    c.table, c.pk, c.policy, c.reason
                )
            })
            .collect();
        for item in local.queue_items(&["invalid", "dead", "conflict"], usize::MAX / 2)? {
            out.push(format!(
                "queue item {} {} {}: {}",
                item.state,
                item.table,
                item.pk,
                item.error.unwrap_or_default()
            ));
        }
        Ok(out)
    }

    /// A digest of what the till holds: its rows and its queue.
    pub fn fingerprint(&self) -> Result<String> {
        let mut out = String::new();
        for t in &TABLES {
            for (pk, row) in self.rows(t.name)? {
                out.push_str(&format!("{}/{pk}={}\n", t.name, Value::Object(row)));
            }
        }
        let mut stmt = self.app.prepare_cached(
            "SELECT tbl, pk, op, counter, state, attempts FROM _ebb_queue ORDER BY tbl, pk",
        )?;
        let items = stmt.query_map([], |r| {
            Ok(format!(
                "q {}/{} {} {} {} {}\n",
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?
            ))
        })?;
        for item in items {
            out.push_str(&item?);
        }
        let open = self.engine.local().conflicts(false)?.len();
        out.push_str(&format!("conflicts {open}\n"));
        Ok(out)
    }
}
