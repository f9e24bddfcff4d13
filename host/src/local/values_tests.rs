//! Tests of the value mapping and of reading and writing one row (a child
//! module of `values`).

use serde_json::json;

use super::super::testutil::{exec, open_temp};
use super::*;

#[test]
fn values_map_both_ways() {
    assert_eq!(to_json(ValueRef::Integer(-3)), json!(-3));
    assert_eq!(to_json(ValueRef::Real(1.5)), json!(1.5));
    assert_eq!(to_json(ValueRef::Real(f64::INFINITY)), Value::Null);
    assert_eq!(to_json(ValueRef::Blob(&[0, 255])), json!("AP8="));
    assert_eq!(to_sql(&json!("AP8="), "BLOB"), SqlValue::Blob(vec![0, 255]));
    assert_eq!(
        to_sql(&json!("AP8="), "TEXT"),
        SqlValue::Text("AP8=".into())
    );
    assert_eq!(
        to_sql(&json!("not base64!"), "BLOB"),
        SqlValue::Text("not base64!".into())
    );
    assert_eq!(to_sql(&json!(true), "INTEGER"), SqlValue::Integer(1));
    assert_eq!(to_sql(&json!(2.5), "INTEGER"), SqlValue::Real(2.5));
    assert_eq!(to_sql(&json!([1]), "TEXT"), SqlValue::Text("[1]".into()));
}

#[test]
fn write_ignores_unknown_keys_and_keeps_missing_columns() {
    let (_dir, local) = open_temp();
    exec(
        &local,
        "INSERT INTO items (id, qty, note) VALUES ('a', 1, 'keep')",
    );
    let row = json!({"id": "a", "qty": 5, "nope": 1})
        .as_object()
        .cloned()
        .unwrap();
    write_row(&local.conn, "items", "a", Some(&row)).unwrap();
    let back = read_row(&local.conn, "items", "id", "a").unwrap().unwrap();
    assert_eq!(
        (back["qty"].clone(), back["note"].clone()),
        (json!(5), json!("keep"))
    );
    let wrong = json!({"id": "b"}).as_object().cloned().unwrap();
    assert!(matches!(
        write_row(&local.conn, "items", "a", Some(&wrong)),
        Err(LocalError::BadPrimaryKey { .. })
    ));
    write_row(&local.conn, "items", "a", None).unwrap();
    assert!(read_row(&local.conn, "items", "id", "a").unwrap().is_none());
}

#[test]
fn generated_columns_are_neither_read_nor_written() {
    let (_dir, local) = open_temp();
    exec(
        &local,
        "CREATE TABLE g (id INTEGER PRIMARY KEY, a INT, twice INT AS (a * 2) STORED)",
    );
    let row = json!({"id": 1, "a": 2, "twice": 99})
        .as_object()
        .cloned()
        .unwrap();
    write_row(&local.conn, "g", "1", Some(&row)).unwrap();
    let back = read_row(&local.conn, "g", "id", "1").unwrap().unwrap();
    assert_eq!(Value::Object(back), json!({"id": 1, "a": 2}));
    let twice: i64 = local
        .conn
        .query_row("SELECT twice FROM g", [], |r| r.get(0))
        .unwrap();
    assert_eq!(twice, 4);
}

#[test]
fn upsert_does_not_cascade() {
    let (_dir, local) = open_temp();
    exec(&local, "INSERT INTO parents (id, name) VALUES (1, 'p')");
    exec(
        &local,
        "INSERT INTO items (id, parent_id, qty) VALUES ('c', 1, 1)",
    );
    let row = json!({"id": 1, "name": "renamed"})
        .as_object()
        .cloned()
        .unwrap();
    write_row(&local.conn, "parents", "1", Some(&row)).unwrap();
    assert!(read_row(&local.conn, "items", "id", "c").unwrap().is_some());
}

/// A row that exists is updated in the columns whose value changes only
/// (an `UPDATE OF sku` trigger does not fire for a price change, and a
/// row already as pulled is not written), in every type; a row not there
/// is inserted, and a fresh table's page upserts without reading.
#[test]
fn an_existing_row_is_updated_only_where_it_changes() {
    let (_dir, local) = open_temp();
    exec(
        &local,
        "CREATE TABLE p (id INTEGER PRIMARY KEY, sku TEXT UNIQUE, price REAL, n INT, b BLOB, note TEXT);
         CREATE TABLE fired (what TEXT);
         CREATE TRIGGER p_sku AFTER UPDATE OF sku ON p BEGIN INSERT INTO fired VALUES ('sku'); END;
         CREATE TRIGGER p_any AFTER UPDATE ON p BEGIN INSERT INTO fired VALUES ('any'); END;
         INSERT INTO p VALUES (7, 'A-7', 1.5, 3, x'00ff', NULL);",
    );
    let fired = || -> Vec<String> {
        let mut stmt = local.conn.prepare("SELECT what FROM fired").unwrap();
        let mut all: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        all.sort();
        all
    };
    let row = |v: Value| v.as_object().cloned().unwrap();
    let same = row(json!({"id": 7, "sku": "A-7", "price": 1.5, "n": 3, "b": "AP8=", "note": null}));
    write_row(&local.conn, "p", "7", Some(&same)).unwrap();
    assert!(fired().is_empty(), "a row already as pulled is not written");
    let priced =
        row(json!({"id": 7, "sku": "A-7", "price": 2.25, "n": 3, "b": "AP8=", "note": "x"}));
    write_row(&local.conn, "p", "7", Some(&priced)).unwrap();
    assert_eq!(fired(), vec!["any"], "the sku trigger does not fire");
    let back = read_row(&local.conn, "p", "id", "7").unwrap().unwrap();
    assert_eq!(
        Value::Object(back),
        json!({"id": 7, "sku": "A-7", "price": 2.25, "n": 3, "b": "AP8=", "note": "x"})
    );
    // 3 -> 3.0 is a REAL now in an INTEGER column: SQLite stores 3 again.
    let renamed = row(json!({"id": 7, "sku": "B-7", "n": 3.0, "b": "AAA="}));
    write_row(&local.conn, "p", "7", Some(&renamed)).unwrap();
    let back = read_row(&local.conn, "p", "id", "7").unwrap().unwrap();
    assert_eq!(
        Value::Object(back),
        json!({"id": 7, "sku": "B-7", "price": 2.25, "n": 3, "b": "AAA=", "note": "x"})
    );
    assert_eq!(fired(), vec!["any", "any", "sku"]);
    // Gone here (deleted under the guard, say): written whole again.
    exec(&local, "DELETE FROM p");
    write_row(&local.conn, "p", "7", Some(&priced)).unwrap();
    let back = read_row(&local.conn, "p", "id", "7").unwrap().unwrap();
    assert_eq!(back["sku"], json!("A-7"));
    // A fresh table's writer upserts without reading first.
    let mut writer = Writer::new(&local.conn, "p").unwrap();
    writer.quiet = Quiet::read(&local.conn, "p").unwrap();
    assert!(writer.quiet.fresh);
    writer.write(&local.conn, "7", Some(&renamed)).unwrap();
    let back = read_row(&local.conn, "p", "id", "7").unwrap().unwrap();
    assert_eq!(
        (back["sku"].clone(), back["price"].clone()),
        (json!("B-7"), json!(2.25))
    );
}

/// A page whose rows keep being new here stops reading them first (the
/// reads would only miss) and writes the next known row whole, rightly.
#[test]
fn a_writer_stops_reading_first_after_a_run_of_new_rows() {
    let (_dir, local) = open_temp();
    exec(
        &local,
        "CREATE TABLE p (id INTEGER PRIMARY KEY, sku TEXT UNIQUE, price REAL);
         CREATE TABLE fired (what TEXT);
         CREATE TRIGGER p_sku AFTER UPDATE OF sku ON p BEGIN INSERT INTO fired VALUES ('sku'); END;
         INSERT INTO p VALUES (7, 'A-7', 1.5);",
    );
    let sku_fired = || -> i64 {
        local
            .conn
            .query_row("SELECT count(*) FROM fired", [], |r| r.get(0))
            .unwrap()
    };
    let row = |id: i64, price: f64| {
        json!({"id": id, "sku": format!("A-{id}"), "price": price})
            .as_object()
            .cloned()
            .unwrap()
    };
    let writer = Writer::new(&local.conn, "p").unwrap();
    writer.write(&local.conn, "7", Some(&row(7, 2.0))).unwrap();
    assert_eq!(sku_fired(), 0, "read first: only the price is set");
    for id in 100..100 + i64::from(super::super::write::MISSES) {
        writer
            .write(&local.conn, &id.to_string(), Some(&row(id, 1.0)))
            .unwrap();
    }
    writer.write(&local.conn, "7", Some(&row(7, 3.0))).unwrap();
    assert_eq!(sku_fired(), 1, "written whole by the upsert");
    let back = read_row(&local.conn, "p", "id", "7").unwrap().unwrap();
    assert_eq!(
        Value::Object(back),
        json!({"id": 7, "sku": "A-7", "price": 3.0})
    );
}

/// Stored text that is not UTF-8 is overwritten, not read as a panic;
/// a child whose parent is gone here still trips the deferred key check
/// when only its other columns change (so `hold` holds it, as the upsert
/// made it).
#[test]
fn a_bad_stored_text_and_an_orphan_are_written_as_the_upsert_wrote_them() {
    let (_dir, local) = open_temp();
    exec(
        &local,
        "PRAGMA foreign_keys = OFF;
         INSERT INTO items (id, parent_id, qty, note) VALUES ('c', 5, 1, CAST(x'c328' AS TEXT));
         PRAGMA foreign_keys = ON;",
    );
    let row = json!({"id": "c", "parent_id": 5, "qty": 2, "note": "ok"})
        .as_object()
        .cloned()
        .unwrap();
    local
        .conn
        .execute_batch("BEGIN; PRAGMA defer_foreign_keys = ON")
        .unwrap();
    write_row(&local.conn, "items", "c", Some(&row)).unwrap();
    assert!(
        super::super::fk::deferred_violation(&local.conn),
        "the orphan's key is checked again"
    );
    local.conn.execute_batch("ROLLBACK").unwrap();
    local
        .conn
        .execute_batch("PRAGMA foreign_keys = OFF")
        .unwrap();
    write_row(&local.conn, "items", "c", Some(&row)).unwrap();
    let back = read_row(&local.conn, "items", "id", "c").unwrap().unwrap();
    assert_eq!(
        (back["qty"].clone(), back["note"].clone()),
        (json!(2), json!("ok"))
    );
}

#[test]
fn checked_values_refuse_what_json_cannot_carry_exactly() {
    let checked = to_json_checked;
    assert_eq!(
        checked(ValueRef::Text(b"caf\xc3\xa9"), "TEXT"),
        Ok(json!("café"))
    );
    assert_eq!(
        checked(ValueRef::Text(b"A\xff\xfeB"), "TEXT"),
        Err(Unrepresentable::NotUtf8)
    );
    // Whatever the column: the bytes are not text.
    assert_eq!(
        checked(ValueRef::Text(b"\xff"), ""),
        Err(Unrepresentable::NotUtf8)
    );
    let blob = checked(ValueRef::Blob(&[1, 2, 3]), "varchar(20)");
    assert_eq!(
        blob,
        Err(Unrepresentable::Blob {
            decl_type: "varchar(20)".into(),
            len: 3
        })
    );
    assert_eq!(
        blob.unwrap_err().to_string(),
        "is declared varchar(20) but holds a BLOB (3 bytes): declare the column BLOB"
    );
    assert!(checked(ValueRef::Blob(&[1]), "INTEGER").is_err());
    // A BLOB column carries base64. An untyped one refuses a BLOB: another
    // till would store its base64 as text (its `cash` reads as base64 too).
    assert_eq!(
        checked(ValueRef::Blob(&[0, 255]), "BLOB"),
        Ok(json!("AP8="))
    );
    assert_eq!(
        checked(ValueRef::Blob(&[0, 255]), "")
            .unwrap_err()
            .to_string(),
        "is declared with no type but holds a BLOB (2 bytes): declare the column BLOB"
    );
    assert_eq!(
        checked(ValueRef::Real(f64::NEG_INFINITY), "REAL"),
        Err(Unrepresentable::NotFinite)
    );
    assert_eq!(checked(ValueRef::Real(1.5), "REAL"), Ok(json!(1.5)));
    assert_eq!(checked(ValueRef::Integer(7), "TEXT"), Ok(json!(7)));
    assert_eq!(checked(ValueRef::Null, "TEXT"), Ok(Value::Null));
    // The display form still never fails.
    assert_eq!(to_json(ValueRef::Text(b"A\xffB")), json!("A\u{fffd}B"));
}
