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
//! A run writes what its rows written one by one would (the same upsert,
//! the same `_ebb_rows` row: version and base; a row written whole keeps
//! its base in the app's table, `base::HERE`), in the page's order: any
//! other op, a row read first (every 64th, to look again) included,
//! writes the run gathered before it first. A row a
//! local constraint refuses fails its whole run; `bulk_page` then rolls
//! the page back and applies it row by row, which holds that row alone.
//! A run is as long as the rows between two such ops: each length gets
//! its statement, compiled once per connection (the lengths between the
//! rows read first repeat from page to page).
//!
//! Rows of another device adopted under fresh local ids (`keys = "map"`)
//! go into runs of their own: one plain multi-row `INSERT` into the app's
//! table (an id taken after all refuses the run, never written over), one
//! into `_ebb_keys` and one into `_ebb_rows`, the ids counted on from the
//! table's highest (`keys::next_id`; read again after a run of upserts,
//! which may have taken ids, never in the middle of a run of adoptions).

use std::borrow::Cow;
use std::collections::HashMap;

use rusqlite::Connection;
use rusqlite::params_from_iter;
use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};

use super::action::{Action, ApplyOp};
use super::keys::{map_rows_sql, next_id};
use super::quiet::ignored;
use super::rows::set_rows_sql;
use super::statements::{insert_rows_sql, upsert_rows_sql};
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
    /// Whether the run's rows are adopted (else pulled rows to write).
    adopts: bool,
    /// Whether the run's rows carry every column of the table: only then
    /// is the row as stored its base, key for key (see [`Run::here`]).
    whole: bool,
    /// The statements for these columns by number of rows: the upsert
    /// (an adoption's insert) into the app's table and the insert into
    /// `_ebb_rows`.
    texts: HashMap<usize, (String, String)>,
    /// The run's values, row after row.
    values: Vec<ToSqlOutput<'p>>,
    rows: Vec<Pending<'p>>,
}

/// A row of the run: what `_ebb_rows` gets (an adopted row's base; the
/// others' is the app's row), and an adopted row's (local id, global key)
/// for `_ebb_keys`.
struct Pending<'p> {
    pk: Cow<'p, str>,
    version: i64,
    base: Option<String>,
    adopted: Option<(i64, i64)>,
}

impl<'p> Run<'p> {
    /// Whether `op` goes into a run: a pulled row to write, in a table
    /// with nothing queued and no open conflict, that the writer would
    /// not read first (a table never synced, or a page whose rows keep
    /// being new here: see `Writer::write`). A row it would read first
    /// (every so often, to look again) is written alone, after the run.
    /// An adoption always goes into a run: its row is new here.
    pub(crate) fn takes(writer: &Writer, op: &ApplyOp) -> bool {
        let quiet = writer.quiet;
        if writer.one_by_one() {
            return false;
        }
        matches!(op.action, Action::Adopt { .. })
            || (quiet.queue
                && quiet.conflicts
                && matches!(op.action, Action::Write { row: Some(_), .. })
                && !writer.next_reads_first())
    }

    /// Adds the write of `op` (see [`Run::takes`]), writing the run when
    /// it is full or the row carries other columns.
    pub(crate) fn add(
        &mut self,
        conn: &Connection,
        writer: &Writer,
        op: &'p ApplyOp,
    ) -> Result<(), LocalError> {
        let (row, version, global) = match &op.action {
            Action::Write {
                row: Some(row),
                version,
            } => (row, version, None),
            Action::Adopt {
                global,
                row,
                version,
                ..
            } => (row, version, Some(*global)),
            _ => return Ok(()),
        };
        if self.adopts != global.is_some() {
            self.flush(conn, writer)?;
            self.adopts = global.is_some();
            self.names.clear();
        }
        let (pk, adopted, (names, values)) = match global {
            Some(global) => {
                let id = next_id(conn, writer)?;
                let bound = writer.bind_adopted(id, row)?;
                (Cow::Owned(id.to_string()), Some((id, global)), bound)
            }
            None => {
                writer.count_unread();
                (
                    Cow::Borrowed(op.pk.as_str()),
                    None,
                    writer.bind_ref(&op.pk, row)?,
                )
            }
        };
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
            self.whole = names.len() == writer.column_count();
        }
        self.values.extend(values);
        let base = (!self.here()).then(|| row_text(Some(row))).flatten();
        self.rows.push(Pending {
            pk,
            version: *version,
            base,
            adopted,
        });
        if self.rows.len() == self.size {
            self.flush(conn, writer)?;
        }
        Ok(())
    }

    /// Whether the run's rows keep their base in the app's table
    /// (`base::HERE`): rows written as pulled with every column. An
    /// adopted row's stored base differs from its row by its key, and a
    /// row without some column would gain it.
    fn here(&self) -> bool {
        self.whole && !self.adopts
    }

    /// Writes the rows gathered, in two statements.
    pub(crate) fn flush(&mut self, conn: &Connection, writer: &Writer) -> Result<(), LocalError> {
        let count = self.rows.len();
        if count == 0 {
            return Ok(());
        }
        // Upserts may have taken ids; adoptions took the ones counted.
        if !self.adopts {
            writer.forget_fresh_id();
        }
        let table = writer.table();
        let here = self.here();
        let (names, adopts) = (&self.names, self.adopts);
        let (write, rows_insert) = self.texts.entry(count).or_insert_with(|| {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let write = match adopts {
                true => insert_rows_sql(table, &names, count),
                false => upsert_rows_sql(table, writer.key_column(), &names, count),
            };
            (write, set_rows_sql(count, here))
        });
        let context = || format!("writing rows of {table}");
        let written = conn
            .prepare_cached(write)
            .and_then(|mut stmt| stmt.execute(params_from_iter(self.values.drain(..))))
            .ctx(context)?;
        // Fewer rows than the run's: an app trigger skipped some (the page
        // then goes row by row, which holds each such row).
        if written < count && (adopts || names.len() > 1) {
            return Err(ignored(table, &format!("(one of a run of {count})")));
        }
        let name = || ToSqlOutput::Borrowed(ValueRef::Text(table.as_bytes()));
        let int = |i: i64| ToSqlOutput::Owned(SqlValue::Integer(i));
        if adopts {
            let maps = self.rows.iter().filter_map(|p| p.adopted);
            let maps = maps.flat_map(|(local, global)| [name(), int(local), int(global)]);
            conn.prepare_cached(&map_rows_sql(count))
                .and_then(|mut stmt| stmt.execute(params_from_iter(maps)))
                .ctx(context)?;
        }
        let marks = self.rows.drain(..).flat_map(|p| {
            let pk = match p.pk {
                Cow::Borrowed(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
                Cow::Owned(t) => ToSqlOutput::Owned(SqlValue::Text(t)),
            };
            let base = (!here).then(|| {
                p.base.map_or(ToSqlOutput::Borrowed(ValueRef::Null), |b| {
                    ToSqlOutput::Owned(SqlValue::Text(b))
                })
            });
            [name(), pk, int(p.version)].into_iter().chain(base)
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
