//! Tests of holding refused pulled rows (a child module of `hold`).

use serde_json::{Value, json};

use super::super::testutil::{exec, open_temp, queue, specs};
use super::super::{ConflictRecord, Local};
use super::*;
use crate::model::Cursor;
use crate::model::Op;

fn row(value: Value) -> Row {
    value.as_object().cloned().expect("object")
}

fn spec(name: &str) -> TableSpec {
    TableSpec {
        name: name.into(),
        pk: "id".into(),
    }
}

fn write(pk: &str, expect: Option<i64>, r: Option<Value>, version: i64) -> ApplyOp {
    let r = r.map(row);
    ApplyOp {
        pk: pk.into(),
        expect_counter: expect,
        action: Action::Write { row: r, version },
    }
}

fn cursor(txid: &str) -> Cursor {
    Cursor {
        txid: txid.into(),
        pk: String::new(),
    }
}

/// The one open conflict of a row.
fn open_conflict(local: &Local, table: &str, pk: &str) -> ConflictRecord {
    let open: Vec<_> = local
        .conflicts(false)
        .unwrap()
        .into_iter()
        .filter(|c| c.table == table && c.pk == pk)
        .collect();
    assert_eq!(open.len(), 1, "one open conflict for {table} {pk}");
    open.into_iter().next().unwrap()
}

/// Marks every queued row as pushed (as if synced before the test).
fn synced(local: &Local) {
    exec(local, "DELETE FROM _ebb_queue");
}

#[test]
fn a_unique_clash_is_held_and_the_page_goes_on() {
    let (_dir, mut local) = open_temp();
    exec(
        &local,
        "CREATE TABLE skus (id INTEGER PRIMARY KEY, sku TEXT UNIQUE, n INT CHECK (n >= 0))",
    );
    let skus = spec("skus");
    local.install(std::slice::from_ref(&skus)).unwrap();
    exec(&local, "INSERT INTO skus (id, sku, n) VALUES (1, 'A', 1)");
    synced(&local);
    let page = [
        write("2", None, Some(json!({"id": 2, "sku": "A", "n": 1})), 7),
        write("3", None, Some(json!({"id": 3, "sku": "B", "n": -1})), 8),
        write("4", None, Some(json!({"id": 4, "sku": "C", "n": 1})), 9),
    ];
    local.apply(&skus, &page, Some(&cursor("50")), 100).unwrap();
    assert_eq!(local.cursor("skus").unwrap(), cursor("50"));
    assert!(local.read_row(&skus, "4").unwrap().is_some());
    for (pk, kind, sku) in [("2", "UNIQUE", "A"), ("3", "CHECK", "B")] {
        assert!(local.read_row(&skus, pk).unwrap().is_none());
        assert!(local.row_state("skus", pk).unwrap().is_none());
        let c = open_conflict(&local, "skus", pk);
        assert_eq!(c.policy, HELD_POLICY);
        assert!(c.reason.contains(kind), "{}", c.reason);
        assert_eq!((c.local.is_none(), c.held), (true, true));
        assert_eq!(c.remote.unwrap()["sku"], json!(sku));
        let item = queue(&local, "skus", pk);
        assert_eq!((item.state.as_str(), item.op), ("conflict", Op::Delete));
    }
    assert_eq!(open_conflict(&local, "skus", "2").remote_version, 7);

    // still clashing: retried, stays open and untouched
    assert_eq!(local.retry_held(110).unwrap(), 0);
    assert_eq!(local.conflicts(false).unwrap().len(), 2);
    // the clash is gone once the local row moves on
    exec(&local, "UPDATE skus SET sku = 'Z' WHERE id = 1");
    assert_eq!(local.retry_held(120).unwrap(), 1);
    assert_eq!(
        local.read_row(&skus, "2").unwrap().unwrap()["sku"],
        json!("A")
    );
    assert!(local.queue_item("skus", "2").unwrap().is_none());
    assert_eq!(local.row_state("skus", "2").unwrap().unwrap().version, 7);
    let done = local.conflicts(true).unwrap();
    let two = done.iter().find(|c| c.pk == "2").unwrap();
    assert_eq!(
        (two.resolution.as_deref(), two.resolved_at),
        (Some("retried"), Some(120))
    );
    assert_eq!(
        local.retry_held(130).unwrap(),
        0,
        "the CHECK row stays held"
    );
}

#[test]
fn a_refused_row_in_a_bulk_page_falls_back_to_row_by_row() {
    // The first pass writes upserts without a savepoint each; the refused
    // row sends the page back to its savepoint and through the per-row
    // path: rows before and after it land once, only it is held.
    let (_dir, mut local) = open_temp();
    exec(
        &local,
        "CREATE TABLE skus (id INTEGER PRIMARY KEY, sku TEXT UNIQUE)",
    );
    let skus = spec("skus");
    local.install(std::slice::from_ref(&skus)).unwrap();
    exec(&local, "INSERT INTO skus (id, sku) VALUES (1, 'A')");
    synced(&local);
    let page: Vec<ApplyOp> = (2..=40)
        .map(|i| {
            let sku = if i == 20 {
                "A".to_string()
            } else {
                format!("S{i}")
            };
            write(&i.to_string(), None, Some(json!({"id": i, "sku": sku})), i)
        })
        .collect();
    local.apply(&skus, &page, Some(&cursor("60")), 100).unwrap();
    assert_eq!(local.cursor("skus").unwrap(), cursor("60"));
    let count: i64 = local
        .conn
        .query_row("SELECT count(*) FROM skus", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 39, "the local row and every pulled row but one");
    for i in (2..=40).filter(|i| *i != 20) {
        let state = local.row_state("skus", &i.to_string()).unwrap().unwrap();
        assert_eq!(state.version, i);
    }
    assert!(local.read_row(&skus, "20").unwrap().is_none());
    let held = open_conflict(&local, "skus", "20");
    assert!(held.reason.contains("UNIQUE"), "{}", held.reason);
    assert_eq!(local.conflicts(false).unwrap().len(), 1);
    let queued: i64 = local
        .conn
        .query_row("SELECT count(*) FROM _ebb_queue", [], |r| r.get(0))
        .unwrap();
    assert_eq!(queued, 1, "only the held row waits, in conflict");
}

#[test]
fn a_held_row_with_a_local_edit_waits_for_a_person() {
    let (_dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    let items = specs().remove(1);
    exec(&local, "INSERT INTO items (id, qty) VALUES ('a', 3)");
    let counter = queue(&local, "items", "a").counter;
    // server wins, but its row breaks NOT NULL here
    let op = write("a", Some(counter), Some(json!({"id": "a", "qty": null})), 4);
    local.apply(&items, &[op], None, 10).unwrap();
    let c = open_conflict(&local, "items", "a");
    assert!(c.reason.contains("NOT NULL"), "{}", c.reason);
    assert_eq!(c.local.unwrap()["qty"], json!(3));
    assert!(!c.held, "a local edit is at stake");
    assert_eq!(queue(&local, "items", "a").state, "conflict");
    assert_eq!(local.retry_held(20).unwrap(), 0);
    assert_eq!(
        local.read_row(&items, "a").unwrap().unwrap()["qty"],
        json!(3)
    );
}

#[test]
fn other_errors_still_fail_the_whole_page() {
    let (_dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    let parents = specs().remove(0);
    let page = [
        write("1", None, Some(json!({"id": 1, "name": "one"})), 1),
        write("2", None, Some(json!({"id": 3, "name": "wrong key"})), 1),
    ];
    let err = local.apply(&parents, &page, Some(&cursor("9")), 0);
    assert!(
        matches!(err, Err(LocalError::BadPrimaryKey { .. })),
        "{err:?}"
    );
    assert!(local.read_row(&parents, "1").unwrap().is_none());
    assert_eq!(local.cursor("parents").unwrap(), Cursor::default());
}

#[test]
fn a_child_before_its_parent_is_held_then_retried() {
    let (_dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    let (parents, items) = (specs().remove(0), specs().remove(1));
    let page = [
        write(
            "c",
            None,
            Some(json!({"id": "c", "parent_id": 5, "qty": 1})),
            3,
        ),
        write(
            "d",
            None,
            Some(json!({"id": "d", "parent_id": null, "qty": 1})),
            4,
        ),
    ];
    local.apply(&items, &page, Some(&cursor("20")), 10).unwrap();
    assert_eq!(local.cursor("items").unwrap(), cursor("20"));
    assert!(local.read_row(&items, "c").unwrap().is_none());
    assert!(local.read_row(&items, "d").unwrap().is_some());
    let c = open_conflict(&local, "items", "c");
    assert!(c.reason.contains("\"parents\""), "{}", c.reason);
    assert!(c.held);
    assert_eq!(local.retry_held(15).unwrap(), 0, "parent still missing");

    // the parent arrives with the next round's parents page
    let parent = write("5", None, Some(json!({"id": 5, "name": "p"})), 9);
    local.apply(&parents, &[parent], None, 20).unwrap();
    assert_eq!(local.retry_held(30).unwrap(), 1);
    assert_eq!(
        local.read_row(&items, "c").unwrap().unwrap()["parent_id"],
        json!(5)
    );
    assert!(local.queue_item("items", "c").unwrap().is_none());
    assert!(local.conflicts(false).unwrap().is_empty());
}

#[test]
fn a_newer_version_of_a_held_row_is_applied_not_made_manual() {
    let (_dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    let items = specs().remove(1);
    let orphan = write("c", None, Some(json!({"id": "c", "parent_id": 5})), 3);
    local.apply(&items, &[orphan], None, 10).unwrap();
    let counter = queue(&local, "items", "c").counter;
    // what sync plans for a row whose queue item is in 'conflict'
    let newer = ApplyOp {
        pk: "c".into(),
        expect_counter: Some(counter),
        action: Action::Conflict {
            local: None,
            remote: Some(row(json!({"id": "c", "parent_id": null, "qty": 2}))),
            base: None,
            remote_version: 4,
            policy: "manual".into(),
            reason: "the remote row changed again while the conflict was open".into(),
        },
    };
    local
        .apply(&items, std::slice::from_ref(&newer), None, 20)
        .unwrap();
    assert_eq!(
        local.read_row(&items, "c").unwrap().unwrap()["qty"],
        json!(2)
    );
    assert!(local.conflicts(false).unwrap().is_empty());
    assert_eq!(
        local.conflicts(true).unwrap()[0].resolution.as_deref(),
        Some("retried")
    );
    // once the app edits a held row, a newer version is a manual conflict
    let orphan = write("e", None, Some(json!({"id": "e", "parent_id": 6})), 3);
    local.apply(&items, &[orphan], None, 30).unwrap();
    exec(&local, "INSERT INTO items (id, qty) VALUES ('e', 9)");
    let edited = queue(&local, "items", "e");
    assert_eq!(edited.state, "conflict");
    let mut again = newer;
    again.pk = "e".into();
    again.expect_counter = Some(edited.counter);
    if let Action::Conflict { remote, .. } = &mut again.action {
        *remote = Some(row(json!({"id": "e", "parent_id": null, "qty": 2})));
    }
    local.apply(&items, &[again], None, 40).unwrap();
    let c = open_conflict(&local, "items", "e");
    assert_eq!((c.policy.as_str(), c.held), ("manual", false));
    assert_eq!(
        local.read_row(&items, "e").unwrap().unwrap()["qty"],
        json!(9)
    );
}

#[test]
fn a_parent_delete_blocked_by_local_children_is_held() {
    let (_dir, mut local) = open_temp();
    exec(
        &local,
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT);
         CREATE TABLE lines (id INTEGER PRIMARY KEY, order_id INTEGER REFERENCES orders (id));
         CREATE TABLE stops (id INTEGER PRIMARY KEY,
             order_id INTEGER REFERENCES orders (id) ON DELETE RESTRICT);
         INSERT INTO orders (id) VALUES (1), (2), (3);
         INSERT INTO lines (id, order_id) VALUES (10, 1);
         INSERT INTO stops (id, order_id) VALUES (30, 3);",
    );
    let (orders, lines) = (spec("orders"), spec("lines"));
    local
        .install(&[orders.clone(), lines.clone(), spec("stops")])
        .unwrap();
    synced(&local);
    let page = [
        write("1", None, None, 5),
        write("2", None, None, 6),
        write("3", None, None, 7),
    ];
    local
        .apply(&orders, &page, Some(&cursor("70")), 10)
        .unwrap();
    assert_eq!(local.cursor("orders").unwrap(), cursor("70"));
    assert!(
        local.read_row(&orders, "2").unwrap().is_none(),
        "unreferenced: deleted"
    );
    assert!(local.read_row(&orders, "1").unwrap().is_some());
    assert!(local.read_row(&orders, "3").unwrap().is_some());
    let one = open_conflict(&local, "orders", "1");
    assert!(one.reason.contains("\"lines\""), "{}", one.reason);
    assert_eq!(
        (one.remote.is_none(), one.remote_version, one.held),
        (true, 5, true)
    );
    // with defer_foreign_keys, SQLite defers RESTRICT too
    let three = open_conflict(&local, "orders", "3");
    assert!(three.reason.contains("\"stops\""), "{}", three.reason);
    assert_eq!(
        (
            queue(&local, "orders", "1").state.as_str(),
            queue(&local, "orders", "1").op
        ),
        ("conflict", Op::Upsert)
    );
    // the children's deletes arrive with the lines page; the retry goes through
    local
        .apply(&lines, &[write("10", None, None, 8)], None, 20)
        .unwrap();
    assert_eq!(local.retry_held(30).unwrap(), 1);
    assert!(local.read_row(&orders, "1").unwrap().is_none());
    assert_eq!(local.row_state("orders", "1").unwrap().unwrap().version, 5);
    assert_eq!(
        local.conflicts(false).unwrap().len(),
        1,
        "order 3 still held"
    );
}

#[test]
fn a_cascade_never_erases_unpushed_child_edits() {
    let (_dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    let (parents, items) = (specs().remove(0), specs().remove(1));
    exec(
        &local,
        "INSERT INTO parents (id) VALUES (1), (2);
         INSERT INTO items (id, parent_id) VALUES ('c', 1), ('d', 2);",
    );
    synced(&local);
    exec(&local, "UPDATE items SET qty = 5 WHERE id = 'c'");
    let edit = queue(&local, "items", "c").counter;
    let page = [write("1", None, None, 3), write("2", None, None, 4)];
    local
        .apply(&parents, &page, Some(&cursor("40")), 10)
        .unwrap();
    assert!(local.read_row(&parents, "2").unwrap().is_none());
    assert!(local.read_row(&items, "d").unwrap().is_none(), "cascaded");
    assert!(local.read_row(&parents, "1").unwrap().is_some(), "held");
    assert_eq!(
        local.read_row(&items, "c").unwrap().unwrap()["qty"],
        json!(5)
    );
    let item = queue(&local, "items", "c");
    assert_eq!((item.state.as_str(), item.counter), ("pending", edit));
    let c = open_conflict(&local, "parents", "1");
    assert!(c.reason.contains("items c"), "{}", c.reason);
    assert!(c.held);
    assert_eq!(local.retry_held(20).unwrap(), 0, "the edit is still queued");
    // once the child's edit is pushed, the held delete goes through
    exec(&local, "DELETE FROM _ebb_queue WHERE tbl = 'items'");
    assert_eq!(local.retry_held(30).unwrap(), 1);
    assert!(local.read_row(&parents, "1").unwrap().is_none());
    assert!(local.read_row(&items, "c").unwrap().is_none());
    assert!(local.queue_items(&[], 10).unwrap().is_empty());
}
