//! `ebb check`'s judgement of a local text date or time against a server
//! timestamptz, timestamp or date column: what the server stores, what
//! comes back, and whether the instant moves.
//!
//! Pure; `typecheck::judge` hands it the column pair and what the local
//! column holds. Pulled values are written back in the local column's own
//! spelling by `local::normalize`, so a spelling change alone is a risk
//! (other readers of the server see the server's type), while a moved
//! instant, a dropped time of day or a refused value is a change.

use super::observe::Observed;
use super::typecheck::{Finding, Kind, Severity};
use crate::local::Column;
use crate::remote::postgrest::ServerColumn;

/// Zone names Postgres reports for UTC.
const UTC: [&str; 8] = [
    "utc",
    "etc/utc",
    "gmt",
    "etc/gmt",
    "uct",
    "zulu",
    "universal",
    "etc/universal",
];

pub(super) fn judge_time(
    head: String,
    local: &Column,
    server: &ServerColumn,
    kind: &Kind,
    seen: &Observed,
) -> Option<Finding> {
    let changes = |what: String| {
        Some(Finding {
            severity: Severity::Changes,
            line: format!("{head}: {what}"),
        })
    };
    let risk = |what: String| {
        Some(Finding {
            severity: Severity::Risk,
            line: format!("{head}: {what}"),
        })
    };
    let odd = seen.not_date + seen.blobs + (seen.values - seen.texts - seen.blobs);
    if odd > 0 {
        return changes(format!(
            "values that are not dates (YYYY-MM-DD...) are refused by the server ({odd} here)"
        ));
    }
    let example = seen.sample.clone().or_else(|| from_default(local));
    let timed = seen.timed > 0 || example.as_deref().is_some_and(|e| e.len() > 10);
    let shown = example.as_deref().unwrap_or("2026-12-05 23:07:40");
    if *kind == Kind::Date {
        return if timed {
            let date = shown.get(..10).unwrap_or(shown);
            let what = format!("the time of day is dropped: \"{shown}\" is stored as {date}");
            if seen.timed > 0 {
                changes(what)
            } else {
                risk(what)
            }
        } else {
            None
        };
    }
    if seen.fine > 0 {
        return changes(format!(
            "fractional seconds beyond 6 digits are cut to microseconds ({} here)",
            seen.fine
        ));
    }
    let zoneless = seen.timed - seen.offset - seen.zulu;
    if *kind == Kind::Timestamp {
        if seen.offset > 0 {
            return changes(format!(
                "timestamp drops a zone offset: \"2026-12-05T23:07:40+02:00\" is stored as \
                 23:07:40, two hours off UTC ({} here)",
                seen.offset
            ));
        }
        return risk(format!(
            "\"{shown}\" is stored as a timestamp and comes back \"{}\"; ebb writes pulled values \
             back as \"{shown}\" here, other readers of the server see a timestamp",
            postgres(shown, None)
        ));
    }
    let zone = server.time_zone.as_deref().unwrap_or("unknown");
    let utc = UTC.contains(&zone.to_ascii_lowercase().as_str());
    let unzoned = zoneless > 0 || (seen.timed == 0 && timed && !shown.ends_with('Z'));
    if !utc && unzoned {
        return changes(format!(
            "a time without a zone is read in the server session's time zone ({zone}), not as \
             UTC (what SQLite's CURRENT_TIMESTAMP writes): \"{shown}\" is stored shifted by that \
             zone's offset; apply `ebb remote-sql` again (ebb's push then reads them as UTC), \
             or write times with Z"
        ));
    }
    risk(format!(
        "\"{shown}\" is stored as an instant and comes back \"{}\" (a time without a zone is \
         read in the session time zone, {zone}); ebb writes pulled values back as \"{shown}\" \
         here, other readers of the server see a timestamptz",
        postgres(shown, Some(utc))
    ))
}

/// What the column DEFAULT writes, as an example value.
fn from_default(local: &Column) -> Option<String> {
    let d = local.default.as_deref()?.to_ascii_lowercase();
    if d.contains("current_timestamp") || d.contains("datetime(") {
        Some(String::from("2026-12-05 23:07:40"))
    } else if d.contains("current_date") || d.contains("date(") {
        Some(String::from("2026-12-05"))
    } else {
        None
    }
}

/// How Postgres writes `text` back as JSON: `T` between date and time,
/// fraction without trailing zeros, and for timestamptz the offset
/// (`utc`: `+00:00`, else the session's).
fn postgres(text: &str, utc: Option<bool>) -> String {
    let zoned = text.get(11..).is_some_and(|time| time.contains(['+', '-']));
    if zoned && utc.is_some() {
        return String::from("the same instant in the session's time zone");
    }
    let mut out = match text.get(..10) {
        Some(date) if text.len() == 10 => format!("{date}T00:00:00"),
        Some(date) => format!("{date}T{}", text.get(11..).unwrap_or_default()),
        None => text.to_string(),
    };
    if let Some(stripped) = out.strip_suffix('Z') {
        out = stripped.to_string();
    }
    if out.contains('.') {
        out = out.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    match utc {
        None => out,
        Some(true) => format!("{out}+00:00"),
        Some(false) => format!("{out}+HH:MM"),
    }
}
