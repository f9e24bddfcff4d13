//! A batch the server cannot finish in time is split, not retried whole:
//! with a trigger that sleeps past `statement_timeout` on one change of a
//! batch of 100, the other 99 are applied in the same round, the slow one
//! is held with the cause, and no other change is charged an attempt.

use ebb_tests::{Device, DeviceSpec, Env, Gateway, rows};

#[tokio::test]
async fn one_slow_change_does_not_hold_back_its_batch() {
    let env = Env::new().await.unwrap();
    env.db
        .exec(
            "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN IF NEW.name = 'slow' THEN PERFORM pg_sleep(2); END IF; RETURN NEW; END $$;
             CREATE TRIGGER slow BEFORE INSERT OR UPDATE ON customers
                 FOR EACH ROW EXECUTE FUNCTION slow();",
        )
        .await
        .unwrap();
    // A gateway with a short statement_timeout, as Supabase's 8 s is for
    // `authenticated`.
    let gateway = Gateway::start_with(&env.db.conn_str(), |s| {
        s.statement_timeout = std::time::Duration::from_millis(400);
    })
    .await
    .unwrap();
    let spec = DeviceSpec {
        batch_size: 100,
        ..DeviceSpec::default()
    };
    let root = format!("http://{}/rest/v1", gateway.addr());
    let mut a = Device::create(&spec, &root, gateway.key()).unwrap();
    let mut slow_id = String::new();
    for i in 0..100 {
        let name = if i == 37 {
            "slow".to_string()
        } else {
            format!("c{i}")
        };
        let c = rows::customer(&name);
        if i == 37 {
            slow_id = rows::id_of(&c);
        }
        a.insert("customers", &c).unwrap();
    }
    let report = a.sync().await.unwrap();
    assert_eq!(report.pushed, 99, "{report:?}");
    assert_eq!(env.db.count("customers").await.unwrap(), 99);
    let queue = a.engine.local().queue_items(&[], 10).unwrap();
    assert_eq!(queue.len(), 1, "{queue:?}");
    let held = &queue[0];
    assert_eq!(held.pk, slow_id);
    // Charged alone (the test's backoff is milliseconds, so the round may
    // try it again once it is due).
    assert_eq!(held.state, "retry", "{held:?}");
    assert!(held.attempts >= 1, "{held:?}");
    let error = held.error.as_deref().unwrap_or("");
    assert!(
        error.contains("57014") || error.contains("statement timeout"),
        "{error}"
    );
}

/// Batches grow while the server answers quickly: 470 changes starting at
/// 10 a batch go in a handful of requests (10, 20, 40, 80, 160, 160), not 47.
#[tokio::test]
async fn batches_grow_while_the_server_keeps_up() {
    let env = Env::new().await.unwrap();
    let spec = DeviceSpec {
        batch_size: 10,
        max_sizes: Some((160, 500)),
        ..DeviceSpec::default()
    };
    let mut a = env.device(&spec).unwrap();
    for i in 0..470 {
        a.insert("customers", &rows::customer(&format!("c{i}")))
            .unwrap();
    }
    let report = a.sync_ok().await.unwrap();
    assert_eq!(report.pushed, 470, "{report:?}");
    assert_eq!(env.db.count("customers").await.unwrap(), 470);
    let requests = env.proxy.seen("ebb_push");
    // Six when every answer is quick; a slow one on a busy machine halves
    // the next batch and costs a few more. Without growth: 47.
    assert!((6..=20).contains(&requests), "{requests} push requests");

    // The pages of a pull grow the same way: 470 rows from 10 a page.
    let pull_spec = DeviceSpec {
        pull_page_size: 10,
        max_sizes: Some((160, 160)),
        ..DeviceSpec::default()
    };
    let mut b = env.device(&pull_spec).unwrap();
    env.settle().await.unwrap();
    let before = env.proxy.seen("ebb_pull");
    b.sync_ok().await.unwrap();
    assert_eq!(b.count("customers").unwrap(), 470);
    let pulls = env.proxy.seen("ebb_pull") - before;
    // 10+20+40+80+160+160 for customers, then one request for each other
    // table; without growth 48 for customers alone.
    assert!(pulls <= 25, "{pulls} pull requests");
}

/// Batches shrink when the server slows: each row costs the server 10 ms,
/// and with `answer_time` 100 ms a batch of 40 (400 ms) halves until one
/// is answered within it.
#[tokio::test]
async fn batches_shrink_when_the_server_slows() {
    let env = Env::new().await.unwrap();
    env.db
        .exec(
            "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN PERFORM pg_sleep(0.01); RETURN NEW; END $$;
             CREATE TRIGGER slow BEFORE INSERT OR UPDATE ON customers
                 FOR EACH ROW EXECUTE FUNCTION slow();",
        )
        .await
        .unwrap();
    let spec = DeviceSpec {
        batch_size: 40,
        sync_extra: "answer_time = \"100ms\"".into(),
        ..DeviceSpec::default()
    };
    let mut a = env.device(&spec).unwrap();
    for i in 0..120 {
        a.insert("customers", &rows::customer(&format!("c{i}")))
            .unwrap();
    }
    let report = a.sync_ok().await.unwrap();
    assert_eq!(report.pushed, 120, "{report:?}");
    assert_eq!(env.db.count("customers").await.unwrap(), 120);
    let requests = env.proxy.seen("ebb_push");
    // At 40 a batch: 3. Halved to 20, 10, 5 while answers take longer
    // than 100 ms: 40 + 20 + 10 + 5 * 10 at least 13.
    assert!(
        requests >= 8,
        "{requests} push requests: the batch did not shrink"
    );
}
