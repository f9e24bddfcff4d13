//! Tests of date shapes: recognising a column's format and writing a
//! pulled timestamp back in it without losing its meaning.

use super::*;

const SPACE: Shape = Shape::DateTime {
    sep: ' ',
    frac: 0,
    zulu: false,
};

fn render(text: &str, shape: Shape) -> Option<String> {
    Stamp::parse(text).and_then(|s| s.render(shape))
}

#[test]
fn local_shapes_are_recognized() {
    assert_eq!(Shape::of_local("2026-12-05 23:07:40"), Some(SPACE));
    assert_eq!(Shape::of_local("2026-12-05"), Some(Shape::Date));
    assert_eq!(
        Shape::of_local("2026-12-05T23:07:40.123Z"),
        Some(Shape::DateTime {
            sep: 'T',
            frac: 3,
            zulu: true
        })
    );
    assert_eq!(
        Shape::of_local("2026-12-05T23:07:40"),
        Some(Shape::DateTime {
            sep: 'T',
            frac: 0,
            zulu: false
        })
    );
    for not in [
        "2026-12-05T23:07:40+00:00",
        "2026-13-05",
        "2026-02-30",
        "2026-12-05 24:00:00",
        "2026-12-05x",
        "05/12/2026",
        "2026-12-05 23:07",
        "2026-12-05 23:07:40.",
        "2026-12-05 23:07:40 ",
        "20é6-12-05 23:07:40",
        "2026-12-0é",
        "2026-12-05 23:07:4é",
        "",
    ] {
        assert_eq!(Shape::of_local(not), None, "{not}");
    }
}

#[test]
fn defaults_say_what_the_app_writes() {
    assert_eq!(Shape::of_default("CURRENT_TIMESTAMP"), Some(SPACE));
    assert_eq!(Shape::of_default("(datetime('now'))"), Some(SPACE));
    assert_eq!(Shape::of_default("CURRENT_DATE"), Some(Shape::Date));
    assert_eq!(Shape::of_default("(date('now'))"), Some(Shape::Date));
    assert_eq!(
        Shape::of_default("(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"),
        Some(Shape::DateTime {
            sep: 'T',
            frac: 3,
            zulu: true
        })
    );
    assert_eq!(
        Shape::of_default("(datetime('now', 'subsec'))"),
        Some(Shape::DateTime {
            sep: ' ',
            frac: 3,
            zulu: false
        })
    );
    for not in ["0", "'open'", "CURRENT_TIME", "(strftime('%s', 'now'))", ""] {
        assert_eq!(Shape::of_default(not), None, "{not}");
    }
}

#[test]
fn postgres_values_come_back_in_the_local_shape() {
    // timestamptz in a UTC session, and the same instant elsewhere.
    for pulled in [
        "2026-12-05T23:07:40+00:00",
        "2026-12-06T00:07:40+01:00",
        "2026-12-05T18:37:40-04:30",
        "2026-12-06T00:07:40+0100",
        "2026-12-06T00:07:40+01",
        "2026-12-05T23:07:40Z",
        "2026-12-05T23:07:40",
        "2026-12-05 23:07:40",
    ] {
        assert_eq!(
            render(pulled, SPACE).as_deref(),
            Some("2026-12-05 23:07:40"),
            "{pulled}"
        );
    }
    let iso_ms = Shape::of_local("2026-01-01T00:00:00.000Z").unwrap();
    assert_eq!(
        render("2026-12-05T23:07:40.12+00:00", iso_ms).as_deref(),
        Some("2026-12-05T23:07:40.120Z")
    );
    // Microseconds are kept, never cut to the local three digits.
    assert_eq!(
        render("2026-12-05T23:07:40.123456+00:00", iso_ms).as_deref(),
        Some("2026-12-05T23:07:40.123456Z")
    );
    assert_eq!(
        render("2026-12-05T23:07:40.5+00:00", SPACE).as_deref(),
        Some("2026-12-05 23:07:40.5")
    );
    // Across midnight, a month, a leap day and a year.
    assert_eq!(
        render("2024-03-01T01:30:00+02:00", SPACE).as_deref(),
        Some("2024-02-29 23:30:00")
    );
    assert_eq!(
        render("2027-01-01T00:30:00+01:00", SPACE).as_deref(),
        Some("2026-12-31 23:30:00")
    );
    // Local mean time offsets with seconds (Postgres writes them for old dates).
    assert_eq!(
        render("1900-01-01T00:19:32+00:19:32", SPACE).as_deref(),
        Some("1900-01-01 00:00:00")
    );
}

#[test]
fn dates_only_when_nothing_is_lost() {
    assert_eq!(
        render("2026-12-05", Shape::Date).as_deref(),
        Some("2026-12-05")
    );
    assert_eq!(
        render("2026-12-05T00:00:00+00:00", Shape::Date).as_deref(),
        Some("2026-12-05")
    );
    assert_eq!(render("2026-12-05T10:00:00+00:00", Shape::Date), None);
    assert_eq!(render("2026-12-05T00:00:00.5Z", Shape::Date), None);
    // A bare date gets no invented time of day.
    assert_eq!(render("2026-12-05", SPACE), None);
    // Years 0001-9999 only.
    assert_eq!(render("0001-01-01T00:30:00+01:00", SPACE), None);
    assert_eq!(render("9999-12-31T23:30:00-01:00", SPACE), None);
    for not in [
        "infinity",
        "-infinity",
        "0044-03-15 BC",
        "yesterday",
        "2026-12-05T23:07:40+25:00",
    ] {
        assert_eq!(Stamp::parse(not), None, "{not}");
    }
}

#[test]
fn a_local_value_renders_as_itself() {
    for text in [
        "2026-12-05 23:07:40",
        "2026-12-05T23:07:40",
        "2026-12-05T23:07:40Z",
        "2026-12-05T23:07:40.100Z",
        "2026-12-05 23:07:40.000",
        "2026-12-05",
        "1970-01-01 00:00:00",
        "0001-01-01 00:00:00",
        "9999-12-31 23:59:59",
    ] {
        let shape = Shape::of_local(text).unwrap();
        assert_eq!(render(text, shape).as_deref(), Some(text), "{text}");
    }
}

#[test]
fn civil_days_round_trip() {
    for days in (-719_162..=2_932_896).step_by(997) {
        let text = civil_text(days).unwrap();
        let p = Parts::split(&text).unwrap();
        assert_eq!(days_from_civil(p.year, p.month, p.day), days, "{text}");
    }
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(civil_text(-719_163), None, "year 0");
}

#[test]
fn the_same_instant_spelled_two_ways_is_the_same() {
    for (a, b) in [
        ("2026-12-06 14:05:00", "2026-12-06T16:05:00+02:00"),
        ("2026-12-06T14:05:00Z", "2026-12-06 14:05:00+00"),
        ("2026-12-06 14:05:00.50", "2026-12-06T14:05:00.5Z"),
        ("2026-12-06", "2026-12-06"),
    ] {
        assert!(Stamp::same(a, b), "{a} {b}");
    }
    for (a, b) in [
        ("2026-12-06 14:05:00", "2026-12-06T14:05:00+02:00"),
        ("2026-12-06", "2026-12-06 00:00:00"),
        ("2026-12-06 14:05:00.5", "2026-12-06 14:05:00"),
        ("Tea", "Tea"),
    ] {
        assert!(!Stamp::same(a, b), "{a} {b}");
    }
}
