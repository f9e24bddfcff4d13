//! `Local::normalize`: a row as SQLite would hand it back after storing it.
//!
//! Remote rows and local rows spell the same content differently (Postgres
//! `true` vs SQLite 1, `1.50` vs 1.5, `"42"` in an INTEGER column vs 42).
//! `sync` normalizes remote rows before comparing them with local ones and
//! before storing them as bases, so both sides of every comparison come from
//! the same conversion. This must match `write_row` + `read_row` exactly
//! (dates aside, below), so instead of re-implementing SQLite's affinity rules it lets SQLite do
//! them: the values are converted as `write_row` binds them and inserted
//! into a private in-memory table whose columns have the same affinities,
//! then read back as `read_row` reads them. The app's database is never
//! written. Called by `sync` through `Local::normalize`.
//!
//! One conversion SQLite cannot do: dates. A pulled date or time stamp
//! (`2026-12-05T23:07:40+00:00`, as Postgres writes a timestamptz) bound
//! for a text column whose own values are spelled another way
//! (`2026-12-05 23:07:40`, SQLite's CURRENT_TIMESTAMP) is re-spelled the
//! local way when that keeps its meaning (`dates`), so the column never
//! mixes formats. The local shape is read once per column and kept for
//! [`SHAPE_TTL`], so a bulk pull does not query per row.

mod dates;
mod owned;
mod stored;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params_from_iter};
use serde_json::Value;

use super::cached::Cached;
use super::inspect::{Affinity, Column, TableInfo, affinity, describe_conn};
use super::statements::value_rows;
use super::values::{pk_text, to_json, to_sql};
use super::{Context, Local, LocalError, TableSpec, quote_ident};
use crate::model::Row;
use dates::Shape;
pub(crate) use dates::Stamp;
use stored::{kept, mirror_type, quick, stored};

/// How long a column's date shape is trusted before it is read again: long
/// enough for a bulk pull to read it once, short enough to follow an app
/// that changes its format.
const SHAPE_TTL: Duration = Duration::from_secs(30);

/// Recent values sampled to learn a column's date shape.
const SHAPE_SAMPLE: usize = 16;

/// The in-memory database and its mirror tables, one per column-affinity
/// signature (e.g. "INTEGER,TEXT,REAL"), and the date shapes of local
/// columns by (table, column) with when they were read.
#[derive(Default)]
pub(crate) struct Scratch {
    conn: Option<Connection>,
    tables: HashMap<String, String>,
    shapes: HashMap<String, HashMap<String, (Instant, Dates)>>,
    /// Tables described, with the schema version they were read at.
    described: HashMap<String, (i64, Arc<TableInfo>)>,
    /// Columns sampled so far (tests count them).
    sampled: usize,
}

/// The columns of `table` as `conn` (ebb's connection, or a transaction of
/// it) sees them, from `scratch` unless the schema changed since they were
/// read (`PRAGMA schema_version`, one cheap read).
pub(crate) fn described(
    conn: &Connection,
    scratch: &std::cell::RefCell<Scratch>,
    table: &str,
) -> Result<Arc<TableInfo>, LocalError> {
    let version: i64 = conn
        .prepare_cached("PRAGMA schema_version")
        .and_then(|mut stmt| stmt.query_row([], |r| r.get(0)))
        .ctx(|| "reading the schema version".into())?;
    let mut scratch = scratch.borrow_mut();
    if let Some((seen, info)) = scratch.described.get(table)
        && *seen == version
    {
        return Ok(Arc::clone(info));
    }
    let info = Arc::new(describe_conn(conn, table)?);
    scratch
        .described
        .insert(table.to_string(), (version, Arc::clone(&info)));
    Ok(info)
}

/// What a local column's values say about how it spells dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dates {
    /// Not a date column (free text, or nothing to go by): values pass as
    /// they come.
    None,
    /// Its dates share one shape (or its DEFAULT writes one).
    One(Shape),
    /// Its recent values use several shapes: a row keeps its own, and a
    /// row without one takes the most common.
    Mixed(Shape),
}

impl Local {
    /// `row` as [`Local::read_row`] would return it after `row` was written
    /// to `table`: only the keys that name local columns (spelled as the
    /// column is; generated columns and unknown keys dropped; columns the
    /// row lacks stay absent), each value converted by the column's
    /// affinity (true -> 1, 1.50 -> 1.5, "42" -> 42 in INTEGER, REAL and
    /// NUMERIC columns, 1 -> 1.0 in REAL columns, numbers -> text in TEXT
    /// columns, base64 BLOBs re-encoded), and a date or time stamp bound
    /// for a text column spelled as that column spells its dates
    /// (`2026-12-05T23:07:40+00:00` -> `2026-12-05 23:07:40`). Writes
    /// nothing to the app's database. Errors only when the table is
    /// missing or SQLite fails.
    pub fn normalize(&self, table: &TableSpec, row: &Row) -> Result<Row, LocalError> {
        let info = self.described(&table.name)?;
        let mut scratch = self.scratch.borrow_mut();
        let known = self.known(&mut scratch, table, &info, row)?;
        // Most rows need no SQLite to say what it would store: built
        // straight from the pulled values, each copied once.
        let quick: Option<Row> = known
            .iter()
            .map(|(column, value, redated)| {
                let value = match redated {
                    Some(text) => {
                        stored(&SqlValue::Text(text.clone()), affinity(&column.decl_type))
                    }
                    None => quick(value, &column.decl_type),
                }?;
                Some((column.name.clone(), value))
            })
            .collect();
        match quick {
            Some(row) => Ok(row),
            None => mirrored(&mut scratch, table, &known),
        }
    }

    /// Each local column `row` carries, once (the first spelling of its
    /// name), with its pulled value and that value spelled as the column
    /// spells dates, when it is a date to re-spell (`redate`).
    fn known<'r>(
        &self,
        scratch: &mut Scratch,
        table: &TableSpec,
        info: &'r TableInfo,
        row: &'r Row,
    ) -> Result<Vec<Known<'r>>, LocalError> {
        let mut known: Vec<Known<'r>> = Vec::with_capacity(row.len());
        for (key, value) in row {
            let Some(column) = info.column(key) else {
                continue;
            };
            if known.iter().any(|(c, _, _)| c.name == column.name) {
                continue;
            }
            let redated = match value {
                Value::String(text) => self.redate(scratch, table, column, row, text)?,
                _ => None,
            };
            known.push((column, value, redated));
        }
        Ok(known)
    }
}

/// A local column, the pulled value for it, and that value re-spelled as
/// the column spells dates (see `Local::known`).
type Known<'r> = (&'r Column, &'r Value, Option<String>);

/// `normalize` of a row with a value only SQLite can say what it stores
/// as: the row goes through the mirror table.
fn mirrored(
    scratch: &mut Scratch,
    table: &TableSpec,
    known: &[Known<'_>],
) -> Result<Row, LocalError> {
    let names: Vec<&str> = known.iter().map(|(c, _, _)| c.name.as_str()).collect();
    let decls: Vec<&str> = known
        .iter()
        .map(|(c, _, _)| mirror_type(&c.decl_type))
        .collect();
    let values: Vec<SqlValue> = known
        .iter()
        .map(|(column, value, redated)| match redated {
            Some(text) => SqlValue::Text(text.clone()),
            None => to_sql(value, &column.decl_type),
        })
        .collect();
    let mirror = scratch.mirror(&decls)?;
    let conn = scratch.conn()?;
    let columns: Vec<String> = (0..names.len()).map(|i| format!("c{i}")).collect();
    let sql = format!(
        "INSERT INTO {mirror} ({cols}) VALUES {marks} RETURNING {cols}",
        cols = columns.join(", "),
        marks = value_rows(1, names.len()),
    );
    let context = || format!("normalizing a row of {}", table.name);
    let back = {
        let mut stmt = conn.prepare_cached(&sql).ctx(context)?;
        stmt.query_row(params_from_iter(values), |r| {
            let mut out = Row::new();
            for (i, name) in names.iter().enumerate() {
                out.insert(name.to_string(), to_json(r.get_ref(i)?));
            }
            Ok(out)
        })
        .ctx(context)?
    };
    conn.exec(&format!("DELETE FROM {mirror}"), [])
        .ctx(context)?;
    Ok(back)
}

impl Local {
    /// The columns of `table`, read again only when the schema changed
    /// (`PRAGMA schema_version`): once per pull, not once per row.
    fn described(&self, table: &str) -> Result<Arc<TableInfo>, LocalError> {
        described(&self.conn, &self.scratch, table)
    }

    /// `text`, a pulled value of `column`, spelled as the column spells its
    /// dates, when it is a date or time stamp that can be (see `dates`);
    /// `None` to store it as it came.
    fn redate(
        &self,
        scratch: &mut Scratch,
        table: &TableSpec,
        column: &Column,
        row: &Row,
        text: &str,
    ) -> Result<Option<String>, LocalError> {
        if matches!(
            affinity(&column.decl_type),
            Affinity::Integer | Affinity::Real | Affinity::Blob
        ) {
            return Ok(None);
        }
        let Some(stamp) = Stamp::parse(text) else {
            return Ok(None);
        };
        let cached = scratch
            .shapes
            .get(&table.name)
            .and_then(|columns| columns.get(&column.name));
        let dates = match cached {
            Some((read, dates)) if read.elapsed() < SHAPE_TTL => *dates,
            _ => {
                scratch.sampled += 1;
                let dates = column_dates(&self.conn, &table.name, column)?;
                scratch
                    .shapes
                    .entry(table.name.clone())
                    .or_default()
                    .insert(column.name.clone(), (Instant::now(), dates));
                dates
            }
        };
        let shape = match dates {
            Dates::None => return Ok(None),
            Dates::One(shape) => shape,
            Dates::Mixed(common) => self.current_shape(table, column, row)?.unwrap_or(common),
        };
        Ok(stamp.render(shape).filter(|t| t != text))
    }

    /// The date shape of this row's current value of `column`, for a
    /// column that mixes shapes (one query per such row).
    fn current_shape(
        &self,
        table: &TableSpec,
        column: &Column,
        row: &Row,
    ) -> Result<Option<Shape>, LocalError> {
        let Some(pk) = row.get(&table.pk).and_then(pk_text) else {
            return Ok(None);
        };
        let sql = format!(
            "SELECT {} FROM {} WHERE {} = ?1",
            quote_ident(&column.name),
            quote_ident(&table.name),
            quote_ident(&table.pk)
        );
        let context = || format!("reading the date format of {}.{}", table.name, column.name);
        let current: Option<Option<String>> = self
            .conn
            .prepare_cached(&sql)
            .ctx(context)?
            .query_row([pk], |r| r.get::<_, Option<String>>(0).or(Ok(None)))
            .optional()
            .ctx(context)?;
        Ok(current.flatten().as_deref().and_then(Shape::of_local))
    }
}

/// How `column` of `table` spells dates, from its most recent text values
/// (by rowid; any when the table has none), else from its DEFAULT. A
/// column holding any text that is not a date is not a date column.
fn column_dates(conn: &Connection, table: &str, column: &Column) -> Result<Dates, LocalError> {
    let col = quote_ident(&column.name);
    let from = format!(
        "SELECT {col} FROM {} WHERE typeof({col}) = 'text'",
        quote_ident(table)
    );
    let context = || format!("reading the date format of {table}.{}", column.name);
    // WITHOUT ROWID tables have no rowid to order by.
    let mut stmt = match conn.prepare(&format!("{from} ORDER BY rowid DESC LIMIT {SHAPE_SAMPLE}")) {
        Ok(stmt) => stmt,
        Err(_) => conn
            .prepare(&format!("{from} LIMIT {SHAPE_SAMPLE}"))
            .ctx(context)?,
    };
    let samples = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .ctx(context)?
        .collect::<Result<Vec<_>, _>>()
        .ctx(context)?;
    // Shapes in order of first appearance (the most recent first), counted.
    let mut seen: Vec<(Shape, usize)> = Vec::new();
    for text in &samples {
        match Shape::of_local(text) {
            Some(shape) => match seen.iter_mut().find(|(s, _)| *s == shape) {
                Some((_, n)) => *n += 1,
                None => seen.push((shape, 1)),
            },
            // A date, but spelled as Postgres sends it: no shape to copy.
            None if Stamp::parse(text).is_some() => {}
            None => return Ok(Dates::None),
        }
    }
    let common = seen
        .iter()
        .enumerate()
        .max_by_key(|(i, (_, n))| (*n, std::cmp::Reverse(*i)))
        .map(|(_, (shape, _))| *shape);
    Ok(match (common, seen.len()) {
        (Some(shape), 1) => Dates::One(shape),
        (Some(shape), _) => Dates::Mixed(shape),
        (None, _) => match column.default.as_deref().and_then(Shape::of_default) {
            Some(shape) => Dates::One(shape),
            None => Dates::None,
        },
    })
}

impl Scratch {
    /// Forgets the date shapes read so far (tests).
    #[cfg(test)]
    fn forget_shapes(&mut self) {
        self.shapes.clear();
    }

    fn conn(&mut self) -> Result<&Connection, LocalError> {
        if self.conn.is_none() {
            let conn = Connection::open_in_memory()
                .ctx(|| "opening the in-memory database for normalizing rows".into())?;
            self.conn = Some(conn);
        }
        self.conn.as_ref().ok_or_else(|| LocalError::NotFound {
            what: "the in-memory database".into(),
        })
    }

    /// The mirror table for these column types, created on first use.
    fn mirror(&mut self, decls: &[&str]) -> Result<String, LocalError> {
        let signature = decls.join(",");
        if let Some(name) = self.tables.get(&signature) {
            return Ok(name.clone());
        }
        let name = format!("m{}", self.tables.len());
        let columns: Vec<String> = decls
            .iter()
            .enumerate()
            .map(|(i, d)| format!("c{i} {d}"))
            .collect();
        self.conn()?
            .execute_batch(&format!("CREATE TABLE {name} ({})", columns.join(", ")))
            .ctx(|| "creating a table for normalizing rows".into())?;
        self.tables.insert(signature, name.clone());
        Ok(name)
    }
}

#[cfg(test)]
#[path = "normalize_tests.rs"]
mod tests;
