//! Test helpers for `local`: a real SQLite file in a temp dir with a small
//! app schema (parents, items referencing parents, and an unsynced users
//! table). Tests only.

use std::time::Duration;

use tempfile::TempDir;

use super::{Action, ApplyOp, Local, QueueItem, TableSpec};

pub(crate) const APP_SCHEMA: &str = "
CREATE TABLE parents (id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE items (
    id TEXT PRIMARY KEY,
    parent_id INTEGER REFERENCES parents (id) ON DELETE CASCADE,
    qty INTEGER NOT NULL DEFAULT 0,
    price REAL,
    photo BLOB,
    note TEXT
);
CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);
";

/// A fresh database with the app schema (triggers not installed).
pub(crate) fn open_temp() -> (TempDir, Local) {
    let dir = tempfile::tempdir().expect("temp dir");
    let local = Local::open(&dir.path().join("app.db"), Duration::from_secs(5)).expect("open");
    local.conn.execute_batch(APP_SCHEMA).expect("app schema");
    (dir, local)
}

/// parents, then items (parents first).
pub(crate) fn specs() -> Vec<TableSpec> {
    vec![
        TableSpec {
            name: "parents".into(),
            pk: "id".into(),
        },
        TableSpec {
            name: "items".into(),
            pk: "id".into(),
        },
    ]
}

/// A pulled row (`None` for JSON null: a delete) to write at `version`.
pub(crate) fn pulled_write(pk: &str, row: serde_json::Value, version: i64) -> ApplyOp {
    ApplyOp {
        pk: pk.into(),
        expect_counter: None,
        action: Action::Write {
            row: row.as_object().cloned(),
            version,
        },
    }
}

/// Runs app SQL on ebb's own connection (triggers fire as for the app).
pub(crate) fn exec(local: &Local, sql: &str) {
    local.conn.execute_batch(sql).expect(sql);
}

/// The queue item that must exist.
pub(crate) fn queue(local: &Local, table: &str, pk: &str) -> QueueItem {
    local
        .queue_item(table, pk)
        .expect("queue read")
        .unwrap_or_else(|| panic!("no queue item for {table}/{pk}"))
}

/// A second connection to the same file, as the app would have.
pub(crate) fn other_connection(dir: &TempDir) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.path().join("app.db")).expect("second connection")
}
