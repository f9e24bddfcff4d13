//! Tests of writing an initial sync's rows in runs: the same rows and
//! `_ebb_rows` as one by one, and a refused row held alone.

use serde_json::{Value, json};

use super::super::testutil::{exec, open_temp};
use super::super::{Local, TableSpec};
use super::*;
use crate::model::Cursor;
use crate::model::Row;

fn spec() -> TableSpec {
    TableSpec {
        name: "items".into(),
        pk: "id".into(),
    }
}

fn write(pk: String, row: Value, version: i64) -> ApplyOp {
    ApplyOp {
        pk,
        expect_counter: None,
        action: Action::Write {
            row: row.as_object().cloned(),
            version,
        },
    }
}

/// Pulled items as an initial sync brings them: REAL prices, blobs as
/// base64, text; every 150th leaves a column out (another run; between
/// them, full runs and a short one), some hold a whole-number price.
fn page(n: i64) -> Vec<ApplyOp> {
    pages(1, n)
}

fn pages(from: i64, to: i64) -> Vec<ApplyOp> {
    (from..=to)
        .map(|i| {
            let row = match i % 150 {
                0 => json!({"id": format!("i{i}"), "qty": i, "note": format!("no price {i}")}),
                7 => json!({"id": format!("i{i}"), "qty": i, "price": 3.0, "photo": "AP8=", "note": null}),
                _ => json!({"id": format!("i{i}"), "qty": i, "price": i as f64 * 0.1, "photo": null,
                            "note": format!("item {i}")}),
            };
            write(format!("i{i}"), row, 100 + i)
        })
        .collect()
}

/// Every item, its version and its base (wherever it is kept), in key
/// order.
fn contents(local: &Local) -> Vec<(String, Vec<rusqlite::types::Value>, String)> {
    let mut stmt = local
        .conn
        .prepare(
            "SELECT i.id, i.parent_id, i.qty, i.price, i.photo, i.note, r.version
             FROM items i LEFT JOIN _ebb_rows r ON r.tbl = 'items' AND r.pk = i.id ORDER BY i.id",
        )
        .unwrap();
    let rows: Vec<(String, Vec<rusqlite::types::Value>)> = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                (1..7).map(|i| r.get(i)).collect::<Result<Vec<_>, _>>()?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.into_iter()
        .map(|(pk, values)| {
            let base = base_text(local, "items", &pk);
            (pk, values, base)
        })
        .collect()
}

/// The base of a row as JSON text, wherever it is kept (`base`).
fn base_text(local: &Local, table: &str, pk: &str) -> String {
    let base = local.row_state(table, pk).unwrap().and_then(|s| s.base);
    serde_json::to_string(&base).unwrap()
}

fn cursor() -> Cursor {
    Cursor {
        txid: "9".into(),
        pk: String::new(),
    }
}

#[test]
fn runs_write_what_rows_one_by_one_write() {
    // A table never synced, then a page whose rows keep being new here
    // (runs after the first reads, with a row read first now and then).
    let (first, second) = (page(300), pages(301, 700));
    // An app trigger that sees the order rows are inserted in.
    let logged = "CREATE TABLE log (n INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT);
        CREATE TRIGGER items_log AFTER INSERT ON items BEGIN
            INSERT INTO log (id) VALUES (NEW.id); END;";
    let log = |local: &Local| -> Vec<String> {
        let mut stmt = local.conn.prepare("SELECT id FROM log ORDER BY n").unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let (_a, mut runs) = open_temp();
    exec(&runs, logged);
    runs.install(&[spec()]).unwrap();
    runs.apply(&spec(), &first, Some(&cursor()), 10).unwrap();
    runs.apply(&spec(), &second, Some(&cursor()), 10).unwrap();
    let ops: Vec<ApplyOp> = first.into_iter().chain(second).collect();
    // One row a page: never a full run.
    let (_b, mut one_by_one) = open_temp();
    exec(&one_by_one, logged);
    one_by_one.install(&[spec()]).unwrap();
    for op in &ops {
        one_by_one
            .apply(&spec(), std::slice::from_ref(op), Some(&cursor()), 10)
            .unwrap();
    }
    let written = contents(&runs);
    assert_eq!(written.len(), 700);
    assert_eq!(written, contents(&one_by_one));
    assert_eq!(log(&runs), log(&one_by_one), "inserted in the page's order");
    assert_eq!(log(&runs).len(), 700);
    let base: Row = serde_json::from_str(
        &runs
            .row_state("items", "i7")
            .unwrap()
            .map_or(String::new(), |s| serde_json::to_string(&s.base).unwrap()),
    )
    .unwrap();
    assert_eq!(base["photo"], json!("AP8="));
    assert_eq!(
        runs.row_state("items", "i299").unwrap().unwrap().version,
        399
    );
    let queued: i64 = runs
        .conn
        .query_row("SELECT count(*) FROM _ebb_queue", [], |r| r.get(0))
        .unwrap();
    assert_eq!(queued, 0, "pulled rows are not captured");
}

#[test]
fn a_refused_row_inside_a_run_is_held_alone() {
    let (_dir, mut local) = open_temp();
    exec(&local, "CREATE UNIQUE INDEX items_note ON items (note)");
    local.install(&[spec()]).unwrap();
    // A local row, never synced, whose note the 151st pulled row repeats.
    exec(
        &local,
        "INSERT INTO items (id, note) VALUES ('mine', 'item 151')",
    );
    exec(&local, "DELETE FROM _ebb_queue");
    local
        .apply(&spec(), &page(300), Some(&cursor()), 10)
        .unwrap();
    assert_eq!(local.cursor("items").unwrap(), cursor());
    let rows = contents(&local);
    assert_eq!(
        rows.len(),
        300,
        "the local row and every pulled row but one"
    );
    assert!(local.read_row(&spec(), "i151").unwrap().is_none());
    assert!(local.row_state("items", "i151").unwrap().is_none());
    assert_eq!(
        local.row_state("items", "i152").unwrap().unwrap().version,
        252
    );
    let open = local.conflicts(false).unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].pk, "i151");
    assert!(open[0].reason.contains("UNIQUE"), "{}", open[0].reason);
}

/// A till's sales as apps write them: integer ids, REAL money (one that
/// a server might round, 1.005), text dates, a stock count; pulled into a
/// table never synced, then a page of rows new here. Runs store exactly
/// what the rows applied one by one store: every sale once, every amount
/// to the bit.
#[test]
fn sales_with_integer_ids_real_money_and_text_dates_land_as_one_by_one() {
    let schema = "CREATE TABLE sales (id INTEGER PRIMARY KEY, total REAL NOT NULL,
        sold_at TEXT NOT NULL, qty INTEGER NOT NULL)";
    let sales = TableSpec {
        name: "sales".into(),
        pk: "id".into(),
    };
    let sale = |i: i64| {
        let total = [1.005, 19.99, 0.1 + 0.2, 1e-7, 12345.675][i as usize % 5] * (1 + i % 3) as f64;
        let row = json!({"id": i, "total": total,
                         "sold_at": format!("2026-12-{:02} 09:{:02}:00", 1 + i % 28, i % 60),
                         "qty": 1 + i % 4});
        write(i.to_string(), row, 10 + i)
    };
    let (first, second): (Vec<_>, Vec<_>) = (
        (1..=250).map(sale).collect(),
        (251..=600).map(sale).collect(),
    );
    let state = |local: &Local| -> Vec<(i64, f64, String, i64, i64, String)> {
        let mut stmt = local
            .conn
            .prepare(
                "SELECT s.id, s.total, s.sold_at, s.qty, r.version FROM sales s
                 JOIN _ebb_rows r ON r.tbl = 'sales' AND r.pk = CAST(s.id AS TEXT) ORDER BY s.id",
            )
            .unwrap();
        let rows: Vec<(i64, f64, String, i64, i64)> = stmt
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows.into_iter()
            .map(|(id, total, sold_at, qty, version)| {
                let base = base_text(local, "sales", &id.to_string());
                (id, total, sold_at, qty, version, base)
            })
            .collect()
    };
    let (_a, mut runs) = open_temp();
    exec(&runs, schema);
    runs.install(std::slice::from_ref(&sales)).unwrap();
    runs.apply(&sales, &first, Some(&cursor()), 10).unwrap();
    runs.apply(&sales, &second, Some(&cursor()), 10).unwrap();
    let (_b, mut one_by_one) = open_temp();
    exec(&one_by_one, schema);
    one_by_one.install(std::slice::from_ref(&sales)).unwrap();
    for op in first.iter().chain(&second) {
        one_by_one
            .apply(&sales, std::slice::from_ref(op), Some(&cursor()), 10)
            .unwrap();
    }
    let written = state(&runs);
    assert_eq!(written.len(), 600, "every sale once");
    let expected = state(&one_by_one);
    assert_eq!(written.len(), expected.len());
    for (got, want) in written.iter().zip(&expected) {
        assert_eq!(
            got.1.to_bits(),
            want.1.to_bits(),
            "sale {} total to the bit",
            got.0
        );
        assert_eq!(got, want);
    }
    assert_eq!(written[0].1, 19.99 * 2.0, "sale 1's total as pulled");
    assert_eq!(
        written[4].1,
        1.005 * 3.0,
        "sale 5's total as pulled, not rounded"
    );
}

/// Rows of another device adopted in runs (integer keys mapped): fresh
/// ids after the highest, in the page's order, across runs split by a row
/// of other columns and across pages; each mapped and given its sync
/// state, exactly as applied one a page.
#[test]
fn adopted_rows_in_runs_land_as_one_by_one() {
    let parents = TableSpec {
        name: "parents".into(),
        pk: "id".into(),
    };
    let adopt = |i: i64| {
        let global = 7_000_000_000_000 + i;
        let row = match i % 50 {
            0 => json!({"id": global}),
            _ => json!({"id": global, "name": format!("p{i}")}),
        };
        let row: Row = row.as_object().cloned().unwrap();
        ApplyOp {
            pk: format!("@{global}"),
            expect_counter: None,
            action: Action::Adopt {
                global,
                row: row.clone(),
                version: 100 + i,
                pulled: crate::model::PulledRow {
                    pk: global.to_string(),
                    version: 100 + i,
                    txid: "9".into(),
                    deleted: false,
                    origin: Some("another".into()),
                    row: Some(row),
                },
            },
        }
    };
    let state = |local: &Local| -> Vec<(i64, Option<String>, i64, i64, String)> {
        let mut stmt = local
            .conn
            .prepare(
                "SELECT p.id, p.name, k.global, r.version, r.base FROM parents p
                 JOIN _ebb_keys k ON k.tbl = 'parents' AND k.local = p.id
                 JOIN _ebb_rows r ON r.tbl = 'parents' AND r.pk = CAST(p.id AS TEXT)
                 ORDER BY p.id",
            )
            .unwrap();
        stmt.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    };
    let (first, second): (Vec<_>, Vec<_>) = (
        (1..=130).map(adopt).collect(),
        (131..=200).map(adopt).collect(),
    );
    let mut tills = Vec::new();
    for one_a_page in [false, true] {
        let (dir, mut local) = open_temp();
        local.install(std::slice::from_ref(&parents)).unwrap();
        exec(&local, "INSERT INTO parents (id, name) VALUES (1, 'mine')");
        exec(&local, "DELETE FROM _ebb_queue");
        for page in [&first, &second] {
            let pages: Vec<&[ApplyOp]> = match one_a_page {
                true => page.chunks(1).collect(),
                false => vec![page.as_slice()],
            };
            for ops in pages {
                local.apply(&parents, ops, Some(&cursor()), 10).unwrap();
            }
        }
        tills.push((dir, local));
    }
    let written = state(&tills[0].1);
    assert_eq!(written, state(&tills[1].1));
    assert_eq!(written.len(), 200, "every row adopted once");
    for (n, (id, name, global, version, base)) in written.iter().enumerate() {
        let i = n as i64 + 1;
        assert_eq!(*id, i + 1, "after the local row, in the page's order");
        assert_eq!(*global, 7_000_000_000_000 + i);
        assert_eq!(*version, 100 + i);
        assert_eq!(name.is_none(), i % 50 == 0);
        let base: Row = serde_json::from_str(base).unwrap();
        assert_eq!(base["id"], json!(global), "the base as pulled");
    }
}
