//! Tests of `nested` (a child module of `nested`).

use serde_json::json;

use super::super::skip::Skipped;
use super::super::testutil::{exec, open_temp, pulled_write, queue, specs};
use super::super::{Local, TableSpec};
use super::*;

/// The app's triggers on `parents`: every write stamps the row's name.
const STAMP: &str = "
CREATE TRIGGER parents_stamped AFTER UPDATE ON parents BEGIN
    UPDATE parents SET name = name || '*' WHERE id = NEW.id;
END;
CREATE TRIGGER parents_stamped_new AFTER INSERT ON parents BEGIN
    UPDATE parents SET name = name || '*' WHERE id = NEW.id;
END;";

/// The app's trigger on `items`: a part's quantity taken is taken from its
/// kit too, a row of the same table (named in `note`).
const KIT: &str = "
CREATE TRIGGER part_takes_kit AFTER UPDATE OF qty ON items WHEN NEW.note IS NOT NULL BEGIN
    UPDATE items SET qty = qty + NEW.qty - OLD.qty WHERE id = NEW.note;
END;";

fn text(local: &Local, sql: &str) -> String {
    local.conn.query_row(sql, [], |r| r.get(0)).expect(sql)
}

fn count(local: &Local, sql: &str) -> i64 {
    local.conn.query_row(sql, [], |r| r.get(0)).expect(sql)
}

fn till(app: &str) -> (tempfile::TempDir, Local) {
    let (dir, mut local) = open_temp();
    exec(&local, app);
    local.install(&specs()).unwrap();
    (dir, local)
}

fn table(name: &str) -> TableSpec {
    specs().into_iter().find(|t| t.name == name).unwrap()
}

#[test]
fn a_pulled_row_is_not_stamped_by_the_apps_trigger_on_its_own_table() {
    let (_dir, mut local) = till(STAMP);
    assert!(guarded(&local.conn, "parents").unwrap());
    assert!(
        !guarded(&local.conn, "items").unwrap(),
        "no trigger names it"
    );
    let ops = [
        pulled_write("1", json!({"id": 1, "name": "a"}), 3),
        pulled_write("2", json!({"id": 2, "name": "b"}), 4),
    ];
    local.apply(&table("parents"), &ops, None, 0).unwrap();
    assert_eq!(text(&local, "SELECT name FROM parents WHERE id = 1"), "a");
    assert_eq!(text(&local, "SELECT name FROM parents WHERE id = 2"), "b");
    let update = [pulled_write("1", json!({"id": 1, "name": "c"}), 5)];
    local.apply(&table("parents"), &update, None, 0).unwrap();
    assert_eq!(text(&local, "SELECT name FROM parents WHERE id = 1"), "c");
    assert!(local.queue_items(&[], 10).unwrap().is_empty());
    let skipped = Skipped {
        table: "parents".into(),
        by: "parents".into(),
        rows: 3,
    };
    assert_eq!(local.skipped_news().unwrap(), vec![skipped]);
    // The app's own write still runs its triggers (the insert's stamp is
    // an update, stamped again), and is captured.
    exec(&local, "INSERT INTO parents (id, name) VALUES (9, 'z')");
    assert_eq!(text(&local, "SELECT name FROM parents WHERE id = 9"), "z**");
    assert_eq!(queue(&local, "parents", "9").state, "pending");
    assert!(local.skipped_news().unwrap().is_empty());
}

#[test]
fn a_pulled_part_does_not_take_its_kit_twice_and_every_pulled_row_is_written() {
    let (_dir, mut local) = till(KIT);
    let items = table("items");
    let parents = [pulled_write("1", json!({"id": 1, "name": "p"}), 2)];
    local.apply(&table("parents"), &parents, None, 0).unwrap();
    // An initial sync's page, of many rows: written one by one, and all.
    let mut ops = vec![pulled_write(
        "kit",
        json!({"id": "kit", "parent_id": 1, "qty": 10}),
        3,
    )];
    for n in 0..150 {
        let id = format!("part{n}");
        ops.push(pulled_write(
            &id,
            json!({"id": id, "parent_id": 1, "qty": 5, "note": "kit"}),
            4 + n,
        ));
    }
    local.apply(&items, &ops, None, 0).unwrap();
    assert_eq!(count(&local, "SELECT count(*) FROM items"), 151);
    assert_eq!(count(&local, "SELECT sum(qty) FROM items"), 10 + 150 * 5);
    // The other till sold 2 of part0: its kit arrives as that till left it.
    let sold = [
        pulled_write("kit", json!({"id": "kit", "parent_id": 1, "qty": 8}), 200),
        pulled_write(
            "part0",
            json!({"id": "part0", "parent_id": 1, "qty": 3, "note": "kit"}),
            201,
        ),
    ];
    local.apply(&items, &sold, None, 0).unwrap();
    assert_eq!(count(&local, "SELECT qty FROM items WHERE id = 'kit'"), 8);
    assert_eq!(count(&local, "SELECT qty FROM items WHERE id = 'part0'"), 3);
    let skipped = local.skipped_news().unwrap();
    assert_eq!(skipped.len(), 1);
    assert_eq!((skipped[0].table.as_str(), skipped[0].rows), ("items", 1));
    // This till's own sale still takes its kit, and both rows are queued.
    exec(&local, "UPDATE items SET qty = 2 WHERE id = 'part1'");
    assert_eq!(count(&local, "SELECT qty FROM items WHERE id = 'kit'"), 5);
    assert_eq!(queue(&local, "items", "kit").state, "pending");
}

#[test]
fn a_table_its_own_foreign_key_actions_write_is_left_unguarded() {
    let (_dir, mut local) = open_temp();
    exec(
        &local,
        "CREATE TABLE nodes (id INTEGER PRIMARY KEY, up INTEGER
             REFERENCES nodes (id) ON DELETE CASCADE, name TEXT);
         CREATE TRIGGER nodes_stamped AFTER UPDATE ON nodes BEGIN
             UPDATE nodes SET name = name || '*' WHERE id = NEW.id;
         END;",
    );
    let nodes = TableSpec {
        name: "nodes".into(),
        pk: "id".into(),
    };
    let graph = Graph::load(&local.conn).unwrap();
    let unguarded = install(&local.conn, std::slice::from_ref(&nodes), &graph).unwrap();
    assert_eq!(unguarded, vec!["nodes".to_string()]);
    local.install(std::slice::from_ref(&nodes)).unwrap();
    assert!(!guarded(&local.conn, "nodes").unwrap());
    let ops = [
        pulled_write("1", json!({"id": 1, "up": null, "name": "root"}), 1),
        pulled_write("2", json!({"id": 2, "up": 1, "name": "a"}), 2),
        pulled_write("3", json!({"id": 3, "up": 1, "name": "b"}), 3),
    ];
    local.apply(&nodes, &ops, None, 0).unwrap();
    let delete = [pulled_write("1", json!(null), 4)];
    local.apply(&nodes, &delete, None, 0).unwrap();
    assert_eq!(count(&local, "SELECT count(*) FROM nodes"), 0, "cascaded");
}

#[test]
fn an_install_replaces_the_guards_of_the_last() {
    let (_dir, mut local) = till(STAMP);
    exec(
        &local,
        "DROP TRIGGER parents_stamped; DROP TRIGGER parents_stamped_new;",
    );
    local.install(&specs()).unwrap();
    assert!(!guarded(&local.conn, "parents").unwrap());
    exec(&local, KIT);
    local.install(&specs()).unwrap();
    assert!(guarded(&local.conn, "items").unwrap());
}

#[test]
fn a_table_is_named_as_a_word_in_the_triggers_body() {
    let sql =
        "create trigger t after insert on sale_items begin update \"products\" set n = 1; end";
    assert!(names(sql, "products"));
    assert!(names(sql, "PRODUCTS"));
    assert!(!names(sql, "sale_items"), "only the table it fires on");
    assert!(!names(sql, "items"));
    assert!(!names(sql, "product"));
    let fts = "create trigger products_ai after insert on products begin
        insert into products_fts (rowid, name) values (new.id, new.name); end";
    assert!(!names(fts, "products"));
    assert!(names(fts, "products_fts"));
    let chained = "create trigger begin_log after insert on log when new.n > 0 begin
        delete from [kits] where id = new.kit; end";
    assert!(names(chained, "kits"));
    assert!(!names(chained, "log"));
}

#[test]
fn own_marks_one_write_and_is_idle_after() {
    assert!(own("t", "1", || STATE.with(Cell::get) == WRITING));
    assert_eq!(STATE.with(Cell::get), IDLE);
}

/// The app's full-text index of `parents`, an FTS5 table kept by its own
/// triggers (as SQLite's documentation shows for external content): a
/// pulled row reaches the index, since ebb does not sync it, and the
/// table stays unguarded, since those triggers write only the index.
#[test]
fn a_full_text_index_kept_by_the_apps_triggers_follows_pulled_rows() {
    let (_dir, mut local) = till(
        "CREATE VIRTUAL TABLE parents_fts USING fts5(name, content='parents', content_rowid='id');
         CREATE TRIGGER parents_ai AFTER INSERT ON parents BEGIN
             INSERT INTO parents_fts (rowid, name) VALUES (new.id, new.name);
         END;
         CREATE TRIGGER parents_ad AFTER DELETE ON parents BEGIN
             INSERT INTO parents_fts (parents_fts, rowid, name) VALUES ('delete', old.id, old.name);
         END;
         CREATE TRIGGER parents_au AFTER UPDATE ON parents BEGIN
             INSERT INTO parents_fts (parents_fts, rowid, name) VALUES ('delete', old.id, old.name);
             INSERT INTO parents_fts (rowid, name) VALUES (new.id, new.name);
         END;",
    );
    assert!(!guarded(&local.conn, "parents").unwrap());
    let search = |local: &Local, word: &str| {
        count(
            local,
            &format!("SELECT count(*) FROM parents_fts WHERE parents_fts MATCH '{word}'"),
        )
    };
    let ops = [
        pulled_write("1", json!({"id": 1, "name": "green tea"}), 3),
        pulled_write("2", json!({"id": 2, "name": "black tea"}), 4),
    ];
    local.apply(&table("parents"), &ops, None, 0).unwrap();
    assert_eq!(search(&local, "tea"), 2);
    let changed = [
        pulled_write("1", json!({"id": 1, "name": "green coffee"}), 5),
        pulled_write("2", json!(null), 6),
    ];
    local.apply(&table("parents"), &changed, None, 0).unwrap();
    assert_eq!((search(&local, "tea"), search(&local, "coffee")), (0, 1));
    assert!(local.skipped_news().unwrap().is_empty());
}

/// An app trigger *before* an insert that writes another row of the same
/// table (here: a name kept unique by deleting the older row) runs inside
/// ebb's upsert before ebb's row is written: that write is the app's, and
/// ebb's own update of its row, which follows, must still go ahead.
#[test]
fn an_app_write_before_ebbs_row_does_not_count_as_ebbs() {
    let (_dir, mut local) = till(
        "CREATE TRIGGER parents_unique_name BEFORE INSERT ON parents BEGIN
             DELETE FROM parents WHERE name = NEW.name AND id <> NEW.id;
         END;
         INSERT INTO parents (id, name) VALUES (1, 'a'), (2, 'x');",
    );
    assert!(guarded(&local.conn, "parents").unwrap());
    exec(&local, "DELETE FROM _ebb_queue");
    // An initial pull: row 1 is upserted without being read first.
    let ops = [pulled_write("1", json!({"id": 1, "name": "x"}), 3)];
    local.apply(&table("parents"), &ops, None, 0).unwrap();
    assert_eq!(text(&local, "SELECT name FROM parents WHERE id = 1"), "x");
    assert!(local.conflicts(false).unwrap().is_empty(), "not held");
}
