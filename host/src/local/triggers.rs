//! Capture triggers: how the app's own writes reach `_ebb_queue`.
//!
//! Owns the trigger SQL and its installation. Triggers are plain SQL (the
//! app's connections run them, so no application-defined functions): each
//! fire bumps `seq` in `_ebb_meta` and upserts one queue row keyed
//! (table, pk), so repeated edits coalesce. A row `inflight` or in
//! `conflict` keeps its state (only the counter moves); any other state
//! goes back to `pending` with a fresh set of attempts. The guard row in
//! `_ebb_guard` switches capture off while ebb applies pulled rows, and
//! `skip`'s triggers, installed beside these, keep an app trigger from
//! writing another synced table meanwhile.
//!
//! Installation is idempotent and versioned: the version is written into
//! the trigger text, so a trigger whose stored SQL differs from what this
//! build generates (older version, another pk column) is replaced, an
//! identical one is left alone, and ebb's triggers on tables no longer
//! configured are dropped. Called by `Local::install`.
//!
//! Rows whose primary key is NULL are not captured (they cannot be named on
//! the server). When the app's `INSERT OR REPLACE` (or a column's own `ON
//! CONFLICT REPLACE`) removes a row with a *different* primary key (a clash
//! on another UNIQUE column: a product written by its barcode), SQLite fires
//! no delete trigger for it unless the app's connection enables
//! `recursive_triggers`; the trigger before each insert captures that
//! delete itself (`replaced_rows`). Not caught: a clash on a partial or
//! expression index, and `UPDATE OR REPLACE`.

use std::collections::BTreeSet;

use rusqlite::types::Value;
use rusqlite::{Connection, TransactionBehavior};

use super::backfill::{self, NOW_MS};
use super::base;
use super::fk::Graph;
use super::nested;
use super::park::park;
use super::schema::meta_set;
use super::skip;
use super::{Context, LocalError, TableSpec, inspect, quote_ident, quote_literal};

/// Bump when the trigger SQL changes: installed triggers are then replaced.
/// 2: a mapped table's delete of an adopted row is parked (`park`).
/// 3: a base kept lazily is captured before the app's first write (`base`).
/// 4: an app trigger's write to a synced table while ebb writes another's
/// rows is skipped (`skip`).
/// 5: a row an `INSERT OR REPLACE` deletes for a clash on another UNIQUE
/// index is captured as a delete (`replaced_rows`).
pub(crate) const TRIGGER_VERSION: i64 = 5;

/// True unless ebb is applying pulled rows. A missing guard row means
/// "capture" (never silently stop capturing).
const GUARD_OFF: &str = "COALESCE((SELECT active FROM _ebb_guard WHERE id = 1), 0) = 0";

/// Verifies the tables, then installs what is missing or different and drops
/// what is no longer wanted (`mapped`: the tables whose keys are mapped).
/// Returns how many triggers were (re)created, and the schema version
/// they were installed at.
pub(crate) fn install(
    conn: &mut Connection,
    tables: &[TableSpec],
    mapped: &[&str],
    version: i64,
) -> Result<(usize, i64), LocalError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx(|| "starting trigger installation".into())?;
    let graph = Graph::load(&tx)?;
    let mut wanted = Vec::new();
    for spec in tables {
        let (pk, columns) = verify(&tx, spec)?;
        let keyed = mapped.contains(&spec.name.as_str());
        let exempt = graph.acting_on(&spec.name);
        let uniques = unique_keys(&tx, &spec.name)?;
        let table = Table {
            name: &spec.name,
            pk: &pk,
            columns: &columns,
            uniques: &uniques,
        };
        wanted.extend(trigger_sql(&table, keyed, &exempt, version));
    }
    let existing = installed(&tx)?;
    for (name, sql) in &existing {
        if !wanted.iter().any(|(n, s)| n == name && s == sql) {
            tx.execute_batch(&format!("DROP TRIGGER IF EXISTS {}", quote_ident(name)))
                .ctx(|| format!("dropping trigger {name}"))?;
        }
    }
    for spec in tables {
        let capturing = format!("_ebb_ins_{}", spec.name);
        if !existing.iter().any(|(n, _)| *n == capturing) {
            let (pk, _) = verify(&tx, spec)?;
            backfill::backfill(&tx, &spec.name, &pk, mapped.contains(&spec.name.as_str()))?;
        }
    }
    let mut created = 0;
    for (name, sql) in &wanted {
        if !existing.iter().any(|(n, s)| n == name && s == sql) {
            tx.execute_batch(sql)
                .ctx(|| format!("creating trigger {name}"))?;
            created += 1;
        }
    }
    for table in nested::install(&tx, tables, &graph)? {
        tracing::warn!(
            table = %table,
            "an app trigger names this table, whose own foreign key actions write it too: \
             ebb cannot tell the two apart, so writes the app's triggers make to it while ebb \
             writes its pulled rows go ahead, uncounted"
        );
    }
    meta_set(&tx, "trigger_version", Value::Integer(version))?;
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let names = serde_json::to_string(&names).unwrap_or_else(|_| "[]".into());
    meta_set(&tx, "tables", Value::Text(names))?;
    // Read before the commit: a migration of the app's that commits just
    // after it is then a change still to fit (`sync::schema`).
    let schema: i64 = tx
        .query_row("PRAGMA schema_version", [], |r| r.get(0))
        .ctx(|| "reading the schema version".into())?;
    tx.commit()
        .ctx(|| "committing trigger installation".into())?;
    Ok((created, schema))
}

/// Checks that the table exists and has exactly the configured one-column
/// primary key; returns the key column's name as declared, and the
/// names of all columns.
fn verify(conn: &Connection, spec: &TableSpec) -> Result<(String, Vec<String>), LocalError> {
    let info = inspect::describe_conn(conn, &spec.name)?;
    let keys: Vec<&inspect::Column> = info.columns.iter().filter(|c| c.pk).collect();
    let bad = |message: String| LocalError::BadPrimaryKey {
        table: spec.name.clone(),
        message,
    };
    match keys.as_slice() {
        [] => Err(bad(
            "has no primary key (ebb needs a one-column primary key)".into(),
        )),
        [key] if !key.name.eq_ignore_ascii_case(&spec.pk) => Err(bad(format!(
            "primary key is \"{}\", not the configured \"{}\"",
            key.name, spec.pk
        ))),
        [key] if key.decl_type.to_ascii_uppercase().contains("BLOB") => Err(bad(format!(
            "primary key \"{}\" is a BLOB (ebb needs INTEGER or TEXT keys)",
            key.name
        ))),
        // Without a declared type SQLite compares a key as stored: the row
        // with key 5 is not found by '5', so every change to it would look
        // like its delete. Text keys (uuids) are found as they are.
        [key]
            if matches!(inspect::affinity(&key.decl_type), inspect::Affinity::Any)
                && untyped_keys(conn, &spec.name, &key.name)? =>
        {
            Err(bad(format!(
                "primary key \"{}\" has no declared type and holds keys that are not text \
                 (ebb needs INTEGER or TEXT keys: declare it, e.g. \"{} INTEGER PRIMARY KEY\")",
                key.name, key.name
            )))
        }
        [key] => Ok((
            key.name.clone(),
            info.columns.iter().map(|c| c.name.clone()).collect(),
        )),
        many => Err(bad(format!(
            "composite primary key ({}) is not supported",
            many.iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// ebb's triggers currently in the file: (name, stored SQL).
fn installed(conn: &Connection) -> Result<Vec<(String, String)>, LocalError> {
    let mut stmt = conn
        .prepare(
            "SELECT name, sql FROM sqlite_master
             WHERE type = 'trigger' AND name LIKE '\\_ebb\\_%' ESCAPE '\\'",
        )
        .ctx(|| "listing ebb's triggers".into())?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .ctx(|| "listing ebb's triggers".into())?;
    rows.collect::<Result<_, _>>()
        .ctx(|| "listing ebb's triggers".into())
}

/// One queue upsert for `key` (an `OLD.`/`NEW.` expression), only when
/// `when` holds. Mirrors `queue::touch` for the trigger side.
fn enqueue(table_lit: &str, key: &str, op: &str, when: &str) -> String {
    format!(
        "  UPDATE _ebb_meta SET value = value + 1 WHERE key = 'seq' AND ({when});
  INSERT INTO _ebb_queue (tbl, pk, op, counter, state, attempts, queued_at)
    SELECT {table_lit}, CAST({key} AS TEXT), '{op}',
           (SELECT value FROM _ebb_meta WHERE key = 'seq'), 'pending', 0, {NOW_MS}
    WHERE ({when})
    ON CONFLICT (tbl, pk) DO UPDATE SET
      op = excluded.op,
      counter = excluded.counter,
      state = CASE WHEN state IN ('inflight', 'conflict') THEN state ELSE 'pending' END,
      attempts = 0,
      error = NULL,
      next_attempt_at = NULL;
"
    )
}

/// Whether `table`'s key column `key` holds a value that is not text.
fn untyped_keys(conn: &Connection, table: &str, key: &str) -> Result<bool, LocalError> {
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM {} WHERE typeof({}) NOT IN ('text', 'null'))",
        quote_ident(table),
        quote_ident(key)
    );
    conn.query_row(&sql, [], |r| r.get(0))
        .ctx(|| format!("reading the keys of {table}"))
}

/// What the triggers of a table are made of.
pub(crate) struct Table<'a> {
    pub(crate) name: &'a str,
    /// Its key column, as declared.
    pub(crate) pk: &'a str,
    /// All of its columns (a lazy base's).
    pub(crate) columns: &'a [String],
    /// The columns of each UNIQUE index other than the key (`unique_keys`).
    pub(crate) uniques: &'a [Vec<String>],
}

/// The columns of each UNIQUE index of `table` other than its primary
/// key, whole-table and on plain columns only (a partial or expression
/// index is left out: its clash is not captured as a delete).
fn unique_keys(conn: &Connection, table: &str) -> Result<Vec<Vec<String>>, LocalError> {
    let context = || format!("reading the unique indexes of {table}");
    let names: Vec<String> = conn
        .prepare_cached(
            "SELECT name FROM pragma_index_list(?1)
             WHERE \"unique\" = 1 AND origin <> 'pk' AND partial = 0 ORDER BY name",
        )
        .and_then(|mut s| s.query_map([table], |r| r.get(0))?.collect())
        .ctx(context)?;
    let mut keys = Vec::new();
    for index in names {
        let columns: Vec<Option<String>> = conn
            .prepare_cached("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")
            .and_then(|mut s| s.query_map([&index], |r| r.get(0))?.collect())
            .ctx(context)?;
        if let Some(columns) = columns.into_iter().collect::<Option<Vec<_>>>() {
            keys.push(columns);
        }
    }
    Ok(keys)
}

/// Before an app's insert: each row that an `INSERT OR REPLACE` (or a
/// column's own `ON CONFLICT REPLACE`) may delete for clashing with the
/// new row on another UNIQUE index (SQLite fires no delete trigger for
/// it): its lazy base kept and the row queued. The trigger runs before
/// SQLite settles the clash, so the row is queued as an upsert and the
/// claim, reading it, pushes its delete when it is gone and the row as it
/// stands when `OR IGNORE`, `DO NOTHING` or `DO UPDATE` kept it (not
/// parked: its id is not reused while the new row holds a higher one).
/// One row at most per index; a row clashing on two is taken at the
/// first. An insert the clash fails takes all of it back with it.
fn replaced_rows(table: &Table<'_>) -> String {
    let t = quote_ident(table.name);
    let lit = quote_literal(table.name);
    let key = quote_ident(table.pk);
    let clash = |columns: &[String]| {
        let same: Vec<String> = columns
            .iter()
            .map(|c| format!("{t}.{0} = NEW.{0}", quote_ident(c)))
            .collect();
        format!("({})", same.join(" AND "))
    };
    let mut earlier: Vec<String> = Vec::new();
    let mut sql = String::new();
    for columns in table.uniques {
        let this = clash(columns);
        // NULL, not false, where a column is NULL: such a row clashed on
        // no earlier index.
        let before = earlier
            .iter()
            .map(|e| format!(" AND NOT COALESCE({e}, 0)"))
            .collect::<String>();
        let row = format!(
            "(SELECT {t}.{key} FROM {t} WHERE {this}{before} AND {t}.{key} IS NOT NEW.{key})"
        );
        sql += &base::capture_replaced(table.name, table.pk, table.columns, &row, GUARD_OFF);
        // Queued as an upsert: the claim reads the row, and pushes the
        // delete only if it is gone (`INSERT OR IGNORE`, `DO NOTHING` and
        // an insert the clash fails all leave it).
        sql += &enqueue(
            &lit,
            &row,
            "upsert",
            &format!("{row} IS NOT NULL AND {GUARD_OFF}"),
        );
        earlier.push(this);
    }
    sql
}

/// The triggers of one table (`mapped`: its keys are; its deletes of
/// adopted rows are then parked; `exempt`: see `skip`), as (name, SQL as
/// sqlite_master stores it, i.e. without the final semicolon):
/// - after an insert, update and delete, the capture into `_ebb_queue`,
///   the update and delete ones keeping a lazy base first (`base`, over
///   `columns`);
/// - before an insert, the lazy base of a row an `INSERT OR REPLACE`
///   replaces, the rows it deletes for a clash on another UNIQUE index
///   (`replaced_rows`), and `skip`; before an update and a delete, `skip`.
pub(crate) fn trigger_sql(
    spec: &Table<'_>,
    mapped: bool,
    exempt: &BTreeSet<String>,
    version: i64,
) -> Vec<(String, String)> {
    let replaced = replaced_rows(spec);
    let (table, pk, columns) = (spec.name, spec.pk, spec.columns);
    let t = quote_ident(table);
    let lit = quote_literal(table);
    let new_key = format!("NEW.{}", quote_ident(pk));
    let old_key = format!("OLD.{}", quote_ident(pk));
    let tag = format!("  -- ebb capture trigger v{version}\n");
    let make = |kind: &str, event: &str, when: &str, body: String| {
        let name = format!("_ebb_{kind}_{table}");
        let sql = format!(
            "CREATE TRIGGER {} {event} ON {t} WHEN {when}\nBEGIN\n{tag}{body}END",
            quote_ident(&name)
        );
        (name, sql)
    };
    let capture = base::capture_old(&lit, &old_key, columns);
    let new_set = format!("{new_key} IS NOT NULL");
    let old_set = format!("{old_key} IS NOT NULL");
    let moved = format!("{old_key} IS NOT NULL AND {old_key} IS NOT {new_key}");
    let parked = if mapped {
        park(&lit, &old_key)
    } else {
        String::new()
    };
    let skipped = skip::when_skipped(table, exempt);
    vec![
        make(
            "pre_ins",
            "BEFORE INSERT",
            &skip::when_not_own(table, exempt),
            skip::skip_statements(table)
                + &base::capture_replaced(table, pk, columns, &new_key, GUARD_OFF)
                + &replaced,
        ),
        make(
            "pre_upd",
            "BEFORE UPDATE",
            &skipped,
            skip::skip_statements(table),
        ),
        make(
            "pre_del",
            "BEFORE DELETE",
            &skipped,
            skip::skip_statements(table),
        ),
        make(
            "ins",
            "AFTER INSERT",
            GUARD_OFF,
            enqueue(&lit, &new_key, "upsert", &new_set),
        ),
        make(
            "upd",
            "AFTER UPDATE",
            GUARD_OFF,
            capture.clone()
                + &enqueue(&lit, &old_key, "delete", &moved)
                + &parked
                + &enqueue(&lit, &new_key, "upsert", &new_set),
        ),
        make(
            "del",
            "AFTER DELETE",
            GUARD_OFF,
            capture + &enqueue(&lit, &old_key, "delete", &old_set) + &parked,
        ),
    ]
}

#[cfg(test)]
#[path = "triggers_tests.rs"]
mod tests;
