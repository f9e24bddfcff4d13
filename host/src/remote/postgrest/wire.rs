//! The JSON bodies ebb sends to its RPCs and the answers it reads back,
//! as `remote/sql` defines them (the row types themselves are
//! [`crate::model`]'s).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Change, Cursor, PullPage, PushResult};

#[derive(Serialize)]
pub(super) struct PushBody<'a> {
    pub(super) changes: &'a [Change],
}

#[derive(Deserialize)]
pub(super) struct PushAnswer {
    pub(super) results: Vec<PushResult>,
}

#[derive(Serialize)]
pub(super) struct DeviceBody<'a> {
    pub(super) device: &'a str,
}

#[derive(Serialize)]
pub(super) struct DescribeBody<'a> {
    pub(super) tbl: &'a str,
}

/// One column of a synced table as the server declares it (`ebb_describe`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ServerColumn {
    pub column: String,
    /// As Postgres' `format_type` spells it: "bigint", "numeric(12,2)".
    #[serde(rename = "type")]
    pub type_name: String,
    pub nullable: bool,
    /// timestamptz only: the session's TimeZone, in which the server reads
    /// a time written without a zone.
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// Which synced tables nudge tills on which Realtime topic (`ebb_nudges`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ServerNudges {
    /// Supabase Realtime's `realtime.send` exists on the server.
    pub realtime: bool,
    /// Per synced table, the topic its nudge trigger sends on; `None`
    /// when it has none (an install from before nudges).
    pub tables: BTreeMap<String, Option<String>>,
}

/// A cursor as sent: where the page starts, asking for its rows as
/// arrays with the column names once (`model::wire_page`). An install from
/// before arrays ignores the ask and answers objects, which are read too.
#[derive(Serialize)]
pub(super) struct AskCursor<'a> {
    #[serde(flatten)]
    at: &'a Cursor,
    rows: &'static str,
}

impl<'a> AskCursor<'a> {
    pub(super) fn new(at: &'a Cursor) -> AskCursor<'a> {
        AskCursor { at, rows: "arrays" }
    }

    /// Each table's cursor, keyed by table.
    pub(super) fn all(tables: &'a [(String, Cursor)]) -> BTreeMap<&'a str, AskCursor<'a>> {
        tables
            .iter()
            .map(|(t, c)| (t.as_str(), AskCursor::new(c)))
            .collect()
    }
}

#[derive(Serialize)]
pub(super) struct PullBody<'a> {
    pub(super) tbl: &'a str,
    pub(super) cursor: AskCursor<'a>,
    pub(super) page: usize,
}

/// `ebb_pull_all`: each table's cursor; the answer maps each to its page.
#[derive(Serialize)]
pub(super) struct PullAllBody<'a> {
    pub(super) cursors: BTreeMap<&'a str, AskCursor<'a>>,
    pub(super) page: usize,
}

pub(super) type PullAllAnswer = BTreeMap<String, PullPage>;

/// `ebb_push_pull`: a push and every table's first page in one call.
#[derive(Serialize)]
pub(super) struct PushPullBody<'a> {
    pub(super) changes: &'a [Change],
    pub(super) cursors: BTreeMap<&'a str, AskCursor<'a>>,
    pub(super) page: usize,
}

/// What `ebb_push_pull` answers: the push's results, and the pages (null
/// when the pull half failed, with its message).
#[derive(Deserialize)]
pub(super) struct PushPullAnswer {
    pub(super) results: Vec<PushResult>,
    pub(super) pages: Option<PullAllAnswer>,
    #[serde(default)]
    pub(super) pull_error: Option<String>,
}
