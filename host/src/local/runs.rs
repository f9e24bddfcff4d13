//! An initial sync's rows written in multi-row statements: pulled rows of
//! a bulk page (`apply::bulk_page`) that the writer would not read first
//! (a table never synced, or a page whose rows keep being new here), in a
//! table with nothing queued and no open conflict, are gathered into runs
//! of up to [`RUN_ROWS`] rows carrying the same columns, and each run is one
//! `INSERT .. VALUES (..), (..) ON CONFLICT (key) DO UPDATE` into the
//! app's table and one into `_ebb_rows`. Per statement SQLite steps,
//! checks and keeps a statement journal (the first change of each page
//! copied): per run instead of per row, which was most of the write at
//! 1M rows, where nearly every row lands on a page that already exists.
//!
//! A run writes exactly what its rows written one by one would (the same
//! upsert, the same `_ebb_rows` row: version and the row as its base), in
//! the page's order: any other op, a row read first (every 64th, to look
//! again) included, writes the run gathered before it first. A row a
//! local constraint refuses fails its whole run; `bulk_page` then rolls
//! the page back and applies it row by row, which holds that row alone.
//! A run is as long as the rows between two such ops: each length gets
//! its statement, compiled once per connection (the lengths between the
//! rows read first repeat from page to page).

use std::collections::HashMap;

use rusqlite::Connection;
use rusqlite::params_from_iter;
use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};

use super::action::{Action, ApplyOp};
use super::rows::set_rows_sql;
use super::statements::upsert_rows_sql;
use super::values::{Writer, row_text};
use super::{Context, LocalError};

/// Most rows in one run; fewer when the rows are wide, so a statement
/// binds at most [`MAX_BOUND`] values.
const RUN_ROWS: usize = 64;
const MAX_BOUND: usize = 16_000;

/// The rows gathered for the next multi-row statements, borrowing the
/// page's values (`'p`).
#[derive(Default)]
pub(crate) struct Run<'p> {
    /// The columns of the run's rows.
    names: Vec<String>,
    /// Most rows in one run for these columns.
    size: usize,
    /// The statements for these columns by number of rows: the upsert
    /// into the app's table and the insert into `_ebb_rows`.
    texts: HashMap<usize, (String, String)>,
    /// The run's values, row after row.
    values: Vec<ToSqlOutput<'p>>,
    rows: Vec<Pending<'p>>,
}

/// A row of the run: what `_ebb_rows` gets.
struct Pending<'p> {
    pk: &'p str,
    version: i64,
    base: Option<String>,
}

impl<'p> Run<'p> {
    /// Whether `op` goes into a run: a pulled row to write, in a table
    /// with nothing queued and no open conflict, that the writer would
    /// not read first (a table never synced, or a page whose rows keep
    /// being new here: see `Writer::write`). A row it would read first
    /// (every so often, to look again) is written alone, after the run.
    pub(crate) fn takes(writer: &Writer, op: &ApplyOp) -> bool {
        let quiet = writer.quiet;
        quiet.queue
            && quiet.conflicts
            && matches!(op.action, Action::Write { row: Some(_), .. })
            && !writer.next_reads_first()
    }

    /// Adds the write of `op` (see [`Run::takes`]), writing the run when
    /// it is full or the row carries other columns.
    pub(crate) fn add(
        &mut self,
        conn: &Connection,
        writer: &Writer,
        op: &'p ApplyOp,
    ) -> Result<(), LocalError> {
        let Action::Write {
            row: Some(row),
            version,
        } = &op.action
        else {
            return Ok(());
        };
        let (names, values) = writer.bind_ref(&op.pk, row)?;
        writer.count_unread();
        if !self
            .names
            .iter()
            .map(String::as_str)
            .eq(names.iter().copied())
        {
            self.flush(conn, writer)?;
            self.size = (MAX_BOUND / names.len().max(1)).clamp(1, RUN_ROWS);
            self.texts.clear();
            self.names = names.iter().map(|n| n.to_string()).collect();
        }
        self.values.extend(values);
        self.rows.push(Pending {
            pk: &op.pk,
            version: *version,
            base: row_text(Some(row)),
        });
        if self.rows.len() == self.size {
            self.flush(conn, writer)?;
        }
        Ok(())
    }

    /// Writes the rows gathered, in two statements.
    pub(crate) fn flush(&mut self, conn: &Connection, writer: &Writer) -> Result<(), LocalError> {
        let count = self.rows.len();
        if count == 0 {
            return Ok(());
        }
        writer.forget_fresh_id();
        let table = writer.table();
        let names = &self.names;
        let (upsert, rows_insert) = self.texts.entry(count).or_insert_with(|| {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            (
                upsert_rows_sql(table, writer.key_column(), &names, count),
                set_rows_sql(count),
            )
        });
        let context = || format!("writing rows of {table}");
        conn.prepare_cached(upsert)
            .and_then(|mut stmt| stmt.execute(params_from_iter(self.values.drain(..))))
            .ctx(context)?;
        let text = |t: &'p str| ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes()));
        let marks = self.rows.drain(..).flat_map(|p| {
            [
                ToSqlOutput::Borrowed(ValueRef::Text(table.as_bytes())),
                text(p.pk),
                ToSqlOutput::Owned(SqlValue::Integer(p.version)),
                p.base.map_or(ToSqlOutput::Borrowed(ValueRef::Null), |b| {
                    ToSqlOutput::Owned(SqlValue::Text(b))
                }),
            ]
        });
        conn.prepare_cached(rows_insert)
            .and_then(|mut stmt| stmt.execute(params_from_iter(marks)))
            .ctx(context)?;
        Ok(())
    }
}

#[cfg(test)]
#[path = "runs_tests.rs"]
mod tests;
