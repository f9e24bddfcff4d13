//! The API key and token stay secret: a server echoing the key back is
//! scrubbed, the client refuses to send them in clear text to a
//! non-loopback host, and a token file is re-read when it is rotated. Uses
//! the parent's server.

use std::time::Duration;

use super::{Client, KEY, change, fixture, push_err};
use crate::config::{KeySource, RateLimitConfig, RemoteConfig};
use crate::remote::{Remote, RemoteError};

#[tokio::test]
async fn echoed_key_is_scrubbed() {
    let f = fixture().await;
    let e = push_err(&f, "echo").await;
    assert!(e.to_string().contains("bad key [redacted]"), "{e}");
}

#[tokio::test]
async fn plain_http_to_a_remote_host_is_refused() {
    let f = fixture().await;
    let remote = RemoteConfig {
        url: "http://db.example.com".into(),
        rest_root: "http://db.example.com/rest/v1".into(),
        api_key: Some(KeySource::File(f.key_file.clone())),
        api_key_required: true,
        access_token: None,
        timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(1),
    };
    let rate = RateLimitConfig {
        requests_per_second: 1.0,
        rows_per_second: 0.0,
        burst: 1,
        max_retry_after: Duration::from_secs(3600),
    };
    let e = Client::new(&remote, &rate).unwrap_err();
    assert!(matches!(e, RemoteError::Config(_)), "{e:?}");
    assert!(e.to_string().contains("db.example.com"), "{e}");
}

#[tokio::test]
async fn an_access_token_is_the_bearer_and_is_reread_when_rotated() {
    let f = fixture().await;
    let token_file = f.key_file.with_file_name("till.jwt");
    std::fs::write(&token_file, "eyJ.till-a.first\n").unwrap();
    let remote = RemoteConfig {
        url: f.base.clone(),
        rest_root: format!("{}/ok/", f.base),
        api_key: Some(KeySource::File(f.key_file.clone())),
        api_key_required: true,
        access_token: Some(KeySource::File(token_file.clone())),
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
    };
    let rate = RateLimitConfig {
        requests_per_second: 1000.0,
        rows_per_second: 0.0,
        burst: 100,
        max_retry_after: Duration::from_secs(3600),
    };
    let client = Client::new(&remote, &rate).unwrap();
    let sent = || {
        let seen = f.seen.lock().unwrap();
        let headers = seen.headers.clone().unwrap();
        (
            headers["apikey"].to_str().unwrap().to_string(),
            headers["authorization"].to_str().unwrap().to_string(),
        )
    };
    client.push(&[change("o1")]).await.unwrap();
    assert_eq!(sent(), (KEY.to_string(), "Bearer eyJ.till-a.first".into()));
    std::fs::write(&token_file, "eyJ.till-a.rotated").unwrap();
    client.push(&[change("o1")]).await.unwrap();
    assert_eq!(
        sent(),
        (KEY.to_string(), "Bearer eyJ.till-a.rotated".into())
    );
    assert!(!format!("{client:?}").contains("eyJ"));
}

/// A client of the fixture's "ok" server with `api_key`/`access_token`.
fn client_of(
    f: &super::Fixture,
    api_key: Option<KeySource>,
    required: bool,
    token: Option<KeySource>,
) -> Result<Client, RemoteError> {
    let remote = RemoteConfig {
        url: f.base.clone(),
        rest_root: format!("{}/ok/", f.base),
        api_key,
        api_key_required: required,
        access_token: token,
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
    };
    let rate = RateLimitConfig {
        requests_per_second: 1000.0,
        rows_per_second: 0.0,
        burst: 100,
        max_retry_after: Duration::from_secs(3600),
    };
    Client::new(&remote, &rate)
}

#[tokio::test]
async fn anonymous_sends_neither_key_nor_token_and_an_optional_key_may_be_absent() {
    let f = fixture().await;
    let sent = |f: &super::Fixture| f.seen.lock().unwrap().headers.clone().unwrap();

    let anonymous = client_of(&f, None, false, None).unwrap();
    anonymous.push(&[change("o1")]).await.unwrap();
    let headers = sent(&f);
    assert!(headers.get("apikey").is_none(), "{headers:?}");
    assert!(headers.get("authorization").is_none(), "{headers:?}");

    // A token beside an optional key whose variable is not set: the token
    // alone (a self-hosted PostgREST checking JWTs only).
    let token_file = f.key_file.with_file_name("only.jwt");
    std::fs::write(&token_file, "eyJ.only.token\n").unwrap();
    let unset = KeySource::Env("EBB_TEST_NO_SUCH_KEY_VARIABLE".into());
    let token_only = client_of(
        &f,
        Some(unset.clone()),
        false,
        Some(KeySource::File(token_file)),
    )
    .unwrap();
    token_only.push(&[change("o1")]).await.unwrap();
    let headers = sent(&f);
    assert!(headers.get("apikey").is_none(), "{headers:?}");
    assert_eq!(headers["authorization"], "Bearer eyJ.only.token");

    // The same variable unset but required: refused, saying every way out.
    let e = client_of(&f, Some(unset), true, None).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, RemoteError::Config(_)), "{e:?}");
    for way in [
        "EBB_TEST_NO_SUCH_KEY_VARIABLE is not set",
        "api_key_file",
        "access_token_env",
        "anonymous = true",
    ] {
        assert!(text.contains(way), "{way} missing from: {text}");
    }
}
