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

/// What a request is called in log lines (never its payload), and which
/// errors go back to the caller at once instead of being retried.
struct Call<'a, T> {
    what: &'a str,
    hand_back: &'a dyn Fn(&RemoteError) -> bool,
    /// The answer of a first attempt already made (a page fetched ahead
    /// while the previous one was applied): it counts as attempt 1.
    first: Option<Result<T, RemoteError>>,
}

/// Calls `request` until it succeeds, fails permanently, or runs out of
/// attempts. `what` names the request in log lines (never its payload).
async fn call<T, F, Fut>(
    local: &mut Local,
    holder: &Holder<'_>,
    metrics: &Metrics,
    retry: &RetryConfig,
    alerts: &AlertsConfig,
    call: Call<'_, T>,
    mut request: F,
) -> Result<Result<T, RemoteError>, SyncError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RemoteError>>,
{
    let Call {
        what,
        hand_back,
        mut first,
    } = call;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        if !local.lease_renew(holder.owner, holder.ttl, now_ms())? {
            return Err(SyncError::LeaseLost);
        }
        let result = match first.take() {
            Some(made) => made,
            None => request().await,
        };
        record_attempt(local, metrics, alerts, what, result.as_ref().err())?;
        match result {
            Ok(value) => return Ok(Ok(value)),
            Err(e) if e.is_retryable() && attempt < retry.max_attempts && !hand_back(&e) => {
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

/// Records one attempt's outcome (`error`: `None` when it succeeded) for
/// the error-rate alert and the request metrics. `call` records each of
/// its attempts; an attempt made outside it (a combined push answered by
/// a plain one) is recorded here too.
pub(super) fn record_attempt(
    local: &mut Local,
    metrics: &Metrics,
    alerts: &AlertsConfig,
    what: &str,
    error: Option<&RemoteError>,
) -> Result<(), SyncError> {
    local.record_request(error.is_none(), now_ms(), alerts.error_window)?;
    match error {
        None => metrics.count_request(what, "ok"),
        Some(e) => {
            metrics.count_request(what, "error");
            metrics.count_push_error(e.kind());
        }
    }
    Ok(())
}

impl<R: Remote> Engine<R> {
    /// `call` with this engine's lock holder, metrics and config: the one
    /// way `push` and `pull` reach the remote.
    pub(super) async fn call_remote<'a, T, F, Fut>(
        &'a mut self,
        what: &str,
        request: F,
    ) -> Result<Result<T, RemoteError>, SyncError>
    where
        F: FnMut(&'a R) -> Fut,
        Fut: Future<Output = Result<T, RemoteError>>,
    {
        self.call_remote_or(what, &|_| false, None, request).await
    }

    /// `call_remote`, except that errors `hand_back` picks are returned at
    /// once instead of retried (the caller changes the request: a push
    /// splits a batch the server timed out on), and that `first`, when
    /// given, is the answer of attempt 1, already made (`pull` fetches a
    /// page ahead).
    pub(super) async fn call_remote_or<'a, T, F, Fut>(
        &'a mut self,
        what: &str,
        hand_back: &dyn Fn(&RemoteError) -> bool,
        first: Option<Result<T, RemoteError>>,
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
            Call {
                what,
                hand_back,
                first,
            },
            || request(remote),
        )
        .await
    }
}
