//! Retrying one request to the remote within a round: retryable errors
//! wait (exponential backoff with jitter, or the server's Retry-After) and
//! try again up to `retry.max_attempts`; permanent errors return at once.
//! Every attempt is recorded for the error-rate alert. A wait longer than
//! half the lock lease (a long Retry-After, a large backoff) is not slept
//! through holding the lock: the round gives up and the items carry the
//! wait as their `next_attempt_at`.

use std::future::Future;

use rand::Rng;

use super::{Engine, SyncError, backoff, now_ms};
use crate::config::{AlertsConfig, RetryConfig};
use crate::local::Local;

use crate::ops::metrics::Metrics;
use crate::remote::{Remote, RemoteError};

/// Who holds the sync lock and for how long: renewed before every attempt,
/// and no wait between attempts may exceed half of `ttl`.
struct Holder<'a> {
    owner: &'a str,
    ttl: std::time::Duration,
}

/// Calls `request` until it succeeds, fails permanently, or runs out of
/// attempts. `what` names the request in log lines (never its payload).
async fn call<T, F, Fut>(
    local: &mut Local,
    holder: &Holder<'_>,
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
        if !local.lease_renew(holder.owner, holder.ttl, now_ms())? {
            return Err(SyncError::LeaseLost);
        }
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
                if wait > holder.ttl / 2 {
                    tracing::warn!(request = what, attempt, error = %e, wait_ms = wait.as_millis() as u64,
                        "request failed; the wait outlasts the sync lock, so retrying next round");
                    return Ok(Err(e));
                }
                tracing::warn!(request = what, attempt, error = %e, wait_ms = wait.as_millis() as u64, "request failed; retrying");
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Ok(Err(e)),
        }
    }
}

impl<R: Remote> Engine<R> {
    /// `call` with this engine's lock holder, metrics and config: the one
    /// way `push` and `pull` reach the remote.
    pub(super) async fn call_remote<'a, T, F, Fut>(
        &'a mut self,
        what: &str,
        mut request: F,
    ) -> Result<Result<T, RemoteError>, SyncError>
    where
        F: FnMut(&'a R) -> Fut,
        Fut: Future<Output = Result<T, RemoteError>>,
    {
        let Engine {
            local,
            remote,
            metrics,
            config,
            owner,
            ..
        } = self;
        let remote: &'a R = remote;
        let holder = Holder {
            owner,
            ttl: config.sync.lease,
        };
        call(
            local,
            &holder,
            metrics,
            &config.retry,
            &config.alerts,
            what,
            || request(remote),
        )
        .await
    }
}
