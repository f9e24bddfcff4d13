//! A 429's Retry-After: reported on the error, capped by
//! `rate_limit.max_retry_after`, and waited out by the next request through
//! the same client. Uses the parent's server.

use std::time::{Duration, Instant};

use super::{assert_no_key, change, fixture};
use crate::config::RateLimitConfig;
use crate::remote::Remote;

#[tokio::test]
async fn too_many_requests_holds_back_later_requests() {
    let f = fixture().await;
    let client = f.client("s429");
    let e = client.push(&[change("o1")]).await.unwrap_err();
    assert_no_key(&e);
    assert_eq!(e.status(), Some(429));
    assert!(e.is_retryable());
    assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
    // The next request through the same client waits out the Retry-After.
    let start = Instant::now();
    let _ = client.push(&[change("o1")]).await;
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn retry_after_is_capped_by_rate_limit_max_retry_after() {
    let f = fixture().await;
    let rate = RateLimitConfig {
        requests_per_second: 1000.0,
        rows_per_second: 0.0,
        burst: 100,
        max_retry_after: Duration::from_millis(200),
    };
    let client = f.client_with(&format!("{}/s429/", f.base), Duration::from_secs(5), &rate);
    let e = client.push(&[change("o1")]).await.unwrap_err();
    // The server asked for 1s; the config allows 200ms.
    assert_eq!(e.retry_after(), Some(Duration::from_millis(200)));
    let start = Instant::now();
    let _ = client.push(&[change("o1")]).await;
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_millis(900),
        "{waited:?}"
    );
}
