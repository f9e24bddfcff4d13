//! The local ids of the global keys one page of pulled rows names, read
//! in one query per table instead of one per key: a sale item names its
//! own key, its sale's and its product's, and at a few microseconds a
//! statement those lookups were a quarter of an integer-keyed initial
//! sync. A key the page's rows did not name (a value normalized into
//! another number) is looked up alone, as before.
//!
//! Read inside the plan's read transaction, so the answers are those the
//! lookups one by one would have given (`keys::localize` uses them).

use std::collections::{BTreeMap, HashMap};

use rusqlite::params;
use serde_json::Value;

use super::cached::Cached;
use super::keys::{KeyPlan, as_id};
use super::{Context, Local, LocalError};
use crate::model::Row;

/// The key map's answers for the global keys of a page: per table, each
/// global key asked and its local id (`None`: not mapped here).
#[derive(Debug, Default)]
pub struct KeyLookup {
    asked: BTreeMap<String, HashMap<i64, Option<i64>>>,
}

impl Local {
    /// Looks up every global key that `rows` of `table` name (key text and
    /// content, as pulled): their own key when the table is mapped, and
    /// each column pointing at a mapped table. One query per table named.
    pub fn key_lookup<'r>(
        &self,
        plan: &KeyPlan,
        table: &str,
        rows: impl IntoIterator<Item = (&'r str, Option<&'r Row>)>,
    ) -> Result<KeyLookup, LocalError> {
        let mut wanted: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        let Some(keys) = plan.of(table) else {
            return Ok(KeyLookup::default());
        };
        for (key, row) in rows {
            if keys.mapped {
                let own = wanted.entry(table).or_default();
                own.extend(key.parse::<i64>().ok());
                own.extend(row.and_then(|r| r.get(&keys.pk)).and_then(integral));
            }
            for (column, parent) in &keys.refs {
                if let Some(global) = row.and_then(|r| r.get(column)).and_then(integral) {
                    wanted.entry(parent.as_str()).or_default().push(global);
                }
            }
        }
        let mut lookup = KeyLookup::default();
        for (tbl, mut globals) in wanted {
            globals.sort_unstable();
            globals.dedup();
            let found = self.mapped_of(tbl, &globals)?;
            let answers = lookup.asked.entry(tbl.to_string()).or_default();
            answers.extend(globals.iter().map(|g| (*g, found.get(g).copied())));
        }
        Ok(lookup)
    }

    /// The local id of `global` in `table`: from `lookup` when the page
    /// named it, else from the key map.
    pub(crate) fn looked_up(
        &self,
        lookup: &KeyLookup,
        table: &str,
        global: i64,
    ) -> Result<Option<i64>, LocalError> {
        match lookup.asked.get(table).and_then(|a| a.get(&global)) {
            Some(answer) => Ok(*answer),
            None => self.local_key(table, global),
        }
    }

    /// The local ids of those of `globals` mapped in `table`.
    fn mapped_of(&self, table: &str, globals: &[i64]) -> Result<HashMap<i64, i64>, LocalError> {
        let list = Value::from(globals.to_vec()).to_string();
        self.conn
            .pairs(
                "SELECT k.global, k.local FROM json_each(?2) AS j
                 CROSS JOIN _ebb_keys AS k ON k.tbl = ?1 AND k.global = j.value",
                params![table, list],
            )
            .ctx(|| format!("reading the key map of {table}"))
    }
}

/// An integer id from a pulled value: what `as_id` reads, and a number
/// with nothing after its point (normalizing may make `5.0` the id 5).
fn integral(value: &Value) -> Option<i64> {
    as_id(value).or_else(|| {
        let f = value.as_f64()?;
        (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::local::testutil::{open_temp, specs};

    #[test]
    fn a_page_s_keys_are_answered_as_one_by_one() {
        let (_dir, mut local) = open_temp();
        local.install(&specs()).unwrap();
        let tables: Vec<_> = specs()
            .into_iter()
            .map(|s| {
                let mapped = s.name == "parents";
                (s, mapped)
            })
            .collect();
        let plan = local.key_plan(&tables, &[]).unwrap();
        for (l, g) in [(1, 7_000), (2, 7_001), (3, 9_000)] {
            local
                .conn
                .execute(
                    "INSERT INTO _ebb_keys (tbl, local, global) VALUES ('parents', ?1, ?2)",
                    params![l, g],
                )
                .unwrap();
        }
        let row = |v: Value| v.as_object().cloned().unwrap();
        let items = [
            ("a", row(json!({"id": "a", "parent_id": 7001}))),
            ("b", row(json!({"id": "b", "parent_id": "7000"}))),
            ("c", row(json!({"id": "c", "parent_id": 7005.0}))),
            ("d", row(json!({"id": "d", "parent_id": null}))),
        ];
        let lookup = local
            .key_lookup(&plan, "items", items.iter().map(|(k, r)| (*k, Some(r))))
            .unwrap();
        assert_eq!(
            lookup.asked["parents"].len(),
            3,
            "each key the page names, once"
        );
        let parents = [
            ("9000", row(json!({"id": 9000}))),
            ("9009", row(json!({"id": 9009}))),
        ];
        let own = local
            .key_lookup(&plan, "parents", parents.iter().map(|(k, r)| (*k, Some(r))))
            .unwrap();
        for global in [7_000, 7_001, 7_005, 9_000, 9_009, 7_002, 1] {
            for lookup in [&lookup, &own] {
                // Named by the page or not (then looked up alone): the
                // answer of the key map, one by one.
                assert_eq!(
                    local.looked_up(lookup, "parents", global).unwrap(),
                    local.local_key("parents", global).unwrap(),
                    "{global}"
                );
            }
        }
        assert_eq!(local.looked_up(&lookup, "parents", 7001).unwrap(), Some(2));
        assert_eq!(local.looked_up(&own, "parents", 9000).unwrap(), Some(3));
        assert!(
            local
                .key_lookup(&plan, "users", [])
                .unwrap()
                .asked
                .is_empty()
        );
    }
}
