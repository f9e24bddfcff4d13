//! A server configuration error ends the round at once, charges nothing and
//! says what to configure: PostgREST without a JWT secret (PGRST300), a
//! function the schema cache does not know (PGRST202), anonymous access
//! switched off (PGRST302). Each is answered once by the fault proxy, as
//! the misconfigured server would; the next round, with the server fixed,
//! pushes the same item untouched.

use ebb_tests::{Env, rows};

use crate::common::drain;

const CASES: [(u16, &str, &str, &str); 3] = [
    (500, "PGRST300", "Server lacks JWT secret", "JWT secret"),
    (
        404,
        "PGRST202",
        "Could not find the function public.ebb_push(changes) in the schema cache",
        "ebb_push",
    ),
    (
        401,
        "PGRST302",
        "Anonymous access is disabled",
        "Anonymous access",
    ),
];

#[tokio::test]
async fn a_configuration_error_is_one_attempt_a_clear_message_and_no_charge() {
    let env = Env::new().await.unwrap();
    let mut a = env.default_device().unwrap();
    let c = rows::customer("Ada");
    a.insert("customers", &c).unwrap();
    for (status, code, message, named) in CASES {
        let body =
            format!(r#"{{"code":"{code}","details":null,"hint":null,"message":"{message}"}}"#);
        let before = env.proxy.seen("ebb_push");
        env.proxy.answer_instead("ebb_push", status, &body, 1);
        let report = a.sync().await.expect("the round runs and reports");
        let error = report.error.clone().unwrap_or_default();
        assert_eq!(
            env.proxy.seen("ebb_push") - before,
            1,
            "{code}: retried within the round ({error})"
        );
        assert_eq!(report.pushed, 0, "{code}: {report:?}");
        assert!(
            error.contains(code) && error.contains(named),
            "{code}: {error}"
        );
        let queue = a.engine.local().queue_items(&[], 10).unwrap();
        assert_eq!(queue.len(), 1, "{code}: {queue:?}");
        assert_eq!(
            (queue[0].state.as_str(), queue[0].attempts),
            ("pending", 0),
            "{code}: the item was charged: {queue:?}"
        );
    }
    // Fixed: the untouched item goes through.
    drain(&env, &mut a, 10).await.unwrap();
    assert_eq!(
        env.db.row("customers", &rows::id_of(&c)).await.unwrap(),
        Some(c)
    );
}

/// The same when the round has more batches than one: the batch claimed
/// while the refused one was on the wire goes back to pending too, never
/// left in flight, and nothing is charged.
#[tokio::test]
async fn a_refused_batch_leaves_the_next_batch_pending_too() {
    let env = Env::new().await.unwrap();
    let spec = ebb_tests::DeviceSpec {
        batch_size: 10,
        ..ebb_tests::DeviceSpec::default()
    };
    let mut a = env.device(&spec).unwrap();
    for i in 0..30 {
        a.insert("customers", &rows::customer(&format!("c{i}")))
            .unwrap();
    }
    let (status, code, message, _) = CASES[2];
    let body = format!(r#"{{"code":"{code}","details":null,"hint":null,"message":"{message}"}}"#);
    env.proxy.answer_instead("ebb_push", status, &body, 1);
    let report = a.sync().await.expect("the round runs and reports");
    assert!(report.error.is_some(), "{report:?}");
    let queue = a.engine.local().queue_items(&[], 100).unwrap();
    assert_eq!(queue.len(), 30, "{queue:?}");
    for item in &queue {
        assert_eq!(
            (item.state.as_str(), item.attempts),
            ("pending", 0),
            "{queue:?}"
        );
    }
    drain(&env, &mut a, 10).await.unwrap();
    assert_eq!(env.db.count("customers").await.unwrap(), 30);
}
