//! Tests of a pulled write an app trigger skips (a child module of
//! `quiet`): held as a refused row, never taken as written.

use serde_json::json;

use super::super::hold::HELD_POLICY;
use super::super::testutil::{exec, open_temp, pulled_write};
use super::super::{Local, TableSpec};

/// The app's own rules: a `blocked` sku is never stored, a `kept` one
/// never deleted, a `frozen` one never changed; each by `RAISE(IGNORE)`.
const RULES: &str = "
CREATE TABLE skus (id INTEGER PRIMARY KEY, sku TEXT, n INTEGER);
CREATE TRIGGER no_blocked BEFORE INSERT ON skus WHEN NEW.sku = 'blocked' BEGIN
    SELECT RAISE(IGNORE);
END;
CREATE TRIGGER keep_kept BEFORE DELETE ON skus WHEN OLD.sku = 'kept' BEGIN
    SELECT RAISE(IGNORE);
END;
CREATE TRIGGER frozen BEFORE UPDATE ON skus WHEN OLD.sku = 'frozen' BEGIN
    SELECT RAISE(IGNORE);
END;";

fn held_reason(local: &Local, pk: &str) -> String {
    let open = local.conflicts(false).unwrap();
    let held = open
        .iter()
        .find(|c| c.table == "skus" && c.pk == pk)
        .unwrap_or_else(|| panic!("{pk} is not held: {open:?}"));
    assert_eq!(held.policy, HELD_POLICY);
    held.reason.clone()
}

fn n(local: &Local, id: i64) -> Option<i64> {
    local
        .conn
        .query_row("SELECT n FROM skus WHERE id = ?1", [id], |r| r.get(0))
        .ok()
}

#[test]
fn a_pulled_write_an_app_trigger_skips_is_held_not_taken_as_written() {
    let (_dir, mut local) = open_temp();
    exec(&local, RULES);
    let skus = TableSpec {
        name: "skus".into(),
        pk: "id".into(),
    };
    local.install(std::slice::from_ref(&skus)).unwrap();
    // An initial sync's page, written in runs: the run holding the
    // blocked row writes one row fewer, and the page goes row by row.
    let page: Vec<_> = (1..=40)
        .map(|i| {
            let sku = match i {
                5 => "kept".to_string(),
                6 => "frozen".to_string(),
                20 => "blocked".to_string(),
                _ => format!("S{i}"),
            };
            pulled_write(&i.to_string(), json!({"id": i, "sku": sku, "n": 1}), i)
        })
        .collect();
    local.apply(&skus, &page, None, 100).unwrap();
    let stored: i64 = local
        .conn
        .query_row("SELECT count(*) FROM skus", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, 39);
    assert!(local.row_state("skus", "20").unwrap().is_none());
    assert!(held_reason(&local, "20").contains("RAISE(IGNORE)"));
    assert_eq!(local.row_state("skus", "19").unwrap().unwrap().version, 19);
    // A pulled delete and a pulled change the app's rules skip.
    let later = [
        pulled_write("5", json!(null), 50),
        pulled_write("6", json!({"id": 6, "sku": "frozen", "n": 2}), 51),
        pulled_write("7", json!({"id": 7, "sku": "S7", "n": 2}), 52),
    ];
    local.apply(&skus, &later, None, 100).unwrap();
    assert_eq!(
        (n(&local, 5), n(&local, 6), n(&local, 7)),
        (Some(1), Some(1), Some(2))
    );
    for pk in ["5", "6"] {
        assert!(held_reason(&local, pk).contains("skipped ebb's write"));
    }
    assert_eq!(local.conflicts(false).unwrap().len(), 3);
    // Still skipped when retried: still held.
    assert_eq!(local.retry_held(110).unwrap(), 0);
    assert_eq!(local.conflicts(false).unwrap().len(), 3);
}

/// A table whose UNIQUE column says `ON CONFLICT REPLACE`: a pulled row
/// clashing with a local one is refused and held, where the table's own
/// rule would have deleted the local row, uncaptured, to make room.
#[test]
fn a_tables_own_replace_rule_never_deletes_a_local_row_for_a_pulled_one() {
    let (_dir, mut local) = open_temp();
    exec(
        &local,
        "CREATE TABLE skus (id INTEGER PRIMARY KEY, sku TEXT UNIQUE ON CONFLICT REPLACE, n INTEGER)",
    );
    let skus = TableSpec {
        name: "skus".into(),
        pk: "id".into(),
    };
    local.install(std::slice::from_ref(&skus)).unwrap();
    exec(&local, "INSERT INTO skus (id, sku, n) VALUES (1, 'A', 1)");
    // An initial sync's page (runs), then a change of a row synced since.
    let page = [
        pulled_write("2", json!({"id": 2, "sku": "A", "n": 2}), 2),
        pulled_write("3", json!({"id": 3, "sku": "B", "n": 3}), 3),
    ];
    local.apply(&skus, &page, None, 100).unwrap();
    let later = [pulled_write("3", json!({"id": 3, "sku": "A", "n": 4}), 4)];
    local.apply(&skus, &later, None, 100).unwrap();
    assert_eq!(
        (n(&local, 1), n(&local, 2), n(&local, 3)),
        (Some(1), None, Some(3))
    );
    for pk in ["2", "3"] {
        assert!(held_reason(&local, pk).contains("UNIQUE"), "{pk}");
    }
}
