//! Tests of the key map: minting on push, translating back on pull, and
//! adopting rows from other devices under fresh local ids.

use serde_json::json;

use super::super::testutil::{exec, open_temp, specs};
use super::*;
use crate::model::Op;

fn plan(local: &Local) -> KeyPlan {
    let tables: Vec<(TableSpec, bool)> = specs()
        .into_iter()
        .map(|s| {
            let mapped = s.name == "parents";
            (s, mapped)
        })
        .collect();
    local.key_plan(&tables, &[]).expect("plan")
}

fn row(v: serde_json::Value) -> Row {
    v.as_object().cloned().unwrap_or_default()
}

fn change(table: &str, pk: &str, content: serde_json::Value) -> Change {
    Change {
        table: table.into(),
        pk: pk.into(),
        op: Op::Upsert,
        base_version: None,
        row: Some(row(content)),
        device: "d".into(),
        counter: 1,
    }
}

#[test]
fn own_rows_get_keys_from_the_device_number_and_foreign_keys_follow() {
    let (_dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    let plan = plan(&local);
    assert!(plan.is_mapped("parents") && !plan.is_mapped("items"));
    assert!(plan.touches("items"), "items point at a mapped table");
    let mut changes = vec![
        change("parents", "7", json!({"id": 7, "name": "a"})),
        change("items", "x", json!({"id": "x", "parent_id": 7})),
    ];
    local.globalize(&plan, 3, &mut changes).unwrap();
    assert_eq!(changes[0].pk, "3000000000007");
    assert_eq!(
        changes[0].row.as_ref().unwrap()["id"],
        json!(3_000_000_000_007_i64)
    );
    assert_eq!(changes[1].pk, "x", "text keys are not mapped");
    assert_eq!(
        changes[1].row.as_ref().unwrap()["parent_id"],
        json!(3_000_000_000_007_i64)
    );
    // Stable: the same row maps to the same key again, under any number.
    let mut again = vec![change("parents", "7", json!({"id": 7}))];
    local.globalize(&plan, 9, &mut again).unwrap();
    assert_eq!(again[0].pk, "3000000000007");
    assert_eq!(
        local.local_key("parents", 3_000_000_000_007).unwrap(),
        Some(7)
    );
}

#[test]
fn rows_from_elsewhere_get_fresh_ids_and_children_point_at_them() {
    let (_dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    let plan = plan(&local);
    // The app has ids up to 5; AUTOINCREMENT-style history does not matter
    // for a plain INTEGER PRIMARY KEY: the next id is max + 1.
    exec(&local, "INSERT INTO parents (id, name) VALUES (5, 'mine')");
    let spec = &specs()[0];
    let tx = local.conn.transaction().unwrap();
    let theirs = row(json!({"id": 2_000_000_000_001_i64, "name": "theirs"}));
    let writer = Writer::new(&tx, "parents").unwrap();
    let id = adopt(&tx, spec, &writer, 2_000_000_000_001, &theirs).unwrap();
    tx.commit().unwrap();
    assert_eq!(id, 6);
    assert_eq!(
        local.local_key("parents", 2_000_000_000_001).unwrap(),
        Some(6)
    );
    // A child from the server names the parent by its global key.
    let mut child = row(json!({"id": "c", "parent_id": 2_000_000_000_001_i64}));
    assert_eq!(
        local
            .localize(&plan, &KeyLookup::default(), "items", &mut child)
            .unwrap(),
        Ok(())
    );
    assert_eq!(child["parent_id"], json!(6));
    // One naming a parent not pulled yet is reported, not guessed.
    let mut orphan = row(json!({"id": "o", "parent_id": 4_000_000_000_001_i64}));
    let missing = local
        .localize(&plan, &KeyLookup::default(), "items", &mut orphan)
        .unwrap()
        .unwrap_err();
    assert_eq!(
        (missing.parent.as_str(), missing.global),
        ("parents", 4_000_000_000_001)
    );
}

#[test]
fn ids_beyond_the_span_are_refused_by_name() {
    let (_dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    let plan = plan(&local);
    let mut changes = vec![change("parents", "1000000000000", json!({"id": 1}))];
    let err = local.globalize(&plan, 1, &mut changes).unwrap_err();
    assert!(err.to_string().contains("cannot be mapped"), "{err}");
}

#[test]
fn the_device_number_belongs_to_the_device_id() {
    let (_dir, mut local) = open_temp();
    assert_eq!(local.device_number().unwrap(), None);
    local.set_device_number(4).unwrap();
    assert_eq!(local.device_number().unwrap(), Some(4));
    local.renew_device_id().unwrap();
    assert_eq!(
        local.device_number().unwrap(),
        None,
        "a copied file asks again"
    );
}
