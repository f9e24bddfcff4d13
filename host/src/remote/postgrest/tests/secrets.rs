//! The API key stays secret: a server echoing it back is scrubbed, and the
//! client refuses to send it in clear text to a non-loopback host. Uses the
//! parent's server.

use std::time::Duration;

use super::{Client, fixture, push_err};
use crate::config::{KeySource, RateLimitConfig, RemoteConfig};
use crate::remote::RemoteError;

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
