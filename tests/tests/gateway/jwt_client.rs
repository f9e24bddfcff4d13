//! JWT mode through the sync engine's own PostgREST client: the shared key
//! as its API key and a till's JWT as its access token, rotated in place.

use serde_json::json;

use super::jwt::{SECRET, jwt_mode, now, per_till_policy, token};
use super::role::TestRole;
use super::{KEY, start_with, upsert};
use ebb::config::{KeySource, RateLimitConfig, RemoteConfig};
use ebb::model::{Cursor, PullPage, PushResult};
use ebb::remote::Remote;
use ebb::remote::postgrest::Client;

/// The sync engine's own client, with the shared key as its API key and
/// each till's JWT as its access token, against the gateway in JWT mode.
#[tokio::test]
async fn the_postgrest_client_with_an_access_token_syncs_as_its_till() {
    let till = TestRole::create("till", "NOLOGIN").await;
    let gw = start_with(jwt_mode).await;
    per_till_policy(&gw, &till.name).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let key_file = dir.path().join("key");
    let token_file = dir.path().join("till.jwt");
    std::fs::write(&key_file, KEY).expect("key");
    let a = token(json!({"role": till.name, "sub": "A", "exp": now() + 300}));
    std::fs::write(&token_file, format!("{a}\n")).expect("token");
    let remote = RemoteConfig {
        url: gw.base.clone(),
        rest_root: format!("{}/rest/v1", gw.base),
        api_key: Some(KeySource::File(key_file)),
        api_key_required: true,
        access_token: Some(KeySource::File(token_file.clone())),
        timeout: std::time::Duration::from_secs(10),
        connect_timeout: std::time::Duration::from_secs(5),
    };
    let rate = RateLimitConfig {
        requests_per_second: 1000.0,
        rows_per_second: 0.0,
        burst: 100,
        max_retry_after: std::time::Duration::from_secs(3600),
    };
    let client = Client::new(&remote, &rate).expect("client");
    let pks = |page: PullPage| {
        let mut pks: Vec<String> = page.rows.into_iter().map(|r| r.pk).collect();
        pks.sort();
        pks
    };

    let results = client
        .push(&[upsert(
            "products",
            "a2",
            None,
            json!({"id": "a2", "name": "x", "note": "A"}),
            "till-a",
            1,
        )])
        .await
        .expect("push as A");
    assert_eq!(results, vec![PushResult::Applied { version: 1 }]);
    super::settle(&gw.db).await;
    let page = client
        .pull("products", &Cursor::default(), 100)
        .await
        .expect("pull as A");
    assert_eq!(pks(page), ["a1", "a2"]);

    // The till's token is rotated to B's: the next request is B.
    let b = token(json!({"role": till.name, "sub": "B", "exp": now() + 300}));
    std::fs::write(&token_file, &b).expect("rotate");
    let page = client
        .pull("products", &Cursor::default(), 100)
        .await
        .expect("pull as B");
    assert_eq!(pks(page), ["b1"]);

    // An expired token: the client sees PostgREST's 401.
    let expired = token(json!({"role": till.name, "sub": "B", "exp": now() - 60}));
    std::fs::write(&token_file, format!("{expired}\n\n")).expect("rotate");
    let err = client
        .pull("products", &Cursor::default(), 100)
        .await
        .expect_err("expired");
    assert_eq!((err.status(), err.code()), (Some(401), Some("PGRST303")));
    let text = format!("{err:?} {err}");
    assert!(!text.contains(&expired) && !text.contains(SECRET), "{text}");
}
