//! A round pulls every table in one request (`ebb_pull_all`), and a round
//! that pushes asks for those pages with its last push (`ebb_push_pull`):
//! an idle round is one request whatever the number of tables, an edit is
//! one request and reaches the other till in one, a server without the
//! functions (an install by an older ebb) is pushed and pulled as before
//! (table by table) from then on, a pull half that fails never undoes its
//! push, and a combined request refused or cut is not retried whole: that
//! round pulls table by table, and the next asks it again.

use ebb_tests::{Env, rows};

/// Requests the proxy saw while `f` ran, to: ebb_pull_all, ebb_pull,
/// ebb_push alone, ebb_push_pull.
async fn counted<T>(env: &Env, f: impl AsyncFnOnce() -> T) -> (T, [usize; 4]) {
    let rpcs = ["ebb_pull_all", "ebb_pull", "ebb_push", "ebb_push_pull"];
    let seen = || rpcs.map(|rpc| env.proxy.seen(rpc));
    let before = seen();
    let out = f().await;
    let after = seen();
    let [all, one, push, both] = [0, 1, 2, 3].map(|i| after[i] - before[i]);
    // The proxy counts an ebb_push_pull as a push too.
    (out, [all, one, push - both, both])
}

#[tokio::test]
async fn an_idle_round_is_one_request_and_a_write_arrives_in_one() {
    let env = Env::new().await.unwrap();
    let mut a = env.default_device().unwrap();
    let mut b = env.default_device().unwrap();
    let tables = a.engine.config().tables.len();
    assert!(tables >= 4, "{tables} tables");
    a.sync_ok().await.unwrap();
    b.sync_ok().await.unwrap();

    let (_, requests) = counted(&env, async || b.sync_ok().await.unwrap()).await;
    assert_eq!(
        requests,
        [1, 0, 0, 0],
        "an idle round (all, one, push, both)"
    );

    a.insert("customers", &rows::customer("Ada")).unwrap();
    let (report, requests) = counted(&env, async || a.sync_ok().await.unwrap()).await;
    assert_eq!(report.pushed, 1, "{report:?}");
    assert_eq!(
        requests,
        [0, 0, 0, 1],
        "an edit pushed (all, one, push, both)"
    );
    env.settle().await.unwrap();
    let (report, requests) = counted(&env, async || b.sync_ok().await.unwrap()).await;
    assert_eq!(report.pulled, 1, "{report:?}");
    assert_eq!(b.count("customers").unwrap(), 1);
    assert_eq!(
        requests,
        [1, 0, 0, 0],
        "a write pulled (all, one, push, both)"
    );

    // The other way, the edit's own request brings the write back.
    b.insert("customers", &rows::customer("Grace")).unwrap();
    b.sync_ok().await.unwrap();
    env.settle().await.unwrap();
    a.insert("customers", &rows::customer("Linus")).unwrap();
    let (report, requests) = counted(&env, async || a.sync_ok().await.unwrap()).await;
    assert_eq!((report.pushed, report.pulled), (1, 1), "{report:?}");
    assert_eq!(requests, [0, 0, 0, 1], "pushed and pulled in one");
    assert_eq!(a.count("customers").unwrap(), 3);
    // And the metrics count the requests made, not a page per table.
    let metrics = b.engine.metrics().render();
    assert!(metrics.contains(r#"rpc="ebb_pull_all""#), "{metrics}");
    assert!(!metrics.contains(r#"rpc="ebb_pull""#), "{metrics}");
}

#[tokio::test]
async fn a_server_without_the_functions_is_pulled_table_by_table() {
    let env = Env::new().await.unwrap();
    env.db
        .exec(
            "DROP FUNCTION public.ebb_pull_all(jsonb, integer);
             DROP FUNCTION public.ebb_push_pull(jsonb, jsonb, integer)",
        )
        .await
        .unwrap();
    let mut a = env.default_device().unwrap();
    let tables = a.engine.config().tables.len();
    a.insert("customers", &rows::customer("Ada")).unwrap();
    let (report, requests) = counted(&env, async || a.sync_ok().await.unwrap()).await;
    assert_eq!(report.pushed, 1, "{report:?}");
    assert_eq!(
        requests,
        [1, tables, 1, 1],
        "each asked once, then pushed alone and pulled table by table"
    );
    let mut b = env.default_device().unwrap();
    env.settle().await.unwrap();
    b.sync_ok().await.unwrap();
    assert_eq!(b.count("customers").unwrap(), 1);
    a.insert("customers", &rows::customer("Grace")).unwrap();
    let (_, requests) = counted(&env, async || a.sync_ok().await.unwrap()).await;
    assert_eq!(requests, [0, tables, 1, 0], "not asked again");
}

#[tokio::test]
async fn a_pull_half_that_fails_keeps_its_push() {
    let env = Env::new().await.unwrap();
    // ebb_push_pull then fails in its pull half (42883 inside it).
    env.db
        .exec("DROP FUNCTION public.ebb_pull_all(jsonb, integer)")
        .await
        .unwrap();
    let mut a = env.default_device().unwrap();
    let tables = a.engine.config().tables.len();
    a.insert("customers", &rows::customer("Ada")).unwrap();
    let (report, requests) = counted(&env, async || a.sync_ok().await.unwrap()).await;
    assert!(report.error.is_none(), "{report:?}");
    assert_eq!(report.pushed, 1, "{report:?}");
    assert_eq!(
        requests,
        [0, tables, 0, 1],
        "pushed once, then table by table"
    );
    assert_eq!(env.db.count("customers").await.unwrap(), 1);
    assert!(a.queue().unwrap().is_empty());
}

#[tokio::test]
async fn a_refused_combined_pull_falls_back_for_that_round_only() {
    let env = Env::new().await.unwrap();
    let mut a = env.default_device().unwrap();
    let tables = a.engine.config().tables.len();
    a.sync_ok().await.unwrap();
    let body = r#"{"code":"42501","message":"permission denied for table debts","details":null,"hint":null}"#;
    env.proxy.answer_instead("ebb_pull_all", 403, body, 1);
    let (report, requests) = counted(&env, async || a.sync_ok().await.unwrap()).await;
    assert!(report.error.is_none(), "{report:?}");
    assert_eq!(requests, [1, tables, 0, 0], "refused, then table by table");
    let (_, requests) = counted(&env, async || a.sync_ok().await.unwrap()).await;
    assert_eq!(requests, [1, 0, 0, 0], "asked again the next round");
}

#[tokio::test]
async fn a_combined_pull_that_is_cut_is_not_retried_whole() {
    let env = Env::new().await.unwrap();
    let mut a = env.default_device().unwrap();
    let tables = a.engine.config().tables.len();
    a.sync_ok().await.unwrap();
    env.proxy.cut_responses("ebb_pull_all", 1);
    let (report, requests) = counted(&env, async || a.sync_ok().await.unwrap()).await;
    assert!(report.error.is_none(), "{report:?}");
    assert_eq!(requests, [1, tables, 0, 0], "cut once, then table by table");
    let (_, requests) = counted(&env, async || a.sync_ok().await.unwrap()).await;
    assert_eq!(requests, [1, 0, 0, 0], "asked again after a clean round");
}

#[tokio::test]
async fn a_combined_push_that_fails_goes_again_as_a_push_at_no_charge() {
    let env = Env::new().await.unwrap();
    let mut a = env.default_device().unwrap();
    let tables = a.engine.config().tables.len();
    a.sync_ok().await.unwrap();
    // What a statement timeout in its pull half would answer: the whole
    // call, push included, was undone.
    let body = r#"{"code":"57014","message":"canceling statement due to statement timeout","details":null,"hint":null}"#;
    env.proxy.answer_instead("ebb_push_pull", 500, body, 1);
    a.insert("customers", &rows::customer("Ada")).unwrap();
    let (report, requests) = counted(&env, async || a.sync_ok().await.unwrap()).await;
    assert!(report.error.is_none(), "{report:?}");
    assert_eq!((report.pushed, report.retrying), (1, 0), "{report:?}");
    assert_eq!(
        requests,
        [0, tables, 1, 1],
        "refused, pushed alone at once, then table by table"
    );
    assert_eq!(env.db.count("customers").await.unwrap(), 1);
    a.insert("customers", &rows::customer("Grace")).unwrap();
    let (_, requests) = counted(&env, async || a.sync_ok().await.unwrap()).await;
    assert_eq!(requests, [0, 0, 0, 1], "asked again after a clean round");
}
