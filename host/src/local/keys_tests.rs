//! Tests of the key map: minting on push, translating back on pull, and
//! adopting rows from other devices under fresh local ids.

use serde_json::json;

use super::super::action::{Action, ApplyOp};
use super::super::testutil::{exec, open_temp, specs};
use super::*;
use crate::model::{Cursor, Op};

fn plan(local: &Local) -> KeyPlan {
    plan_for(local, specs())
}

/// The key plan of `tables`, `parents` the one mapped.
fn plan_for(local: &Local, tables: Vec<TableSpec>) -> KeyPlan {
    let tables: Vec<(TableSpec, bool)> = tables
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

/// The app's `tags` table made by `schema`, synced, holding tag 1 "red".
fn tags_table(local: &mut Local, schema: &str) -> TableSpec {
    exec(local, schema);
    let tags = TableSpec {
        name: "tags".into(),
        pk: "id".into(),
    };
    local.install(std::slice::from_ref(&tags)).unwrap();
    exec(local, "INSERT INTO tags (name) VALUES ('red')");
    tags
}

/// A tag from another device, to adopt under a fresh local id.
fn adopt_op(global: i64, name: &str) -> ApplyOp {
    let content = row(json!({"id": global, "name": name}));
    ApplyOp {
        pk: format!("@{global}"),
        expect_counter: None,
        action: Action::Adopt {
            global,
            row: content.clone(),
            version: 1,
            pulled: crate::model::PulledRow {
                pk: global.to_string(),
                version: 1,
                txid: "9".into(),
                deleted: false,
                origin: Some("another".into()),
                row: Some(content),
            },
        },
    }
}

/// The tags' names in id order, and how many are mapped.
fn tags_of(local: &Local) -> (Vec<(i64, String)>, i64) {
    let names = local
        .conn
        .prepare("SELECT id, name FROM tags ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mapped = local
        .conn
        .query_row(
            "SELECT count(*) FROM _ebb_keys WHERE tbl = 'tags'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    (names, mapped)
}

/// Rows from another device adopted under fresh local ids: one a local
/// UNIQUE constraint refuses is set aside alone (the bulk pass goes row by
/// row for it), the others are written and mapped, the cursor moves.
#[test]
fn a_row_to_adopt_refused_by_a_local_constraint_is_set_aside_alone() {
    let (_dir, mut local) = open_temp();
    let tags = tags_table(
        &mut local,
        "CREATE TABLE tags (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE)",
    );
    let ops = [
        adopt_op(1001, "blue"),
        adopt_op(1002, "red"),
        adopt_op(1003, "green"),
    ];
    let cursor = Cursor {
        txid: "9".into(),
        pk: "1003".into(),
    };
    local.apply(&tags, &ops, Some(&cursor), 0).unwrap();
    let (names, mapped) = tags_of(&local);
    let names: Vec<&str> = names.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["red", "blue", "green"]);
    assert_eq!(mapped, 2);
    let aside = local.deferred("tags").unwrap();
    assert_eq!(aside.len(), 1);
    assert_eq!(aside[0].pk, "1002");
    assert_eq!(local.cursor("tags").unwrap(), cursor);
}

/// Adopts blue, green and white from another device; the tags after.
fn adopt_blue_green_white(local: &mut Local, tags: &TableSpec) -> (Vec<(i64, String)>, i64) {
    let ops = [
        adopt_op(1001, "blue"),
        adopt_op(1002, "green"),
        adopt_op(1003, "white"),
    ];
    local.apply(tags, &ops, None, 0).unwrap();
    tags_of(local)
}

/// Adoptions in a row take the ids after the table's highest, read once;
/// when something else takes the next id meanwhile (here an app trigger
/// inserting into the same table, which runs because the table's own
/// foreign key action leaves it unguarded by `nested`), the adoption reads
/// the highest again: no row is written over and none is set aside.
#[test]
fn adoptions_take_fresh_ids_and_never_write_over_a_row() {
    let (_dir, mut local) = open_temp();
    let tags = tags_table(
        &mut local,
        "CREATE TABLE tags (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT,
             up INTEGER REFERENCES tags (id) ON DELETE CASCADE);
         CREATE TRIGGER shadow AFTER INSERT ON tags WHEN NEW.name = 'blue' BEGIN
             INSERT INTO tags (id, name) VALUES (NEW.id + 1, 'blue shadow');
         END;",
    );
    let (names, mapped) = adopt_blue_green_white(&mut local, &tags);
    let expect = [
        (1, "red"),
        (2, "blue"),
        (3, "blue shadow"),
        (4, "green"),
        (5, "white"),
    ];
    let names: Vec<(i64, &str)> = names.iter().map(|(i, n)| (*i, n.as_str())).collect();
    assert_eq!(names, expect);
    assert_eq!(mapped, 3);
    assert!(local.deferred("tags").unwrap().is_empty());
    assert_eq!(local.local_key("tags", 1002).unwrap(), Some(4));
}

/// The same app trigger on a table `nested` guards: its insert into the
/// table whose row ebb adopts is skipped and counted (the other device ran
/// it, and its row arrives by pull), and the ids follow on.
#[test]
fn an_app_triggers_insert_beside_an_adopted_row_is_skipped() {
    let (_dir, mut local) = open_temp();
    let tags = tags_table(
        &mut local,
        "CREATE TABLE tags (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT);
         CREATE TRIGGER shadow AFTER INSERT ON tags WHEN NEW.name = 'blue' BEGIN
             INSERT INTO tags (id, name) VALUES (NEW.id + 1, 'blue shadow');
         END;",
    );
    let (names, mapped) = adopt_blue_green_white(&mut local, &tags);
    let names: Vec<(i64, &str)> = names.iter().map(|(i, n)| (*i, n.as_str())).collect();
    assert_eq!(names, [(1, "red"), (2, "blue"), (3, "green"), (4, "white")]);
    assert_eq!(mapped, 3);
    let skipped = local.skipped_news().unwrap();
    assert_eq!(skipped.len(), 1);
    assert_eq!((skipped[0].table.as_str(), skipped[0].rows), ("tags", 1));
}

/// SQLite's names ignore case: a reference to `Parents` is one to the
/// mapped `parents`, and its column is translated as any other.
#[test]
fn a_reference_spelled_in_another_case_is_followed() {
    let (_dir, mut local) = open_temp();
    exec(
        &local,
        "CREATE TABLE lines (id TEXT PRIMARY KEY, parent_id INTEGER REFERENCES Parents (id))",
    );
    let lines = TableSpec {
        name: "lines".into(),
        pk: "id".into(),
    };
    let mut all = specs();
    all.push(lines.clone());
    local.install(&all).unwrap();
    let plan = plan_for(&local, all);
    assert!(plan.touches("lines"));
    let mut changes = vec![
        change("parents", "7", json!({"id": 7, "name": "a"})),
        change("lines", "x", json!({"id": "x", "parent_id": 7})),
    ];
    local.globalize(&plan, 3, &mut changes).unwrap();
    assert_eq!(
        changes[1].row.as_ref().unwrap()["parent_id"],
        json!(3_000_000_000_007_i64)
    );
}
