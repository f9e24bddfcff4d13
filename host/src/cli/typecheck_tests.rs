//! Tests of `ebb check`'s type comparison: what each pair of local and
//! server types does to the values a column holds.

use super::*;
use rusqlite::Connection;

fn local(name: &str, decl_type: &str) -> Column {
    Column {
        name: name.into(),
        decl_type: decl_type.into(),
        not_null: false,
        pk: false,
        default: None,
    }
}

fn server(name: &str, type_name: &str) -> ServerColumn {
    ServerColumn {
        column: name.into(),
        type_name: type_name.into(),
        nullable: true,
        time_zone: (type_name == "timestamp with time zone").then(|| "Etc/UTC".into()),
    }
}

fn judged(decl: &str, server_type: &str, seen: &Observed) -> Option<Finding> {
    judge("t", &local("c", decl), &server("c", server_type), seen)
}

fn severity(decl: &str, server_type: &str, seen: &Observed) -> Option<Severity> {
    judged(decl, server_type, seen).map(|f| f.severity)
}

#[test]
fn kinds_follow_format_type() {
    assert_eq!(kind("numeric(12,2)"), Kind::Numeric(Some((12, 2))));
    assert_eq!(kind("numeric"), Kind::Numeric(None));
    assert_eq!(kind("character varying(20)"), Kind::Text(Some(20)));
    assert_eq!(kind("integer"), Kind::Int(32));
    assert_eq!(kind("double precision"), Kind::Float(53));
    assert_eq!(kind("timestamp with time zone"), Kind::Timestamptz);
    assert_eq!(kind("text[]"), Kind::Other);
}

#[test]
fn matching_types_say_nothing() {
    let seen = Observed {
        values: 3,
        ..Observed::default()
    };
    for (decl, server_type) in [
        ("INTEGER", "bigint"),
        ("REAL", "double precision"),
        ("TEXT", "text"),
        ("VARCHAR(20)", "character varying(20)"),
        ("BLOB", "text"),
        ("", "jsonb"),
        ("INTEGER", "numeric"),
    ] {
        assert_eq!(
            judged(decl, server_type, &seen),
            None,
            "{decl} vs {server_type}"
        );
    }
}

#[test]
fn integers_overflow_int4_and_lose_digits_in_floats() {
    let small = Observed {
        values: 2,
        max_int: Some(5),
        min_int: Some(-5),
        ..Observed::default()
    };
    let big = Observed {
        max_int: Some(3_000_000_000),
        ..small.clone()
    };
    assert_eq!(severity("INTEGER", "integer", &small), Some(Severity::Risk));
    let line = judged("INTEGER", "integer", &big).unwrap();
    assert_eq!(line.severity, Severity::Changes);
    assert!(
        line.line
            .starts_with("t.c: INTEGER here, integer on the server: values beyond 2147483647"),
        "{}",
        line.line
    );
    let huge = Observed {
        max_int: Some(9_007_199_254_740_993),
        ..small.clone()
    };
    assert_eq!(
        severity("INTEGER", "double precision", &small),
        Some(Severity::Risk)
    );
    assert_eq!(
        severity("INTEGER", "double precision", &huge),
        Some(Severity::Changes)
    );
    let reals = Observed { reals: 1, ..small };
    assert_eq!(severity("REAL", "bigint", &reals), Some(Severity::Changes));
    assert_eq!(
        severity("REAL", "bigint", &Observed::default()),
        Some(Severity::Risk)
    );
}

#[test]
fn reals_round_into_numeric_scale() {
    let exact = Observed {
        values: 2,
        reals: 2,
        max_abs_real: Some(12.5),
        ..Observed::default()
    };
    assert_eq!(
        severity("REAL", "numeric(12,2)", &exact),
        Some(Severity::Risk)
    );
    let rounded = Observed {
        rounded: 1,
        ..exact.clone()
    };
    let f = judged("REAL", "numeric(12,2)", &rounded).unwrap();
    assert_eq!(f.severity, Severity::Changes);
    assert!(
        f.line.contains("more than 2 decimals come back rounded"),
        "{}",
        f.line
    );
    let huge = Observed {
        max_abs_real: Some(1e11),
        ..exact
    };
    assert!(
        judged("REAL", "numeric(12,2)", &huge)
            .unwrap()
            .line
            .contains("overflow")
    );
}

#[test]
fn uuids_booleans_and_numbers_in_text() {
    let lower = Observed {
        values: 1,
        texts: 1,
        max_len: Some(36),
        ..Observed::default()
    };
    assert_eq!(severity("TEXT", "uuid", &lower), Some(Severity::Risk));
    let upper = Observed {
        upper: 1,
        ..lower.clone()
    };
    assert!(
        judged("TEXT", "uuid", &upper)
            .unwrap()
            .line
            .contains("lower case")
    );
    let not_uuid = Observed {
        max_len: Some(5),
        ..lower
    };
    assert_eq!(severity("TEXT", "uuid", &not_uuid), Some(Severity::Changes));
    let flags = Observed {
        values: 2,
        max_int: Some(1),
        min_int: Some(0),
        ..Observed::default()
    };
    assert_eq!(severity("BOOLEAN", "boolean", &flags), Some(Severity::Risk));
    let two = Observed {
        not_bool: 1,
        ..flags
    };
    assert_eq!(
        severity("INTEGER", "boolean", &two),
        Some(Severity::Changes)
    );
    let text = Observed {
        values: 1,
        texts: 1,
        not_number: 1,
        ..Observed::default()
    };
    assert_eq!(
        severity("TEXT", "numeric(12,2)", &text),
        Some(Severity::Changes)
    );
    assert_eq!(severity("TEXT", "boolean", &text), Some(Severity::Changes));
}

#[test]
fn text_times_against_timestamps() {
    let times = Observed {
        values: 2,
        texts: 2,
        timed: 2,
        sample: Some("2026-12-05 23:07:40".into()),
        ..Observed::default()
    };
    let f = judged("TEXT", "timestamp with time zone", &times).unwrap();
    assert_eq!(f.severity, Severity::Risk);
    assert!(
        f.line.contains("comes back \"2026-12-05T23:07:40+00:00\"") && f.line.contains("Etc/UTC"),
        "{}",
        f.line
    );
    let mut berlin = server("c", "timestamp with time zone");
    berlin.time_zone = Some("Europe/Berlin".into());
    let f = judge("t", &local("c", "TEXT"), &berlin, &times).unwrap();
    assert_eq!(f.severity, Severity::Changes);
    assert!(f.line.contains("(Europe/Berlin)"), "{}", f.line);
    // Times written with Z mean the same instant in any session zone.
    let zulu = Observed {
        zulu: 2,
        sample: Some("2026-12-05T23:07:40Z".into()),
        ..times.clone()
    };
    assert_eq!(
        judge("t", &local("c", "TEXT"), &berlin, &zulu).map(|f| f.severity),
        Some(Severity::Risk)
    );
    let f = judged("DATETIME", "date", &times).unwrap();
    assert_eq!(f.severity, Severity::Changes);
    assert!(f.line.contains("is stored as 2026-12-05"), "{}", f.line);
    let days = Observed {
        values: 1,
        texts: 1,
        sample: Some("2026-12-05".into()),
        ..Observed::default()
    };
    assert_eq!(judged("TEXT", "date", &days), None);
    let junk = Observed {
        not_date: 1,
        ..days
    };
    assert_eq!(
        severity("TEXT", "timestamp without time zone", &junk),
        Some(Severity::Changes)
    );
    // No values yet: the DEFAULT says what will come.
    let mut created = local("created_at", "TEXT");
    created.default = Some("CURRENT_TIMESTAMP".into());
    let f = judge("t", &created, &server("c", "date"), &Observed::default()).unwrap();
    assert_eq!(f.severity, Severity::Risk);
}

#[test]
fn columns_on_one_side_only() {
    let here = missing("t", Some(&local("note", "TEXT")), None).unwrap();
    assert_eq!(here.severity, Severity::Changes);
    assert!(here.line.contains("never leave this device"));
    let mut required = server("code", "text");
    required.nullable = false;
    let there = missing("t", None, Some(&required)).unwrap();
    assert_eq!(there.severity, Severity::Risk);
    assert!(there.line.contains("NOT NULL"));
    let spelled = missing("t", Some(&local("Code", "TEXT")), Some(&required)).unwrap();
    assert_eq!(spelled.severity, Severity::Changes);
    assert!(
        spelled.line.contains("spells it \"code\""),
        "{}",
        spelled.line
    );
}

#[test]
fn observe_reads_what_the_column_holds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, price REAL, at TEXT, flag INTEGER, code TEXT);
         INSERT INTO t VALUES (1, 3.3000000000000003, '2026-12-05 23:07:40', 1, 'A1');
         INSERT INTO t VALUES (2, 1.25, '2026-12-05T23:07:40.1234567+02:00', 2, '1.50');
         INSERT INTO t VALUES (3, 2.5, 'n/a', 0, NULL);",
    )
    .unwrap();
    let price = observe(&path, "t", "price", Some(2)).unwrap();
    assert_eq!((price.values, price.reals, price.rounded), (3, 3, 1));
    let at = observe(&path, "t", "at", None).unwrap();
    assert_eq!(
        (at.texts, at.not_date, at.timed, at.offset, at.fine),
        (3, 1, 2, 1, 1)
    );
    assert_eq!(at.sample.as_deref(), Some("n/a"));
    let flag = observe(&path, "t", "flag", None).unwrap();
    assert_eq!(
        (flag.not_bool, flag.max_int, flag.min_int),
        (1, Some(2), Some(0))
    );
    let code = observe(&path, "t", "code", None).unwrap();
    assert_eq!((code.values, code.upper, code.not_number), (2, 1, 2));
}
