//! A push whose response is lost (the server committed, the client saw a
//! broken connection) is retried and applied exactly once: the server's
//! version moves once, and no conflict with itself is recorded.

use ebb_tests::{Env, rows};
use serde_json::json;

use crate::common::{drain, sync_all};

#[tokio::test]
async fn a_lost_response_is_retried_and_applied_once() {
    let env = Env::new().await.unwrap();
    let mut a = env.default_device().unwrap();
    let mut b = env.default_device().unwrap();
    let c = rows::customer("Ada");
    let id = rows::id_of(&c);
    a.insert("customers", &c).unwrap();

    env.proxy.cut_responses("ebb_push", 1);
    let first = a.sync().await;
    assert!(
        first.as_ref().map(|r| r.error.is_some()).unwrap_or(true),
        "the lost response must show: {first:?}"
    );
    assert_eq!(env.db.version("customers", &id).await.unwrap(), Some(1), "the server committed");
    assert_eq!(a.queue().unwrap().len(), 1, "the client does not know yet");

    drain(&env, &mut a, 20).await.unwrap();
    assert_eq!(env.db.version("customers", &id).await.unwrap(), Some(1), "applied once");
    assert!(a.engine.local().conflicts(true).unwrap().is_empty());

    // The same for an update of a row the server already has.
    a.update("customers", &id, &json!({"name": "Ada L."})).unwrap();
    env.proxy.cut_responses("ebb_push", 1);
    let _ = a.sync().await;
    drain(&env, &mut a, 20).await.unwrap();
    assert_eq!(env.db.version("customers", &id).await.unwrap(), Some(2));
    assert!(a.engine.local().conflicts(true).unwrap().is_empty());

    // A later edit still pushes normally (the base version moved on).
    a.update("customers", &id, &json!({"phone": "+1 555 0199"})).unwrap();
    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
    assert_eq!(env.db.version("customers", &id).await.unwrap(), Some(3));
    assert_eq!(
        b.row("customers", &id).unwrap(),
        Some(rows::with(&c, &json!({"name": "Ada L.", "phone": "+1 555 0199"})))
    );
}
