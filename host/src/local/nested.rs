//! Writes an app trigger makes to the very table whose row ebb is writing
//! (an `updated_at` stamped on the pulled row, a kit's stock kept from its
//! parts' rows in the same table): skipped and counted, as `skip` does
//! for an app trigger's writes to other tables.
//!
//! The till that made the change ran the same trigger, and its result
//! reaches this one by pull; run again here, the write is a duplicate that
//! is never pushed (a stock counted twice, a stamp the server never sees).
//! SQL alone cannot tell ebb's own write of a row of X from a write to X
//! that an app trigger makes inside it, so this is done on ebb's
//! connection only, with two application functions and TEMP triggers that
//! the app's connections never see:
//! - [`own`] marks the one row ebb's next statement writes;
//! - a TEMP trigger after each insert, update and delete of X notes that
//!   that row (by its key) is written (SQLite runs TEMP triggers before
//!   the app's own);
//! - a TEMP trigger before each insert, update and delete of X skips, and
//!   counts in `_ebb_skipped`, any later write to X inside that statement:
//!   one the app's trigger makes.
//!
//! Only on tables named in the body of some app trigger ([`install`]
//! reads their SQL),
//! and never on a table that a foreign key action of its own can write (a
//! cascade to its own rows is SQLite's write, not the app's, and comes
//! after the row too): those are returned, for the start to say so.
//! A statement writing many rows (`runs`) is not marked, so a table
//! guarded here is written row by row ([`guarded`]).

use std::cell::{Cell, RefCell};

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;

use super::fk::Graph;
use super::{Context, LocalError, TableSpec, quote_ident, quote_literal, skip};

/// No row of ebb's being written.
const IDLE: u8 = 0;
/// ebb's statement runs, its row not yet written.
const WRITING: u8 = 1;
/// ebb's row is written: a write to its table now is an app trigger's.
const WRITTEN: u8 = 2;

thread_local! {
    /// Where ebb's current single-row write is, on this thread (a
    /// statement runs its triggers on the thread that steps it).
    static STATE: Cell<u8> = const { Cell::new(IDLE) };
    /// The table of ebb's current write.
    static TABLE: RefCell<String> = const { RefCell::new(String::new()) };
    /// The key of ebb's current write, as text.
    static KEY: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Runs `write`, ebb's statement writing the row of `table` with key `pk`:
/// within it, a write to `table` after that row's is skipped, on tables
/// guarded here. Only that row's own write counts as written: an app's
/// trigger before it that writes another row of the table does not.
pub(crate) fn own<T>(table: &str, pk: &str, write: impl FnOnce() -> T) -> T {
    /// Back to idle however `write` ends.
    struct Idle;
    impl Drop for Idle {
        fn drop(&mut self) {
            STATE.with(|s| s.set(IDLE));
        }
    }
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        t.clear();
        t.push_str(table);
    });
    KEY.with(|k| {
        let mut k = k.borrow_mut();
        k.clear();
        k.push_str(pk);
    });
    STATE.with(|s| s.set(WRITING));
    let _idle = Idle;
    write()
}

/// Whether ebb is writing a row of `table` (ignoring case).
fn writing(table: &str) -> bool {
    TABLE.with(|t| t.borrow().eq_ignore_ascii_case(table))
}

/// Whether `key` (a key column's value) is the key of ebb's current write.
fn is_own_key(key: ValueRef<'_>) -> bool {
    KEY.with(|k| {
        let k = k.borrow();
        match key {
            ValueRef::Text(text) => text == k.as_bytes(),
            ValueRef::Integer(n) => k.parse::<i64>() == Ok(n),
            _ => false,
        }
    })
}

/// Registers `_ebb_wrote(table, key)` and `_ebb_again(table)` on ebb's
/// connection, for the TEMP triggers.
pub(super) fn register(conn: &Connection) -> Result<(), LocalError> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_INNOCUOUS;
    conn.create_scalar_function("_ebb_wrote", 2, flags, |ctx| {
        if STATE.with(Cell::get) == WRITING
            && writing(ctx.get_raw(0).as_str().unwrap_or(""))
            && is_own_key(ctx.get_raw(1))
        {
            STATE.with(|s| s.set(WRITTEN));
        }
        Ok(false)
    })
    .ctx(|| "registering _ebb_wrote".into())?;
    conn.create_scalar_function("_ebb_again", 1, flags, |ctx| {
        Ok(STATE.with(Cell::get) == WRITTEN && writing(ctx.get_raw(0).as_str().unwrap_or("")))
    })
    .ctx(|| "registering _ebb_again".into())
}

/// Puts the TEMP triggers on every table of `tables` that an app trigger
/// names, dropping those of an earlier install. Returns the tables named
/// by an app trigger and left unguarded: a foreign key action of their
/// own writes them.
pub(super) fn install(
    conn: &Connection,
    tables: &[TableSpec],
    graph: &Graph,
) -> Result<Vec<String>, LocalError> {
    let context = || String::from("reading the triggers on ebb's connection");
    let old: Vec<String> = conn
        .prepare(
            "SELECT name FROM temp.sqlite_master
             WHERE type = 'trigger' AND name LIKE '\\_ebb\\_%' ESCAPE '\\'",
        )
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .ctx(context)?;
    for name in old {
        conn.execute_batch(&format!("DROP TRIGGER temp.{}", quote_ident(&name)))
            .ctx(|| format!("dropping trigger {name}"))?;
    }
    let apps: Vec<String> = conn
        .prepare(
            "SELECT lower(sql) FROM main.sqlite_master WHERE type = 'trigger'
             AND name NOT LIKE '\\_ebb\\_%' ESCAPE '\\' AND sql IS NOT NULL",
        )
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .ctx(context)?;
    let mut unguarded = Vec::new();
    for spec in tables {
        if !apps.iter().any(|sql| names(sql, &spec.name)) {
            continue;
        }
        if graph
            .acting_on(&spec.name)
            .contains(&spec.name.to_ascii_lowercase())
        {
            unguarded.push(spec.name.clone());
            continue;
        }
        for sql in trigger_sql(&spec.name, &spec.pk) {
            conn.execute_batch(&sql)
                .ctx(|| format!("guarding {} against its app triggers", spec.name))?;
        }
    }
    Ok(unguarded)
}

/// Whether the body of trigger text `sql` (lower case: what follows its
/// `BEGIN`) names `table` as a word: only a statement there can write it
/// (a full-text index's triggers on `products` write `products_fts`, and
/// leave `products` unguarded).
fn names(sql: &str, table: &str) -> bool {
    let body = words(sql, "begin").next().map_or(sql, |at| &sql[at..]);
    words(body, &table.to_ascii_lowercase()).next().is_some()
}

/// Where `word` (lower case) stands in `text` as a whole word.
fn words<'t>(text: &'t str, word: &'t str) -> impl Iterator<Item = usize> + 't {
    let part = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$');
    text.match_indices(word)
        .map(|(at, _)| at)
        .filter(move |&at| {
            !part(text[..at].chars().next_back()) && !part(text[at + word.len()..].chars().next())
        })
}

/// The six TEMP triggers of `table`, keyed by column `pk`.
fn trigger_sql(table: &str, pk: &str) -> Vec<String> {
    let lit = quote_literal(table);
    let target = format!("main.{}", quote_ident(table));
    let mut sql = Vec::new();
    for (op, tag, row) in [
        ("INSERT", "ins", "NEW"),
        ("UPDATE", "upd", "NEW"),
        ("DELETE", "del", "OLD"),
    ] {
        let key = format!("{row}.{}", quote_ident(pk));
        let again = quote_ident(&format!("_ebb_again_{tag}_{table}"));
        let wrote = quote_ident(&format!("_ebb_wrote_{tag}_{table}"));
        sql.push(format!(
            "CREATE TEMP TRIGGER {again} BEFORE {op} ON {target} WHEN _ebb_again({lit})\nBEGIN\n{}END",
            skip::skip_statements(table)
        ));
        sql.push(format!(
            "CREATE TEMP TRIGGER {wrote} AFTER {op} ON {target} WHEN _ebb_wrote({lit}, {key})\nBEGIN SELECT 1; END"
        ));
    }
    sql
}

/// Whether `table` carries the TEMP triggers on this connection: its rows
/// are then written one to a statement.
pub(crate) fn guarded(conn: &Connection, table: &str) -> Result<bool, LocalError> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM temp.sqlite_master WHERE type = 'trigger'
         AND tbl_name = ?1 COLLATE NOCASE AND name LIKE '\\_ebb\\_again\\_%' ESCAPE '\\')",
    )
    .and_then(|mut s| s.query_row([table], |r| r.get(0)))
    .ctx(|| format!("looking for the guard of {table}"))
}

#[cfg(test)]
#[path = "nested_tests.rs"]
mod tests;
