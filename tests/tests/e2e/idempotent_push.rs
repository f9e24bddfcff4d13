//! A push whose response is lost (the server committed, the client saw a
//! broken connection) is retried and applied exactly once: the server's
//! version moves once, and no conflict with itself is recorded. Both when
//! the retry happens within the round and when it comes a round later.
//! The devices use the `manual` policy, so a false conflict would be kept
//! in `_ebb_conflicts` instead of being papered over by a policy.

use ebb_tests::{DeviceSpec, Env, rows};
use serde_json::json;

use crate::common::sync_all;

#[tokio::test]
async fn a_lost_response_is_retried_within_the_round_and_applied_once() {
    let env = Env::new().await.unwrap();
    let spec = DeviceSpec::default().conflict_all("manual");
    let mut a = env.device(&spec).unwrap();
    let mut b = env.device(&spec).unwrap();
    let c = rows::customer("Ada");
    let id = rows::id_of(&c);
    a.insert("customers", &c).unwrap();

    env.proxy.cut_responses("ebb_push", 1);
    let report = a.sync_ok().await.unwrap();
    assert_eq!(env.proxy.seen("ebb_push"), 2, "one lost answer, one retry");
    assert_eq!((report.pushed, report.resolved), (1, 0), "{report:?}");
    assert_eq!(
        env.db.version("customers", &id).await.unwrap(),
        Some(1),
        "applied once"
    );
    assert!(a.queue().unwrap().is_empty(), "{:?}", a.queue());
    assert!(a.engine.local().conflicts(true).unwrap().is_empty());

    // The same for an update of a row the server already has.
    a.update("customers", &id, &json!({"name": "Ada L."}))
        .unwrap();
    env.proxy.cut_responses("ebb_push", 1);
    let report = a.sync_ok().await.unwrap();
    assert_eq!((report.pushed, report.resolved), (1, 0), "{report:?}");
    assert_eq!(env.db.version("customers", &id).await.unwrap(), Some(2));
    assert!(a.engine.local().conflicts(true).unwrap().is_empty());

    // A later edit still pushes normally (the base version moved on).
    a.update("customers", &id, &json!({"phone": "+1 555 0199"}))
        .unwrap();
    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
    assert_eq!(env.db.version("customers", &id).await.unwrap(), Some(3));
    assert_eq!(
        b.row("customers", &id).unwrap(),
        Some(rows::with(
            &c,
            &json!({"name": "Ada L.", "phone": "+1 555 0199"})
        ))
    );
}

#[tokio::test]
async fn a_lost_response_is_retried_next_round_and_applied_once() {
    let env = Env::new().await.unwrap();
    let spec = DeviceSpec {
        max_attempts: 2,
        ..Default::default()
    }
    .conflict_all("manual");
    let mut a = env.device(&spec).unwrap();
    let c = rows::customer("Ada");
    let id = rows::id_of(&c);
    a.insert("customers", &c).unwrap();
    a.sync_ok().await.unwrap();
    a.update("customers", &id, &json!({"name": "Ada L."}))
        .unwrap();

    // Every attempt of this round loses its answer: the round gives up.
    env.proxy.cut_responses("ebb_push", 2);
    let report = a.sync().await.unwrap();
    assert!(report.error.is_some(), "{report:?}");
    assert_eq!(
        env.db.version("customers", &id).await.unwrap(),
        Some(2),
        "the server committed"
    );
    assert_eq!(a.queue().unwrap().len(), 1, "the device does not know yet");

    tokio::time::sleep(std::time::Duration::from_millis(60)).await; // the item's backoff
    env.settle().await.unwrap();
    let report = a.sync_ok().await.unwrap();
    // The server's stored answer, not a conflict with itself (which the
    // engine would settle as "resolved": both sides hold the same row).
    assert_eq!((report.pushed, report.resolved), (1, 0), "{report:?}");
    assert!(a.queue().unwrap().is_empty(), "{:?}", a.queue());
    assert_eq!(
        env.db.version("customers", &id).await.unwrap(),
        Some(2),
        "applied once"
    );
    assert!(a.engine.local().conflicts(true).unwrap().is_empty());
    assert_eq!(a.row("customers", &id).unwrap().unwrap()["name"], "Ada L.");
}
