//! Tests of the merged-row check: `Shape` alone, and through
//! `Policies::resolve` with a WAT resolver and the built-in merge (a child
//! module of `shape`).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::*;
use crate::policy::{ConflictInput, Decision, Policies};

fn row(v: Value) -> Row {
    v.as_object().cloned().unwrap_or_default()
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Policies for one table `products` (key `id`, no schema) settled by
/// `conflict` (TOML: the strategy's keys).
fn policies(dir: &Path, conflict: &str) -> Policies {
    let text = format!(
        "database = \"app.db\"\n[remote]\nurl = \"http://127.0.0.1:1\"\n\
         [tables.products]\n{conflict}\n"
    );
    let config = crate::config::parse(&text, &dir.join("policies.toml")).expect("config");
    Policies::load(&config).expect("policies")
}

/// `resolver.wat` answers merged(local row) when the local text is not
/// longer than the remote one (and there is a base).
fn echo_resolver(dir: &Path) -> Policies {
    let wat = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/wat/resolver.wat");
    let conflict = format!(
        "conflict = \"plugin\"\nresolver = {:?}",
        wat.display().to_string()
    );
    policies(dir, &conflict)
}

/// A conflict on row "a" whose local side is `local` (shorter than the
/// remote side: `resolver.wat` answers merged(local)).
fn answering(local: Value) -> ConflictInput {
    let long = "a remote name longer than any local side of these tests";
    ConflictInput {
        local: Some(row(local)),
        remote: Some(row(json!({"id": "a", "name": long}))),
        base: Some(row(json!({"id": "a"}))),
    }
}

fn manual(d: Decision) -> String {
    match d {
        Decision::Manual(reason) => reason,
        other => panic!("expected manual, got {other:?}"),
    }
}

#[test]
fn the_key_is_compared_as_key_text() {
    let shape = Shape::key_only("id");
    assert_eq!(shape.check("a", &row(json!({"id": "a", "x": 1}))), Ok(()));
    assert_eq!(shape.check("7", &row(json!({"id": 7}))), Ok(()));
    assert_eq!(shape.check("7", &row(json!({"id": "7"}))), Ok(()));
    assert_eq!(
        shape.check("7", &row(json!({"id": 7.0}))),
        Err(ShapeError::OtherKey {
            answered: "7.0".into()
        })
    );
    assert_eq!(
        shape.check("a", &row(json!({"id": null}))),
        Err(ShapeError::NotAKey {
            column: "id".into(),
            kind: "null"
        })
    );
    // Without the columns, only a missing key column is a missing column.
    assert_eq!(
        shape.check("a", &row(json!({"name": "x"}))),
        Err(ShapeError::Columns {
            unknown: vec![],
            missing: names(&["id"])
        })
    );
    assert!(!shape.checks_columns());
}

#[test]
fn columns_must_be_exactly_the_tables() {
    let shape = Shape::new("id", names(&["id", "name", "stock"]));
    assert!(shape.checks_columns());
    assert_eq!(shape.pk_column(), "id");
    let whole = row(json!({"id": "a", "name": "x", "stock": 1}));
    assert_eq!(shape.check("a", &whole), Ok(()));
    let odd = row(json!({"id": "a", "Name": "x", "colour": "crimson"}));
    let e = shape.check("a", &odd).unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown columns \"Name\", \"colour\"; missing columns \"name\", \"stock\""
    );
    let reason = e.reason(&Answerer::Plugin("p.wasm"), "products", "a");
    assert_eq!(
        reason,
        "plugin p.wasm answered a row for table products, pk \"a\": unknown columns \
         \"Name\", \"colour\"; missing columns \"name\", \"stock\""
    );
    assert!(!reason.contains("crimson"), "a value in {reason}");
}

#[test]
fn a_resolver_answering_another_key_or_columns_goes_to_a_person() {
    let dir = tempfile::tempdir().unwrap();
    let p = echo_resolver(dir.path());
    p.set_shape("products", "id", names(&["id", "name", "stock"]));
    let resolve = |p: &Policies, local: Value| p.resolve("products", "a", &answering(local));

    let other = resolve(&p, json!({"id": "b", "name": "x", "stock": 1}));
    assert_eq!(
        manual(other),
        "plugin resolver.wat answered a row for key \"b\" for table products, pk \"a\""
    );
    let colour = resolve(
        &p,
        json!({"id": "a", "name": "x", "stock": 1, "colour": "crimson"}),
    );
    assert_eq!(
        manual(colour),
        "plugin resolver.wat answered a row for table products, pk \"a\": unknown column \"colour\""
    );
    let short = resolve(&p, json!({"id": "a", "name": "a longer name"}));
    assert_eq!(
        manual(short),
        "plugin resolver.wat answered a row for table products, pk \"a\": missing column \"stock\""
    );
    let good = json!({"id": "a", "name": "x", "stock": 1});
    assert_eq!(resolve(&p, good.clone()), Decision::Merged(Some(row(good))));

    // Not told the columns: the key is still checked (by the configured pk).
    let p = echo_resolver(dir.path());
    let other = resolve(&p, json!({"id": "b", "name": "x", "stock": 1}));
    assert!(manual(other).contains("for key \"b\""));
    let colour = json!({"id": "a", "name": "x", "colour": "crimson"});
    assert_eq!(
        resolve(&p, colour.clone()),
        Decision::Merged(Some(row(colour)))
    );
    // A table that is not configured is ignored.
    p.set_shape("nope", "id", names(&["id"]));
}

#[test]
fn the_built_in_merge_is_checked_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let p = policies(
        dir.path(),
        "conflict = \"merge\"\nmerge_on_both = \"remote\"",
    );
    // The local side moved to key "b" (changed on one side: kept).
    let input = ConflictInput {
        local: Some(row(json!({"id": "b", "name": "x"}))),
        remote: Some(row(json!({"id": "a", "name": "y"}))),
        base: Some(row(json!({"id": "a", "name": "z"}))),
    };
    assert_eq!(
        manual(p.resolve("products", "a", &input)),
        "merge answered a row for key \"b\" for table products, pk \"a\""
    );
    let input = ConflictInput {
        local: Some(row(json!({"id": "a", "name": "x", "note": "l"}))),
        remote: Some(row(json!({"id": "a", "name": "y", "note": "r"}))),
        base: Some(row(json!({"id": "a", "name": "y", "note": "b"}))),
    };
    assert_eq!(
        p.resolve("products", "a", &input),
        Decision::Merged(Some(row(json!({"id": "a", "name": "x", "note": "r"}))))
    );
    p.set_shape("products", "id", names(&["id", "name", "note", "stock"]));
    assert_eq!(
        manual(p.resolve("products", "a", &input)),
        "merge answered a row for table products, pk \"a\": missing column \"stock\""
    );
}
