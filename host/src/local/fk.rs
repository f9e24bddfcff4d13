//! The app's foreign keys as `apply` needs them: which tables a delete can
//! cascade into, whether the open transaction holds a deferred violation,
//! and which rows of a page cause one.
//!
//! Pulled pages run with `defer_foreign_keys`, so a violation shows only at
//! COMMIT. Rather than scanning whole tables with `PRAGMA
//! foreign_key_check` on every page, `apply` asks SQLite whether any
//! deferred violation is outstanding (`SQLITE_DBSTATUS_DEFERRED_FKS`, one
//! call) and only then runs targeted, indexed queries for the rows of the
//! page. Read-only; called only by `apply` (and `hold`).

use std::collections::BTreeSet;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params_from_iter};

use super::cached::Cached;
use super::{Context, LocalError, quote_ident};

/// One foreign key of the app's schema (possibly composite).
#[derive(Debug, Clone)]
pub(crate) struct ForeignKey {
    pub child: String,
    pub parent: String,
    pub from: Vec<String>,
    /// The parent columns, resolved (the parent's primary key when the
    /// REFERENCES clause names none).
    pub to: Vec<String>,
    pub on_delete: String,
    pub on_update: String,
}

/// Every foreign key in the database, loaded once per apply transaction.
#[derive(Debug, Default)]
pub(crate) struct Graph {
    keys: Vec<ForeignKey>,
}

impl Graph {
    pub(crate) fn load(conn: &Connection) -> Result<Graph, LocalError> {
        let context = || String::from("reading the foreign keys of the app's tables");
        let mut stmt = conn
            .prepare_cached(
                "SELECT m.name, f.id, f.\"table\", f.\"from\", f.\"to\", f.on_delete, f.on_update
                 FROM sqlite_master m, pragma_foreign_key_list(m.name) f
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
                 ORDER BY m.name, f.id, f.seq",
            )
            .ctx(context)?;
        type Part = (String, i64, String, String, Option<String>, String, String);
        let parts: Vec<Part> = stmt
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })
            .ctx(context)?
            .collect::<Result<_, _>>()
            .ctx(context)?;
        let mut keys: Vec<(i64, ForeignKey, Vec<Option<String>>)> = Vec::new();
        for (child, id, parent, from, to, on_delete, on_update) in parts {
            match keys.last_mut() {
                Some((last, key, tos)) if *last == id && key.child == child => {
                    key.from.push(from);
                    tos.push(to);
                }
                _ => keys.push((
                    id,
                    ForeignKey {
                        child,
                        parent,
                        from: vec![from],
                        to: Vec::new(),
                        on_delete: on_delete.to_ascii_uppercase(),
                        on_update: on_update.to_ascii_uppercase(),
                    },
                    vec![to],
                )),
            }
        }
        let mut resolved = Vec::with_capacity(keys.len());
        for (_, mut key, tos) in keys {
            key.to = if tos.iter().all(Option::is_some) {
                tos.into_iter().flatten().collect()
            } else {
                primary_key(conn, &key.parent)?
            };
            if key.to.len() == key.from.len() {
                resolved.push(key);
            }
        }
        Ok(Graph { keys: resolved })
    }

    /// Foreign keys of `table` (as the child).
    pub(crate) fn outgoing<'a>(&'a self, table: &'a str) -> impl Iterator<Item = &'a ForeignKey> {
        self.keys
            .iter()
            .filter(move |k| k.child.eq_ignore_ascii_case(table))
    }

    /// Foreign keys that reference `table` (as the parent).
    pub(crate) fn incoming<'a>(&'a self, table: &'a str) -> impl Iterator<Item = &'a ForeignKey> {
        self.keys
            .iter()
            .filter(move |k| k.parent.eq_ignore_ascii_case(table))
    }

    /// The tables whose rows a delete from `table` may remove through
    /// ON DELETE CASCADE, transitively (`table` itself when it cascades
    /// into itself).
    pub(crate) fn cascade_reach(&self, table: &str) -> BTreeSet<String> {
        let mut reached = BTreeSet::new();
        let mut todo = vec![table.to_string()];
        while let Some(next) = todo.pop() {
            for key in self.incoming(&next) {
                if key.on_delete == "CASCADE" && reached.insert(key.child.clone()) {
                    todo.push(key.child.clone());
                }
            }
        }
        reached
    }

    /// The tables, lower-cased, whose writes SQLite may carry into
    /// `table` itself through a foreign key action (CASCADE, SET NULL or
    /// SET DEFAULT, on delete or update), transitively, through tables of
    /// any kind.
    pub(crate) fn acting_on(&self, table: &str) -> BTreeSet<String> {
        let acts = |a: &str| matches!(a, "CASCADE" | "SET NULL" | "SET DEFAULT");
        let mut reached = BTreeSet::new();
        let mut todo = vec![table.to_string()];
        while let Some(next) = todo.pop() {
            for key in self.outgoing(&next) {
                if (acts(&key.on_delete) || acts(&key.on_update))
                    && reached.insert(key.parent.to_ascii_lowercase())
                {
                    todo.push(key.parent.clone());
                }
            }
        }
        reached
    }
}

/// The primary key columns of `table`, in key order.
fn primary_key(conn: &Connection, table: &str) -> Result<Vec<String>, LocalError> {
    let mut stmt = conn
        .prepare_cached("SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk")
        .ctx(|| format!("reading the primary key of {table}"))?;
    let names = stmt
        .query_map([table], |r| r.get(0))
        .ctx(|| format!("reading the primary key of {table}"))?;
    names
        .collect::<Result<_, _>>()
        .ctx(|| format!("reading the primary key of {table}"))
}

/// Whether the open transaction holds a deferred foreign key violation
/// (what would make COMMIT fail).
pub(crate) fn deferred_violation(conn: &Connection) -> bool {
    let (mut current, mut high) = (0, 0);
    // SAFETY: the handle belongs to `conn`, which outlives this call and is
    // not used concurrently (Connection is not Sync); both out-pointers are
    // valid locals. The call only reads a counter of the connection.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_db_status(
            conn.handle(),
            rusqlite::ffi::SQLITE_DBSTATUS_DEFERRED_FKS,
            &mut current,
            &mut high,
            0,
        )
    };
    // On an unexpected failure, assume the worst: the caller then checks.
    rc != rusqlite::ffi::SQLITE_OK || current != 0
}

/// Whether row `pk` of `key.child` (key column `pk_col`) lacks its parent.
pub(crate) fn orphan(
    conn: &Connection,
    key: &ForeignKey,
    pk_col: &str,
    pk: &str,
) -> Result<bool, LocalError> {
    let not_null: Vec<String> = key
        .from
        .iter()
        .map(|c| format!("c.{} IS NOT NULL", quote_ident(c)))
        .collect();
    let matches: Vec<String> = key
        .to
        .iter()
        .zip(&key.from)
        .map(|(t, f)| format!("p.{} = c.{}", quote_ident(t), quote_ident(f)))
        .collect();
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM {child} AS c WHERE c.{pk_col} = ?1 AND {not_null}
             AND NOT EXISTS (SELECT 1 FROM {parent} AS p WHERE {matches}))",
        child = quote_ident(&key.child),
        pk_col = quote_ident(pk_col),
        not_null = not_null.join(" AND "),
        parent = quote_ident(&key.parent),
        matches = matches.join(" AND "),
    );
    conn.row(&sql, [pk], |r| r.get(0))
        .ctx(|| format!("checking the parent of a row of {}", key.child))
}

/// The referenced key values (`key.to`) of row `pk` of `key.parent`, read
/// before that row is deleted; `None` when the row does not exist.
pub(crate) fn parent_key(
    conn: &Connection,
    key: &ForeignKey,
    pk_col: &str,
    pk: &str,
) -> Result<Option<Vec<SqlValue>>, LocalError> {
    let list: Vec<String> = key.to.iter().map(|c| quote_ident(c)).collect();
    let sql = format!(
        "SELECT {} FROM {} WHERE {} = ?1",
        list.join(", "),
        quote_ident(&key.parent),
        quote_ident(pk_col)
    );
    let mut stmt = conn
        .prepare_cached(&sql)
        .ctx(|| format!("reading the key of a row of {}", key.parent))?;
    let mut rows = stmt
        .query([pk])
        .ctx(|| format!("reading the key of a row of {}", key.parent))?;
    match rows
        .next()
        .ctx(|| format!("reading the key of a row of {}", key.parent))?
    {
        Some(row) => (0..key.to.len())
            .map(|i| row.get::<_, SqlValue>(i))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
            .ctx(|| format!("reading the key of a row of {}", key.parent)),
        None => Ok(None),
    }
}

/// Whether any row of `key.child` still references the parent key `values`.
pub(crate) fn referenced(
    conn: &Connection,
    key: &ForeignKey,
    values: &[SqlValue],
) -> Result<bool, LocalError> {
    if values.contains(&SqlValue::Null) {
        return Ok(false);
    }
    let matches: Vec<String> = key
        .from
        .iter()
        .enumerate()
        .map(|(i, f)| format!("{} = ?{}", quote_ident(f), i + 1))
        .collect();
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM {} WHERE {})",
        quote_ident(&key.child),
        matches.join(" AND ")
    );
    conn.row(&sql, params_from_iter(values), |r| r.get(0))
        .ctx(|| {
            format!(
                "looking for rows of {} that reference a deleted row",
                key.child
            )
        })
}
