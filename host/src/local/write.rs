//! Writing pulled rows into the app's tables, fast: [`Writer`] describes
//! a table once per page and keeps its upsert compiled, where
//! `values::write_row` (the same write, for single rows) describes the
//! table and builds the statement each time; [`Quiet`] is what a page
//! found of the table's queue, conflicts and synced rows when it started,
//! so that the per-row statements known to find nothing are skipped.
//!
//! A row that may exist already (its table has synced rows) is read
//! first and only the columns whose stored value would change are
//! updated: an index over the others is left alone (a pulled price change
//! rewrote the app's `sku` index entry too), and a row already as pulled
//! is not written at all. A row not found is inserted as before. A
//! column of a foreign key is always set, so the deferred key check still
//! finds a child whose parent is gone here. An existing row is updated,
//! not run through an INSERT first: a pulled row that leaves out a local
//! NOT NULL column keeps the local value instead of being refused.
//!
//! Same rules as `values` (values bound, identifiers quoted, `INSERT ..
//! ON CONFLICT (pk) DO UPDATE`, never `INSERT OR REPLACE`); does not set
//! the capture guard. Called by `apply` (and `keys::adopt`) inside the
//! apply transaction.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use rusqlite::Connection;
use rusqlite::params_from_iter;
use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};

use super::inspect::{TableInfo, describe_conn};
use super::nested::{self, own};
use super::quiet::Quiet;
use super::quiet::ignored;
use super::statements::{insert_sql, select_sql, upsert_sql};
use super::stored::{read_stored, same};
use super::values::{key_column, owned, pk_text, to_sql_ref};
use super::{Context, LocalError, quote_ident};
use crate::model::Row;

/// Writes rows of one table as [`write_row`] does, with the table
/// described once (per page of pulled rows, not per row) and each
/// statement compiled once per connection (`prepare_cached`).
pub(crate) struct Writer {
    info: TableInfo,
    pk_col: String,
    /// What the page being applied found of the table when it started
    /// (`apply_page` sets it; all false, "look", unless it did).
    pub(crate) quiet: Quiet,
    /// The last row's columns and the SQL texts for them: the rows of a
    /// page carry the same columns, so the texts are built once per page.
    last: RefCell<Texts>,
    /// Rows read first and not found since the last one found, and rows
    /// written: see [`Writer::reads_first`].
    missed: Cell<u32>,
    written: Cell<u32>,
    /// The table's columns that are part of a foreign key.
    references: Vec<String>,
    /// The UPDATE of each set of changed columns (indexes into the last
    /// row's columns) met on this page.
    updates: RefCell<HashMap<Vec<usize>, String>>,
    /// The next fresh id for a row adopted (`keys::adopt`), while only
    /// adoptions have written since it was read: any other write forgets
    /// it, and the next adoption reads the table's highest id again.
    fresh: Cell<Option<i64>>,
    /// Whether the table is guarded against its app triggers' writes
    /// (`nested`): its rows are then written one to a statement.
    nested: bool,
}

/// Rows in a row not found here after which a page stops reading rows
/// before writing them, and how often it looks again.
pub(crate) const MISSES: u32 = 8;
const PROBE: u32 = 64;

/// The statements of one list of columns.
#[derive(Default)]
struct Texts {
    names: Vec<String>,
    upsert: String,
    /// A plain INSERT (a row adopted under a fresh id).
    insert: String,
    /// Reads those columns of the row with a key.
    select: String,
}

impl Writer {
    pub(crate) fn new(conn: &Connection, table: &str) -> Result<Writer, LocalError> {
        let info = describe_conn(conn, table)?;
        let pk_col = key_column(&info)?;
        let references = conn
            .prepare_cached("SELECT DISTINCT \"from\" FROM pragma_foreign_key_list(?1)")
            .and_then(|mut stmt| {
                stmt.query_map([table], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .ctx(|| format!("reading the foreign keys of {table}"))?;
        Ok(Writer {
            info,
            pk_col,
            references,
            quiet: Quiet::default(),
            last: Default::default(),
            updates: Default::default(),
            missed: Cell::new(0),
            written: Cell::new(0),
            fresh: Cell::new(None),
            nested: nested::guarded(conn, table)?,
        })
    }

    /// Runs `sql` (compiled once per connection), ebb's statement
    /// `doing` (writing, deleting) the row of this table with key `pk`,
    /// marked as ebb's own (`nested::own`); how many rows it changed.
    fn execute(
        &self,
        conn: &Connection,
        sql: &str,
        pk: &str,
        params: impl rusqlite::Params,
        doing: &str,
    ) -> Result<usize, LocalError> {
        let table = self.info.name.as_str();
        conn.prepare_cached(sql)
            .and_then(|mut stmt| own(table, pk, || stmt.execute(params)))
            .ctx(|| format!("{doing} a row of {table}"))
    }

    /// Whether the table's rows must be written one to a statement
    /// (`nested::guarded`).
    pub(crate) fn one_by_one(&self) -> bool {
        self.nested
    }

    /// The table's name.
    pub(crate) fn table(&self) -> &str {
        &self.info.name
    }

    /// See [`write_row`].
    pub(crate) fn write(
        &self,
        conn: &Connection,
        pk: &str,
        row: Option<&Row>,
    ) -> Result<(), LocalError> {
        let (table, pk_col) = (self.info.name.as_str(), self.pk_col.as_str());
        self.forget_fresh_id();
        let Some(row) = row else {
            let sql = format!(
                "DELETE FROM {} WHERE {} = ?1",
                quote_ident(table),
                quote_ident(pk_col)
            );
            let deleted = self.execute(conn, &sql, pk, [pk], "deleting")?;
            if deleted == 0
                && read_stored(conn, &select_sql(table, pk_col, &[pk_col]), table, pk, 1)?.is_some()
            {
                return Err(ignored(table, pk));
            }
            return Ok(());
        };
        let (names, values) = self.bind(pk, row)?;
        let last = self.texts(&names);
        if self.reads_first() {
            let stored = read_stored(conn, &last.select, table, pk, names.len())?;
            self.missed.set(match stored {
                Some(_) => 0,
                None => self.missed.get().saturating_add(1),
            });
            if let Some(stored) = stored {
                return self.update(conn, pk, &names, values, &stored);
            }
        }
        let written = self.execute(conn, &last.upsert, pk, params_from_iter(values), "writing")?;
        // Nothing written though some column is set (an upsert of the key
        // alone does nothing to a row that exists).
        if written == 0 && names.iter().any(|n| *n != pk_col) {
            return Err(ignored(table, pk));
        }
        Ok(())
    }

    /// The statements of the columns `names`, built when they are not
    /// the last row's.
    fn texts(&self, names: &[&str]) -> std::cell::RefMut<'_, Texts> {
        let mut last = self.last.borrow_mut();
        if last.upsert.is_empty()
            || !last
                .names
                .iter()
                .map(String::as_str)
                .eq(names.iter().copied())
        {
            let (table, pk_col) = (self.info.name.as_str(), self.pk_col.as_str());
            *last = Texts {
                names: names.iter().map(|n| n.to_string()).collect(),
                upsert: upsert_sql(table, pk_col, names),
                insert: insert_sql(table, names),
                select: select_sql(table, pk_col, names),
            };
            self.updates.borrow_mut().clear();
        }
        last
    }

    /// Inserts `row` as a new row with key `id`, a fresh id
    /// (`keys::adopt`): a plain INSERT, so an id taken after all is
    /// refused, never written over. The next fresh id is `id + 1` until
    /// another write.
    pub(crate) fn insert_new(
        &self,
        conn: &Connection,
        id: i64,
        row: &Row,
    ) -> Result<(), LocalError> {
        let (names, values) = self.bind_adopted(id, row)?;
        let texts = self.texts(&names);
        let key = id.to_string();
        let written = self.execute(
            conn,
            &texts.insert,
            &key,
            params_from_iter(values),
            "writing",
        )?;
        if written == 0 {
            return Err(ignored(&self.info.name, &key));
        }
        self.took_fresh_id(id);
        Ok(())
    }

    /// The next fresh id, while only adoptions wrote since it was read.
    pub(crate) fn fresh_id(&self) -> Option<i64> {
        self.fresh.get()
    }

    /// Counts `id` taken by an adoption not yet written (a run's).
    pub(crate) fn took_fresh_id(&self, id: i64) {
        self.fresh.set(id.checked_add(1));
    }

    /// Forgets the next fresh id (a write other than an adoption).
    pub(crate) fn forget_fresh_id(&self) {
        self.fresh.set(None);
    }

    /// The table's columns `row` carries (the key's added when it does
    /// not) and their values as they are bound. Fails when the row
    /// carries a key other than `pk`.
    pub(crate) fn bind(
        &self,
        pk: &str,
        row: &Row,
    ) -> Result<(Vec<&str>, Vec<SqlValue>), LocalError> {
        let (names, values) = self.bind_ref(pk, row)?;
        Ok((names, values.into_iter().map(owned).collect()))
    }

    /// `bind`, the values borrowing `row`'s texts and `pk`.
    pub(crate) fn bind_ref<'s, 'v>(
        &'s self,
        pk: &'v str,
        row: &'v Row,
    ) -> Result<(Vec<&'s str>, Vec<ToSqlOutput<'v>>), LocalError> {
        self.bind_with(pk, row, None)
    }

    /// `bind_ref` of a row adopted under the fresh local id `id`: the
    /// row's own key (global) left out, `id` bound last as its key.
    pub(crate) fn bind_adopted<'s, 'v>(
        &'s self,
        id: i64,
        row: &'v Row,
    ) -> Result<(Vec<&'s str>, Vec<ToSqlOutput<'v>>), LocalError> {
        self.bind_with("", row, Some(id))
    }

    fn bind_with<'s, 'v>(
        &'s self,
        pk: &'v str,
        row: &'v Row,
        adopted: Option<i64>,
    ) -> Result<(Vec<&'s str>, Vec<ToSqlOutput<'v>>), LocalError> {
        let pk_col = self.pk_col.as_str();
        let mut names: Vec<&str> = Vec::with_capacity(row.len() + 1);
        let mut values = Vec::with_capacity(row.len() + 1);
        let mut has_pk = false;
        for (key, value) in row {
            let Some(column) = self.info.column(key) else {
                continue;
            };
            if names.contains(&column.name.as_str()) {
                continue;
            }
            if column.name == pk_col {
                if adopted.is_some() {
                    continue;
                }
                if pk_text(value).as_deref() != Some(pk) {
                    return Err(LocalError::BadPrimaryKey {
                        table: self.info.name.clone(),
                        message: format!("a row for key {pk} carries another key"),
                    });
                }
                has_pk = true;
            }
            names.push(&column.name);
            values.push(to_sql_ref(value, &column.decl_type));
        }
        if let Some(id) = adopted {
            names.push(pk_col);
            values.push(ToSqlOutput::Owned(SqlValue::Integer(id)));
        } else if !has_pk {
            names.push(pk_col);
            values.push(ToSqlOutput::Borrowed(ValueRef::Text(pk.as_bytes())));
        }
        Ok((names, values))
    }

    /// The key column's name.
    pub(crate) fn key_column(&self) -> &str {
        &self.pk_col
    }

    /// How many columns the table has.
    pub(crate) fn column_count(&self) -> usize {
        self.info.columns.len()
    }

    /// Whether the next row is read before it is written: not in a table
    /// never synced, and not while the last [`MISSES`] rows read were all
    /// new here (pages 2.. of an initial sync: the read would only miss),
    /// except every [`PROBE`]th row, which looks again. Either way the
    /// row is written right; the read only spares unchanged columns.
    fn reads_first(&self) -> bool {
        let reads = self.next_reads_first();
        self.written.set(self.written.get().wrapping_add(1));
        reads
    }

    /// What [`Writer::reads_first`] will say of the next row, without
    /// counting it.
    pub(crate) fn next_reads_first(&self) -> bool {
        !self.quiet.fresh
            && (self.missed.get() < MISSES || self.written.get().is_multiple_of(PROBE))
    }

    /// Counts a row written without [`Writer::write`] (in a run, `runs`)
    /// as one not read first.
    pub(crate) fn count_unread(&self) {
        self.written.set(self.written.get().wrapping_add(1));
    }

    /// Updates the stored row with key `pk` where `values` (of `names`)
    /// differ from what it holds (`stored`, the same columns); nothing
    /// when none does.
    fn update(
        &self,
        conn: &Connection,
        pk: &str,
        names: &[&str],
        values: Vec<SqlValue>,
        stored: &[Option<SqlValue>],
    ) -> Result<(), LocalError> {
        let table = self.info.name.as_str();
        // A column of a foreign key is always set: SQLite then checks the
        // key as the upsert did, so a row whose parent is gone here is
        // still found by the deferred check and held (`hold`).
        let changed: Vec<usize> = (0..names.len())
            .filter(|&i| {
                names[i] != self.pk_col
                    && (self.references.iter().any(|c| c == names[i])
                        || !stored[i].as_ref().is_some_and(|v| same(&values[i], v)))
            })
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        let mut updates = self.updates.borrow_mut();
        let sql = updates.entry(changed.clone()).or_insert_with(|| {
            let set: Vec<String> = changed
                .iter()
                .enumerate()
                .map(|(n, &i)| format!("{} = ?{}", quote_ident(names[i]), n + 2))
                .collect();
            format!(
                "UPDATE OR ABORT {} SET {} WHERE {} = ?1",
                quote_ident(table),
                set.join(", "),
                quote_ident(&self.pk_col)
            )
        });
        let mut values: Vec<Option<SqlValue>> = values.into_iter().map(Some).collect();
        let mut bound = Vec::with_capacity(changed.len() + 1);
        bound.push(SqlValue::Text(pk.to_string()));
        bound.extend(changed.iter().filter_map(|&i| values[i].take()));
        let written = self.execute(conn, sql, pk, params_from_iter(bound), "writing")?;
        if written == 0 {
            return Err(ignored(table, pk));
        }
        Ok(())
    }
}
