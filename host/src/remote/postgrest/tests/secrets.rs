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
        api_key: KeySource::File(f.key_file.clone()),
        access_token: None,
        timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(1),
    };
    let rate = RateLimitConfig {
        requests_per_second: 1.0,
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
        api_key: KeySource::File(f.key_file.clone()),
        access_token: Some(KeySource::File(token_file.clone())),
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
    };
    let rate = RateLimitConfig {
        requests_per_second: 1000.0,
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
