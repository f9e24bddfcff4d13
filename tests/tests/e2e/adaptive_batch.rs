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
