//! Tests of `apply` (a child module of `apply`).

use std::time::Duration;

use rusqlite::params;
use serde_json::json;

use super::super::action::Action;
use super::super::testutil::{exec, open_temp, other_connection, queue, specs};
use super::*;
use crate::model::{Op, Row};

fn row(value: serde_json::Value) -> Row {
    value.as_object().cloned().expect("object")
}

fn write(pk: &str, expect: Option<i64>, r: Option<Row>, version: i64) -> ApplyOp {
    ApplyOp {
        pk: pk.into(),
        expect_counter: expect,
        action: Action::Write { row: r, version },
    }
}

fn parents() -> TableSpec {
    specs().remove(0)
}

fn guard(conn: &rusqlite::Connection) -> i64 {
    conn.query_row("SELECT active FROM _ebb_guard", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn writes_without_capture_and_stores_cursor() {
    let (dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    let cursor = Cursor {
        txid: "812".into(),
        pk: "2".into(),
    };
    let ops = [
        write("1", None, Some(row(json!({"id": 1, "name": "one"}))), 4),
        write("2", None, Some(row(json!({"id": 2, "name": "two"}))), 5),
    ];
    local.apply(&parents(), &ops, Some(&cursor), 0).unwrap();
    assert!(local.queue_items(&[], 10).unwrap().is_empty());
    assert_eq!(local.cursor("parents").unwrap(), cursor);
    assert_eq!(local.cursor("items").unwrap(), Cursor::default());
    let state = local.row_state("parents", "2").unwrap().unwrap();
    assert_eq!(state.version, 5);
    assert_eq!(state.base.unwrap()["name"], json!("two"));
    let other = other_connection(&dir);
    assert_eq!(guard(&other), 0);
    other
        .execute("UPDATE parents SET name = 'app' WHERE id = 1", [])
        .unwrap();
    assert_eq!(
        queue(&local, "parents", "1").state,
        "pending",
        "the app is still captured"
    );

    let counter = queue(&local, "parents", "1").counter;
    local
        .apply(&parents(), &[write("1", Some(counter), None, 6)], None, 0)
        .unwrap();
    assert!(local.read_row(&parents(), "1").unwrap().is_none());
    assert!(local.queue_item("parents", "1").unwrap().is_none());
    let state = local.row_state("parents", "1").unwrap().unwrap();
    assert_eq!((state.version, state.base), (6, None));
    assert_eq!(
        local.cursor("parents").unwrap(),
        cursor,
        "cursor kept when none given"
    );
}

#[test]
fn stale_counter_rolls_back_the_whole_page() {
    let (dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    exec(
        &local,
        "INSERT INTO parents (id, name) VALUES (2, 'local edit')",
    );
    let ops = [
        write("1", None, Some(row(json!({"id": 1, "name": "one"}))), 4),
        write("2", None, Some(row(json!({"id": 2, "name": "remote"}))), 5),
    ];
    let cursor = Cursor {
        txid: "9".into(),
        pk: "2".into(),
    };
    let err = local.apply(&parents(), &ops, Some(&cursor), 0).unwrap_err();
    assert!(
        matches!(&err, LocalError::Stale { table, pk } if table == "parents" && pk == "2"),
        "{err}"
    );
    assert!(local.read_row(&parents(), "1").unwrap().is_none());
    assert!(local.row_state("parents", "1").unwrap().is_none());
    assert_eq!(
        local.read_row(&parents(), "2").unwrap().unwrap()["name"],
        json!("local edit")
    );
    assert_eq!(local.cursor("parents").unwrap(), Cursor::default());
    assert_eq!(guard(&other_connection(&dir)), 0);
    assert_eq!(guard(&local.conn), 0);
}

#[test]
fn keep_write_and_push_and_conflict() {
    let (_dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    exec(
        &local,
        "INSERT INTO parents (id, name) VALUES (1, 'mine'), (2, 'mine too')",
    );
    let c1 = queue(&local, "parents", "1").counter;
    let c2 = queue(&local, "parents", "2").counter;
    let remote = row(json!({"id": 1, "name": "theirs"}));
    let merged = row(json!({"id": 2, "name": "merged"}));
    let ops = [
        ApplyOp {
            pk: "1".into(),
            expect_counter: Some(c1),
            action: Action::Keep {
                version: 8,
                base: Some(remote.clone()),
            },
        },
        ApplyOp {
            pk: "2".into(),
            expect_counter: Some(c2),
            action: Action::WriteAndPush {
                row: Some(merged.clone()),
                version: 9,
                base: None,
            },
        },
        ApplyOp {
            pk: "3".into(),
            expect_counter: None,
            action: Action::Conflict {
                local: None,
                remote: Some(row(json!({"id": 3, "name": "r"}))),
                base: None,
                remote_version: 2,
                policy: "manual".into(),
                reason: "both sides created it".into(),
            },
        },
    ];
    local.apply(&parents(), &ops, None, 77).unwrap();
    let kept = queue(&local, "parents", "1");
    assert_eq!((kept.state.as_str(), kept.counter), ("pending", c1));
    assert_eq!(
        local.read_row(&parents(), "1").unwrap().unwrap()["name"],
        json!("mine")
    );
    assert_eq!(
        local.row_state("parents", "1").unwrap().unwrap().base,
        Some(remote)
    );
    let pushed = queue(&local, "parents", "2");
    assert_eq!((pushed.state.as_str(), pushed.op), ("pending", Op::Upsert));
    assert!(pushed.counter > c2);
    assert_eq!(local.read_row(&parents(), "2").unwrap(), Some(merged));
    let conflict = queue(&local, "parents", "3");
    assert_eq!(
        (conflict.state.as_str(), conflict.op),
        ("conflict", Op::Delete)
    );
    let open = local.conflicts(false).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!((open[0].remote_version, open[0].created_at), (2, 77));

    // a newer remote version refreshes the same open conflict
    let refresh = ApplyOp {
        pk: "3".into(),
        expect_counter: Some(conflict.counter),
        action: Action::Conflict {
            local: None,
            remote: None,
            base: None,
            remote_version: 3,
            policy: "manual".into(),
            reason: "deleted remotely".into(),
        },
    };
    local.apply(&parents(), &[refresh], None, 90).unwrap();
    let open = local.conflicts(false).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!((open[0].remote_version, open[0].remote.clone()), (3, None));
    assert_eq!(open[0].reason, "deleted remotely");
    // an app edit while in conflict stays in conflict
    exec(&local, "INSERT INTO parents (id, name) VALUES (3, 'app')");
    assert_eq!(queue(&local, "parents", "3").state, "conflict");
    assert!(
        local
            .claim(&specs(), 10, 0, None)
            .unwrap()
            .iter()
            .all(|c| c.change.pk != "3")
    );
}

#[test]
fn foreign_keys_are_checked_at_commit() {
    let (dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    let items = specs().remove(1);
    // an orphan does not fail the page: it is held (see hold_tests)
    let orphan = row(json!({"id": "c", "parent_id": 5, "qty": 1}));
    local
        .apply(&items, &[write("c", None, Some(orphan), 1)], None, 0)
        .unwrap();
    assert!(local.read_row(&items, "c").unwrap().is_none());
    assert_eq!(local.conflicts(false).unwrap()[0].policy, "constraint");
    assert_eq!(guard(&other_connection(&dir)), 0);
    // within one page, a child may come before its parent: checked at commit
    exec(
        &local,
        "CREATE TABLE nodes (id INTEGER PRIMARY KEY, up INTEGER REFERENCES nodes (id))",
    );
    let nodes = TableSpec {
        name: "nodes".into(),
        pk: "id".into(),
    };
    let page = [
        write("1", None, Some(row(json!({"id": 1, "up": 2}))), 1),
        write("2", None, Some(row(json!({"id": 2, "up": null}))), 1),
    ];
    local.apply(&nodes, &page, None, 0).unwrap();
    assert!(local.read_row(&nodes, "1").unwrap().is_some());
    assert_eq!(local.conflicts(false).unwrap().len(), 1);
    // and a parent may be deleted before its child in the same page
    let page = [write("2", None, None, 2), write("1", None, None, 2)];
    local.apply(&nodes, &page, None, 0).unwrap();
    assert!(local.read_row(&nodes, "2").unwrap().is_none());
    assert_eq!(local.conflicts(false).unwrap().len(), 1);
}

#[test]
fn odd_values_round_trip_byte_exact() {
    let (_dir, mut local) = open_temp();
    let (_dir2, mut copy) = open_temp();
    local.install(&specs()).unwrap();
    copy.install(&specs()).unwrap();
    let big_text: String = "é\"'\\\u{0}🦀 ".repeat(1 << 17);
    assert!(big_text.len() > 1 << 20);
    let blob: Vec<u8> = (0..(1usize << 20) + 3)
        .map(|i| (i * 7 % 256) as u8)
        .collect();
    let key = "k'\"; DROP TABLE items; --ü";
    local
        .conn
        .execute(
            "INSERT INTO items (id, qty, price, photo, note) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![key, i64::MIN, 0.1_f64, blob, big_text],
        )
        .unwrap();
    let items = specs().remove(1);
    let read = local.read_row(&items, key).unwrap().unwrap();
    copy.apply(&items, &[write(key, None, Some(read), 1)], None, 0)
        .unwrap();
    let back: (String, i64, f64, Vec<u8>, String) = copy
        .conn
        .query_row("SELECT id, qty, price, photo, note FROM items", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap();
    assert_eq!(back, (key.to_string(), i64::MIN, 0.1, blob, big_text));
    assert!(copy.queue_items(&[], 10).unwrap().is_empty());
}

#[test]
fn apply_waits_for_the_app_within_busy_timeout() {
    let (dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    let mut app = other_connection(&dir);
    let tx = app
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    tx.execute("INSERT INTO users (id) VALUES (1)", []).unwrap();
    // reopening a current schema needs no write lock
    let reopened = Local::open(&dir.path().join("app.db"), Duration::from_millis(50)).unwrap();
    assert_eq!(reopened.device_id(), local.device_id());
    let one = write("1", None, Some(row(json!({"id": 1}))), 1);
    let started = std::time::Instant::now();
    local.conn.busy_timeout(Duration::from_millis(100)).unwrap();
    assert!(local.apply(&parents(), &[one], None, 0).is_err());
    assert!(started.elapsed() < Duration::from_secs(5));
    tx.commit().unwrap();
}
