//! ebb's own tables in the app's SQLite file, and their migrations.
//!
//! Owns the DDL of `_ebb_meta`, `_ebb_guard`, `_ebb_queue`, `_ebb_rows`,
//! `_ebb_cursors`, `_ebb_conflicts`, `_ebb_requests`, `_ebb_sent`, `_ebb_deferred`, `_ebb_keys`, `_ebb_history` and `_ebb_skipped`, and the small
//! helpers every other file uses on them (meta keys, the change counter,
//! the guard). It never touches the app's tables. Called by `Local::open`,
//! which runs the migrations explicitly, once per open, in one
//! `BEGIN IMMEDIATE` transaction (so two processes opening at once are safe).
//!
//! The schema version lives in `_ebb_meta` (not `PRAGMA user_version`,
//! which belongs to the app). Migrations only ever append to `MIGRATIONS`.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::cached::Cached;
use super::{Context, LocalError};

/// Each entry takes the schema from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE IF NOT EXISTS _ebb_guard (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    active INTEGER NOT NULL DEFAULT 0
);
INSERT OR IGNORE INTO _ebb_guard (id, active) VALUES (1, 0);

CREATE TABLE IF NOT EXISTS _ebb_queue (
    tbl TEXT NOT NULL,
    pk TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
    counter INTEGER NOT NULL,
    state TEXT NOT NULL
        CHECK (state IN ('pending', 'inflight', 'retry', 'invalid', 'dead', 'conflict')),
    sent_counter INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    claimed_at INTEGER,
    queued_at INTEGER NOT NULL,
    error TEXT,
    UNIQUE (tbl, pk)
);
CREATE INDEX IF NOT EXISTS _ebb_queue_state ON _ebb_queue (state, tbl);

CREATE TABLE IF NOT EXISTS _ebb_rows (
    tbl TEXT NOT NULL,
    pk TEXT NOT NULL,
    version INTEGER NOT NULL,
    base TEXT,
    PRIMARY KEY (tbl, pk)
);

CREATE TABLE IF NOT EXISTS _ebb_cursors (
    tbl TEXT PRIMARY KEY,
    txid TEXT NOT NULL DEFAULT '',
    pk TEXT NOT NULL DEFAULT '',
    last_sync_at INTEGER
);

CREATE TABLE IF NOT EXISTS _ebb_conflicts (
    id INTEGER PRIMARY KEY,
    tbl TEXT NOT NULL,
    pk TEXT NOT NULL,
    local TEXT,
    remote TEXT,
    base TEXT,
    remote_version INTEGER NOT NULL,
    policy TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    resolved_at INTEGER,
    resolution TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS _ebb_conflicts_open
    ON _ebb_conflicts (tbl, pk) WHERE resolved_at IS NULL;

CREATE TABLE IF NOT EXISTS _ebb_requests (
    at INTEGER NOT NULL,
    ok INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS _ebb_requests_at ON _ebb_requests (at);
"#,
    // held_counter: set on a conflict recorded because a pulled row broke a
    // local constraint while nothing of the app's was queued for it; the queue
    // counter at that moment. While the counter is unchanged (no app edit since)
    // `Local::retry_held` may apply the remote side without losing anything.
    r#"
ALTER TABLE _ebb_conflicts ADD COLUMN held_counter INTEGER;
"#,
    // Claim walks each table's upserts, then deletes, in counter order and
    // stops at the batch size, instead of sorting the whole queue per batch.
    r#"
CREATE INDEX IF NOT EXISTS _ebb_queue_claim ON _ebb_queue (tbl, op, counter);
"#,
    // `Local::prune_conflicts` finds settled conflicts past their retention
    // each round without scanning the whole table.
    r#"
CREATE INDEX IF NOT EXISTS _ebb_conflicts_resolved
    ON _ebb_conflicts (resolved_at) WHERE resolved_at IS NOT NULL;
"#,
    // The content of each change sent whose answer has not come back yet
    // (see `sent`): the base of a merge when the server says one of them
    // was applied after all. Pulled rows set aside meanwhile (`deferred`).
    // Which side's write a policy's decision discarded (`overwrote`). The
    // integer key map (`keys`).
    r#"
CREATE TABLE IF NOT EXISTS _ebb_sent (
    tbl TEXT NOT NULL,
    pk TEXT NOT NULL,
    counter INTEGER NOT NULL,
    row TEXT,
    PRIMARY KEY (tbl, pk, counter)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _ebb_deferred (
    tbl TEXT NOT NULL,
    pk TEXT NOT NULL,
    version INTEGER NOT NULL,
    txid TEXT NOT NULL,
    origin TEXT,
    row TEXT,
    deleted INTEGER NOT NULL,
    PRIMARY KEY (tbl, pk)
) WITHOUT ROWID;
ALTER TABLE _ebb_conflicts ADD COLUMN overwrote TEXT;
CREATE TABLE IF NOT EXISTS _ebb_keys (
    tbl TEXT NOT NULL,
    local INTEGER NOT NULL,
    global INTEGER NOT NULL,
    PRIMARY KEY (tbl, local),
    UNIQUE (tbl, global)
) WITHOUT ROWID;
"#,
    // The daemon's per-minute history behind the console's charts
    // (`history`), kept for `ops.history_keep`.
    r#"
CREATE TABLE IF NOT EXISTS _ebb_history (
    minute INTEGER PRIMARY KEY,
    rounds INTEGER NOT NULL DEFAULT 0,
    failed_rounds INTEGER NOT NULL DEFAULT 0,
    pushed INTEGER NOT NULL DEFAULT 0,
    pulled INTEGER NOT NULL DEFAULT 0,
    conflicts INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    queue_depth INTEGER NOT NULL DEFAULT 0,
    round_ms_total INTEGER NOT NULL DEFAULT 0,
    round_ms_max INTEGER NOT NULL DEFAULT 0
);
"#,
    // Where a row's base is (`base`): the rows an initial sync writes keep
    // theirs in the app's table until the app's first write to them.
    r#"
ALTER TABLE _ebb_rows ADD COLUMN base_kind INTEGER NOT NULL DEFAULT 0;
"#,
    // Which table ebb is applying pulled rows of (`_ebb_guard.tbl`), and the
    // writes an app trigger made meanwhile to another synced table, skipped
    // (`skip`).
    r#"
ALTER TABLE _ebb_guard ADD COLUMN tbl TEXT;
CREATE TABLE IF NOT EXISTS _ebb_skipped (
    tbl TEXT NOT NULL,
    by_tbl TEXT NOT NULL,
    n INTEGER NOT NULL DEFAULT 0,
    announced INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tbl, by_tbl)
);
"#,
];

/// Creates or migrates ebb's tables; returns the device id (generated on
/// the first open).
pub(crate) fn migrate(conn: &mut Connection) -> Result<String, LocalError> {
    if let Some(device) = current(conn)? {
        return Ok(device);
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx(|| "starting ebb's schema migration".into())?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS _ebb_meta (key TEXT PRIMARY KEY, value)")
        .ctx(|| "creating _ebb_meta".into())?;
    let version = meta_int(&tx, "schema_version")?.unwrap_or(0);
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(LocalError::Corrupt {
            what: "_ebb_meta.schema_version".into(),
            message: format!(
                "version {version} was written by a newer ebb (this one knows {known})"
            ),
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        tx.execute_batch(sql)
            .ctx(|| format!("migrating ebb's tables to version {}", index + 1))?;
    }
    meta_set(&tx, "schema_version", Value::Integer(known))?;
    tx.exec(
        "INSERT OR IGNORE INTO _ebb_meta (key, value) VALUES ('device_id', ?1), ('seq', 0)",
        [uuid::Uuid::new_v4().to_string()],
    )
    .ctx(|| "creating the device id".into())?;
    let device = device_id(&tx)?;
    tx.commit().ctx(|| "committing ebb's schema".into())?;
    Ok(device)
}

/// The device id when the schema is already current: a read, so opening
/// does not wait for the app's write lock in the usual case.
fn current(conn: &Connection) -> Result<Option<String>, LocalError> {
    let has_meta: bool = conn
        .row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_ebb_meta')",
            [],
            |r| r.get(0),
        )
        .ctx(|| "looking for ebb's tables".into())?;
    if !has_meta || meta_int(conn, "schema_version")? != Some(MIGRATIONS.len() as i64) {
        return Ok(None);
    }
    meta_text(conn, "device_id")
}

/// The stored device id (`identity.rs` renews it for a copied file).
pub(crate) fn device_id(conn: &Connection) -> Result<String, LocalError> {
    meta_text(conn, "device_id")?.ok_or_else(|| LocalError::Corrupt {
        what: "_ebb_meta.device_id".into(),
        message: "missing or not text".into(),
    })
}

/// Reads one `_ebb_meta` value.
pub(crate) fn meta_get(conn: &Connection, key: &str) -> Result<Option<Value>, LocalError> {
    conn.row("SELECT value FROM _ebb_meta WHERE key = ?1", [key], |r| {
        r.get::<_, Value>(0)
    })
    .optional()
    .ctx(|| format!("reading _ebb_meta.{key}"))
}

/// Reads an integer `_ebb_meta` value (`None` when absent or not an integer).
pub(crate) fn meta_int(conn: &Connection, key: &str) -> Result<Option<i64>, LocalError> {
    Ok(match meta_get(conn, key)? {
        Some(Value::Integer(n)) => Some(n),
        _ => None,
    })
}

/// Reads a text `_ebb_meta` value (`None` when absent or not text).
pub(crate) fn meta_text(conn: &Connection, key: &str) -> Result<Option<String>, LocalError> {
    Ok(match meta_get(conn, key)? {
        Some(Value::Text(s)) => Some(s),
        _ => None,
    })
}

/// Sets one `_ebb_meta` value (`Value::Null` stores NULL).
pub(crate) fn meta_set(conn: &Connection, key: &str, value: Value) -> Result<(), LocalError> {
    conn.exec(
        "INSERT INTO _ebb_meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )
    .ctx(|| format!("writing _ebb_meta.{key}"))?;
    Ok(())
}

/// Takes the next device-wide change counter (the same `seq` the capture
/// triggers bump).
pub(crate) fn next_counter(conn: &Connection) -> Result<i64, LocalError> {
    conn.row(
        "UPDATE _ebb_meta SET value = value + 1 WHERE key = 'seq' RETURNING value",
        [],
        |r| r.get(0),
    )
    .ctx(|| "taking the next change counter".into())
}

/// Sets the capture guard while ebb writes rows of `applying` (the table
/// whose pulled, retried or chosen rows it writes; see `skip`), or clears
/// it (`None`). Only ever called inside a transaction that clears it again
/// before commit, so no other connection sees it set.
pub(crate) fn set_guard(conn: &Connection, applying: Option<&str>) -> Result<(), LocalError> {
    conn.exec(
        "UPDATE _ebb_guard SET active = ?1, tbl = ?2 WHERE id = 1",
        rusqlite::params![applying.is_some(), applying],
    )
    .ctx(|| "setting the capture guard".into())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::open_temp;
    use super::*;

    #[test]
    fn open_twice_keeps_device_and_version() {
        let (dir, local) = open_temp();
        let device = local.device_id().to_string();
        assert_eq!(device.len(), 36);
        drop(local);
        let again = super::super::Local::open(&dir.path().join("app.db"), Default::default())
            .expect("reopen");
        assert_eq!(again.device_id(), device);
        assert_eq!(
            meta_int(&again.conn, "schema_version").unwrap(),
            Some(MIGRATIONS.len() as i64)
        );
        let mode: String = again
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn the_cache_and_checkpoint_follow_local_cache_and_local_wal() {
        let (_dir, local) = open_temp();
        local.set_cache(8 << 20, 32 << 20).unwrap();
        let int = |sql: &str| -> i64 { local.conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(int("PRAGMA cache_size"), -8192, "8 MiB in KiB");
        assert_eq!(
            int("PRAGMA wal_autocheckpoint"),
            8192,
            "32 MiB of 4 KiB pages"
        );
    }

    #[test]
    fn a_cached_statement_keeps_its_plan_whatever_its_limit() {
        use rusqlite::StatementStatus;
        let (_dir, local) = open_temp();
        let sql = "SELECT pk FROM _ebb_queue WHERE tbl = ?1 ORDER BY counter LIMIT ?2";
        for limit in 1..=5 {
            let mut stmt = local.conn.prepare_cached(sql).unwrap();
            let rows = stmt.query_map(rusqlite::params!["t", limit], |r| r.get::<_, String>(0));
            assert_eq!(rows.unwrap().count(), 0);
        }
        let stmt = local.conn.prepare_cached(sql).unwrap();
        assert_eq!(stmt.get_status(StatementStatus::RePrepare), 0);
    }

    #[test]
    fn newer_schema_is_refused() {
        let (dir, local) = open_temp();
        meta_set(&local.conn, "schema_version", Value::Integer(99)).unwrap();
        drop(local);
        let err = super::super::Local::open(&dir.path().join("app.db"), Default::default())
            .expect_err("refused");
        assert!(matches!(err, LocalError::Corrupt { .. }), "{err}");
    }

    #[test]
    fn counter_rises() {
        let (_dir, local) = open_temp();
        let a = next_counter(&local.conn).unwrap();
        let b = next_counter(&local.conn).unwrap();
        assert_eq!(b, a + 1);
    }
}
