//! Tests of the lazy base: rows an initial sync writes keep their base in
//! the app's table, and the app's first write of each (update, delete,
//! replace, from any connection) keeps it exactly.

use serde_json::{Value, json};

use super::super::testutil::{exec, open_temp, other_connection, pulled_write};
use super::super::{ApplyOp, Local, TableSpec};
use super::*;
use crate::model::Cursor;

fn items() -> TableSpec {
    TableSpec {
        name: "items".into(),
        pk: "id".into(),
    }
}

/// Items as a server holds them: money that is not a short decimal,
/// text with quotes and commas, a blob with a quote's byte, nothing.
fn pulled() -> Vec<ApplyOp> {
    let rows = [
        json!({"id": "a", "parent_id": null, "qty": 3, "price": 0.1 + 0.2,
               "photo": "J/8sAA==", "note": "it's, \"quoted\" \u{e9}"}),
        json!({"id": "b", "parent_id": null, "qty": -9_007_199_254_740_993_i64,
               "price": 1e20, "photo": null, "note": null}),
        json!({"id": "c", "parent_id": null, "qty": 0, "price": 12.0,
               "photo": null, "note": "NULL"}),
        json!({"id": "d", "parent_id": null, "qty": 1, "price": 1.005,
               "photo": null, "note": ""}),
    ];
    rows.into_iter()
        .enumerate()
        .map(|(i, row)| {
            let pk = row["id"].as_str().unwrap_or_default().to_string();
            pulled_write(&pk, row, 10 + i as i64)
        })
        .collect()
}

fn synced() -> (tempfile::TempDir, Local) {
    let (dir, mut local) = open_temp();
    local.install(&[items()]).unwrap();
    let cursor = Cursor {
        txid: "9".into(),
        pk: String::new(),
    };
    local.apply(&items(), &pulled(), Some(&cursor), 10).unwrap();
    (dir, local)
}

fn kind(local: &Local, pk: &str) -> (i64, Option<String>) {
    local
        .conn
        .query_row(
            "SELECT base_kind, base FROM _ebb_rows WHERE tbl = 'items' AND pk = ?1",
            [pk],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
}

fn base(local: &Local, pk: &str) -> Option<crate::model::Row> {
    local.row_state("items", pk).unwrap().unwrap().base
}

#[test]
fn an_initial_sync_keeps_no_copy_and_its_base_is_the_row_as_pulled() {
    let (_dir, local) = synced();
    for pk in ["a", "b", "c", "d"] {
        assert_eq!(kind(&local, pk), (HERE, None), "{pk}");
        let stored = local.read_row(&items(), pk).unwrap();
        assert_eq!(base(&local, pk), stored, "{pk}");
    }
    assert_eq!(base(&local, "a").unwrap()["price"], json!(0.1 + 0.2));
    assert_eq!(base(&local, "a").unwrap()["photo"], json!("J/8sAA=="));
}

#[test]
fn the_apps_first_write_keeps_the_base_exactly() {
    let (dir, local) = synced();
    let before: Vec<_> = ["a", "b", "c", "d"]
        .iter()
        .map(|pk| local.read_row(&items(), pk).unwrap())
        .collect();
    // From the app's own connection, as a till writes.
    let app = other_connection(&dir);
    app.execute_batch(
        "UPDATE items SET price = price - 0.1, note = 'x' WHERE id = 'a';
         UPDATE items SET price = 5 WHERE id = 'a';
         DELETE FROM items WHERE id = 'b';
         INSERT OR REPLACE INTO items (id, qty) VALUES ('c', 99);
         INSERT INTO items (id, qty) VALUES ('d', 7)
             ON CONFLICT (id) DO UPDATE SET qty = excluded.qty;",
    )
    .unwrap();
    for (pk, before) in ["a", "b", "c", "d"].iter().zip(before) {
        assert_eq!(kind(&local, pk).0, CAPTURED, "{pk}");
        assert_eq!(base(&local, pk), before, "{pk}: the row as pulled");
    }
    assert_eq!(
        base(&local, "b").unwrap()["qty"],
        json!(-9_007_199_254_740_993_i64)
    );
    assert_eq!(base(&local, "c").unwrap()["note"], json!("NULL"));
    assert!(local.read_row(&items(), "b").unwrap().is_none());
}

#[test]
fn a_row_ebb_writes_again_is_its_own_base_until_the_app_writes() {
    let (_dir, mut local) = synced();
    let next = json!({"id": "a", "parent_id": null, "qty": 4, "price": 2.5,
                      "photo": null, "note": "new"});
    local
        .apply(&items(), &[pulled_write("a", next.clone(), 20)], None, 11)
        .unwrap();
    assert_eq!(kind(&local, "a"), (HERE, None));
    assert_eq!(base(&local, "a"), next.as_object().cloned());
    exec(&local, "UPDATE items SET qty = 5 WHERE id = 'a'");
    assert_eq!(kind(&local, "a").0, CAPTURED);
    assert_eq!(base(&local, "a"), next.as_object().cloned());
}

#[test]
fn a_row_pulled_without_some_column_keeps_a_stored_base() {
    let (_dir, mut local) = synced();
    let partial = json!({"id": "a", "qty": 4, "price": 2.5, "note": "new"});
    local
        .apply(
            &items(),
            &[pulled_write("a", partial.clone(), 20)],
            None,
            11,
        )
        .unwrap();
    let (stored, text) = kind(&local, "a");
    assert_eq!(stored, STORED);
    assert!(text.is_some());
    assert_eq!(base(&local, "a"), partial.as_object().cloned());
    exec(&local, "UPDATE items SET qty = 5 WHERE id = 'a'");
    assert_eq!(kind(&local, "a").0, STORED, "a stored base stays");
    assert_eq!(base(&local, "a"), partial.as_object().cloned());
}

#[test]
fn a_row_inserted_where_none_was_captures_nothing() {
    let (_dir, local) = synced();
    exec(&local, "INSERT INTO items (id, qty) VALUES ('new', 1)");
    assert!(local.row_state("items", "new").unwrap().is_none());
}

#[test]
fn literals_read_back_as_sqlite_wrote_them() {
    let row =
        parse_literals("'n',NULL,'i',-5,'r',1.0e+20,'s','it''s, a','b',X'00FF','x',Inf").unwrap();
    assert_eq!(row["n"], Value::Null);
    assert_eq!(row["i"], json!(-5));
    assert_eq!(row["r"], json!(1e20));
    assert_eq!(row["s"], json!("it's, a"));
    assert_eq!(row["b"], json!("AP8="));
    assert_eq!(
        row["x"],
        Value::Null,
        "an infinity reads as a stored one does"
    );
    assert_eq!(parse_literals("").unwrap().len(), 0);
    for bad in ["'a'", "'a',", "'a',zz", "'a,1", "1,2", "'a',X'0'"] {
        assert!(parse_literals(bad).is_err(), "{bad}");
    }
}
