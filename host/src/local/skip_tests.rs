//! Tests of `skip` (a child module of `skip`).

use serde_json::json;

use super::super::testutil::{exec, open_temp, pulled_write, queue, specs};
use super::*;

/// The app's trigger: an item taken marks its parent (a synced table) and
/// logs to `users` (a table ebb does not sync).
const APP_TRIGGER: &str = "
CREATE TRIGGER item_marks_parent AFTER INSERT ON items BEGIN
    UPDATE parents SET name = name || '+' WHERE id = NEW.parent_id;
    INSERT INTO users (name) VALUES ('took ' || NEW.id);
END;";

fn text(local: &Local, sql: &str) -> String {
    local.conn.query_row(sql, [], |r| r.get(0)).expect(sql)
}

fn count(local: &Local, sql: &str) -> i64 {
    local.conn.query_row(sql, [], |r| r.get(0)).expect(sql)
}

/// A till holding parent 1 ("p"), synced, with the app's trigger.
fn till() -> (tempfile::TempDir, Local) {
    let (dir, mut local) = open_temp();
    exec(&local, APP_TRIGGER);
    local.install(&specs()).unwrap();
    let parents = specs().remove(0);
    let ops = [pulled_write("1", json!({"id": 1, "name": "p"}), 3)];
    local.apply(&parents, &ops, None, 0).unwrap();
    (dir, local)
}

#[test]
fn a_pulled_row_does_not_run_the_apps_trigger_into_another_synced_table() {
    let (_dir, mut local) = till();
    let items = specs().remove(1);
    let ops = [
        pulled_write("a", json!({"id": "a", "parent_id": 1, "qty": 2}), 4),
        pulled_write("b", json!({"id": "b", "parent_id": 1, "qty": 1}), 5),
    ];
    local.apply(&items, &ops, None, 0).unwrap();
    assert_eq!(text(&local, "SELECT name FROM parents WHERE id = 1"), "p");
    assert_eq!(count(&local, "SELECT count(*) FROM items"), 2);
    // The rest of the app's trigger ran: `users` is not synced.
    assert_eq!(count(&local, "SELECT count(*) FROM users"), 2);
    assert!(local.queue_items(&[], 10).unwrap().is_empty());
    let skipped = Skipped {
        table: "parents".into(),
        by: "items".into(),
        rows: 2,
    };
    assert_eq!(local.skipped_news().unwrap(), vec![skipped.clone()]);
    assert!(local.skipped_news().unwrap().is_empty(), "announced once");
    assert_eq!(local.skipped().unwrap(), vec![skipped]);
}

#[test]
fn the_apps_own_write_runs_its_trigger_and_both_rows_are_captured() {
    let (_dir, local) = till();
    exec(
        &local,
        "INSERT INTO items (id, parent_id, qty) VALUES ('c', 1, 1)",
    );
    assert_eq!(text(&local, "SELECT name FROM parents WHERE id = 1"), "p+");
    assert_eq!(queue(&local, "parents", "1").state, "pending");
    assert_eq!(queue(&local, "items", "c").state, "pending");
    assert!(local.skipped().unwrap().is_empty());
}

#[test]
fn a_cascade_from_a_pulled_delete_is_not_skipped() {
    let (_dir, mut local) = till();
    let items = specs().remove(1);
    let ops = [pulled_write(
        "a",
        json!({"id": "a", "parent_id": 1, "qty": 2}),
        4,
    )];
    local.apply(&items, &ops, None, 0).unwrap();
    local.skipped_news().unwrap();
    let parents = specs().remove(0);
    local
        .apply(&parents, &[pulled_write("1", json!(null), 6)], None, 0)
        .unwrap();
    assert_eq!(count(&local, "SELECT count(*) FROM parents"), 0);
    assert_eq!(count(&local, "SELECT count(*) FROM items"), 0, "cascaded");
    assert!(local.skipped_news().unwrap().is_empty());
}

#[test]
fn each_synced_table_has_its_skipping_triggers_exempting_its_key_actions() {
    let (_dir, local) = till();
    let sql = text(
        &local,
        "SELECT sql FROM sqlite_master WHERE name = '_ebb_pre_del_items'",
    );
    let exempt = "(tbl = 'items' COLLATE NOCASE OR tbl = 'parents' COLLATE NOCASE)";
    assert!(sql.contains(exempt), "{sql}");
    let sql = text(
        &local,
        "SELECT sql FROM sqlite_master WHERE name = '_ebb_pre_upd_parents'",
    );
    assert!(
        sql.contains("NOT (tbl = 'parents' COLLATE NOCASE)"),
        "{sql}"
    );
    let skipping = count(
        &local,
        "SELECT count(*) FROM sqlite_master WHERE name LIKE '\\_ebb\\_pre\\_%' ESCAPE '\\'",
    );
    assert_eq!(skipping, 6);
}
