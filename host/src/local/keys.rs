//! The integer key map (`keys = "map"`): `_ebb_keys` maps each row's
//! local id to its global key, both ways, per table.
//!
//! Two tills that both create sale 1 must keep both sales, and the app's
//! own ids must never change under it. Per-device id ranges cannot work in
//! SQLite (a new rowid is max(rowid)+1, so pulled rows from a higher range
//! move every device's next id), so each device keeps its local ids and
//! the server holds global keys: a row this device created gets
//! `device number * 10^12 + local id` (the number from `ebb_device_number`,
//! once per device), a row pulled from elsewhere gets a fresh local id when
//! it is first written here. The primary key and every foreign key column
//! that points at a mapped table are translated on push (`globalize`) and
//! on pull (`localize`); ebb's own state (`_ebb_queue`, `_ebb_rows`,
//! `_ebb_sent`, conflicts) stays in local ids, as the app sees them.
//!
//! Called by `sync` (push and pull) and by `apply` (`adopt`, inside the
//! apply transaction, so a fresh id is taken while nobody else can write).

use std::collections::BTreeMap;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::Value;

use super::cached::Cached;
use super::fk::Graph;
use super::key_lookup::KeyLookup;
use super::schema::{meta_set, meta_text};
use super::statements::value_rows;
use super::values::Writer;
use super::{Context, Local, LocalError, TableSpec, quote_ident};
use crate::model::{Change, Row};

/// Global keys of device `n` are `n * SPAN + local id`.
pub const SPAN: i64 = 1_000_000_000_000;

/// Which tables are mapped, and which columns of every synced table point
/// at a mapped table.
#[derive(Debug, Clone, Default)]
pub struct KeyPlan {
    tables: BTreeMap<String, TableKeys>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct TableKeys {
    /// The key column.
    pub(crate) pk: String,
    /// Whether the table's own ids are mapped.
    pub(crate) mapped: bool,
    /// (column, mapped parent table).
    pub(crate) refs: Vec<(String, String)>,
}

/// A row's foreign key names a parent this device has not pulled yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Unmapped {
    pub column: String,
    pub parent: String,
    pub global: i64,
}

impl KeyPlan {
    /// Whether any table is mapped (nothing to translate otherwise).
    pub fn is_empty(&self) -> bool {
        !self.tables.values().any(|t| t.mapped)
    }

    pub fn is_mapped(&self, table: &str) -> bool {
        self.tables.get(table).is_some_and(|t| t.mapped)
    }

    /// What is mapped of `table`; `None` for a table not synced.
    pub(crate) fn of(&self, table: &str) -> Option<&TableKeys> {
        self.tables.get(table)
    }

    /// Whether rows of `table` need translating (mapped, or pointing at a
    /// mapped table).
    pub fn touches(&self, table: &str) -> bool {
        self.tables
            .get(table)
            .is_some_and(|t| t.mapped || !t.refs.is_empty())
    }
}

impl Local {
    /// The key plan for `tables` (`mapped`: their `keys = "map"` flags;
    /// `declared`: (table, column, parent) foreign keys from the config,
    /// beside those in the app's schema).
    pub fn key_plan(
        &self,
        tables: &[(TableSpec, bool)],
        declared: &[(String, String, String)],
    ) -> Result<KeyPlan, LocalError> {
        let graph = Graph::load(&self.conn)?;
        // The mapped table a reference names, as configured: SQLite's
        // names ignore case, so `REFERENCES Products (id)` is `products`.
        let mapped = |name: &str| {
            tables
                .iter()
                .find(|(s, m)| *m && s.name.eq_ignore_ascii_case(name))
                .map(|(s, _)| s.name.clone())
        };
        let mut plan = KeyPlan::default();
        for (spec, is_mapped) in tables {
            let mut refs: Vec<(String, String)> = graph
                .outgoing(&spec.name)
                .filter(|k| k.from.len() == 1)
                .filter_map(|k| Some((k.from[0].clone(), mapped(&k.parent)?)))
                .collect();
            for (table, column, parent) in declared {
                let Some(parent) = mapped(parent) else {
                    continue;
                };
                if table.eq_ignore_ascii_case(&spec.name)
                    && !refs.iter().any(|(c, _)| c.eq_ignore_ascii_case(column))
                {
                    refs.push((column.clone(), parent));
                }
            }
            plan.tables.insert(
                spec.name.clone(),
                TableKeys {
                    pk: spec.pk.clone(),
                    mapped: *is_mapped,
                    refs,
                },
            );
        }
        Ok(plan)
    }

    /// This device's number, when one was given to its current device id.
    pub fn device_number(&self) -> Result<Option<i64>, LocalError> {
        let stored = meta_text(&self.conn, "device_number")?;
        Ok(stored
            .as_deref()
            .and_then(stored_number)
            .and_then(|(device, n)| (device == self.device).then_some(n)))
    }

    /// Keeps the number the server gave this device id.
    pub fn set_device_number(&mut self, n: i64) -> Result<(), LocalError> {
        let text = format!("{} {n}", self.device);
        meta_set(&self.conn, "device_number", SqlValue::Text(text))
    }

    /// The local id of a global key, if this device has the row.
    pub fn local_key(&self, table: &str, global: i64) -> Result<Option<i64>, LocalError> {
        self.conn
            .prepare_cached("SELECT local FROM _ebb_keys WHERE tbl = ?1 AND global = ?2")
            .and_then(|mut s| s.query_row(params![table, global], |r| r.get(0)).optional())
            .ctx(|| format!("reading the key map of {table}"))
    }

    /// Rewrites `changes` (local ids, as claimed) into global keys, minting
    /// keys for rows this device created (`number`: its device number).
    /// One transaction: the mappings exist before anything is sent.
    pub fn globalize(
        &mut self,
        plan: &KeyPlan,
        number: i64,
        changes: &mut [Change],
    ) -> Result<(), LocalError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(|| "starting to map keys".into())?;
        for c in changes.iter_mut() {
            let Some(t) = plan.tables.get(&c.table) else {
                continue;
            };
            if t.mapped {
                let local = local_id(&c.table, &c.pk)?;
                let global = global_of(&tx, &c.table, local, number)?;
                c.pk = global.to_string();
                if let Some(row) = &mut c.row {
                    row.insert(t.pk.clone(), Value::from(global));
                }
            }
            if let Some(row) = &mut c.row {
                for (column, parent) in &t.refs {
                    if let Some(local) = row.get(column).and_then(as_id) {
                        let global = global_of(&tx, parent, local, number)?;
                        row.insert(column.clone(), Value::from(global));
                    }
                }
            }
        }
        tx.commit().ctx(|| "committing key mappings".into())
    }

    /// Rewrites a row from the server (global keys) into local ids, key and
    /// foreign keys, with the key map's answers in `lookup` (see
    /// `Local::key_lookup`). The key of a row new to this device is left
    /// global (the caller adopts it); a foreign key to a parent this
    /// device does not have yet is reported.
    pub fn localize(
        &self,
        plan: &KeyPlan,
        lookup: &KeyLookup,
        table: &str,
        row: &mut Row,
    ) -> Result<Result<(), Unmapped>, LocalError> {
        let Some(t) = plan.tables.get(table) else {
            return Ok(Ok(()));
        };
        if t.mapped
            && let Some(global) = row.get(&t.pk).and_then(as_id)
            && let Some(local) = self.looked_up(lookup, table, global)?
        {
            row.insert(t.pk.clone(), Value::from(local));
        }
        for (column, parent) in &t.refs {
            let Some(global) = row.get(column).and_then(as_id) else {
                continue;
            };
            match self.looked_up(lookup, parent, global)? {
                Some(local) => {
                    row.insert(column.clone(), Value::from(local));
                }
                None => {
                    return Ok(Err(Unmapped {
                        column: column.clone(),
                        parent: parent.clone(),
                        global,
                    }));
                }
            }
        }
        Ok(Ok(()))
    }
}

/// Writes a row new to this device under a fresh local id and maps it to
/// `global`; returns the local id. Inside the apply transaction (nobody
/// else can take the id meanwhile); `row` is already localized but for its
/// key. The id is the table's highest (or its AUTOINCREMENT sequence's)
/// plus one, read once for a run of adoptions (`Writer::fresh_id`).
pub(crate) fn adopt(
    conn: &Connection,
    table: &TableSpec,
    writer: &Writer,
    global: i64,
    row: &Row,
) -> Result<i64, LocalError> {
    let insert = |id: i64| writer.insert_new(conn, id, row).map(|()| id);
    let local = match writer.fresh_id() {
        // Refused, the id may have been taken after all (an app trigger
        // inserting into this table): read the highest again, once.
        Some(id) => match insert(id) {
            Err(LocalError::Sqlite { source, .. })
                if source.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) =>
            {
                insert(fresh_id(conn, writer)?)?
            }
            other => other?,
        },
        None => insert(fresh_id(conn, writer)?)?,
    };
    map(conn, &table.name, local, global)?;
    Ok(local)
}

/// The next fresh id of the writer's table for an adoption in a run
/// (`runs`), counted taken.
pub(crate) fn next_id(conn: &Connection, writer: &Writer) -> Result<i64, LocalError> {
    let id = match writer.fresh_id() {
        Some(id) => id,
        None => fresh_id(conn, writer)?,
    };
    writer.took_fresh_id(id);
    Ok(id)
}

/// One more than the highest id the writer's table has held, and than any
/// id mapped in it: a key this device minted stays mapped after its row's
/// delete (the app may reuse the id, under that key again), so a row
/// adopted now must not take that id.
fn fresh_id(conn: &Connection, writer: &Writer) -> Result<i64, LocalError> {
    let (name, pk) = (writer.table(), writer.key_column());
    let has_sequence: bool = conn
        .row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence')",
            [],
            |r| r.get(0),
        )
        .ctx(|| "looking for sqlite_sequence".into())?;
    let top: i64 = if has_sequence {
        conn.row(
            &format!(
                "SELECT max(COALESCE((SELECT max({}) FROM {}), 0),
                            COALESCE((SELECT seq FROM sqlite_sequence WHERE name = ?1), 0),
                            COALESCE((SELECT max(local) FROM _ebb_keys WHERE tbl = ?1), 0))",
                quote_ident(pk),
                quote_ident(name)
            ),
            [name],
            |r| r.get(0),
        )
    } else {
        conn.row(
            &format!(
                "SELECT max(COALESCE((SELECT max({}) FROM {}), 0),
                            COALESCE((SELECT max(local) FROM _ebb_keys WHERE tbl = ?1), 0))",
                quote_ident(pk),
                quote_ident(name)
            ),
            [name],
            |r| r.get(0),
        )
    }
    .ctx(|| format!("taking a fresh id in {name}"))?;
    top.checked_add(1).ok_or_else(|| LocalError::BadPrimaryKey {
        table: name.to_string(),
        message: "no integer id is left for a row from another device".into(),
    })
}

/// The global key of local id `local` of `table`: mapped already, or
/// minted now for a row this device created.
fn global_of(conn: &Connection, table: &str, local: i64, number: i64) -> Result<i64, LocalError> {
    let found: Option<i64> = conn
        .prepare_cached("SELECT global FROM _ebb_keys WHERE tbl = ?1 AND local = ?2")
        .and_then(|mut s| s.query_row(params![table, local], |r| r.get(0)).optional())
        .ctx(|| format!("reading the key map of {table}"))?;
    if let Some(global) = found {
        return Ok(global);
    }
    if !(1..SPAN).contains(&local) {
        return Err(LocalError::BadPrimaryKey {
            table: table.to_string(),
            message: format!(
                "id {local} cannot be mapped: keys = \"map\" needs ids from 1 to {}",
                SPAN - 1
            ),
        });
    }
    let global = own_key(number, local).ok_or_else(|| LocalError::BadPrimaryKey {
        table: table.to_string(),
        message: format!("device number {number} is too large to mint keys"),
    })?;
    map(conn, table, local, global)?;
    Ok(global)
}

/// The insert of `rows` mappings (table, local, global) at once (`runs`).
pub(crate) fn map_rows_sql(rows: usize) -> String {
    format!(
        "INSERT INTO _ebb_keys (tbl, local, global) VALUES {}",
        value_rows(rows, 3)
    )
}

fn map(conn: &Connection, table: &str, local: i64, global: i64) -> Result<(), LocalError> {
    conn.prepare_cached("INSERT INTO _ebb_keys (tbl, local, global) VALUES (?1, ?2, ?3)")
        .and_then(|mut s| s.execute(params![table, local, global]))
        .ctx(|| format!("mapping a key of {table}"))?;
    Ok(())
}

/// The key device `number` mints for its local id `local`.
pub(super) fn own_key(number: i64, local: i64) -> Option<i64> {
    number.checked_mul(SPAN)?.checked_add(local)
}

/// (device id, number) as `set_device_number` stores them.
pub(super) fn stored_number(text: &str) -> Option<(&str, i64)> {
    let (device, n) = text.rsplit_once(' ')?;
    Some((device, n.parse().ok()?))
}

/// The local id in a queue item's key text.
fn local_id(table: &str, pk: &str) -> Result<i64, LocalError> {
    pk.parse().map_err(|_| LocalError::BadPrimaryKey {
        table: table.to_string(),
        message: format!("key {pk:?} is not an integer id (keys = \"map\")"),
    })
}

/// An integer id from a JSON value (a number, or a string of digits).
pub(crate) fn as_id(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;
