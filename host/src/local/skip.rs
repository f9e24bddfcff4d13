//! Writes an app trigger makes to a synced table while ebb writes pulled
//! rows of another: skipped, and counted.
//!
//! An app's own trigger that keeps one synced table from another (a sale
//! item taking its quantity off `products.stock`) already ran on the till
//! that made the sale, and that till's write reaches this one by pull.
//! Run again on the pulled sale item, it would take the stock a second
//! time, here only and never pushed (capture is off while ebb applies):
//! the other till's sale counted twice, silently. So while ebb writes
//! rows of table Y (`_ebb_guard.tbl`, set by `schema::set_guard`), a
//! trigger before each insert, update and delete of every other synced
//! table X skips the write (`RAISE(IGNORE)`: the app's trigger goes on
//! with its next statement) and counts it in `_ebb_skipped`. Exempt are X
//! itself (ebb's own writes) and every table from which a foreign key
//! action can reach X (SQLite's own writes, `fk::Graph::acting_on`).
//! Writes to tables ebb does not sync (a search index, a local log) go
//! ahead as before; writes to the very table ebb is writing are `nested`'s. This file gives the conditions and statements;
//! `triggers` puts them into the capture triggers (the one before an
//! insert is shared with `base`, so ebb's own inserts pay for one trigger
//! before them, not two). `sync` announces the counts
//! ([`Local::skipped_news`]) and `ebb status` shows them.

use std::collections::BTreeSet;

use super::cached::Cached;
use super::{Context, Local, LocalError, quote_literal};

/// Writes to one table skipped while ebb wrote rows of another.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    /// The table the app's trigger wrote to.
    pub table: String,
    /// The table whose rows ebb was writing.
    pub by: String,
    /// How many writes.
    pub rows: u64,
}

/// Whether `_ebb_guard.tbl` is `table` or one of `exempt`, ignoring case:
/// equalities joined by OR, `table` first, since a constant `IN (...)` list
/// of three or more builds a table on every row a trigger fires for.
fn own_or_exempt(table: &str, exempt: &BTreeSet<String>) -> String {
    let mut names = vec![table.to_string()];
    names.extend(
        exempt
            .iter()
            .filter(|t| !t.eq_ignore_ascii_case(table))
            .cloned(),
    );
    let tests: Vec<String> = names
        .iter()
        .map(|t| format!("tbl = {} COLLATE NOCASE", quote_literal(t)))
        .collect();
    format!("({})", tests.join(" OR "))
}

/// True while ebb writes rows of a table whose writes to `table` are not
/// its own or SQLite's (`exempt`): the WHEN of the update and delete
/// triggers, false for the app's own writes.
pub(super) fn when_skipped(table: &str, exempt: &BTreeSet<String>) -> String {
    format!(
        "(SELECT active = 1 AND tbl IS NOT NULL AND NOT {} FROM _ebb_guard WHERE id = 1) IS 1",
        own_or_exempt(table, exempt)
    )
}

/// False only while ebb writes rows of `table` or of an `exempt` table:
/// the WHEN of the trigger before an insert, which also keeps a lazy base
/// for the app's own writes: ebb's own inserts (an initial sync's rows)
/// find it false and run none of the trigger's statements.
pub(super) fn when_not_own(table: &str, exempt: &BTreeSet<String>) -> String {
    format!(
        "(SELECT active = 1 AND {} FROM _ebb_guard WHERE id = 1) IS NOT 1",
        own_or_exempt(table, exempt)
    )
}

/// The statements that count a write to `table` and skip it, when ebb is
/// writing rows of another table (the trigger's WHEN has ruled out those
/// of `table` and the exempt ones).
pub(super) fn skip_statements(table: &str) -> String {
    let writing = "FROM _ebb_guard WHERE id = 1 AND active = 1 AND tbl IS NOT NULL";
    format!(
        "  INSERT INTO _ebb_skipped (tbl, by_tbl, n) SELECT {}, tbl, 1 {writing}
    ON CONFLICT (tbl, by_tbl) DO UPDATE SET n = n + 1;
  SELECT RAISE(IGNORE) WHERE EXISTS (SELECT 1 {writing});
",
        quote_literal(table)
    )
}

impl Local {
    /// Writes skipped since the last call, per table and the table ebb
    /// was writing; marks them announced.
    pub fn skipped_news(&self) -> Result<Vec<Skipped>, LocalError> {
        // Only ebb's own apply transactions, on this connection, count.
        let news = self.read_skipped("n - announced", "WHERE n > announced")?;
        if !news.is_empty() {
            self.conn
                .exec("UPDATE _ebb_skipped SET announced = n", [])
                .ctx(|| "marking skipped writes announced".into())?;
        }
        Ok(news)
    }

    /// Every write skipped since ebb was installed, per table and the
    /// table ebb was writing.
    pub fn skipped(&self) -> Result<Vec<Skipped>, LocalError> {
        self.read_skipped("n", "")
    }

    /// `_ebb_skipped`'s rows `filter` keeps, counting `rows`.
    fn read_skipped(&self, rows: &str, filter: &str) -> Result<Vec<Skipped>, LocalError> {
        let context = || String::from("reading the writes skipped while applying");
        let sql =
            format!("SELECT tbl, by_tbl, {rows} FROM _ebb_skipped {filter} ORDER BY tbl, by_tbl");
        let mut stmt = self.conn.prepare_cached(&sql).ctx(context)?;
        stmt.query_map([], |r| {
            Ok(Skipped {
                table: r.get(0)?,
                by: r.get(1)?,
                rows: r.get::<_, i64>(2)?.max(0) as u64,
            })
        })
        .ctx(context)?
        .collect::<Result<Vec<_>, _>>()
        .ctx(context)
    }
}

#[cfg(test)]
#[path = "skip_tests.rs"]
mod tests;
