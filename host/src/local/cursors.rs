//! Pull positions (`_ebb_cursors`): each table's cursor, read alone or
//! for a round's tables at once, and the time of its last complete sync.
//! Called by `sync` (a pull's start and end) and `status` (a round's
//! record writes its tables' last syncs with `write_last_syncs`); `apply`
//! moves a cursor in the transaction of the page it ends.

use rusqlite::{Connection, OptionalExtension};

use super::cached::Cached;
use super::{Context, Local, LocalError};
use crate::model::Cursor;

impl Local {
    /// The pull position of `table` (the default cursor before the first pull).
    pub fn cursor(&self, table: &str) -> Result<Cursor, LocalError> {
        let found = self
            .conn
            .row(
                "SELECT txid, pk FROM _ebb_cursors WHERE tbl = ?1",
                [table],
                |r| {
                    Ok(Cursor {
                        txid: r.get(0)?,
                        pk: r.get(1)?,
                    })
                },
            )
            .optional()
            .ctx(|| format!("reading the cursor of {table}"))?;
        Ok(found.unwrap_or_default())
    }

    /// The pull positions of `tables`, read in one read transaction (one
    /// WAL read lock instead of one per table).
    pub fn cursors<'a>(
        &self,
        tables: impl IntoIterator<Item = &'a str>,
    ) -> Result<Vec<(String, Cursor)>, LocalError> {
        let began = self.begin_reads()?;
        let read: Result<Vec<_>, _> = tables
            .into_iter()
            .map(|t| Ok((t.to_string(), self.cursor(t)?)))
            .collect();
        if began {
            self.end_reads()?;
        }
        read
    }

    /// Records that each of `tables` finished a complete sync at `now`
    /// (one transaction; a round records its tables with its own record,
    /// `record_round`).
    pub fn set_last_sync(&mut self, tables: &[String], now: i64) -> Result<(), LocalError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .ctx(|| "starting to record the last syncs".into())?;
        write_last_syncs(&tx, tables, now)?;
        tx.commit().ctx(|| "committing the last syncs".into())
    }
}

/// Writes `now` as the last complete sync of each of `tables`.
pub(crate) fn write_last_syncs(
    conn: &Connection,
    tables: &[String],
    now: i64,
) -> Result<(), LocalError> {
    for table in tables {
        conn.exec(
            "INSERT INTO _ebb_cursors (tbl, last_sync_at) VALUES (?1, ?2)
             ON CONFLICT (tbl) DO UPDATE SET last_sync_at = excluded.last_sync_at",
            rusqlite::params![table, now],
        )
        .ctx(|| format!("recording the last sync of {table}"))?;
    }
    Ok(())
}
