//! The values that cross concern boundaries: rows, changes, push results,
//! pull pages and cursors.
//!
//! Plain data with serde derives and no I/O. `local` produces `Change`s,
//! `remote` carries them and returns `PushResult`s and `PullPage`s, `sync`
//! decides what to do with them. The JSON shapes here are the wire format of
//! `ebb_push` / `ebb_pull` (see `remote/sql`), so a change to a field is a
//! change to the protocol: the golden files in `host/tests/golden` show it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub mod wire_page;

/// One row as a JSON object: column name -> value. SQLite INTEGER and REAL
/// become JSON numbers, TEXT a string, NULL null, BLOB a base64 string.
pub type Row = Map<String, Value>;

/// A key value's text form, as `Change::pk`, `_ebb_queue` and the capture
/// triggers carry it: a string as is, a number as its decimal text. `None`
/// for null, a bool, an array or an object, which are no keys.
pub fn key_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// What happened to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// Inserted or updated: the row is sent whole.
    Upsert,
    /// Deleted: no row is sent.
    Delete,
}

/// One outgoing change, as `ebb_push` receives it.
///
/// `(device, counter)` identifies the change: the server remembers the last
/// counter it applied per (device, table, pk) and answers a retried change
/// with the result it gave before, so a lost response never turns into a
/// false conflict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub table: String,
    /// The primary key as text (the one-column primary key's value).
    pub pk: String,
    pub op: Op,
    /// The remote version this edit was based on; `None` for a row the
    /// device has never seen from the server (a fresh insert).
    pub base_version: Option<i64>,
    /// The full row for an upsert, `None` for a delete.
    pub row: Option<Row>,
    pub device: String,
    /// The device-wide, strictly increasing change counter of this edit.
    pub counter: i64,
}

/// The server's answer for one change, in the order the changes were sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum PushResult {
    /// Written; the row is now at `version`.
    Applied { version: i64 },
    /// Not written: the row moved on since `base_version`. `row` is the
    /// current remote row (`None` when the remote row is deleted) at `version`.
    Conflict {
        version: i64,
        row: Option<Row>,
        deleted: bool,
        /// This device's own last write of the row that the server applied
        /// but the device never heard of: it was sent on the same base
        /// version as this change, so the device's base is stale. The
        /// device merges from the content it sent with `own.counter`
        /// (kept in `_ebb_sent`), not from its stale base, so a counter
        /// edit whose answer was lost is never counted twice.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        own: Option<OwnWrite>,
    },
    /// Not written, and retrying the same change will not help (a
    /// constraint violation, a type error): `code` is the SQLSTATE.
    Rejected { code: String, message: String },
}

/// A write of this device the server applied (see `PushResult::Conflict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnWrite {
    /// The change counter it was sent with.
    pub counter: i64,
    /// The version the server gave the row when it applied it.
    pub version: i64,
}

/// A pull position: the last (txid, pk) returned. Transaction ids are
/// 64-bit (`xid8`) and travel as decimal strings so no JSON reader rounds them.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Cursor {
    pub txid: String,
    pub pk: String,
}

/// One changed row from `ebb_pull`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PulledRow {
    pub pk: String,
    pub version: i64,
    pub txid: String,
    pub deleted: bool,
    /// The device that wrote it, `None` for writes made on the server.
    pub origin: Option<String>,
    /// The row without ebb's own columns; `None` for a tombstone.
    pub row: Option<Row>,
}

/// One page of `ebb_pull`. Read from either wire form of its rows
/// (objects, or arrays with the page's column names once: see
/// [`wire_page`]); written as objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "wire_page::WirePage")]
pub struct PullPage {
    pub rows: Vec<PulledRow>,
    /// Where the next page starts (equal to the request's cursor when
    /// `rows` is empty).
    pub next: Cursor,
    pub has_more: bool,
    /// Transactions in flight on the server hold back rows newer than this
    /// txid (`pg_snapshot_xmin`): report it as pull lag when it stalls.
    pub horizon: String,
    /// Whether a transaction was open on the server (the horizon is held
    /// at it). The same horizon held for long is reported as pull lag.
    #[serde(default)]
    pub in_flight: bool,
    /// The size of the answer the page came in alone (`ebb_pull`), 0 when
    /// it came with others or is not known: pull pages are sized by it.
    #[serde(skip)]
    pub bytes: usize,
}
