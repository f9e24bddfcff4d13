//! Metrics rendered, then parsed back by a strict reader of the text format;
//! the served families checked against the list in docs/operations.md.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use super::Metrics;

/// One sample: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// A strict reader of the subset of the text format we emit: every family
/// has a `# HELP` (a sentence) then a `# TYPE`, every sample follows the
/// `# TYPE` of its family, names are valid, label values are properly
/// escaped and quoted, values parse as floats.
fn parse(text: &str) -> Vec<Sample> {
    let mut typed: HashSet<String> = HashSet::new();
    let mut helped: HashSet<String> = HashSet::new();
    let mut samples = Vec::new();
    assert!(text.ends_with('\n'), "text must end with a newline");
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let what = parts.next().unwrap();
            let name = parts.next().unwrap();
            let rest = parts.next().unwrap_or_default();
            assert!(valid_name(name), "{line}");
            if what == "TYPE" {
                assert!(["counter", "gauge", "histogram"].contains(&rest), "{line}");
                assert!(helped.contains(name), "TYPE without HELP: {line}");
                assert!(typed.insert(name.to_owned()), "TYPE twice: {line}");
            } else {
                assert_eq!(what, "HELP", "{line}");
                let sentence = rest.len() > 10 && rest.ends_with('.') && !rest.ends_with("..");
                assert!(sentence, "help is not a sentence: {line}");
                assert!(helped.insert(name.to_owned()), "HELP twice: {line}");
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').unwrap_or_else(|| panic!("{line}"));
                (name.to_owned(), parse_labels(body))
            }
        };
        assert!(valid_name(&name), "{line}");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(*f)))
            .unwrap_or(&name);
        assert!(typed.contains(family), "sample before its TYPE: {line}");
        samples.push((name, labels, value));
    }
    samples
}

fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_labels(body: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = body.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert!(valid_name(&key), "label name {key:?} in {body}");
        assert_eq!(chars.next(), Some('"'), "{body}");
        let mut value = String::new();
        loop {
            match chars.next().expect("unterminated label value") {
                '\\' => match chars.next() {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => panic!("bad escape {other:?} in {body}"),
                },
                '"' => break,
                '\n' => panic!("raw newline in {body}"),
                c => value.push(c),
            }
        }
        out.insert(key, value);
        match chars.next() {
            None => return out,
            Some(',') => continue,
            Some(c) => panic!("unexpected {c:?} in {body}"),
        }
    }
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    samples
        .iter()
        .find(|(n, l, _)| n == name && *l == want)
        .map(|(_, _, v)| *v)
}

#[test]
fn counters_and_gauges_round_trip() {
    let m = Metrics::new();
    m.add_pushed("orders", 3);
    m.add_pushed("orders", 2);
    m.add_pulled("customers", 7);
    m.count_conflict("orders", "merged");
    m.count_push_error("timeout");
    m.count_request("ebb_push", "ok");
    m.count_request("ebb_push", "ok");
    m.count_invalid(2);
    m.count_dead(1);
    m.add_plugin_calls("orders", "resolve", "trap", 1);
    m.set_last_sync("orders", 1_700_000_000_500);
    m.set_pull_lag(Duration::from_millis(2500));
    let s = parse(&m.render());
    assert_eq!(
        value(&s, "ebb_pushed_total", &[("table", "orders")]),
        Some(5.0)
    );
    assert_eq!(
        value(&s, "ebb_pulled_total", &[("table", "customers")]),
        Some(7.0)
    );
    assert_eq!(
        value(
            &s,
            "ebb_conflicts_total",
            &[("table", "orders"), ("outcome", "merged")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&s, "ebb_push_errors_total", &[("kind", "timeout")]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &s,
            "ebb_requests_total",
            &[("rpc", "ebb_push"), ("result", "ok")]
        ),
        Some(2.0)
    );
    assert_eq!(value(&s, "ebb_items_invalid_total", &[]), Some(2.0));
    assert_eq!(value(&s, "ebb_items_dead_total", &[]), Some(1.0));
    assert_eq!(
        value(
            &s,
            "ebb_plugin_calls_total",
            &[("table", "orders"), ("kind", "resolve"), ("result", "trap")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &s,
            "ebb_last_sync_timestamp_seconds",
            &[("table", "orders")]
        ),
        Some(1_700_000_000.5)
    );
    assert_eq!(value(&s, "ebb_pull_lag_seconds", &[]), Some(2.5));
}

#[test]
fn unlabelled_series_exist_from_the_start() {
    let s = parse(&Metrics::new().render());
    assert_eq!(value(&s, "ebb_items_dead_total", &[]), Some(0.0));
    assert_eq!(value(&s, "ebb_pull_lag_seconds", &[]), Some(0.0));
    assert_eq!(
        value(&s, "ebb_round_duration_seconds_count", &[]),
        Some(0.0)
    );
}

#[test]
fn label_values_are_escaped() {
    let m = Metrics::new();
    let nasty = "we\"ird\\ta\nble} x=\"1\"";
    m.add_pushed(nasty, 1);
    let text = m.render();
    let s = parse(&text);
    assert_eq!(
        value(&s, "ebb_pushed_total", &[("table", nasty)]),
        Some(1.0)
    );
}

#[test]
fn queue_states_that_drain_drop_to_zero() {
    let m = Metrics::new();
    let mut q = BTreeMap::from([("pending".to_owned(), 4), ("retry".to_owned(), 2)]);
    m.set_queue(&q);
    q.remove("retry");
    q.insert("dead".into(), 1);
    m.set_queue(&q);
    let s = parse(&m.render());
    assert_eq!(
        value(&s, "ebb_queue_depth", &[("state", "pending")]),
        Some(4.0)
    );
    assert_eq!(
        value(&s, "ebb_queue_depth", &[("state", "retry")]),
        Some(0.0)
    );
    assert_eq!(
        value(&s, "ebb_queue_depth", &[("state", "dead")]),
        Some(1.0)
    );
}

#[test]
fn histogram_is_cumulative() {
    let m = Metrics::new();
    for ms in [50, 50, 700, 4000, 1_000_000] {
        m.observe_round(Duration::from_millis(ms));
    }
    let s = parse(&m.render());
    let b = |le: &str| value(&s, "ebb_round_duration_seconds_bucket", &[("le", le)]);
    assert_eq!(b("0.1"), Some(2.0));
    assert_eq!(b("0.5"), Some(2.0));
    assert_eq!(b("1"), Some(3.0));
    assert_eq!(b("2.5"), Some(3.0));
    assert_eq!(b("5"), Some(4.0));
    assert_eq!(b("300"), Some(4.0));
    assert_eq!(b("+Inf"), Some(5.0));
    assert_eq!(
        value(&s, "ebb_round_duration_seconds_count", &[]),
        Some(5.0)
    );
    let sum = value(&s, "ebb_round_duration_seconds_sum", &[]).unwrap();
    assert!((sum - 1004.8).abs() < 1e-9, "{sum}");
}

#[test]
fn clones_share_values_across_threads() {
    let m = Metrics::new();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || {
                for _ in 0..1000 {
                    m.add_pushed("orders", 1);
                    m.count_request("ebb_pull", "ok");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = parse(&m.render());
    assert_eq!(
        value(&s, "ebb_pushed_total", &[("table", "orders")]),
        Some(8000.0)
    );
    assert_eq!(
        value(
            &s,
            "ebb_requests_total",
            &[("rpc", "ebb_pull"), ("result", "ok")]
        ),
        Some(8000.0)
    );
}

/// The metrics table of docs/operations.md (section `## /metrics`): the
/// type of each documented metric, by name.
fn documented() -> BTreeMap<String, String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/operations.md");
    let text = std::fs::read_to_string(path).unwrap();
    let section = text.split("\n## /metrics\n").nth(1).expect("## /metrics");
    let section = section.split("\n## ").next().unwrap_or_default();
    let rows: BTreeMap<String, String> = section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            (
                cells[0].trim_end_matches('`').to_owned(),
                cells[1].to_owned(),
            )
        })
        .collect();
    assert!(rows.len() > 10, "{rows:?}");
    rows
}

/// The families served, with their types (from the `# TYPE` lines).
fn served(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_once(' '))
        .map(|(name, kind)| (name.to_owned(), kind.to_owned()))
        .collect()
}

/// Whether `name` (a family) has at least one sample line.
fn has_series(samples: &[Sample], name: &str) -> bool {
    samples.iter().any(|(n, _, _)| {
        n == name
            || n.strip_prefix(name)
                .is_some_and(|s| ["_bucket", "_sum", "_count"].contains(&s))
    })
}

/// Families without labels (and the queue) are served from the start; a
/// labelled family only once it has a series. With every family fed
/// through the API, the served ones are exactly the documented ones.
#[test]
fn every_documented_family_is_served_once_fed_and_no_other() {
    let fresh = served(&Metrics::new().render());
    let documented = documented();
    assert!(
        fresh.keys().all(|name| documented.contains_key(name)),
        "{fresh:?}"
    );
    let m = Metrics::new();
    m.add_pushed("orders", 1);
    m.add_pulled("orders", 1);
    m.count_conflict("orders", "resolved");
    m.count_overwritten("orders", "local");
    m.count_changed_by_server("orders", 1);
    m.count_skipped_writes("orders", "items", 1);
    m.count_push_error("network");
    m.count_request("ebb_push", "error");
    m.count_invalid(1);
    m.count_dead(1);
    m.add_plugin_calls("orders", "validate", "ok", 1);
    m.set_queue(&BTreeMap::from([("pending".to_owned(), 1)]));
    m.set_last_sync("orders", 1_700_000_000_000);
    m.set_pull_lag(Duration::from_secs(1));
    m.observe_round(Duration::from_millis(20));
    let text = m.render();
    let samples = parse(&text);
    assert_eq!(served(&text), documented);
    for name in documented.keys() {
        assert!(has_series(&samples, name), "{name} has no series");
    }
}

#[test]
fn the_usual_queue_states_are_served_at_zero() {
    let s = parse(&Metrics::new().render());
    for state in [
        "pending", "inflight", "retry", "invalid", "dead", "conflict",
    ] {
        let depth = value(&s, "ebb_queue_depth", &[("state", state)]);
        assert_eq!(depth, Some(0.0), "{state}");
    }
}

#[test]
fn extreme_values_render_without_panicking() {
    let m = Metrics::new();
    m.add_pushed("", u64::MAX);
    m.add_pushed("", 2);
    m.count_dead(u64::MAX);
    m.observe_round(Duration::MAX);
    m.observe_round(Duration::ZERO);
    m.set_pull_lag(Duration::MAX);
    m.set_last_sync("a", i64::MIN);
    m.set_last_sync("b", i64::MAX);
    m.add_plugin_calls("t\u{0}\u{202e}", "validate", "\\", 1);
    let s = parse(&m.render());
    assert_eq!(value(&s, "ebb_pushed_total", &[("table", "")]), Some(1.0));
    assert_eq!(
        value(&s, "ebb_round_duration_seconds_count", &[]),
        Some(2.0)
    );
}
