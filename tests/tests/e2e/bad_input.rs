//! Bad input is refused clearly and loses nothing: a malformed
//! policies.toml and an unknown table name their problem; a wrong API key
//! is a 401 that keeps the queue; a server that is down keeps the queue and
//! a later round succeeds; awkward text (quotes, unicode, 1 MB) round-trips
//! byte-exact device -> server -> other device.

use std::time::Duration;

use ebb_tests::{DeviceSpec, Env, rows};
use serde_json::json;

use crate::common::{drain, sync_all};

#[test]
fn a_malformed_policies_toml_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policies.toml");
    let err = ebb::config::parse("database = \"app.db\"\n[remote\nurl = 1\n", &path).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("policies.toml"), "{msg}");
    assert!(msg.contains(":2:"), "line missing: {msg}");

    let text = DeviceSpec::default()
        .table("customers", "conflict = \"mrege\"")
        .policies_toml("http://127.0.0.1:1/rest/v1");
    let msg = ebb::config::parse(&text, &path).unwrap_err().to_string();
    assert!(msg.contains("tables.customers.conflict"), "{msg}");
    assert!(msg.contains("mrege"), "{msg}");
}

#[tokio::test]
async fn an_unknown_table_is_refused_by_name() {
    let env = Env::new().await.unwrap();
    let mut spec = DeviceSpec::default();
    spec.tables
        .push(("invoices".into(), "conflict = \"server_wins\"".into()));
    let msg = match env.device(&spec) {
        Err(e) => format!("{e:#}"),
        Ok(mut d) => match d.sync().await {
            Err(e) => e.to_string(),
            Ok(r) => format!(
                "{:?}",
                r.error.expect("an unknown table must fail the round")
            ),
        },
    };
    assert!(
        msg.contains("invoices"),
        "the message must name the table: {msg}"
    );
}

#[tokio::test]
async fn a_wrong_key_is_a_401_and_keeps_the_queue() {
    let env = Env::new().await.unwrap();
    let spec = DeviceSpec {
        api_key: Some("wrong-key".into()),
        ..Default::default()
    };
    let mut a = env.device(&spec).unwrap();
    let c = rows::customer("Ada");
    a.insert("customers", &c).unwrap();
    let msg = match a.sync().await {
        Err(e) => e.to_string(),
        Ok(r) => r.error.clone().expect("a 401 must show").to_string(),
    };
    assert!(msg.contains("401"), "{msg}");
    assert!(
        !msg.contains("wrong-key") && !msg.contains(env.gateway.key()),
        "key leaked: {msg}"
    );
    let queue = a.queue().unwrap();
    assert_eq!(queue.len(), 1, "{queue:?}");
    assert_ne!(queue[0].2, "dead", "{queue:?}");
    assert_eq!(env.db.count("customers").await.unwrap(), 0);

    // The user fixes the key: the kept item goes through.
    std::fs::write(a.dir.path().join("api_key"), env.gateway.key()).unwrap();
    a.engine = a.second_engine().unwrap();
    drain(&env, &mut a, 10).await.unwrap();
    assert_eq!(
        env.db.row("customers", &rows::id_of(&c)).await.unwrap(),
        Some(c)
    );
}

#[tokio::test]
async fn a_server_that_is_down_keeps_the_queue() {
    let env = Env::new().await.unwrap();
    let mut a = env.default_device().unwrap();
    let c = rows::customer("Ada");
    a.insert("customers", &c).unwrap();
    env.proxy.set_down(true);
    for _ in 0..3 {
        let r = a.sync().await;
        assert!(
            r.as_ref().map(|r| r.error.is_some()).unwrap_or(true),
            "{r:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(a.queue().unwrap().len(), 1);
    assert_eq!(env.db.count("customers").await.unwrap(), 0);
    env.proxy.set_down(false);
    drain(&env, &mut a, 20).await.unwrap();
    assert_eq!(
        env.db.row("customers", &rows::id_of(&c)).await.unwrap(),
        Some(c)
    );
}

#[tokio::test]
async fn awkward_text_round_trips_byte_exact() {
    let env = Env::new().await.unwrap();
    let mut a = env.default_device().unwrap();
    let mut b = env.default_device().unwrap();
    let odd = "O'Brien \"quoted\" \\back\\slash 'single' -- ; DROP TABLE customers; \
               héllo wörld, 日本語, emoji 🧾💸, RTL עברית, combining e\u{301}, \
               zero-width\u{200b}joiner, tab\tcr\r\nlf\n";
    let mut big = String::with_capacity(1 << 20);
    while big.len() < (1 << 20) - 64 {
        big.push_str(odd);
    }
    let c = rows::with(
        &rows::customer(odd),
        &json!({"notes": big, "email": "ü@例え.jp", "phone": "'; --"}),
    );
    let id = rows::id_of(&c);
    a.insert("customers", &c).unwrap();
    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
    let server = env.db.row("customers", &id).await.unwrap().unwrap();
    assert!(server["notes"] == c["notes"], "server copy differs");
    assert_eq!(server["name"], c["name"]);
    let other = b.row("customers", &id).unwrap().unwrap();
    assert!(other == c, "device B's copy differs");
    // Byte-exact in SQLite, not just equal after decoding.
    let bytes: Vec<u8> = b
        .app()
        .query_row(
            "SELECT CAST(notes AS BLOB) FROM customers WHERE id = ?1",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(bytes, c["notes"].as_str().unwrap().as_bytes());
}

/// A till offline (the server cannot be reached) for more rounds than
/// `max_attempts`: its sale is never charged an attempt, never dies, and is
/// pushed in the first round after the server is back (before, it died
/// after `max_attempts` rounds and waited `retry_dead_after`, an hour by
/// default, after the outage).
#[tokio::test]
async fn an_outage_longer_than_the_retries_kills_no_sale() {
    let env = Env::new().await.unwrap();
    let spec = DeviceSpec {
        max_attempts: 2,
        ..DeviceSpec::default()
    };
    let mut a = env.device(&spec).unwrap();
    let c = rows::customer("Ada");
    a.insert("customers", &c).unwrap();
    env.proxy.set_down(true);
    for _ in 0..5 {
        let r = a.sync().await.unwrap();
        assert!(r.error.is_some(), "{r:?}");
        assert_eq!(r.dead, 0, "{r:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (state, attempts): (String, i64) = a
        .app()
        .query_row("SELECT state, attempts FROM _ebb_queue", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(
        (state.as_str(), attempts),
        ("retry", 0),
        "waiting, uncharged"
    );
    let status = a.engine.local().status(0, Duration::from_secs(60)).unwrap();
    assert_eq!(status.queue.get("retry"), Some(&1), "shown as retrying");
    env.proxy.set_down(false);
    // Due within the first retry's backoff (10-50 ms here).
    tokio::time::sleep(Duration::from_millis(80)).await;
    env.settle().await.unwrap();
    let r = a.sync().await.unwrap();
    assert_eq!(r.pushed, 1, "{r:?}");
    assert_eq!(
        env.db.row("customers", &rows::id_of(&c)).await.unwrap(),
        Some(c)
    );
}
