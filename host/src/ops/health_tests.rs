//! Tests of the health rules.

use super::*;

const MIN: i64 = 60_000;
const NOW: i64 = 1_700_000_000_000;

fn alerts() -> AlertsConfig {
    AlertsConfig {
        max_error_rate: 0.5,
        error_window: Duration::from_secs(15 * 60),
        min_requests: 5,
        stuck_after: Duration::from_secs(3600),
        max_last_sync_age: Duration::from_secs(3600),
        max_pull_lag: Duration::from_secs(600),
        notify_command: None,
    }
}

fn fine() -> HealthInput {
    HealthInput {
        queue: BTreeMap::from([("pending".into(), 2)]),
        oldest_pending_at: Some(NOW - 5 * MIN),
        last_round_ok_at: Some(NOW - MIN),
        tables: vec![("orders".into(), Some(NOW - MIN))],
        requests: 100,
        failed_requests: 10,
        ..HealthInput::default()
    }
}

fn kinds(h: &Health) -> Vec<(ProblemKind, Severity)> {
    h.problems.iter().map(|p| (p.kind, p.severity)).collect()
}

#[test]
fn all_fine() {
    let h = assess(&fine(), &alerts(), NOW);
    assert!(h.healthy);
    assert!(h.problems.is_empty(), "{h:?}");
}

#[test]
fn error_rate_needs_enough_requests() {
    let mut i = fine();
    i.requests = 4;
    i.failed_requests = 4;
    assert!(assess(&i, &alerts(), NOW).healthy);
    i.requests = 10;
    i.failed_requests = 5; // exactly the limit: not above it
    assert!(assess(&i, &alerts(), NOW).healthy);
    i.failed_requests = 6;
    let h = assess(&i, &alerts(), NOW);
    assert!(!h.healthy);
    assert_eq!(kinds(&h), [(ProblemKind::ErrorRate, Severity::Error)]);
    assert_eq!(
        h.problems[0].message,
        "6 of 10 requests failed in the last 15m (60% > max_error_rate 50%)"
    );
}

#[test]
fn min_requests_is_the_configured_one() {
    let mut i = fine();
    i.requests = 2;
    i.failed_requests = 2;
    let mut a = alerts();
    assert!(assess(&i, &a, NOW).healthy, "2 requests < min_requests 5");
    a.min_requests = 2;
    let h = assess(&i, &a, NOW);
    assert_eq!(kinds(&h), [(ProblemKind::ErrorRate, Severity::Error)]);
    a.min_requests = 0; // config refuses it; still no division by zero
    i.requests = 0;
    i.failed_requests = 0;
    assert!(assess(&i, &a, NOW).healthy);
}

#[test]
fn stuck_items() {
    let mut i = fine();
    i.oldest_pending_at = Some(NOW - 61 * MIN);
    let h = assess(&i, &alerts(), NOW);
    assert_eq!(kinds(&h), [(ProblemKind::StuckItems, Severity::Error)]);
    assert_eq!(
        h.problems[0].message,
        "the oldest unsynced item has waited 1h 1m (stuck_after 1h)"
    );
}

#[test]
fn stale_and_never_synced_tables() {
    let mut i = fine();
    i.tables = vec![
        ("orders".into(), Some(NOW - 90 * MIN)),
        ("customers".into(), None),
        ("products".into(), Some(NOW - 59 * MIN)),
    ];
    let h = assess(&i, &alerts(), NOW);
    let messages: Vec<_> = h.problems.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "orders: last synced 1h 30m ago (max_last_sync_age 1h)",
            "customers: never synced"
        ]
    );
    assert!(!h.healthy);
}

#[test]
fn invalid_and_conflicts_are_warnings_dead_is_an_error() {
    let mut i = fine();
    i.invalid = 3;
    i.open_conflicts = 2;
    let h = assess(&i, &alerts(), NOW);
    assert!(h.healthy, "{h:?}");
    assert_eq!(
        kinds(&h),
        [
            (ProblemKind::InvalidItems, Severity::Warning),
            (ProblemKind::OpenConflicts, Severity::Warning)
        ]
    );
    i.dead = 1;
    let h = assess(&i, &alerts(), NOW);
    assert!(!h.healthy);
    assert_eq!(
        h.problems[0].kind,
        ProblemKind::DeadItems,
        "errors sort first"
    );
}

#[test]
fn pull_lag() {
    let mut i = fine();
    i.horizon_stalled_since = Some(NOW - 9 * MIN);
    assert!(assess(&i, &alerts(), NOW).healthy);
    i.horizon_stalled_since = Some(NOW - 11 * MIN);
    let h = assess(&i, &alerts(), NOW);
    assert_eq!(kinds(&h), [(ProblemKind::PullLag, Severity::Error)]);
}

#[test]
fn clock_going_backwards_is_not_an_age() {
    let mut i = fine();
    i.oldest_pending_at = Some(NOW + 10 * MIN);
    i.tables = vec![("orders".into(), Some(NOW + MIN))];
    assert!(assess(&i, &alerts(), NOW).healthy);
}

#[test]
fn serializes_for_status_json() {
    let mut i = fine();
    i.invalid = 1;
    let v = serde_json::to_value(assess(&i, &alerts(), NOW)).unwrap();
    assert_eq!(v["healthy"], true);
    assert_eq!(v["problems"][0]["kind"], "invalid_items");
    assert_eq!(v["problems"][0]["severity"], "warning");
}
