//! Retrying one request to the remote within a round: retryable errors
//! wait (exponential backoff with jitter, or the server's Retry-After) and
//! try again up to `retry.max_attempts`; permanent errors return at once.
//! Every attempt is recorded for the error-rate alert.

use std::future::Future;

use rand::Rng;

use super::{SyncError, backoff, now_ms};
use crate::config::{AlertsConfig, RetryConfig};
use crate::local::Local;
use crate::ops::metrics::Metrics;
use crate::remote::RemoteError;

/// Calls `request` until it succeeds, fails permanently, or runs out of
/// attempts. `what` names the request in log lines (never its payload).
pub(crate) async fn call<T, F, Fut>(
    local: &mut Local,
    metrics: &Metrics,
    retry: &RetryConfig,
    alerts: &AlertsConfig,
    what: &str,
    mut request: F,
) -> Result<Result<T, RemoteError>, SyncError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RemoteError>>,
{
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let result = request().await;
        local.record_request(result.is_ok(), now_ms(), alerts.error_window)?;
        match &result {
            Ok(_) => metrics.count_request(what, "ok"),
            Err(e) => {
                metrics.count_request(what, "error");
                metrics.count_push_error(e.kind());
            }
        }
        match result {
            Ok(value) => return Ok(Ok(value)),
            Err(e) if e.is_retryable() && attempt < retry.max_attempts => {
                let unit: f64 = rand::rng().random();
                let wait = backoff::delay(attempt, retry, unit, e.retry_after());
                tracing::warn!(request = what, attempt, error = %e, wait_ms = wait.as_millis() as u64, "request failed; retrying");
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Ok(Err(e)),
        }
    }
}
