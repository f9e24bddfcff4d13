//! What a page of pulled rows found of its table when it started
//! ([`Quiet`]), so that per-row statements known to find nothing are
//! skipped; and the error of a write an app trigger skipped ([`ignored`]).

use rusqlite::Connection;

use super::queue::any_queued;
use super::{Context, LocalError};

/// A table with nothing queued or no open conflict at the start of a page:
/// the per-row queue and conflict statements of an apply are then known
/// to find nothing, and are skipped (an initial sync is all such rows).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Quiet {
    /// No queue item of the table.
    pub(crate) queue: bool,
    /// No open conflict of the table.
    pub(crate) conflicts: bool,
    /// No row of the table was ever synced (an initial pull): a pulled row
    /// is upserted without reading the row first (see [`Writer::write`]).
    pub(crate) fresh: bool,
}

impl Quiet {
    pub(crate) fn read(conn: &Connection, table: &str) -> Result<Quiet, LocalError> {
        let conflicts = conn
            .prepare_cached(
                "SELECT NOT EXISTS (SELECT 1 FROM _ebb_conflicts
                 WHERE tbl = ?1 AND resolved_at IS NULL)",
            )
            .and_then(|mut stmt| stmt.query_row([table], |r| r.get::<_, bool>(0)))
            .ctx(|| format!("looking at the conflicts of {table}"))?;
        Ok(Quiet {
            queue: !any_queued(conn, table)?,
            conflicts,
            fresh: !super::rows::any(conn, table)?,
        })
    }
}

/// ebb's write of row `pk` of `table` changed nothing: an app trigger
/// before it skipped it (`RAISE(IGNORE)`). Held as a row a local
/// constraint refuses (`hold::constraint`), never taken as written.
pub(crate) fn ignored(table: &str, pk: &str) -> LocalError {
    LocalError::Ignored {
        table: table.to_string(),
        pk: pk.to_string(),
    }
}

#[cfg(test)]
#[path = "quiet_tests.rs"]
mod tests;
