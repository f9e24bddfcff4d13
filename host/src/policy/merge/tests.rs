//! Tests of the built-in three-way merge: examples, then properties.

use super::*;
use proptest::prelude::*;
use serde_json::json;

fn row(v: Value) -> Row {
    v.as_object().cloned().unwrap_or_default()
}

fn m(l: Value, r: Value, b: Option<Value>, on_both: BothChanged) -> Decision {
    let (l, r, b) = (row(l), row(r), b.map(row));
    merge(
        Some(&l),
        Some(&r),
        b.as_ref(),
        on_both,
        &["stock".to_string()],
    )
}

#[test]
fn one_sided_changes_combine() {
    let d = m(
        json!({"id": 1, "name": "tea", "price": 5}),
        json!({"id": 1, "name": "Tea", "price": 4}),
        Some(json!({"id": 1, "name": "tea", "price": 4})),
        BothChanged::Manual,
    );
    assert_eq!(
        d,
        Decision::Merged(Some(row(json!({"id": 1, "name": "Tea", "price": 5}))))
    );
}

#[test]
fn same_change_on_both_sides_is_taken() {
    let d = m(
        json!({"id": 1, "price": 6, "name": "a"}),
        json!({"id": 1, "price": 6, "name": "b"}),
        Some(json!({"id": 1, "price": 4, "name": "a"})),
        BothChanged::Manual,
    );
    assert_eq!(d, Decision::TakeRemote);
}

#[test]
fn delta_fields_add_both_changes() {
    let d = m(
        json!({"id": 1, "stock": 7}),
        json!({"id": 1, "stock": 12}),
        Some(json!({"id": 1, "stock": 10})),
        BothChanged::Manual,
    );
    // 10 - 3 + 2, still an integer.
    assert_eq!(d, Decision::Merged(Some(row(json!({"id": 1, "stock": 9})))));
    let d = m(
        json!({"stock": 1.5}),
        json!({"stock": 3}),
        Some(json!({"stock": 1})),
        BothChanged::Manual,
    );
    assert_eq!(d, Decision::Merged(Some(row(json!({"stock": 3.5})))));
}

#[test]
fn delta_needs_three_numbers() {
    let d = m(
        json!({"stock": 7}),
        json!({"stock": "12"}),
        Some(json!({"stock": 10})),
        BothChanged::Manual,
    );
    assert!(
        matches!(d, Decision::Manual(ref r) if r.contains("stock")),
        "{d:?}"
    );
    let d = m(
        json!({"stock": 7}),
        json!({"stock": 12}),
        None,
        BothChanged::Local,
    );
    assert_eq!(d, Decision::TakeLocal);
}

#[test]
fn integer_overflow_in_delta_falls_back_to_on_both() {
    let d = m(
        json!({"stock": i64::MAX}),
        json!({"stock": i64::MAX}),
        Some(json!({"stock": 0})),
        BothChanged::Remote,
    );
    // Both sides agree, so no delta is needed at all.
    assert_eq!(d, Decision::TakeRemote);
    let d = m(
        json!({"stock": i64::MAX, "x": 1}),
        json!({"stock": i64::MAX - 1}),
        Some(json!({"stock": -5})),
        BothChanged::Manual,
    );
    assert!(matches!(d, Decision::Manual(_)), "{d:?}");
}

#[test]
fn both_changed_follows_on_both() {
    let l = json!({"id": 1, "name": "a", "note": "L"});
    let r = json!({"id": 1, "name": "b", "note": "n"});
    let b = Some(json!({"id": 1, "name": "x", "note": "n"}));
    assert_eq!(
        m(l.clone(), r.clone(), b.clone(), BothChanged::Local),
        Decision::TakeLocal
    );
    assert_eq!(
        m(l.clone(), r.clone(), b.clone(), BothChanged::Remote),
        Decision::Merged(Some(row(json!({"id": 1, "name": "b", "note": "L"}))))
    );
    let Decision::Manual(reason) = m(l, r, b, BothChanged::Manual) else {
        panic!("expected manual");
    };
    assert_eq!(
        reason,
        "field name changed on both sides: local \"a\", remote \"b\""
    );
}

#[test]
fn no_base_treats_every_difference_as_both_changed() {
    let l = json!({"id": 1, "a": 1, "b": 2});
    let r = json!({"id": 1, "a": 1, "b": 3});
    assert_eq!(
        m(l.clone(), r.clone(), None, BothChanged::Remote),
        Decision::TakeRemote
    );
    assert!(matches!(
        m(l, r, None, BothChanged::Manual),
        Decision::Manual(_)
    ));
}

#[test]
fn fields_removed_on_one_side_are_removed() {
    let d = m(
        json!({"id": 1, "n": 1}),
        json!({"id": 1, "extra": 1, "n": 2}),
        Some(json!({"id": 1, "extra": 1, "n": 1})),
        BothChanged::Manual,
    );
    assert_eq!(d, Decision::Merged(Some(row(json!({"id": 1, "n": 2})))));
}

#[test]
fn deleted_sides() {
    let r = row(json!({"id": 1, "n": 2}));
    let b = row(json!({"id": 1, "n": 1}));
    let d = |l: Option<&Row>, r: Option<&Row>, b: Option<&Row>, o| merge(l, r, b, o, &[]);
    assert_eq!(
        d(None, None, Some(&b), BothChanged::Manual),
        Decision::TakeRemote
    );
    assert_eq!(
        d(None, Some(&r), Some(&b), BothChanged::Remote),
        Decision::TakeRemote
    );
    assert_eq!(
        d(None, Some(&r), Some(&b), BothChanged::Local),
        Decision::TakeLocal
    );
    assert!(matches!(
        d(None, Some(&r), Some(&b), BothChanged::Manual),
        Decision::Manual(_)
    ));
    assert!(matches!(
        d(Some(&r), None, None, BothChanged::Manual),
        Decision::Manual(_)
    ));
    assert_eq!(
        d(Some(&r), None, Some(&b), BothChanged::Local),
        Decision::TakeLocal
    );
    // The deleting side is the only change: it wins whatever on_both says.
    assert_eq!(
        d(None, Some(&b), Some(&b), BothChanged::Manual),
        Decision::TakeLocal
    );
    assert_eq!(
        d(Some(&b), None, Some(&b), BothChanged::Manual),
        Decision::TakeRemote
    );
}

#[test]
fn long_values_are_shortened_in_reasons() {
    let long = "x".repeat(500);
    let Decision::Manual(reason) = m(
        json!({"a": long}),
        json!({"a": 1}),
        Some(json!({"a": 0})),
        BothChanged::Manual,
    ) else {
        panic!("expected manual");
    };
    assert!(reason.len() < 200, "{reason}");
}

fn value() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(Value::Null)),
        (0i64..4).prop_map(|n| Some(json!(n))),
        prop_oneof![Just("x"), Just("y")].prop_map(|s| Some(json!(s))),
    ]
}

fn any_row() -> impl Strategy<Value = Row> {
    proptest::collection::vec(value(), 4).prop_map(|vals| {
        let mut row = Row::new();
        for (name, v) in ["a", "b", "c", "stock"].iter().zip(vals) {
            if let Some(v) = v {
                row.insert((*name).to_string(), v);
            }
        }
        row
    })
}

fn on_both() -> impl Strategy<Value = BothChanged> {
    prop_oneof![
        Just(BothChanged::Remote),
        Just(BothChanged::Local),
        Just(BothChanged::Manual)
    ]
}

/// The row a decision stands for (None for manual).
fn outcome(d: &Decision, l: &Row, r: &Row) -> Option<Row> {
    match d {
        Decision::TakeLocal => Some(l.clone()),
        Decision::TakeRemote => Some(r.clone()),
        Decision::Merged(Some(row)) => Some(row.clone()),
        Decision::Merged(None) | Decision::Manual(_) => None,
    }
}

proptest! {
    #[test]
    fn unchanged_local_takes_remote(r in any_row(), b in any_row(), o in on_both()) {
        let delta = ["stock".to_string()];
        prop_assert_eq!(merge(Some(&b), Some(&r), Some(&b), o, &delta), Decision::TakeRemote);
    }

    #[test]
    fn unchanged_remote_takes_local(l in any_row(), b in any_row(), o in on_both()) {
        let delta = ["stock".to_string()];
        let d = merge(Some(&l), Some(&b), Some(&b), o, &delta);
        let expected = if l == b { Decision::TakeRemote } else { Decision::TakeLocal };
        prop_assert_eq!(d, expected);
    }

    #[test]
    fn sides_are_symmetric(l in any_row(), r in any_row(), b in any_row()) {
        let delta = ["stock".to_string()];
        let one = merge(Some(&l), Some(&r), Some(&b), BothChanged::Remote, &delta);
        let two = merge(Some(&r), Some(&l), Some(&b), BothChanged::Local, &delta);
        prop_assert_eq!(outcome(&one, &l, &r), outcome(&two, &r, &l));
    }

    #[test]
    fn every_merged_field_comes_from_a_side(
        l in any_row(), r in any_row(), b in any_row(), o in on_both()
    ) {
        let delta = ["stock".to_string()];
        let d = merge(Some(&l), Some(&r), Some(&b), o, &delta);
        if let Some(out) = outcome(&d, &l, &r) {
            for (k, v) in &out {
                let from_side = l.get(k) == Some(v) || r.get(k) == Some(v);
                let is_delta = k == "stock" && v.is_i64() && {
                    let n = |x: &Row| x.get("stock").and_then(Value::as_i64);
                    match (n(&l), n(&r), n(&b)) {
                        (Some(x), Some(y), Some(z)) => v.as_i64() == Some(x + y - z),
                        _ => false,
                    }
                };
                prop_assert!(from_side || is_delta, "field {} = {} from nowhere", k, v);
            }
            // A field both sides kept as in the base stays.
            for (k, v) in &b {
                if l.get(k) == Some(v) && r.get(k) == Some(v) {
                    prop_assert_eq!(out.get(k), Some(v));
                }
            }
        } else {
            prop_assert!(matches!(d, Decision::Manual(_)));
            prop_assert_eq!(o, BothChanged::Manual);
        }
    }
}

/// Issue 6: two tills each sell one of 26; both rows say 25, the base
/// says both deltas count.
#[test]
fn equal_counter_edits_from_one_base_both_count() {
    let d = m(
        json!({"id": 1, "stock": 25}),
        json!({"id": 1, "stock": 25}),
        Some(json!({"id": 1, "stock": 26})),
        BothChanged::Remote,
    );
    assert_eq!(
        d,
        Decision::Merged(Some(row(json!({"id": 1, "stock": 24}))))
    );
    // Not a counter: equal edits are one edit.
    let same = m(
        json!({"id": 1, "price": 5}),
        json!({"id": 1, "price": 5}),
        Some(json!({"id": 1, "price": 4})),
        BothChanged::Manual,
    );
    assert_eq!(same, Decision::TakeRemote);
}
