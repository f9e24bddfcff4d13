//! `query_row` and `execute` on ebb's connection with the statement kept
//! compiled (`prepare_cached`): rusqlite's own compile the SQL on every
//! call, which was a fifth of the client's CPU in a one-edit round (the
//! round's status, cursors, lease and bookkeeping statements).

use std::collections::HashMap;
use std::hash::Hash;

use rusqlite::types::FromSql;
use rusqlite::{Connection, Params, Row};

pub(crate) trait Cached {
    /// `Connection::query_row`, with the statement kept compiled.
    fn row<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>;

    /// `Connection::execute`, with the statement kept compiled.
    fn exec<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;

    /// The rows of a two-column query as a map of the first to the second,
    /// with the statement kept compiled.
    fn pairs<K, V, P>(&self, sql: &str, params: P) -> rusqlite::Result<HashMap<K, V>>
    where
        K: FromSql + Eq + Hash,
        V: FromSql,
        P: Params;
}

impl Cached for Connection {
    fn row<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }

    fn exec<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn pairs<K, V, P>(&self, sql: &str, params: P) -> rusqlite::Result<HashMap<K, V>>
    where
        K: FromSql + Eq + Hash,
        V: FromSql,
        P: Params,
    {
        self.prepare_cached(sql)?
            .query_map(params, |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::StatementStatus;

    #[test]
    fn the_statement_is_compiled_once() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
            .unwrap();
        for k in 0..3 {
            conn.exec("INSERT INTO t (k, v) VALUES (?1, 'x')", [k])
                .unwrap();
        }
        let n: i64 = conn
            .row("SELECT count(*) FROM t WHERE k >= ?1", [1], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
        // Taken from the cache: the statement that already ran (a freshly
        // compiled one has taken no step).
        let stmt = conn
            .prepare_cached("SELECT count(*) FROM t WHERE k >= ?1")
            .unwrap();
        assert!(stmt.get_status(StatementStatus::VmStep) > 0);
    }
}
