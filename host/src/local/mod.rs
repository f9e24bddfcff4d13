//! The app's SQLite file: ebb's own tables, capture triggers, the change
//! queue, applying pulled rows, the sync lease, conflicts and status.
//!
//! Owns every SQL statement ebb runs against the local database; rusqlite
//! appears nowhere else. It makes no decisions about what to push, when to
//! retry or how to settle a conflict (that is `sync`), and it never does
//! network I/O: every write transaction here is short (`BEGIN IMMEDIATE`,
//! a few statements, commit), so the app is never blocked for long.
//!
//! Called by `sync` (claim, settle, apply, lease), `ops` (status) and `cli`
//! (`ebb init`, `ebb queue`, `ebb conflicts`). Times are unix milliseconds
//! passed in by the caller, so tests control the clock.
//!
//! Files: `schema` (ebb's tables and their migrations), `identity` (the
//! device id, renewed for a copied file), `triggers`
//! (capture), `values` (JSON <-> SQLite values, row reads and writes),
//! `write` (the page writer of `apply`), `queue` (claim, list), `settle` (how pushed items ended), `rows`
//! (`_ebb_rows`), `base` (where a row's merge base is kept), `cursors`
//! (pull positions and last syncs), `apply` (pulled rows), `hold` (pulled rows a local
//! constraint refuses become conflicts), `retry` (held conflicts applied
//! again once clear), `fk` (foreign keys for `apply`), `normalize` (remote
//! rows as SQLite stores them), `lease`, `conflicts`, `status`, `inspect` (table
//! introspection for `ebb init`), `history` (the console's per-minute
//! history), `revive` (a person's retry of a held item), `figures` (row counts).

mod action;
mod apply;
mod apply_one;
mod backfill;
mod base;
mod cached;
mod claim;
mod conflicts;
mod cursors;
mod deferred;
mod figures;
mod fk;
mod history;
mod hold;
mod horizon;
mod identity;
pub mod inspect;
mod key_lookup;
mod keys;
mod lease;
mod nested;
mod normalize;
mod park;
mod queue;
mod quiet;
mod requests;
mod retry;
mod revive;
mod rewritten;
mod rows;
mod runs;
mod schema;
mod sent;
mod settle;
mod skip;
mod statements;
mod status;
mod stored;
mod triggers;
mod values;
mod write;

#[cfg(test)]
mod testutil;

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use crate::config::TableConfig;

pub use action::{Action, ApplyOp};
pub use conflicts::{Choice, ConflictRecord, Incoming};
pub use history::{HistoryMinute, HistorySample};
pub use hold::HELD_POLICY;
pub use inspect::{
    Column, TableInfo, describe, describe_file, infer_json_schema, list_tables, schema_version,
};
pub use key_lookup::KeyLookup;
pub use keys::{KeyPlan, SPAN, Unmapped};
pub use lease::Lease;
pub use queue::{Claimed, QUEUE_STATES, QueueItem, Settle};
pub use revive::Revived;
pub use rewritten::{Rewritten, group as group_rewritten};
pub use rows::RowState;
pub use settle::Settlement;
pub use skip::Skipped;
pub use status::{LocalStatus, TableStatus};
pub use stored::StoredRows;

/// Statements kept compiled per connection (`prepare_cached`).
const STATEMENT_CACHE: usize = 256;

/// An open handle on the app's SQLite file, with ebb's tables in place.
pub struct Local {
    conn: Connection,
    device: String,
    /// A private in-memory database for `normalize` (created on first use).
    scratch: std::cell::RefCell<normalize::Scratch>,
    /// The lease this handle last wrote, while no one else may take it
    /// (see `lease_renew`).
    written: Option<lease::Written>,
    /// Request outcomes (unix ms, ok) not written to `_ebb_requests` yet
    /// (see `record_request`).
    unwritten: Vec<(i64, bool)>,
    /// The error window those are pruned to when written.
    requests_window: std::time::Duration,
    /// The server horizon and since when it is held, as this handle last
    /// read or wrote them during a round (see `note_horizon`).
    horizon: Option<(Option<String>, Option<i64>)>,
}

impl std::fmt::Debug for Local {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Local")
            .field("device", &self.device)
            .field("path", &self.conn.path())
            .finish()
    }
}

/// What went wrong on the local side. Messages name tables and keys but
/// never row contents.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// SQLite refused a statement (busy past the timeout, disk full, a
    /// constraint of the app's schema). `context` says what ebb was doing.
    /// Usually transient (busy) or the environment's fault; the caller
    /// ends the round and tries again later.
    #[error("{context}: {source}")]
    Sqlite {
        context: String,
        #[source]
        source: rusqlite::Error,
    },
    /// A configured table does not exist in the local database. The user's
    /// to fix (config or app schema); nothing is installed.
    #[error("table \"{table}\" is configured but does not exist in the local database")]
    NoSuchTable { table: String },
    /// The table has no primary key, a composite one, one of an unusable
    /// type, or not the column the config names. The user's to fix.
    #[error("table \"{table}\": {message}")]
    BadPrimaryKey { table: String, message: String },
    /// `apply`: a queue item's counter is not what the plan expected (the
    /// app edited the row since the page was planned). Nothing was applied;
    /// the caller re-plans the page.
    #[error("table \"{table}\", pk {pk}: edited locally while the pull was planned")]
    Stale { table: String, pk: String },
    /// ebb's own tables hold something unreadable (bad JSON in a base row
    /// or conflict). A bug or a hand edit; reported, not retried.
    #[error("unreadable {what}: {message}")]
    Corrupt { what: String, message: String },
    /// The thing asked for does not exist (a conflict id, an open conflict).
    #[error("{what} not found")]
    NotFound { what: String },
    /// `resolve_conflict`: the conflict is open but its row's queue item is
    /// not in 'conflict' (`state`; `None`: nothing queued): the row was
    /// settled another way since, so the recorded sides are stale. Nothing
    /// changed; the user looks at the row again (`ebb conflicts`).
    #[error(
        "conflict {id} ({table} {pk}) is stale: the row is no longer waiting in conflict \
         (queue state: {}); nothing changed",
        state.as_deref().unwrap_or("none")
    )]
    NotInConflict {
        id: i64,
        table: String,
        pk: String,
        state: Option<String>,
    },
    /// An app trigger's `RAISE(IGNORE)` skipped ebb's write of a pulled
    /// row, which would otherwise keep its local state unannounced. The
    /// row is held as one a local constraint refuses (`hold`).
    #[error(
        "table \"{table}\", pk {pk}: an app trigger skipped ebb's write of this row \
         (RAISE(IGNORE) before it)"
    )]
    Ignored { table: String, pk: String },
}

/// Attaches "what ebb was doing" to a rusqlite error.
pub(crate) trait Context<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, LocalError>;
}

impl<T> Context<T> for Result<T, rusqlite::Error> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, LocalError> {
        self.map_err(|source| LocalError::Sqlite {
            context: context(),
            source,
        })
    }
}

/// A synced table as `local` needs it: its name and one-column primary key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub name: String,
    pub pk: String,
}

impl From<&TableConfig> for TableSpec {
    fn from(table: &TableConfig) -> Self {
        TableSpec {
            name: table.name.clone(),
            pk: table.pk.clone(),
        }
    }
}

impl Local {
    /// Opens (creating if needed) the SQLite file in WAL mode
    /// (synchronous = NORMAL on this connection) with the given busy
    /// timeout and foreign keys on, creates or migrates ebb's own
    /// tables, and generates the device id on first use.
    pub fn open(path: &Path, busy_timeout: Duration) -> Result<Local, LocalError> {
        let shown = path.display().to_string();
        let mut conn = Connection::open(path).ctx(|| format!("opening {shown}"))?;
        conn.busy_timeout(busy_timeout)
            .ctx(|| "setting busy_timeout".into())?;
        // Every statement of a page (per table: the upsert, `_ebb_rows`,
        // the queue and conflict checks, savepoints) stays compiled; the
        // default of 16 made a pull of several tables recompile them.
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // A page of pulled rows is applied under a savepoint (`apply`): the
        // pages it changes are copied to a sub-journal first. In memory,
        // that copy is a memcpy; in a temp file it was a write(2) per page
        // (18% of an initial sync's CPU). Per connection: the app's own
        // connections keep their setting.
        conn.pragma_update(None, "temp_store", "MEMORY")
            .ctx(|| "setting temp_store".into())?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .ctx(|| format!("switching {shown} to WAL"))?;
        if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
            tracing::warn!(path = %shown, mode = %mode, "database is not in WAL mode");
        }
        // synchronous = NORMAL on ebb's own connection only (the setting is
        // per connection: the app's commits keep whatever it chose). In WAL
        // mode a commit then appends to the WAL without an fsync; the WAL is
        // synced at checkpoints. That cannot corrupt the file, and a power
        // loss can only take back a suffix of ebb's most recent transactions
        // (any later fsync of the WAL, such as the app's next FULL commit,
        // makes every earlier frame durable). Losing such a suffix is
        // harmless: a lost settle leaves its items inflight, they return to
        // pending and their re-push is answered as before (the server keeps
        // each device's last change per row); a lost claim or lease is
        // taken again; a pulled page and its cursor commit together, so
        // both are lost and pulled again; a lost conflict resolution leaves
        // the conflict open, to be resolved again. Without it every settle,
        // claim and lease renewal waited for a disk flush.
        let mode = if mode.eq_ignore_ascii_case("wal") {
            "NORMAL"
        } else {
            "FULL"
        };
        conn.pragma_update(None, "synchronous", mode)
            .ctx(|| "setting synchronous".into())?;
        conn.pragma_update(None, "foreign_keys", true)
            .ctx(|| "enabling foreign keys".into())?;
        // One plan per statement, whatever its bound values: without the
        // query planner stability guarantee, SQLite compiles a cached
        // statement again each time a value bound to its LIMIT (or, with
        // STAT4 samples, to an indexed column) changes, which was a sixth of
        // the client's CPU in a one-edit round (`claim`, every table).
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .ctx(|| "enabling the query planner stability guarantee".into())?;
        nested::register(&conn)?;
        let device = schema::migrate(&mut conn)?;
        let device = identity::confirm(&mut conn, path, device)?;
        Ok(Local {
            conn,
            device,
            scratch: Default::default(),
            written: None,
            unwritten: Vec::new(),
            requests_window: std::time::Duration::ZERO,
            horizon: None,
        })
    }

    /// SQLite's page cache of this connection (`sync.local_cache`), and
    /// about how much WAL it writes before a checkpoint (`sync.local_wal`).
    pub fn set_cache(&self, bytes: u64, wal: u64) -> Result<(), LocalError> {
        let kib = (bytes / 1024).max(64);
        self.conn
            .pragma_update(None, "cache_size", -(kib as i64))
            .ctx(|| "setting cache_size".into())?;
        let page: i64 = self
            .conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .ctx(|| "reading page_size".into())?;
        let pages = (i64::try_from(wal).unwrap_or(i64::MAX) / page.max(512)).max(100);
        self.conn
            .query_row(&format!("PRAGMA wal_autocheckpoint = {pages}"), [], |_| {
                Ok(())
            })
            .ctx(|| "setting wal_autocheckpoint".into())
    }

    /// Copies what the WAL holds into the database file, as far as no
    /// reader still needs it, without waiting for anyone (a PASSIVE
    /// checkpoint). After a bulk pull, so that the app's next commit does
    /// not find up to `sync.local_wal` of WAL to copy itself.
    pub fn checkpoint(&self) -> Result<(), LocalError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .ctx(|| "checkpointing the WAL".into())
    }

    /// Checks every configured table (exists, one-column primary key named
    /// as configured) and installs or refreshes the capture triggers; drops
    /// ebb's triggers on tables no longer configured. Idempotent.
    pub fn install(&mut self, tables: &[TableSpec]) -> Result<(), LocalError> {
        self.install_mapped(tables, &[])
    }

    /// [`Local::install`], where the tables named in `mapped` have their
    /// keys mapped (`keys = "map"`).
    pub fn install_mapped(
        &mut self,
        tables: &[TableSpec],
        mapped: &[&str],
    ) -> Result<(), LocalError> {
        triggers::install(&mut self.conn, tables, mapped, triggers::TRIGGER_VERSION).map(|_| ())
    }

    /// [`Local::install_mapped`], returning the app's schema version as
    /// the install left it (read inside its transaction).
    pub fn install_fitted(
        &mut self,
        tables: &[TableSpec],
        mapped: &[&str],
    ) -> Result<i64, LocalError> {
        triggers::install(&mut self.conn, tables, mapped, triggers::TRIGGER_VERSION)
            .map(|(_, schema)| schema)
    }

    /// This database's device id (a uuid v4 generated once, kept in
    /// `_ebb_meta`; a copy of the file gets its own: `identity.rs`).
    pub fn device_id(&self) -> &str {
        &self.device
    }
}

/// Quotes an SQL identifier ("" doubling).
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes an SQL string literal ('' doubling), for DDL that takes no
/// parameters (trigger bodies).
pub(crate) fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Milliseconds of a duration, saturating.
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
