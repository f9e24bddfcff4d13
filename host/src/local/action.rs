//! What `sync` plans for each pulled row and `apply` carries out: one op
//! per local row, with the queue counter the plan saw. Data only.

use crate::model::{PulledRow, Row};

/// One planned change to one local row.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyOp {
    pub pk: String,
    /// The queue counter the plan saw (`None`: nothing was queued). A
    /// mismatch means the app edited the row since: the page is re-planned.
    pub expect_counter: Option<i64>,
    pub action: Action,
}

/// What to do with one pulled row. Write and WriteAndPush may be held
/// instead (see `hold`): then the row becomes a "constraint" conflict.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Take the remote row: write it (None = delete) without capturing
    /// it; _ebb_rows = (version, the row itself: what both sides now
    /// agree on); drop the queue item; close any open conflict.
    Write { row: Option<Row>, version: i64 },
    /// Keep the local edit queued (client wins): only _ebb_rows = (version,
    /// base); close any open conflict (a queue item in 'conflict' goes
    /// back to pending, so it is pushed).
    Keep { version: i64, base: Option<Row> },
    /// Write a merged row without capturing it, _ebb_rows = (version, base),
    /// and queue it (pending, new counter) so it is pushed; close any open
    /// conflict.
    WriteAndPush {
        row: Option<Row>,
        version: i64,
        base: Option<Row>,
    },
    /// Record (or refresh) the unresolved conflict for this pk; the queue
    /// item goes to 'conflict' (created if absent). The local row is left
    /// as it is. For a held row the app has not edited since it was held
    /// (`expect_counter` equals the held counter), the remote side is
    /// written instead, as Write (held again if still refused).
    Conflict {
        local: Option<Row>,
        remote: Option<Row>,
        base: Option<Row>,
        remote_version: i64,
        policy: String,
        reason: String,
    },
    /// Set the pulled row aside, as it came from the server (see
    /// `deferred`): this device's own change of it is in doubt, or it
    /// points at a parent not pulled yet.
    Defer { pulled: PulledRow },
    /// A row of a mapped table (`keys`) new to this device: write it under
    /// a fresh local id mapped to `global`. `pulled` is the server's form,
    /// set aside if a local constraint refuses the row.
    Adopt {
        global: i64,
        row: Row,
        version: i64,
        pulled: PulledRow,
    },
}
