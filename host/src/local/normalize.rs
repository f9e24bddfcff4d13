//! `Local::normalize`: a row as SQLite would hand it back after storing it.
//!
//! Remote rows and local rows spell the same content differently (Postgres
//! `true` vs SQLite 1, `1.50` vs 1.5, `"42"` in an INTEGER column vs 42).
//! `sync` normalizes remote rows before comparing them with local ones and
//! before storing them as bases, so both sides of every comparison come from
//! the same conversion. This must match `write_row` + `read_row` exactly,
//! so instead of re-implementing SQLite's affinity rules it lets SQLite do
//! them: the values are converted as `write_row` binds them and inserted
//! into a private in-memory table whose columns have the same affinities,
//! then read back as `read_row` reads them. The app's database is never
//! written. Called by `sync` through `Local::normalize`.

use std::collections::HashMap;

use rusqlite::{Connection, params_from_iter};

use super::inspect::{Affinity, affinity, describe_conn};
use super::values::{to_json, to_sql};
use super::{Context, Local, LocalError, TableSpec};
use crate::model::Row;

/// The in-memory database and its mirror tables, one per column-affinity
/// signature (e.g. "INTEGER,TEXT,REAL").
#[derive(Default)]
pub(crate) struct Scratch {
    conn: Option<Connection>,
    tables: HashMap<String, String>,
}

impl Local {
    /// `row` as [`Local::read_row`] would return it after `row` was written
    /// to `table`: only the keys that name local columns (spelled as the
    /// column is; generated columns and unknown keys dropped; columns the
    /// row lacks stay absent), each value converted by the column's
    /// affinity (true -> 1, 1.50 -> 1.5, "42" -> 42 in INTEGER, REAL and
    /// NUMERIC columns, 1 -> 1.0 in REAL columns, numbers -> text in TEXT
    /// columns, base64 BLOBs re-encoded). Writes nothing to the app's
    /// database. Errors only when the table is missing or SQLite fails.
    pub fn normalize(&self, table: &TableSpec, row: &Row) -> Result<Row, LocalError> {
        let info = describe_conn(&self.conn, &table.name)?;
        let mut names: Vec<String> = Vec::new();
        let mut decls: Vec<&str> = Vec::new();
        let mut values = Vec::new();
        for (key, value) in row {
            let Some(column) = info.column(key) else {
                continue;
            };
            if names.contains(&column.name) {
                continue;
            }
            names.push(column.name.clone());
            decls.push(mirror_type(&column.decl_type));
            values.push(to_sql(value, &column.decl_type));
        }
        if names.is_empty() {
            return Ok(Row::new());
        }
        let mut scratch = self.scratch.borrow_mut();
        let mirror = scratch.mirror(&decls)?;
        let conn = scratch.conn()?;
        let columns: Vec<String> = (0..names.len()).map(|i| format!("c{i}")).collect();
        let marks: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
        let sql = format!(
            "INSERT INTO {mirror} ({cols}) VALUES ({marks}) RETURNING {cols}",
            cols = columns.join(", "),
            marks = marks.join(", "),
        );
        let context = || format!("normalizing a row of {}", table.name);
        let back = {
            let mut stmt = conn.prepare_cached(&sql).ctx(context)?;
            stmt.query_row(params_from_iter(values), |r| {
                let mut out = Row::new();
                for (i, name) in names.iter().enumerate() {
                    out.insert(name.clone(), to_json(r.get_ref(i)?));
                }
                Ok(out)
            })
            .ctx(context)?
        };
        conn.execute(&format!("DELETE FROM {mirror}"), [])
            .ctx(context)?;
        Ok(back)
    }
}

impl Scratch {
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

/// A declared type with the same affinity as `decl`, safe to splice into
/// DDL (the app's own type text is not reused).
fn mirror_type(decl: &str) -> &'static str {
    match affinity(decl) {
        Affinity::Integer => "INTEGER",
        Affinity::Text => "TEXT",
        Affinity::Blob => "BLOB",
        Affinity::Real => "REAL",
        Affinity::Numeric => "NUMERIC",
        Affinity::Any => "",
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{exec, open_temp};
    use super::*;
    use serde_json::{Value, json};

    fn row(value: Value) -> Row {
        value.as_object().cloned().expect("object")
    }

    /// What writing `r` and reading it back gives, for comparison.
    fn round_trip(local: &mut Local, table: &TableSpec, pk: &str, r: &Row) -> Row {
        super::super::values::write_row(&local.conn, &table.name, pk, Some(r)).unwrap();
        let back = local.read_row(table, pk).unwrap().unwrap();
        back.into_iter()
            .filter(|(k, _)| r.contains_key(k))
            .collect()
    }

    #[test]
    fn matches_what_sqlite_stores() {
        let (_dir, mut local) = open_temp();
        exec(
            &local,
            "CREATE TABLE t (id INTEGER PRIMARY KEY, flag BOOLEAN, price REAL, qty INT,
                 amount DECIMAL(10,2), name VARCHAR(20), raw, photo BLOB,
                 twice INT AS (qty * 2) STORED)",
        );
        let t = TableSpec {
            name: "t".into(),
            pk: "id".into(),
        };
        let cases = [
            json!({"id": 1, "flag": true, "price": 1.50, "qty": "42", "amount": "12.50",
                   "name": 7, "raw": "9", "photo": "AP8="}),
            json!({"id": 2, "flag": false, "price": 3, "qty": 2.0, "amount": 5.0,
                   "name": 1.5, "raw": 2.5, "photo": null}),
            json!({"id": 3, "price": "1e3", "qty": " 17 ", "amount": "abc", "name": "x",
                   "raw": [1, {"a": true}], "flag": {"k": 1}}),
            json!({"id": 4, "qty": "0x10", "price": "not a number", "amount": "9223372036854775808"}),
        ];
        for (i, case) in cases.iter().enumerate() {
            let r = row(case.clone());
            let pk = (i + 1).to_string();
            let normal = local.normalize(&t, &r).unwrap();
            assert_eq!(normal, round_trip(&mut local, &t, &pk, &r), "case {i}");
        }
        let one = local.normalize(&t, &row(cases[0].clone())).unwrap();
        assert_eq!(one["flag"], json!(1));
        assert_eq!(one["price"], json!(1.5));
        assert_eq!(one["qty"], json!(42));
        assert_eq!(one["name"], json!("7"));
        assert_eq!(one["raw"], json!("9"), "no declared type: no conversion");
        let two = local.normalize(&t, &row(cases[1].clone())).unwrap();
        assert_eq!(two["price"], json!(3.0));
        assert_eq!(two["qty"], json!(2));
    }

    #[test]
    fn keeps_only_present_local_columns_and_writes_nothing() {
        let (_dir, local) = open_temp();
        let items = TableSpec {
            name: "items".into(),
            pk: "id".into(),
        };
        let r = row(json!({"ID": "a", "qty": "3", "unknown": 1, "_ebb_version": 4}));
        let normal = local.normalize(&items, &r).unwrap();
        assert_eq!(Value::Object(normal), json!({"id": "a", "qty": 3}));
        assert!(local.read_row(&items, "a").unwrap().is_none());
        assert_eq!(
            local.normalize(&items, &row(json!({"x": 1}))).unwrap(),
            Row::new()
        );
        let missing = TableSpec {
            name: "nope".into(),
            pk: "id".into(),
        };
        assert!(matches!(
            local.normalize(&missing, &r),
            Err(LocalError::NoSuchTable { .. })
        ));
    }
}
