//! Tests of `ebb init`'s survey of the app: bookkeeping tables, counters,
//! integer keys, undeclared references, parents-first order.

use super::*;

fn column(name: &str, decl_type: &str, pk: bool) -> AppColumn {
    AppColumn {
        name: name.into(),
        decl_type: decl_type.into(),
        pk,
    }
}

fn table(name: &str, columns: Vec<AppColumn>) -> AppTable {
    AppTable {
        name: name.into(),
        columns,
        foreign_keys: Vec::new(),
    }
}

fn offer(advice: Advice) -> Offer {
    match advice {
        Advice::Offer(offer) => offer,
        Advice::Left(why) => panic!("left out: {why}"),
    }
}

#[test]
fn bookkeeping_is_known_by_name_or_by_shape() {
    let id = || column("id", "INTEGER", true);
    let named = [
        "sync_queue",
        "sync_log",
        "order_sync_state",
        "products_sync",
        "outbox",
    ];
    for name in named {
        let t = table(name, vec![id()]);
        assert_eq!(bookkeeping(&t).as_deref(), Some("its name"), "{name}");
    }
    let shaped = table(
        "pending",
        vec![
            id(),
            column("table_name", "TEXT", false),
            column("record_id", "INTEGER", false),
            column("operation", "TEXT", false),
            column("synced", "INTEGER", false),
        ],
    );
    assert_eq!(
        bookkeeping(&shaped).as_deref(),
        Some("columns table_name, record_id, operation, synced")
    );
    let Advice::Left(why) = advise(&shaped, &[], false) else {
        panic!("offered")
    };
    assert!(why.starts_with("pending looks like the app's own sync bookkeeping"));
    // A status column alone, or a name merely containing "sync", is not.
    let orders = table(
        "orders",
        vec![
            id(),
            column("status", "TEXT", false),
            column("synced", "INTEGER", false),
        ],
    );
    assert_eq!(bookkeeping(&orders), None);
    assert_eq!(bookkeeping(&table("asyncjobs", vec![id()])), None);
    // Opted in anyway: offered, with the warning kept.
    let t = table("sync_log", vec![id()]);
    assert_eq!(
        offer(advise(&t, &[], true)).bookkeeping.as_deref(),
        Some("its name")
    );
}

#[test]
fn counters_are_numbers_named_like_counts() {
    for (name, line_item, want) in [
        ("stock", false, true),
        ("on_hand", false, true),
        ("visit_count", false, true),
        ("amount_paid_cents", false, true),
        ("balance", false, true),
        ("quantity", false, true),
        ("qty", true, false),
        ("quantity", true, false),
        ("stock", true, true),
        ("price", false, false),
        ("counter_name", false, false),
    ] {
        assert_eq!(counter_name(name, line_item), want, "{name} {line_item}");
    }
    let t = table(
        "products",
        vec![
            column("id", "TEXT", true),
            column("stock", "INTEGER", false),
            column("stock_note", "TEXT", false),
            column("stock_checked", "DATETIME", false),
            column("stock_level", "REAL", false),
        ],
    );
    assert_eq!(
        offer(advise(&t, &[], false)).counters,
        ["stock", "stock_level"]
    );
}

#[test]
fn integer_keys_and_undeclared_references() {
    let customers = table("customers", vec![column("id", "INTEGER", true)]);
    let categories = table("categories", vec![column("id", "TEXT", true)]);
    let sales = table(
        "sales",
        vec![
            column("id", "INTEGER", true),
            column("customer_id", "INTEGER", false),
            column("category_id", "INTEGER", false),
            column("sale_id", "INTEGER", false),
        ],
    );
    let all = [customers.clone(), categories, sales.clone()];
    let o = offer(advise(&sales, &all, false));
    assert!(o.integer_key);
    // Only parents with integer keys need translating; never itself.
    assert_eq!(o.references, [("customer_id".into(), "customers".into())]);
    assert_eq!(sales.parents(&all), ["customers"]);
    let licenses = table(
        "licenses",
        vec![
            column("id", "INTEGER", true),
            column("api_token", "TEXT", false),
        ],
    );
    assert_eq!(
        offer(advise(&licenses, &[], false)).secrets,
        ["its name", "api_token"]
    );
    let text_key = table("notes", vec![column("id", "TEXT", true)]);
    assert!(!offer(advise(&text_key, &[], false)).integer_key);
    let none = table("log", vec![column("line", "TEXT", false)]);
    assert_eq!(
        advise(&none, &[], false),
        Advice::Left(
            "Not syncable: log has no primary key; ebb needs a one-column primary key.".into()
        )
    );
}

#[test]
fn parents_come_first_and_cycles_last() {
    let with_parent = |name: &str, parent: &str| AppTable {
        foreign_keys: vec![(format!("{parent}_ref"), parent.to_string())],
        ..table(name, vec![column("id", "TEXT", true)])
    };
    let tables = [
        with_parent("child", "parent"),
        with_parent("x", "y"),
        with_parent("y", "x"),
        with_parent("parent", "parent"),
    ];
    let (ordered, cycle) = parents_first(&tables);
    assert_eq!(ordered, [3, 0]);
    assert_eq!(cycle, [1, 2]);
}
