//! `ebb conflicts` and `ebb policy replay` on real manual conflicts made
//! by two devices syncing through one gateway.

use serde_json::Value;

use super::json;
use super::support::{Server, World, id, plugin};

/// Three debts edited on two devices: three manual conflicts on device b,
/// settled three ways, then synced back out.
#[test]
fn conflicts_from_two_devices_are_listed_shown_and_settled() {
    let w = World::new();
    let server = Server::start(&w);
    let (a, b) = (w.device("a", &server.url), w.device("b", &server.url));
    let customer = id();
    let debts = [id(), id(), id()];
    let mut seed = format!(
        "INSERT INTO customers VALUES ('{customer}', 'Ann', NULL, NULL, NULL, '2025-01-01T00:00:00Z');"
    );
    for d in &debts {
        seed += &format!(
            "INSERT INTO debts VALUES ('{d}', '{customer}', 1000, 0, 'open', NULL, '2025-01-01T00:00:00Z');"
        );
    }
    w.app_sql("a", &seed);
    w.ebb(&["--config", &a, "sync", "--once"]).expect(0);
    w.ebb(&["--config", &b, "sync", "--once"]).expect(0);
    w.app_sql(
        "a",
        "UPDATE debts SET amount_paid_cents = 100, note = 'from a'",
    );
    w.ebb(&["--config", &a, "sync", "--once"]).expect(0);
    w.app_sql(
        "b",
        "UPDATE debts SET amount_paid_cents = 200, note = 'from b'",
    );
    let report = json(
        &w.ebb(&["--config", &b, "sync", "--once", "--json"])
            .expect(0)
            .stdout,
    );
    assert_eq!(report["manual"].as_u64(), Some(3), "{report}");

    let list = json(
        &w.ebb(&["--config", &b, "conflicts", "list", "--json"])
            .expect(0)
            .stdout,
    );
    let list = list.as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 3, "{list:?}");
    let id_of = |debt: &str| {
        let found = list
            .iter()
            .find(|c| c["pk"] == debt)
            .expect("a conflict per debt");
        found["id"].as_i64().expect("an id").to_string()
    };
    let [keep, take, write] = [id_of(&debts[0]), id_of(&debts[1]), id_of(&debts[2])];
    let text = w
        .ebb(&["--config", &b, "conflicts", "list"])
        .expect(0)
        .stdout;
    assert!(
        text.contains(&format!("#{keep} debts/{}", debts[0])),
        "{text}"
    );

    let shown = json(
        &w.ebb(&["--config", &b, "conflicts", "show", &keep])
            .expect(0)
            .stdout,
    );
    assert_eq!(shown["local"]["note"], "from b");
    assert_eq!(shown["remote"]["note"], "from a");
    assert_eq!(shown["base"]["amount_paid_cents"], 0);
    w.ebb(&["--config", &b, "conflicts", "show", "9999"])
        .expect(2);

    w.ebb(&["--config", &b, "conflicts", "resolve", &keep])
        .expect(2);
    // Taking a side checks no row, so it needs no plugin: it works while
    // the table's validator is missing.
    let config = std::fs::read_to_string(w.path(&b)).expect("b's config");
    let validator = plugin("products_validator.wasm").display().to_string();
    assert!(config.contains(&validator), "{config}");
    let broken = config.replace(&validator, &w.path("missing.wasm").display().to_string());
    std::fs::write(w.path("b/broken.toml"), broken).expect("broken config");
    w.ebb(&[
        "--config",
        "b/broken.toml",
        "conflicts",
        "resolve",
        &keep,
        "--take",
        "local",
    ])
    .expect(0);
    let twice = w.ebb(&[
        "--config",
        &b,
        "conflicts",
        "resolve",
        &keep,
        "--take",
        "remote",
    ]);
    assert!(twice.expect(2).stderr.contains("already settled"));
    w.ebb(&[
        "--config",
        &b,
        "conflicts",
        "resolve",
        &take,
        "--take",
        "remote",
    ])
    .expect(0);
    let mut row = shown["local"].clone();
    row["id"] = Value::from(debts[2].clone());
    row["amount_paid_cents"] = Value::from(300);
    row["note"] = Value::from("by hand");
    let mut typo = row.clone();
    typo["amount_payed_cents"] = Value::from(1);
    std::fs::write(w.path("typo.json"), typo.to_string()).unwrap();
    let args = [
        "--config",
        &b,
        "conflicts",
        "resolve",
        &write,
        "--row",
        "typo.json",
    ];
    let refused = w.ebb(&args).expect(2);
    assert!(
        refused
            .stderr
            .contains("\"amount_payed_cents\" is not a column of debts")
    );
    std::fs::write(w.path("row.json"), row.to_string()).unwrap();
    let out = w.ebb(&[
        "--config",
        &b,
        "conflicts",
        "resolve",
        &write,
        "--row",
        "row.json",
    ]);
    assert!(out.expect(0).stdout.contains("settled"));
    let open = w
        .ebb(&["--config", &b, "conflicts", "list"])
        .expect(0)
        .stdout;
    assert!(open.contains("no open conflicts"), "{open}");

    w.ebb(&["--config", &b, "sync", "--once"]).expect(0);
    let note = |d: &str| {
        server.query(&format!(
            "select note || ' ' || amount_paid_cents from debts where id = '{d}'"
        ))
    };
    assert_eq!(note(&debts[0]), "from b 200");
    assert_eq!(note(&debts[1]), "from a 100");
    assert_eq!(note(&debts[2]), "by hand 300");

    // Replay: debts settles manually, so it has no resolver of its own.
    let replay = w
        .ebb(&["--config", &b, "policy", "replay", "--table", "debts"])
        .expect(2);
    assert!(replay.stderr.contains("--plugin"), "{replay:?}");
    let resolver = plugin("debts_resolver.wasm").display().to_string();
    let args = [
        "--config", &b, "policy", "replay", "--table", "debts", "--plugin", &resolver,
    ];
    let replay = w.ebb(&args).expect(0).stdout;
    assert!(replay.contains("plugin now says merged"), "{replay}");
    let summary = replay.lines().last().unwrap_or_default();
    let counts: Vec<u32> = summary
        .split(' ')
        .filter_map(|w| w.trim_end_matches(',').parse().ok())
        .collect();
    assert_eq!(counts.iter().sum::<u32>(), 3, "{replay}");

    w.saw(server.log_text());
    w.assert_key_never_shown();
}
