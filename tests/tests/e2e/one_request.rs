//! A round pulls every table in one request (`ebb_pull_all`): an idle
//! round is one request whatever the number of tables, a write on one till
//! reaches the other in one request, a server without the function (an
//! install by an older ebb) is pulled table by table from then on, and a
//! combined request refused or cut is not retried whole: that round pulls
//! table by table, and the next asks it again.

use ebb_tests::{Env, rows};

/// Requests to `rpc` the proxy saw while `f` ran.
async fn counted<T>(env: &Env, f: impl AsyncFnOnce() -> T) -> (T, [usize; 3]) {
    let seen = || ["ebb_pull_all", "ebb_pull", "ebb_push"].map(|rpc| env.proxy.seen(rpc));
    let before = seen();
    let out = f().await;
    let after = seen();
    (out, [0, 1, 2].map(|i| after[i] - before[i]))
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
    assert_eq!(requests, [1, 0, 0], "an idle round (all, one, push)");

    a.insert("customers", &rows::customer("Ada")).unwrap();
    a.sync_ok().await.unwrap();
    env.settle().await.unwrap();
    let (report, requests) = counted(&env, async || b.sync_ok().await.unwrap()).await;
    assert_eq!(report.pulled, 1, "{report:?}");
    assert_eq!(b.count("customers").unwrap(), 1);
    assert_eq!(requests, [1, 0, 0], "a write pulled (all, one, push)");
    // And the metrics count the requests made, not a page per table.
    let metrics = b.engine.metrics().render();
    assert!(metrics.contains(r#"rpc="ebb_pull_all""#), "{metrics}");
    assert!(!metrics.contains(r#"rpc="ebb_pull""#), "{metrics}");
}

#[tokio::test]
async fn a_server_without_the_function_is_pulled_table_by_table() {
    let env = Env::new().await.unwrap();
    env.db
        .exec("DROP FUNCTION public.ebb_pull_all(jsonb, integer)")
        .await
        .unwrap();
    let mut a = env.default_device().unwrap();
    let tables = a.engine.config().tables.len();
    a.insert("customers", &rows::customer("Ada")).unwrap();
    let (report, requests) = counted(&env, async || a.sync_ok().await.unwrap()).await;
    assert_eq!(report.pushed, 1, "{report:?}");
    assert_eq!(requests, [1, tables, 1], "asked once, then table by table");
    let mut b = env.default_device().unwrap();
    env.settle().await.unwrap();
    b.sync_ok().await.unwrap();
    assert_eq!(b.count("customers").unwrap(), 1);
    let (_, requests) = counted(&env, async || a.sync_ok().await.unwrap()).await;
    assert_eq!(requests, [0, tables, 0], "not asked again");
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
    assert_eq!(requests, [1, tables, 0], "refused, then table by table");
    let (_, requests) = counted(&env, async || a.sync_ok().await.unwrap()).await;
    assert_eq!(requests, [1, 0, 0], "asked again the next round");
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
    assert_eq!(requests, [1, tables, 0], "cut once, then table by table");
    let (_, requests) = counted(&env, async || a.sync_ok().await.unwrap()).await;
    assert_eq!(requests, [1, 0, 0], "asked again after a clean round");
}
