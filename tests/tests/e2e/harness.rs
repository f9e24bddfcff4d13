//! The harness holds: the fault proxy really loses responses after the
//! server committed, really refuses connections when down, and passes
//! everything through otherwise. Driven through the real PostgREST client.

use std::time::Duration;

use ebb::config::{KeySource, RateLimitConfig, RemoteConfig};
use ebb::model::{Change, Cursor, Op, PushResult};
use ebb::remote::Remote;
use ebb::remote::postgrest::Client;
use ebb_tests::{Env, rows};

fn client(env: &Env, dir: &std::path::Path, key: &str) -> Client {
    let key_file = dir.join("key");
    std::fs::write(&key_file, key).unwrap();
    let root = env.rest_root();
    let remote = RemoteConfig {
        url: root.trim_end_matches("/rest/v1").to_string(),
        rest_root: root,
        api_key: Some(KeySource::File(key_file)),
        api_key_required: true,
        access_token: None,
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(2),
    };
    let rate = RateLimitConfig {
        requests_per_second: 1000.0,
        rows_per_second: 0.0,
        burst: 1000,
        max_retry_after: Duration::from_secs(3600),
    };
    Client::new(&remote, &rate).unwrap()
}

fn insert(row: &serde_json::Value, counter: i64) -> Change {
    Change {
        table: "customers".into(),
        pk: rows::id_of(row),
        op: Op::Upsert,
        base_version: None,
        row: row.as_object().cloned(),
        device: "harness".into(),
        counter,
    }
}

#[tokio::test]
async fn proxy_passes_cuts_and_refuses() {
    let env = Env::new().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let remote = client(&env, dir.path(), env.gateway.key());

    // Pass through.
    let a = rows::customer("Ada");
    let got = remote.push(&[insert(&a, 1)]).await.unwrap();
    assert!(
        matches!(got[..], [PushResult::Applied { version: 1 }]),
        "{got:?}"
    );

    // Cut: the server commits, the client sees a broken connection.
    env.proxy.cut_responses("ebb_push", 1);
    let b = rows::customer("Bob");
    let err = remote.push(&[insert(&b, 2)]).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(
        env.db.version("customers", &rows::id_of(&b)).await.unwrap(),
        Some(1)
    );
    // The retry gets the first answer (idempotent push), not a conflict.
    let got = remote.push(&[insert(&b, 2)]).await.unwrap();
    assert!(
        matches!(got[..], [PushResult::Applied { version: 1 }]),
        "{got:?}"
    );

    // Down: refused, then back up on the same address.
    env.proxy.set_down(true);
    let err = remote
        .pull("customers", &Cursor::default(), 10)
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    env.proxy.set_down(false);
    env.settle().await.unwrap();
    let page = remote
        .pull("customers", &Cursor::default(), 10)
        .await
        .unwrap();
    assert_eq!(page.rows.len(), 2);
    assert!(env.proxy.seen("ebb_push") >= 3);
}

#[tokio::test]
async fn proxy_hook_runs_while_the_request_is_in_flight() {
    let env = Env::new().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let remote = client(&env, dir.path(), env.gateway.key());
    let (tx, rx) = std::sync::mpsc::channel();
    env.proxy
        .on_request("ebb_push", move || tx.send(()).unwrap());
    remote
        .push(&[insert(&rows::customer("Cy"), 1)])
        .await
        .unwrap();
    rx.try_recv()
        .expect("hook ran before the answer was relayed");
}

#[tokio::test]
async fn wrong_key_is_refused_with_401() {
    let env = Env::new().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let remote = client(&env, dir.path(), "not-the-key");
    let err = remote
        .pull("customers", &Cursor::default(), 10)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    assert!(!err.is_retryable());
    assert!(!err.to_string().contains(env.gateway.key()));
}

#[tokio::test]
async fn the_server_has_no_local_only_tables() {
    let env = Env::new().await.unwrap();
    for t in ["products", "customers", "debts", "debt_payments"] {
        assert!(env.db.has_table(t).await.unwrap(), "{t}");
    }
    for t in ["users", "licenses"] {
        assert!(!env.db.has_table(t).await.unwrap(), "{t}");
    }
}
