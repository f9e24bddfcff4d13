//! Tests of normalizing pulled rows: dates in the column's own shape, and
//! numbers and numeric-looking text kept exactly.

use super::super::testutil::{exec, open_temp};
use super::*;
use serde_json::{Value, json};

fn row(value: Value) -> Row {
    value.as_object().cloned().expect("object")
}

/// What writing `r` and reading it back gives, for comparison.
fn round_trip(local: &mut Local, table: &TableSpec, pk: &str, r: &Row) -> Row {
    super::super::values::write_row(&local.conn, &table.name, pk, Some(r)).unwrap();
    let back = local.read_row(table, pk).unwrap().unwrap();
    back.into_iter()
        .filter(|(k, _)| r.contains_key(k))
        .collect()
}

#[test]
fn matches_what_sqlite_stores() {
    let (_dir, mut local) = open_temp();
    exec(
        &local,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, flag BOOLEAN, price REAL, qty INT,
             amount DECIMAL(10,2), name VARCHAR(20), raw, photo BLOB,
             twice INT AS (qty * 2) STORED)",
    );
    let t = TableSpec {
        name: "t".into(),
        pk: "id".into(),
    };
    let cases = [
        json!({"id": 1, "flag": true, "price": 1.50, "qty": "42", "amount": "12.50",
               "name": 7, "raw": "9", "photo": "AP8="}),
        json!({"id": 2, "flag": false, "price": 3, "qty": 2.0, "amount": 5.0,
               "name": 1.5, "raw": 2.5, "photo": null}),
        json!({"id": 3, "price": "1e3", "qty": " 17 ", "amount": "abc", "name": "x",
               "raw": [1, {"a": true}], "flag": {"k": 1}}),
        json!({"id": 4, "qty": "0x10", "price": "not a number", "amount": "9223372036854775808"}),
    ];
    for (i, case) in cases.iter().enumerate() {
        let r = row(case.clone());
        let pk = (i + 1).to_string();
        let normal = local.normalize(&t, &r).unwrap();
        assert_eq!(normal, round_trip(&mut local, &t, &pk, &r), "case {i}");
    }
    let one = local.normalize(&t, &row(cases[0].clone())).unwrap();
    assert_eq!(one["flag"], json!(1));
    assert_eq!(one["price"], json!(1.5));
    assert_eq!(one["qty"], json!(42));
    assert_eq!(one["name"], json!("7"));
    assert_eq!(one["raw"], json!("9"), "no declared type: no conversion");
    let two = local.normalize(&t, &row(cases[1].clone())).unwrap();
    assert_eq!(two["price"], json!(3.0));
    assert_eq!(two["qty"], json!(2));
}

#[test]
fn keeps_only_present_local_columns_and_writes_nothing() {
    let (_dir, local) = open_temp();
    let items = TableSpec {
        name: "items".into(),
        pk: "id".into(),
    };
    let r = row(json!({"ID": "a", "qty": "3", "unknown": 1, "_ebb_version": 4}));
    let normal = local.normalize(&items, &r).unwrap();
    assert_eq!(Value::Object(normal), json!({"id": "a", "qty": 3}));
    assert!(local.read_row(&items, "a").unwrap().is_none());
    assert_eq!(
        local.normalize(&items, &row(json!({"x": 1}))).unwrap(),
        Row::new()
    );
    let missing = TableSpec {
        name: "nope".into(),
        pk: "id".into(),
    };
    assert!(matches!(
        local.normalize(&missing, &r),
        Err(LocalError::NoSuchTable { .. })
    ));
}

fn spec(name: &str) -> TableSpec {
    TableSpec {
        name: name.into(),
        pk: "id".into(),
    }
}

#[test]
fn pulled_dates_take_the_default_shape_of_an_empty_column() {
    let (_dir, local) = open_temp();
    exec(
        &local,
        "CREATE TABLE sales (id INTEGER PRIMARY KEY, total REAL,
             created_at TEXT DEFAULT CURRENT_TIMESTAMP, day TEXT DEFAULT CURRENT_DATE,
             note TEXT)",
    );
    let pulled = row(json!({"id": 1, "created_at": "2026-12-06T00:07:40+01:00",
        "day": "2026-12-05", "note": "2026-12-05T23:07:40+00:00"}));
    let normal = local.normalize(&spec("sales"), &pulled).unwrap();
    assert_eq!(normal["created_at"], json!("2026-12-05 23:07:40"));
    assert_eq!(normal["day"], json!("2026-12-05"));
    // No values and no default: nothing says how this column spells dates.
    assert_eq!(normal["note"], json!("2026-12-05T23:07:40+00:00"));
}

#[test]
fn pulled_dates_take_the_shape_of_the_columns_values() {
    let (_dir, local) = open_temp();
    exec(
        &local,
        "CREATE TABLE t (id TEXT PRIMARY KEY, at DATETIME, said TEXT, n INTEGER, r REAL);
         INSERT INTO t VALUES ('a', '2026-01-01T10:00:00.000Z', 'hello', 1, 1.5);
         INSERT INTO t VALUES ('b', '2026-01-02T10:00:00.250Z', '2026-01-02 10:00:00', 2, 2.5);",
    );
    let pulled = row(json!({"id": "c", "at": "2026-12-05T23:07:40.12+00:00",
        "said": "2026-12-05T23:07:40+00:00", "n": "2026-12-05", "r": "12"}));
    let normal = local.normalize(&spec("t"), &pulled).unwrap();
    assert_eq!(normal["at"], json!("2026-12-05T23:07:40.120Z"));
    // Free text holds dates too: never re-spelled.
    assert_eq!(normal["said"], json!("2026-12-05T23:07:40+00:00"));
    assert_eq!(normal["n"], json!("2026-12-05"));
    assert_eq!(normal["r"], json!(12.0));
    // A value already in the local shape stays as it is.
    let same = row(json!({"id": "c", "at": "2026-12-05T23:07:40.120Z"}));
    assert_eq!(local.normalize(&spec("t"), &same).unwrap(), same);
}

#[test]
fn a_column_mixing_shapes_keeps_each_rows_own() {
    let (_dir, local) = open_temp();
    exec(
        &local,
        "CREATE TABLE t (id TEXT PRIMARY KEY, at TEXT) WITHOUT ROWID;
         INSERT INTO t VALUES ('a', '2026-01-01 10:00:00'), ('b', '2026-01-02 10:00:00'),
                              ('c', '2026-01-03T10:00:00Z');",
    );
    let pulled = |id: &str| row(json!({"id": id, "at": "2026-12-05T23:07:40+00:00"}));
    let at = |id: &str| local.normalize(&spec("t"), &pulled(id)).unwrap()["at"].clone();
    assert_eq!(at("c"), json!("2026-12-05T23:07:40Z"));
    assert_eq!(at("a"), json!("2026-12-05 23:07:40"));
    // A new row takes the most common shape.
    assert_eq!(at("new"), json!("2026-12-05 23:07:40"));
}

#[test]
fn a_bulk_pull_reads_each_columns_shape_once() {
    let (_dir, local) = open_temp();
    exec(
        &local,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT DEFAULT CURRENT_TIMESTAMP,
             b TEXT DEFAULT CURRENT_DATE, c TEXT)",
    );
    for i in 0..500 {
        let pulled = row(json!({"id": i, "a": "2026-12-05T23:07:40+00:00",
            "b": "2026-12-05", "c": "2026-12-05T23:07:40Z"}));
        let normal = local.normalize(&spec("t"), &pulled).unwrap();
        assert_eq!(normal["a"], json!("2026-12-05 23:07:40"));
    }
    assert_eq!(local.scratch.borrow().sampled, 3);
    local.scratch.borrow_mut().forget_shapes();
    let pulled = row(json!({"id": 1, "a": "2026-12-05T23:07:40+00:00"}));
    local.normalize(&spec("t"), &pulled).unwrap();
    assert_eq!(local.scratch.borrow().sampled, 4);
}

#[test]
fn numbers_keep_their_value_and_text_stays_text() {
    let (_dir, local) = open_temp();
    exec(
        &local,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, r REAL, i INTEGER, s TEXT, d DECIMAL(12,2))",
    );
    let floats = [
        "0.1",
        "3.3000000000000003",
        "0.30000000000000004",
        "2.2250738585072014e-308",
        "1.7976931348623157e308",
        "123456789.12345678",
        "5e-324",
        "1.005",
    ];
    for text in floats {
        let want: f64 = text.parse().unwrap();
        for pulled in [json!(text), serde_json::from_str::<Value>(text).unwrap()] {
            let normal = local
                .normalize(&spec("t"), &row(json!({"id": 1, "r": pulled})))
                .unwrap();
            assert_eq!(normal["r"].as_f64(), Some(want), "{text} as {pulled}");
        }
    }
    let normal = local
        .normalize(
            &spec("t"),
            &row(
                json!({"id": 9007199254740993_i64, "i": 9007199254740993_i64,
                "s": "007", "d": "12.50"}),
            ),
        )
        .unwrap();
    assert_eq!(normal["id"], json!(9007199254740993_i64));
    assert_eq!(normal["i"], json!(9007199254740993_i64));
    assert_eq!(normal["s"], json!("007"));
    assert_eq!(normal["d"], json!(12.5));
    let big = local
        .normalize(&spec("t"), &row(json!({"i": "9223372036854775807"})))
        .unwrap();
    assert_eq!(big["i"], json!(i64::MAX));
}

#[test]
fn plain_values_are_converted_as_sqlite_converts_them() {
    let conn = Connection::open_in_memory().unwrap();
    let values = [
        SqlValue::Null,
        SqlValue::Integer(0),
        SqlValue::Integer(-5),
        SqlValue::Integer(i64::MAX),
        SqlValue::Real(1.5),
        SqlValue::Real(-0.25),
        SqlValue::Real(2.0),
        SqlValue::Real(1e300),
        SqlValue::Text("abc".into()),
        SqlValue::Text("12".into()),
        SqlValue::Text(" 7 ".into()),
        SqlValue::Text("1e3".into()),
        SqlValue::Text("x1".into()),
        SqlValue::Text(String::new()),
        SqlValue::Text("Inf".into()),
        SqlValue::Blob(vec![0, 255]),
    ];
    let mut quick = 0;
    for (i, decl) in ["INTEGER", "TEXT", "BLOB", "REAL", "NUMERIC", ""]
        .iter()
        .enumerate()
    {
        conn.execute_batch(&format!("CREATE TABLE m{i} (c {decl})"))
            .unwrap();
        for value in &values {
            let Some(fast) = stored(value, affinity(decl)) else {
                continue;
            };
            quick += 1;
            let slow = conn
                .query_row(
                    &format!("INSERT INTO m{i} (c) VALUES (?1) RETURNING c"),
                    [value],
                    |r| Ok(to_json(r.get_ref(0)?)),
                )
                .unwrap();
            assert_eq!(fast, slow, "{value:?} into a column declared {decl:?}");
        }
    }
    assert!(
        quick > 60,
        "most plain values take the quick path ({quick})"
    );
}

#[test]
fn the_quick_conversion_of_pulled_values_is_the_bound_one() {
    let values = [
        json!(null),
        json!(true),
        json!(7),
        json!(-2.5),
        json!("abc"),
        json!("12"),
        json!(" 7 "),
        json!("AP8="),
        json!(""),
        json!([1, 2]),
        json!({"a": 1}),
    ];
    for decl in [
        "INTEGER",
        "TEXT",
        "BLOB",
        "REAL",
        "NUMERIC",
        "",
        "VARCHAR(3)",
    ] {
        for value in &values {
            assert_eq!(
                quick(value, decl),
                stored(&to_sql(value, decl), affinity(decl)),
                "{value} into a column declared {decl:?}"
            );
        }
    }
}

/// Text that `stored` keeps as text in a numeric column is what SQLite
/// keeps: dates and times, and anything else with a character no numeric
/// literal has; text SQLite may convert is left for SQLite to say.
#[test]
fn text_that_is_never_a_number_stays_text_as_sqlite_keeps_it() {
    let texts = [
        "2026-12-05 23:07:40",
        "2026-12-05T23:07:40+00:00",
        "2026-12-05T23:07:40.123Z",
        "23:07",
        "12/05/2026",
        "5 apples",
        "0x10",
        "inf",
        "NaN",
        "1_000",
        "\u{661}\u{662}",
        "- 5",
        "1e",
        "e5",
        "2026-12-05",
        " 17 ",
        "\t42\n",
        "+5",
        "-0",
        "1.5e-3",
        "3.",
        ".5",
        "1e400",
        "9223372036854775808",
        "5-3",
        "1e+5",
        " -2 ",
        "--5",
        "+-5",
    ];
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    for decl in [
        "INTEGER",
        "REAL",
        "NUMERIC",
        "DATETIME",
        "DATE",
        "BOOLEAN",
        "DECIMAL(10,2)",
    ] {
        conn.execute_batch(&format!(
            "DROP TABLE IF EXISTS t; CREATE TABLE t (v {decl})"
        ))
        .unwrap();
        for text in texts {
            conn.execute("DELETE FROM t", []).unwrap();
            conn.execute("INSERT INTO t (v) VALUES (?1)", [text])
                .unwrap();
            let back = conn
                .query_row("SELECT v FROM t", [], |r| Ok(to_json(r.get_ref(0)?)))
                .unwrap();
            let said = stored(&SqlValue::Text(text.to_string()), affinity(decl));
            if let Some(said) = &said {
                assert_eq!(*said, back, "{text:?} into a column declared {decl}");
            }
            // Dates and times are said without SQLite (no mirror row).
            if text.contains([':', '/', 'T']) || text == "2026-12-05" {
                assert!(said.is_some(), "{text:?} in {decl}: left to SQLite");
            }
        }
    }
}
