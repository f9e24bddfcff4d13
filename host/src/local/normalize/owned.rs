//! `Local::normalize_owned`: `normalize` of a row its caller gives up.
//! The row is changed in place, so the rows of a pulled page become the
//! rows of its plan without a copy of each key and text (a fifth of an
//! initial sync's client time went to those copies and to freeing both).

use serde_json::Value;

use super::super::inspect::{TableInfo, affinity};
use super::super::{Local, LocalError, TableSpec};
use super::{Scratch, SqlValue, kept, quick, stored};
use crate::model::Row;

impl Local {
    /// What [`Local::normalize`] answers for `row`, taking `row` instead of
    /// copying it: the values SQLite would store otherwise are replaced
    /// and keys naming no local column removed, in place. A row only
    /// SQLite can convert, or whose keys spell a column otherwise than it
    /// is spelled, goes the copying way.
    pub fn normalize_owned(&self, table: &TableSpec, mut row: Row) -> Result<Row, LocalError> {
        let info = self.described(&table.name)?;
        let changes = {
            let mut scratch = self.scratch.borrow_mut();
            self.changes(&mut scratch, table, &info, &row)?
        };
        let Some(Changes { values, unknown }) = changes else {
            return self.normalize(table, &row);
        };
        let mut values = values.into_iter().peekable();
        for (at, (_, value)) in row.iter_mut().enumerate() {
            if let Some((_, new)) = values.next_if(|(i, _)| *i == at) {
                *value = new;
            }
        }
        if unknown {
            row.retain(|key, _| info.column(key).is_some());
        }
        Ok(row)
    }

    /// The values of `row` (by position) that normalizing replaces, and
    /// whether any key names no local column; `None` when the row must go
    /// the copying way.
    fn changes(
        &self,
        scratch: &mut Scratch,
        table: &TableSpec,
        info: &TableInfo,
        row: &Row,
    ) -> Result<Option<Changes>, LocalError> {
        let mut changes = Changes::default();
        for (at, (key, value)) in row.iter().enumerate() {
            let Some(column) = info.column(key) else {
                changes.unknown = true;
                continue;
            };
            // Another spelling of the name (perhaps beside the column's own).
            if column.name != *key {
                return Ok(None);
            }
            let redated = match value {
                Value::String(text) => self.redate(scratch, table, column, row, text)?,
                _ => None,
            };
            let new = match redated {
                Some(text) => stored(&SqlValue::Text(text), affinity(&column.decl_type)),
                None if kept(value, &column.decl_type) => continue,
                None => quick(value, &column.decl_type),
            };
            match new {
                Some(new) => changes.values.push((at, new)),
                None => return Ok(None),
            }
        }
        Ok(Some(changes))
    }
}

/// What `normalize_owned` changes in a row.
#[derive(Default)]
struct Changes {
    /// New values, by position in the row, in order.
    values: Vec<(usize, Value)>,
    /// Some key names no local column (it is removed).
    unknown: bool,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::super::super::testutil::{exec, open_temp};
    use crate::local::TableSpec;
    use crate::model::Row;

    /// A key of the test table (or not), as pulled rows spell them.
    fn key() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "id", "flag", "price", "qty", "amount", "name", "raw", "photo", "made", "twice",
            "NAME", "Qty", "extra",
        ])
        .prop_map(str::to_string)
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            prop::sample::select(vec![
                "42",
                " 17 ",
                "1.50",
                "1e3",
                "abc",
                "",
                "AP8=",
                "not base64!",
                "0x10",
                "2026-12-05T23:07:40+00:00",
                "2026-12-05",
                "9223372036854775808",
            ])
            .prop_map(Value::from),
            Just(json!([1, {"a": true}])),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Whatever a pulled row holds, normalizing it in place answers
        /// what normalizing a copy does: the same keys in the same order,
        /// the same values.
        #[test]
        fn in_place_answers_what_the_copy_does(
            entries in prop::collection::vec((key(), value()), 0..12),
        ) {
            let (_dir, local) = open_temp();
            exec(
                &local,
                "CREATE TABLE t (id INTEGER PRIMARY KEY, flag BOOLEAN, price REAL, qty INT,
                     amount DECIMAL(10,2), name VARCHAR(20), raw, photo BLOB,
                     made TEXT DEFAULT CURRENT_TIMESTAMP, twice INT AS (qty * 2) STORED)",
            );
            let t = TableSpec { name: "t".into(), pk: "id".into() };
            let row: Row = entries.into_iter().collect();
            let copied = local.normalize(&t, &row).unwrap();
            let owned = local.normalize_owned(&t, row).unwrap();
            prop_assert_eq!(
                owned.iter().collect::<Vec<_>>(),
                copied.iter().collect::<Vec<_>>()
            );
            // Normalizing a normalized row changes nothing.
            let again = local.normalize_owned(&t, owned.clone()).unwrap();
            prop_assert_eq!(again.iter().collect::<Vec<_>>(), owned.iter().collect::<Vec<_>>());
        }
    }
}
