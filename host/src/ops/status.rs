//! What `ebb status` prints: [`StatusView`] (plain data, serialized as is
//! for `--json`) and [`render_text`] for people, plus the duration and
//! "3m ago" formatting the other ops reports share.
//!
//! Pure: the CLI / sync layer fills a `StatusView` from `local::LocalStatus`
//! and a [`Health`]; this module only formats it. Relative times are taken
//! against `generated_at`, so the output is reproducible.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::model::Cursor;
use crate::ops::health::{Health, Severity};

/// Everything `ebb status` shows. Times are unix milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusView {
    pub device: String,
    /// When this view was taken; "ago" is measured from here.
    pub generated_at: i64,
    pub health: Health,
    /// Queue items per state.
    pub queue: BTreeMap<String, u64>,
    pub tables: Vec<TableView>,
    pub open_conflicts: u64,
    pub last_round_at: Option<i64>,
    pub last_round_ok_at: Option<i64>,
    /// The last round's error, if it failed.
    pub last_error: Option<String>,
    /// Since when an open server transaction holds the pull back (rows
    /// newer than it wait); `None`: pulls are up to date.
    pub pull_held_since: Option<i64>,
    /// Writes a conflict policy discarded in the last 24 hours.
    pub overwritten_local: u64,
    pub overwritten_remote: u64,
    /// Pulled rows set aside while this device's own change is in doubt.
    pub deferred_rows: u64,
    /// Writes of this device the server stored with other values (a
    /// trigger, a default, a column type) in the last 24 hours, taken here.
    pub rewritten: u64,
    /// Writes an app trigger made to a synced table while ebb wrote pulled
    /// rows of another, skipped since ebb was installed (the device that
    /// made the original change synced their result).
    pub skipped_writes: u64,
}

/// One synced table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableView {
    pub table: String,
    /// Queue items of this table not yet on the server.
    pub pending: u64,
    pub last_sync_at: Option<i64>,
    /// Where the next pull starts.
    pub cursor: Cursor,
}

/// The human form of `ebb status`.
pub fn render_text(status: &StatusView) -> String {
    let now = status.generated_at;
    let mut out = String::new();
    let verdict = if status.health.healthy {
        "healthy"
    } else {
        "UNHEALTHY"
    };
    let _ = writeln!(out, "ebb status: {verdict}");
    let _ = writeln!(out, "device:     {}", status.device);
    let round = match (status.last_round_at, status.last_round_ok_at) {
        (None, _) => "never".to_owned(),
        (Some(at), Some(ok)) if ok >= at => format!("{} (ok)", ago(now, at)),
        (Some(at), Some(ok)) => format!("{} (failed; last ok {})", ago(now, at), ago(now, ok)),
        (Some(at), None) => format!("{} (failed; never ok)", ago(now, at)),
    };
    let _ = writeln!(out, "last round: {round}");
    let queue: Vec<String> = status
        .queue
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(state, n)| format!("{state} {n}"))
        .collect();
    let queue = if queue.is_empty() {
        "empty".to_owned()
    } else {
        queue.join(", ")
    };
    let _ = writeln!(out, "queue:      {queue}");
    let _ = writeln!(out, "conflicts:  {} open", status.open_conflicts);
    let pull = match status.pull_held_since {
        None => "up to date".to_owned(),
        Some(since) => format!(
            "held back since {} by a transaction open on the server",
            ago(now, since)
        ),
    };
    let _ = writeln!(out, "pull:       {pull}");
    if status.deferred_rows > 0 {
        let _ = writeln!(
            out,
            "set aside:  {} pulled row(s) wait for this device's unanswered push",
            status.deferred_rows
        );
    }
    let _ = writeln!(
        out,
        "overwritten in the last 24 h: {} local write(s), {} remote write(s)",
        status.overwritten_local, status.overwritten_remote
    );
    if status.rewritten > 0 {
        let _ = writeln!(
            out,
            "stored otherwise by the server in the last 24 h: {} write(s) of this device, taken as stored (the log names the columns)",
            status.rewritten
        );
    }
    if status.skipped_writes > 0 {
        let _ = writeln!(
            out,
            "skipped:    {} write(s) an app trigger made to a synced table while ebb applied pulled rows (the device that made the change synced them; the log names the tables)",
            status.skipped_writes
        );
    }

    if !status.tables.is_empty() {
        let rows: Vec<[String; 4]> = status
            .tables
            .iter()
            .map(|t| {
                [
                    t.table.clone(),
                    t.pending.to_string(),
                    t.last_sync_at
                        .map_or_else(|| "never".into(), |at| ago(now, at)),
                    cursor_text(&t.cursor),
                ]
            })
            .collect();
        let header = ["table", "pending", "last sync", "cursor"].map(str::to_owned);
        let mut widths = [0usize; 4];
        for row in std::iter::once(&header).chain(&rows) {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        out.push('\n');
        for row in std::iter::once(&header).chain(&rows) {
            let line = format!(
                "{:<w0$}  {:>w1$}  {:<w2$}  {}",
                row[0],
                row[1],
                row[2],
                row[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
            );
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }

    if !status.health.problems.is_empty() {
        out.push_str("\nproblems:\n");
        for p in &status.health.problems {
            let level = match p.severity {
                Severity::Error => "error  ",
                Severity::Warning => "warning",
            };
            let _ = writeln!(out, "  {level} {}", p.message);
        }
    }
    if let Some(e) = &status.last_error {
        let _ = writeln!(out, "\nlast error: {e}");
    }
    out
}

fn cursor_text(c: &Cursor) -> String {
    if c.txid.is_empty() && c.pk.is_empty() {
        "start".into()
    } else {
        format!("txid {} pk {}", c.txid, c.pk)
    }
}

/// "just now", "3m ago", "2h 5m ago"; a time ahead of `now_ms` (a clock
/// changed) is "in 5s".
pub fn ago(now_ms: i64, then_ms: i64) -> String {
    let diff = now_ms.saturating_sub(then_ms);
    let d = Duration::from_millis(diff.unsigned_abs());
    if d < Duration::from_secs(1) {
        "just now".into()
    } else if diff > 0 {
        format!("{} ago", human_duration(d))
    } else {
        format!("in {}", human_duration(d))
    }
}

/// A duration in its two largest units: "45s", "3m", "1h 30m", "2d 4h".
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let units = [(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")];
    let Some(first) = units.iter().position(|(size, _)| secs >= *size) else {
        return "0s".into();
    };
    let (size, name) = units[first];
    let mut text = format!("{}{name}", secs / size);
    if let Some((next, next_name)) = units.get(first + 1) {
        let rest = (secs % size) / next;
        if rest > 0 {
            let _ = write!(text, " {rest}{next_name}");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::health::{Problem, ProblemKind};

    const NOW: i64 = 1_700_000_000_000;

    fn view() -> StatusView {
        StatusView {
            device: "till-01".into(),
            generated_at: NOW,
            health: Health {
                healthy: false,
                problems: vec![
                    Problem {
                        kind: ProblemKind::StaleTable,
                        severity: Severity::Error,
                        message: "customers: never synced".into(),
                    },
                    Problem {
                        kind: ProblemKind::OpenConflicts,
                        severity: Severity::Warning,
                        message: "1 open conflict(s): settle with `ebb conflicts resolve`".into(),
                    },
                ],
            },
            queue: BTreeMap::from([
                ("dead".into(), 0),
                ("pending".into(), 3),
                ("retry".into(), 1),
            ]),
            tables: vec![
                TableView {
                    table: "orders".into(),
                    pending: 3,
                    last_sync_at: Some(NOW - 180_000),
                    cursor: Cursor {
                        txid: "90210".into(),
                        pk: "o-17".into(),
                    },
                },
                TableView {
                    table: "customers".into(),
                    pending: 1,
                    last_sync_at: None,
                    cursor: Cursor::default(),
                },
            ],
            open_conflicts: 1,
            last_round_at: Some(NOW - 20_000),
            last_round_ok_at: Some(NOW - 3_700_000),
            last_error: Some("https://h/rest/v1/rpc/ebb_pull did not answer within 30s".into()),
            pull_held_since: Some(NOW - 90_000),
            overwritten_local: 2,
            overwritten_remote: 0,
            deferred_rows: 1,
            rewritten: 0,
            skipped_writes: 0,
        }
    }

    #[test]
    fn text_snapshot() {
        let expected = "\
ebb status: UNHEALTHY
device:     till-01
last round: 20s ago (failed; last ok 1h 1m ago)
queue:      pending 3, retry 1
conflicts:  1 open
pull:       held back since 1m 30s ago by a transaction open on the server
set aside:  1 pulled row(s) wait for this device's unanswered push
overwritten in the last 24 h: 2 local write(s), 0 remote write(s)

table      pending  last sync  cursor
orders           3  3m ago     txid 90210 pk o-17
customers        1  never      start

problems:
  error   customers: never synced
  warning 1 open conflict(s): settle with `ebb conflicts resolve`

last error: https://h/rest/v1/rpc/ebb_pull did not answer within 30s
";
        assert_eq!(render_text(&view()), expected);
    }

    #[test]
    fn healthy_and_quiet() {
        let v = StatusView {
            health: Health {
                healthy: true,
                problems: vec![],
            },
            queue: BTreeMap::new(),
            tables: vec![],
            open_conflicts: 0,
            last_round_at: Some(NOW - 5_000),
            last_round_ok_at: Some(NOW - 5_000),
            last_error: None,
            pull_held_since: None,
            overwritten_local: 0,
            deferred_rows: 0,
            ..view()
        };
        assert_eq!(
            render_text(&v),
            "ebb status: healthy\ndevice:     till-01\nlast round: 5s ago (ok)\n\
             queue:      empty\nconflicts:  0 open\npull:       up to date\n\
             overwritten in the last 24 h: 0 local write(s), 0 remote write(s)\n"
        );
    }

    #[test]
    fn json_shape() {
        let v = serde_json::to_value(view()).unwrap();
        assert_eq!(v["health"]["healthy"], false);
        assert_eq!(v["tables"][0]["cursor"]["txid"], "90210");
        assert_eq!(v["tables"][1]["last_sync_at"], serde_json::Value::Null);
        assert_eq!(v["queue"]["pending"], 3);
    }

    #[test]
    fn durations() {
        let s = Duration::from_secs;
        assert_eq!(human_duration(Duration::from_millis(300)), "0s");
        assert_eq!(human_duration(s(45)), "45s");
        assert_eq!(human_duration(s(60)), "1m");
        assert_eq!(human_duration(s(61)), "1m 1s");
        assert_eq!(human_duration(s(3600)), "1h");
        assert_eq!(human_duration(s(5400)), "1h 30m");
        assert_eq!(human_duration(s(2 * 86_400 + 4 * 3600 + 59)), "2d 4h");
        assert_eq!(ago(NOW, NOW - 500), "just now");
        assert_eq!(ago(NOW, NOW - 180_000), "3m ago");
        assert_eq!(ago(NOW, NOW + 5_000), "in 5s");
        let far = ago(i64::MAX, i64::MIN);
        assert!(far.contains("d ") && far.ends_with(" ago"), "{far}");
    }
}
