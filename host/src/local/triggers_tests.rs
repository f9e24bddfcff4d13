//! Tests of the capture triggers: what they queue, how they are
//! installed, replaced and dropped.

use super::super::Local;
use super::super::testutil::{exec, open_temp, queue, specs};
use super::*;
use crate::model::Op;

#[test]
fn captures_insert_update_delete_and_coalesces() {
    let (_dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    exec(&local, "INSERT INTO parents (id, name) VALUES (1, 'a')");
    let first = queue(&local, "parents", "1");
    assert_eq!((first.op, first.state.as_str()), (Op::Upsert, "pending"));
    exec(&local, "UPDATE parents SET name = 'b' WHERE id = 1");
    exec(&local, "UPDATE parents SET name = 'c' WHERE id = 1");
    let later = queue(&local, "parents", "1");
    assert!(later.counter > first.counter);
    assert_eq!(later.queued_at, first.queued_at);
    exec(&local, "DELETE FROM parents WHERE id = 1");
    assert_eq!(queue(&local, "parents", "1").op, Op::Delete);
    let all = local.queue_items(&[], 100).unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
}

#[test]
fn rows_written_before_install_are_queued_once() {
    let (_dir, mut local) = open_temp();
    exec(&local, "CREATE TABLE pre (id TEXT PRIMARY KEY, n INTEGER)");
    exec(&local, "INSERT INTO pre VALUES ('a', 1), ('b', 2)");
    let spec = vec![TableSpec {
        name: "pre".into(),
        pk: "id".into(),
    }];
    local.install(&spec).expect("install");
    let (a, b) = (queue(&local, "pre", "a"), queue(&local, "pre", "b"));
    assert_eq!((a.op, b.op), (Op::Upsert, Op::Upsert));
    assert_ne!(a.counter, b.counter);
    local.install(&spec).expect("reinstall");
    assert_eq!(
        queue(&local, "pre", "a").counter,
        a.counter,
        "reinstall queues nothing"
    );
    exec(&local, "UPDATE pre SET n = 3 WHERE id = 'a'");
    assert!(queue(&local, "pre", "a").counter > a.counter.max(b.counter));
}

#[test]
fn pk_change_is_delete_plus_upsert() {
    let (_dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    exec(&local, "INSERT INTO items (id, qty) VALUES ('x', 1)");
    exec(&local, "UPDATE items SET id = 'y' WHERE id = 'x'");
    assert_eq!(queue(&local, "items", "x").op, Op::Delete);
    assert_eq!(queue(&local, "items", "y").op, Op::Upsert);
}

#[test]
fn reinstall_is_idempotent_and_version_bump_replaces() {
    let (_dir, mut local) = open_temp();
    // Per table: three before (`skip`, and the lazy base), three after.
    assert_eq!(install(&mut local.conn, &specs(), &[], 1).unwrap().0, 12);
    assert_eq!(install(&mut local.conn, &specs(), &[], 1).unwrap().0, 0);
    assert_eq!(install(&mut local.conn, &specs(), &[], 2).unwrap().0, 12);
    let sql: Vec<(String, String)> = installed(&local.conn).unwrap();
    assert_eq!(sql.len(), 12);
    assert!(sql.iter().all(|(_, s)| s.contains("v2")), "{sql:?}");
    exec(&local, "INSERT INTO parents (id, name) VALUES (7, 'a')");
    assert_eq!(queue(&local, "parents", "7").op, Op::Upsert);
}

#[test]
fn a_column_the_app_adds_is_in_the_triggers_after_the_next_install() {
    let (_dir, mut local) = open_temp();
    assert_eq!(install(&mut local.conn, &specs(), &[], 3).unwrap().0, 12);
    exec(&local, "ALTER TABLE items ADD COLUMN size TEXT");
    // The base kept before an insert, an update and a delete lists it.
    assert_eq!(install(&mut local.conn, &specs(), &[], 3).unwrap().0, 3);
    let sql = installed(&local.conn).unwrap();
    let with_size = sql.iter().filter(|(_, s)| s.contains("\"size\""));
    assert_eq!(with_size.count(), 3, "{sql:?}");
}

#[test]
fn unconfigured_tables_are_untouched_and_dropped_tables_lose_triggers() {
    let (_dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    exec(&local, "INSERT INTO users (id, name) VALUES (1, 'root')");
    assert!(local.queue_item("users", "1").unwrap().is_none());
    local.install(&specs()[..1]).unwrap();
    let names: Vec<String> = installed(&local.conn)
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names.len(), 6);
    assert!(names.iter().all(|n| n.ends_with("_parents")), "{names:?}");
    exec(&local, "INSERT INTO items (id, qty) VALUES ('z', 1)");
    assert!(local.queue_item("items", "z").unwrap().is_none());
}

#[test]
fn bad_tables_are_refused() {
    let (_dir, mut local) = open_temp();
    exec(
        &local,
        "CREATE TABLE pairs (a INTEGER, b INTEGER, PRIMARY KEY (a, b))",
    );
    exec(&local, "CREATE TABLE loose (a INTEGER)");
    exec(
        &local,
        "CREATE TABLE untyped (id PRIMARY KEY, name TEXT); INSERT INTO untyped VALUES (5, 'n');
         CREATE TABLE uuids (id PRIMARY KEY, name TEXT); INSERT INTO uuids VALUES ('a-b', 'n');",
    );
    let spec = |name: &str, pk: &str| TableSpec {
        name: name.into(),
        pk: pk.into(),
    };
    let err = local.install(&[spec("nope", "id")]).unwrap_err();
    assert!(matches!(err, LocalError::NoSuchTable { .. }), "{err}");
    for bad in [
        spec("pairs", "a"),
        spec("loose", "a"),
        spec("parents", "name"),
        spec("untyped", "id"),
    ] {
        let err = local.install(&[bad]).unwrap_err();
        assert!(matches!(err, LocalError::BadPrimaryKey { .. }), "{err}");
    }
    let err = local.install(&[spec("untyped", "id")]).unwrap_err();
    assert!(err.to_string().contains("no declared type"), "{err}");
    // Text keys in an untyped column are found as they are.
    local.install(&[spec("uuids", "id")]).unwrap();
    local.install(&[]).unwrap();
    assert!(installed(&local.conn).unwrap().is_empty());
}

#[test]
fn integer_keys_read_back_by_text() {
    let (_dir, mut local) = open_temp();
    local.install(&specs()).unwrap();
    exec(&local, "INSERT INTO parents (id, name) VALUES (42, 'q')");
    let spec = &specs()[0];
    let row = local
        .read_row(spec, "42")
        .unwrap()
        .expect("found by text key");
    assert_eq!(row["id"], serde_json::json!(42));
}

#[test]
fn odd_table_names_are_quoted() {
    let (_dir, mut local) = open_temp();
    exec(
        &local,
        "CREATE TABLE \"we\"\"ird 'name'\" (\"k\"\"ey\" TEXT PRIMARY KEY, v)",
    );
    let spec = TableSpec {
        name: "we\"ird 'name'".into(),
        pk: "k\"ey".into(),
    };
    local.install(std::slice::from_ref(&spec)).unwrap();
    exec(
        &local,
        "INSERT INTO \"we\"\"ird 'name'\" VALUES ('k''1', 2)",
    );
    assert_eq!(queue(&local, &spec.name, "k'1").op, Op::Upsert);
    assert!(local.read_row(&spec, "k'1").unwrap().is_some());
}

/// `skus` with two UNIQUE columns, rows 1 (A, a) and 2 (B, b) synced.
fn skus() -> (tempfile::TempDir, Local) {
    let (dir, mut local) = open_temp();
    exec(
        &local,
        "CREATE TABLE skus (id INTEGER PRIMARY KEY, sku TEXT UNIQUE, code TEXT, n INTEGER);
         CREATE UNIQUE INDEX skus_code ON skus (code);
         INSERT INTO skus VALUES (1, 'A', 'a', 1), (2, 'B', 'b', 2);",
    );
    let spec = TableSpec {
        name: "skus".into(),
        pk: "id".into(),
    };
    local.install(std::slice::from_ref(&spec)).unwrap();
    exec(&local, "DELETE FROM _ebb_queue");
    (dir, local)
}

/// What a claim of `table` would push: (pk, op), by pk.
fn queued_in(local: &mut Local, table: &str) -> Vec<(String, Op)> {
    let spec = TableSpec {
        name: table.into(),
        pk: "id".into(),
    };
    let claimed = local.claim(&[spec], 100, 0, None).unwrap();
    let mut pks: Vec<(String, Op)> = claimed
        .into_iter()
        .map(|c| (c.change.pk, c.change.op))
        .collect();
    pks.sort_by(|a, b| a.0.cmp(&b.0));
    pks
}

fn queued(local: &mut Local) -> Vec<(String, Op)> {
    queued_in(local, "skus")
}

#[test]
fn a_row_insert_or_replace_deletes_for_another_unique_column_is_queued_deleted() {
    let (_dir, mut local) = skus();
    // Clashes with 1 on `sku` and with 2 on `code`: SQLite deletes both,
    // firing no delete trigger.
    exec(
        &local,
        "INSERT OR REPLACE INTO skus (id, sku, code, n) VALUES (3, 'A', 'b', 9)",
    );
    let ids: String = local
        .conn
        .query_row("SELECT group_concat(id) FROM skus", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ids, "3");
    assert_eq!(
        queued(&mut local),
        [
            ("1".to_string(), Op::Delete),
            ("2".to_string(), Op::Delete),
            ("3".to_string(), Op::Upsert)
        ]
    );
}

#[test]
fn a_row_clashing_on_two_columns_is_queued_once_and_a_failed_insert_queues_nothing() {
    let (_dir, mut local) = skus();
    exec(
        &local,
        "INSERT OR REPLACE INTO skus (id, sku, code, n) VALUES (3, 'A', 'a', 9)",
    );
    assert_eq!(
        queued(&mut local),
        [("1".to_string(), Op::Delete), ("3".to_string(), Op::Upsert)]
    );
    exec(&local, "DELETE FROM _ebb_queue");
    let refused = local
        .conn
        .execute("INSERT INTO skus (id, sku, code) VALUES (4, 'B', 'x')", []);
    assert!(refused.is_err());
    assert!(queued(&mut local).is_empty(), "taken back with the insert");
    // A clash SQLite settles otherwise keeps the row: it is pushed as it
    // stands, never deleted.
    exec(
        &local,
        "INSERT OR IGNORE INTO skus (id, sku, code) VALUES (5, 'B', 'y');
         INSERT INTO skus (id, sku, code) VALUES (6, 'B', 'z') ON CONFLICT DO NOTHING;",
    );
    assert_eq!(queued(&mut local), [("2".to_string(), Op::Upsert)]);
    exec(&local, "DELETE FROM _ebb_queue");
    // A NULL in the first index's column does not hide a clash on the next.
    exec(
        &local,
        "UPDATE skus SET code = NULL WHERE id = 2;
         DELETE FROM _ebb_queue;
         INSERT OR REPLACE INTO skus (id, sku, code) VALUES (7, 'B', NULL);",
    );
    assert_eq!(
        queued(&mut local),
        [("2".to_string(), Op::Delete), ("7".to_string(), Op::Upsert)]
    );
    // A column's own REPLACE rule deletes as INSERT OR REPLACE does.
    exec(
        &local,
        "CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT UNIQUE ON CONFLICT REPLACE);
         INSERT INTO tags VALUES (1, 'x');",
    );
    let tags = TableSpec {
        name: "tags".into(),
        pk: "id".into(),
    };
    local.install(std::slice::from_ref(&tags)).unwrap();
    exec(&local, "DELETE FROM _ebb_queue");
    exec(&local, "INSERT INTO tags (id, name) VALUES (2, 'x')");
    assert_eq!(
        queued_in(&mut local, "tags"),
        [("1".to_string(), Op::Delete), ("2".to_string(), Op::Upsert)]
    );
}
