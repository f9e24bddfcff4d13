//! `_ebb_sent`: the content of every change sent whose answer never came.
//!
//! A push can reach the server and be applied while its answer is lost
//! (a dropped connection, a kill -9). Until some later answer settles the
//! row, the device does not know its own write's version, so its base is
//! stale. The server names such a write in a conflict answer (its counter,
//! `PushResult::Conflict::own`), and the content kept here under that
//! counter is then the true base of the three-way merge: a counter edit is
//! counted once, never twice. A row with a change in doubt is also not
//! merged on pull (`Local::in_doubt`): its next push settles it with the
//! server's knowledge.
//!
//! Written by `queue`'s claim (one row per change sent), trimmed by
//! `settle` (an applied answer settles every earlier send) and by `sync`
//! through `Local::forget_sent` once a conflict or a rejection is settled.

use rusqlite::{Connection, OptionalExtension, params};

use super::values::{parse_row, row_text};
use super::{Context, Local, LocalError};
use crate::model::Row;

impl Local {
    /// The content sent as change `counter` of a row, if it is still kept:
    /// `Some(None)` for a delete.
    pub fn sent_row(
        &self,
        table: &str,
        pk: &str,
        counter: i64,
    ) -> Result<Option<Option<Row>>, LocalError> {
        let found: Option<Option<String>> = self
            .conn
            .prepare_cached("SELECT row FROM _ebb_sent WHERE tbl = ?1 AND pk = ?2 AND counter = ?3")
            .and_then(|mut stmt| {
                stmt.query_row(params![table, pk, counter], |r| r.get(0))
                    .optional()
            })
            .ctx(|| format!("reading a sent change of {table}"))?;
        match found {
            None => Ok(None),
            Some(text) => Ok(Some(parse_row(
                text,
                &format!("_ebb_sent row of {table} {pk}"),
            )?)),
        }
    }

    /// Whether a change of this row was sent and no answer settled it yet.
    pub fn in_doubt(&self, table: &str, pk: &str) -> Result<bool, LocalError> {
        self.conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM _ebb_sent WHERE tbl = ?1 AND pk = ?2)")
            .and_then(|mut stmt| stmt.query_row(params![table, pk], |r| r.get(0)))
            .ctx(|| format!("looking for sent changes of {table}"))
    }

    /// Forgets the sent changes of a row up to `counter` (the server
    /// answered that change, which settles the earlier ones too).
    pub fn forget_sent(&mut self, table: &str, pk: &str, counter: i64) -> Result<(), LocalError> {
        forget(&self.conn, table, pk, counter)
    }
}

/// Keeps the content of change `counter` as sent (`None`: a delete).
pub(crate) fn record(
    conn: &Connection,
    table: &str,
    pk: &str,
    counter: i64,
    row: Option<&Row>,
) -> Result<(), LocalError> {
    conn.prepare_cached(
        "INSERT INTO _ebb_sent (tbl, pk, counter, row) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (tbl, pk, counter) DO UPDATE SET row = excluded.row",
    )
    .and_then(|mut stmt| stmt.execute(params![table, pk, counter, row_text(row)]))
    .ctx(|| format!("keeping a sent change of {table}"))?;
    Ok(())
}

/// Forgets the sent changes of a row up to and including `counter`.
pub(crate) fn forget(
    conn: &Connection,
    table: &str,
    pk: &str,
    counter: i64,
) -> Result<(), LocalError> {
    conn.prepare_cached("DELETE FROM _ebb_sent WHERE tbl = ?1 AND pk = ?2 AND counter <= ?3")
        .and_then(|mut stmt| stmt.execute(params![table, pk, counter]))
        .ctx(|| format!("forgetting sent changes of {table}"))?;
    Ok(())
}

/// Forgets exactly change `counter` of a row: it never reached the server
/// (held as invalid before sending, or released unsent).
pub(crate) fn forget_one(
    conn: &Connection,
    table: &str,
    pk: &str,
    counter: i64,
) -> Result<(), LocalError> {
    conn.prepare_cached("DELETE FROM _ebb_sent WHERE tbl = ?1 AND pk = ?2 AND counter = ?3")
        .and_then(|mut stmt| stmt.execute(params![table, pk, counter]))
        .ctx(|| format!("forgetting a sent change of {table}"))?;
    Ok(())
}
