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
//! ahead as before. Installed by `triggers::install`; `sync` announces
//! the counts ([`Local::skipped_news`]) and `ebb status` shows them.

use std::collections::BTreeSet;

use super::cached::Cached;
use super::{Context, Local, LocalError, quote_ident, quote_literal};

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

/// The skipping triggers of `table` (name, SQL as sqlite_master stores
/// it): `exempt` are the tables, lower-cased, whose rows ebb may be
/// writing when a write to `table` is SQLite's own.
pub(super) fn trigger_sql(
    table: &str,
    exempt: &BTreeSet<String>,
    version: i64,
) -> Vec<(String, String)> {
    let mut names: Vec<String> = exempt.iter().map(|t| quote_literal(t)).collect();
    names.push(quote_literal(&table.to_ascii_lowercase()));
    names.sort();
    names.dedup();
    let lit = quote_literal(table);
    ["INSERT", "UPDATE", "DELETE"]
        .into_iter()
        .map(|event| {
            let name = format!("_ebb_skip_{}_{table}", &event[..3].to_ascii_lowercase());
            let sql = format!(
                "CREATE TRIGGER {} BEFORE {event} ON {}
WHEN (SELECT lower(tbl) FROM _ebb_guard WHERE id = 1 AND active = 1) NOT IN ({})
BEGIN
  -- ebb capture trigger v{version}
  INSERT INTO _ebb_skipped (tbl, by_tbl, n) SELECT {lit}, tbl, 1 FROM _ebb_guard WHERE id = 1
    ON CONFLICT (tbl, by_tbl) DO UPDATE SET n = n + 1;
  SELECT RAISE(IGNORE);
END",
                quote_ident(&name),
                quote_ident(table),
                names.join(", "),
            );
            (name, sql)
        })
        .collect()
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
