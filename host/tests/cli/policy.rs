//! `ebb policy run`: the example plugins, with production limits, on rows
//! and conflicts from files; a merged row sync would refuse is refused here
//! too, with sync's reason.

use serde_json::{Value, json};

use super::support::{World, id, plugin, root};

#[test]
fn policy_run_prints_verdict_fuel_and_time() {
    let w = World::new();
    let config = w.device("a", "http://127.0.0.1:1");
    let validator = plugin("products_validator.wasm").display().to_string();
    let good = serde_json::json!({
        "id": id(), "sku": "DRI-0001", "name": "Cola", "category": "drinks",
        "price_cents": 150, "sale_price_cents": null, "stock": 3,
        "updated_at": "2025-01-01T00:00:00Z"
    });
    std::fs::write(w.path("good.json"), good.to_string()).unwrap();
    let mut bad = good.clone();
    bad["sku"] = Value::from("BEV-0001");
    std::fs::write(w.path("bad.json"), bad.to_string()).unwrap();

    // The table comes from policies.toml, which gives products this plugin.
    let run = |file: &str| {
        w.ebb(&[
            "--config",
            &config,
            "policy",
            "run",
            &validator,
            "--validate",
            file,
        ])
    };
    let ok = run("good.json").expect(0).stdout;
    assert!(ok.starts_with("valid\n"), "{ok}");
    assert!(ok.contains("fuel used: ") && ok.contains("time: "), "{ok}");
    let fuel: u64 = ok
        .lines()
        .find_map(|l| l.strip_prefix("fuel used: "))
        .and_then(|n| n.parse().ok())
        .expect("a fuel count");
    assert!(fuel > 0);
    let no = run("bad.json").expect(1).stdout;
    assert!(no.starts_with("invalid: sku: "), "{no}");
    assert!(no.contains("fuel used: ") && no.contains("time: "), "{no}");

    // No policies.toml naming it: --table is needed, and says so.
    let alone = w
        .ebb(&["policy", "run", &validator, "--validate", "good.json"])
        .expect(2);
    assert!(alone.stderr.contains("--table"), "{alone:?}");
    let named = [
        "policy",
        "run",
        &validator,
        "--validate",
        "good.json",
        "--table",
        "products",
    ];
    assert!(w.ebb(&named).expect(0).stdout.starts_with("valid\n"));

    let side = |paid: i64, note: &str| {
        serde_json::json!({
            "id": "22222222-2222-2222-2222-222222222222",
            "customer_id": "11111111-1111-1111-1111-111111111111",
            "amount_cents": 1000, "amount_paid_cents": paid, "status": "open",
            "note": note, "updated_at": "2025-01-01T00:00:00Z"
        })
    };
    let conflict = serde_json::json!({
        "local": side(200, "b"), "remote": side(100, "a"), "base": side(0, "base")
    });
    std::fs::write(w.path("conflict.json"), conflict.to_string()).unwrap();
    let resolver = plugin("debts_resolver.wasm").display().to_string();
    let args = [
        "policy",
        "run",
        &resolver,
        "--conflict",
        "conflict.json",
        "--table",
        "debts",
    ];
    let merged = w.ebb(&args).expect(0).stdout;
    assert!(merged.starts_with("merged {"), "{merged}");
    assert!(merged.contains("\"amount_paid_cents\":300"), "{merged}");
    assert!(
        merged.contains("fuel used: ") && merged.contains("time: "),
        "{merged}"
    );
    let missing = w.ebb(&[
        "policy",
        "run",
        "nope.wasm",
        "--validate",
        "good.json",
        "--table",
        "x",
    ]);
    assert!(missing.expect(2).stderr.contains("nope.wasm"));
}

#[test]
fn policy_run_refuses_a_merged_row_as_sync_would() {
    let w = World::new();
    let config = w.device("a", "http://127.0.0.1:1");
    // Answers merged({"id":1,"price":-5}) whatever it is asked.
    let resolver = root().join("host/tests/wat/resolver_bad_row.wat");
    let resolver = resolver.display().to_string();
    let conflict = |key: Value| {
        let side = json!({"id": key, "name": "Cola"});
        let text = json!({"local": side, "remote": side, "base": side}).to_string();
        std::fs::write(w.path("conflict.json"), text).unwrap();
    };
    let run = || {
        w.ebb(&[
            "--config",
            &config,
            "policy",
            "run",
            &resolver,
            "--conflict",
            "conflict.json",
            "--table",
            "products",
        ])
    };

    // Another row's key.
    conflict(json!("a"));
    let other = run().expect(1);
    assert!(
        other.stdout.starts_with(
            "manual: plugin resolver_bad_row.wat answered a row for key \"1\" \
             for table products, pk \"a\"\n"
        ),
        "{other:?}"
    );
    assert!(other.stdout.contains("fuel used: "), "{other:?}");
    assert!(other.stderr.contains("merged row refused"), "{other:?}");
    assert!(!other.stdout.contains("-5"), "a value shown: {other:?}");

    // Its own key, but columns the table does not have and lacks the rest.
    conflict(json!(1));
    let columns = run().expect(1).stdout;
    assert!(
        columns.starts_with(
            "manual: plugin resolver_bad_row.wat answered a row for table products, pk \"1\": \
             unknown column \"price\"; missing columns \"sku\", \"name\", \"category\""
        ),
        "{columns}"
    );

    // Without the database the key is still checked, and the skipped
    // column check is said.
    std::fs::rename(w.path("a/app.db"), w.path("a/moved.db")).unwrap();
    conflict(json!("a"));
    let blind = run().expect(1);
    assert!(blind.stderr.contains("column check skipped"), "{blind:?}");
    assert!(
        blind.stdout.contains("answered a row for key \"1\""),
        "{blind:?}"
    );
}
