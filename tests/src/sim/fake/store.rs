//! The fake server's data: live rows, tombstones, the per-device record of
//! the last change applied (`_ebb_applied`), transaction ids and the pull
//! horizon. Writes here behave as example/server.sql plus ebb's install
//! script make PostgreSQL behave: versions only go up (a re-insert
//! continues from its tombstone), every write stamps a txid and an origin,
//! deletes leave tombstones and cascade, constraints refuse a write whole.
//!
//! It decides nothing about the protocol; `push` and `pull` do.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::super::schema::{self, Table, Violation};
use ebb::model::Row;

/// The first txid handed out (any start works; PostgreSQL's are large).
const FIRST_TXID: u64 = 1000;

/// A live row.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub row: Row,
    pub version: i64,
    pub txid: u64,
    pub origin: Option<String>,
}

/// A deleted key.
#[derive(Debug, Clone, PartialEq)]
pub struct Tomb {
    pub version: i64,
    pub txid: u64,
    pub origin: Option<String>,
}

/// The last change of one device the server applied to one row.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub counter: i64,
    pub hash: String,
    /// The base version it was sent on (not the one it was applied on).
    pub base: i64,
    /// The version it gave the row (a tombstone's for a delete).
    pub version: i64,
}

/// A server transaction left open: it holds the pull horizon at its txid,
/// and its write shows (with that old txid) only when it commits.
#[derive(Debug, Clone)]
pub struct OpenTx {
    pub txid: u64,
    pub table: &'static str,
    pub row: Row,
}

/// Who writes: a device through `ebb_push` (recorded when `record` names
/// the change), or the back office (origin NULL, nothing recorded).
#[derive(Debug, Clone)]
pub struct Writer<'a> {
    pub origin: Option<&'a str>,
    pub txid: u64,
}

/// Everything the fake server holds.
#[derive(Debug)]
pub struct Store {
    rows: BTreeMap<&'static str, BTreeMap<String, Live>>,
    tombs: BTreeMap<(&'static str, String), Tomb>,
    applied: BTreeMap<(String, &'static str, String), Record>,
    next_txid: u64,
    pub open: Option<OpenTx>,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            rows: schema::TABLES
                .iter()
                .map(|t| (t.name, BTreeMap::new()))
                .collect(),
            tombs: BTreeMap::new(),
            applied: BTreeMap::new(),
            next_txid: FIRST_TXID,
            open: None,
        }
    }
}

impl Store {
    /// A fresh transaction id.
    pub fn new_txid(&mut self) -> u64 {
        let t = self.next_txid;
        self.next_txid += 1;
        t
    }

    /// `pg_snapshot_xmin`: the oldest open transaction, else the next txid.
    pub fn horizon(&self) -> u64 {
        self.open.as_ref().map_or(self.next_txid, |o| o.txid)
    }

    /// Whether a transaction is open (rows newer than it wait).
    pub fn in_flight(&self) -> bool {
        self.open.is_some()
    }

    pub fn live(&self, table: &str, pk: &str) -> Option<&Live> {
        self.rows.get(table).and_then(|rows| rows.get(pk))
    }

    pub fn live_rows(&self, table: &str) -> impl Iterator<Item = (&String, &Live)> {
        self.rows.get(table).into_iter().flatten()
    }

    pub fn tombs(&self, table: &str) -> impl Iterator<Item = (&String, &Tomb)> {
        self.tombs
            .iter()
            .filter(move |((t, _), _)| *t == table)
            .map(|((_, pk), tomb)| (pk, tomb))
    }

    /// The row's version: live, else its tombstone's, else 0.
    pub fn version(&self, table: &str, pk: &str) -> i64 {
        match self.live(table, pk) {
            Some(l) => l.version,
            None => self.tomb_version(table, pk),
        }
    }

    fn tomb_version(&self, table: &str, pk: &str) -> i64 {
        schema::table(table)
            .and_then(|t| self.tombs.get(&(t.name, pk.to_string())))
            .map_or(0, |t| t.version)
    }

    pub fn record(&self, device: &str, table: &'static str, pk: &str) -> Option<&Record> {
        self.applied
            .get(&(device.to_string(), table, pk.to_string()))
    }

    pub fn set_record(&mut self, device: &str, table: &'static str, pk: &str, record: Record) {
        self.applied
            .insert((device.to_string(), table, pk.to_string()), record);
    }

    /// INSERT or UPDATE of `sent`'s columns (ON CONFLICT (id) DO UPDATE):
    /// checked whole, then written. Returns the new version.
    pub fn upsert(
        &mut self,
        table: &'static Table,
        pk: &str,
        sent: &Row,
        by: &Writer,
    ) -> Result<i64, Violation> {
        let mut sent = sent.clone();
        sent.insert("id".into(), Value::String(pk.to_string()));
        let (row, version) = match self.live(table.name, pk) {
            Some(l) => (table.update_row(&l.row, &sent)?, l.version + 1),
            None => (
                table.insert_row(&sent)?,
                self.tomb_version(table.name, pk) + 1,
            ),
        };
        self.check_references(table, pk, &row)?;
        self.tombs.remove(&(table.name, pk.to_string()));
        let live = Live {
            row,
            version,
            txid: by.txid,
            origin: by.origin.map(str::to_string),
        };
        if let Some(rows) = self.rows.get_mut(table.name) {
            rows.insert(pk.to_string(), live);
        }
        Ok(version)
    }

    /// Foreign keys of `row` name existing parents; unique columns are free.
    fn check_references(&self, table: &Table, pk: &str, row: &Row) -> Result<(), Violation> {
        for fk in table.foreign_keys {
            let Some(parent) = row.get(fk.column).and_then(Value::as_str) else {
                continue;
            };
            if self.live(fk.parent, parent).is_none() {
                return Err(Violation {
                    code: "23503",
                    message: format!(
                        "insert or update on table \"{}\" violates foreign key constraint \"{}_{}_fkey\"",
                        table.name, table.name, fk.column
                    ),
                });
            }
        }
        for column in table.unique {
            let value = row.get(*column);
            let taken = self
                .live_rows(table.name)
                .any(|(other, l)| other != pk && value.is_some() && l.row.get(*column) == value);
            if taken {
                return Err(Violation {
                    code: "23505",
                    message: format!(
                        "duplicate key value violates unique constraint \"{}_{column}_key\"",
                        table.name
                    ),
                });
            }
        }
        Ok(())
    }

    /// DELETE of a live row with its ON DELETE CASCADE children, all or
    /// nothing: a child held by a foreign key without cascade refuses it.
    /// Every deleted row leaves a tombstone written by `by`. Returns the
    /// row's tombstone version, `None` when there was no row.
    pub fn delete(
        &mut self,
        table: &'static Table,
        pk: &str,
        by: &Writer,
    ) -> Result<Option<i64>, Violation> {
        if self.live(table.name, pk).is_none() {
            return Ok(None);
        }
        let doomed = self.cascade(table, pk)?;
        let mut version = None;
        for (t, key) in doomed {
            let Some(old) = self.rows.get_mut(t).and_then(|rows| rows.remove(&key)) else {
                continue;
            };
            let id = (t, key.clone());
            let v = self
                .tombs
                .get(&id)
                .map_or(old.version + 1, |tomb| tomb.version.max(old.version + 1));
            self.tombs.insert(
                id,
                Tomb {
                    version: v,
                    txid: by.txid,
                    origin: by.origin.map(str::to_string),
                },
            );
            if t == table.name && key == pk {
                version = Some(v);
            }
        }
        Ok(version)
    }

    /// The rows a delete of (table, pk) removes, the row itself first.
    fn cascade(
        &self,
        table: &'static Table,
        pk: &str,
    ) -> Result<Vec<(&'static str, String)>, Violation> {
        let mut doomed = vec![(table.name, pk.to_string())];
        let mut seen: BTreeSet<(&'static str, String)> = doomed.iter().cloned().collect();
        let mut next = 0;
        while next < doomed.len() {
            let (parent, key) = doomed[next].clone();
            next += 1;
            for child in &schema::TABLES {
                for fk in child.foreign_keys.iter().filter(|fk| fk.parent == parent) {
                    for (child_pk, l) in self.live_rows(child.name) {
                        if l.row.get(fk.column).and_then(Value::as_str) != Some(key.as_str()) {
                            continue;
                        }
                        if !fk.cascade {
                            return Err(Violation {
                                code: "23503",
                                message: format!(
                                    "update or delete on table \"{parent}\" violates foreign key constraint \"{}_{}_fkey\" on table \"{}\"",
                                    child.name, fk.column, child.name
                                ),
                            });
                        }
                        let id = (child.name, child_pk.clone());
                        if seen.insert(id.clone()) {
                            doomed.push(id);
                        }
                    }
                }
            }
        }
        Ok(doomed)
    }
}
