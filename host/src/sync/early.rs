//! A request started early, on a task of its own, so the server works
//! while this side does its own: the next pull page fetched while one is
//! applied (`pull`), a push batch on the wire while the next is claimed
//! and validated (`batches`). Its answer counts as the request's first
//! attempt (`call_remote_or`). Dropped unread, it cancels the task: a
//! dropped `JoinHandle` alone would let it run on.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::remote::RemoteError;

/// An answer and how long the request took.
pub(super) type Answered<T> = (Result<T, RemoteError>, Duration);

/// One request running on its own task.
pub(super) struct Early<T> {
    endpoint: &'static str,
    task: tokio::task::JoinHandle<Answered<T>>,
}

impl<T: Send + 'static> Early<T> {
    /// Starts `request` (to `endpoint`, for the message if it is lost).
    pub(super) fn start(
        endpoint: &'static str,
        request: impl Future<Output = Result<T, RemoteError>> + Send + 'static,
    ) -> Early<T> {
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let answer = request.await;
            (answer, started.elapsed())
        });
        Early { endpoint, task }
    }

    /// The answer and how long it took; a task that ended without one (it
    /// panicked) is a failed attempt like a lost connection: retried.
    pub(super) async fn answer(&mut self) -> Answered<T> {
        (&mut self.task).await.unwrap_or_else(|e| {
            let lost = RemoteError::Network {
                endpoint: self.endpoint.into(),
                message: format!("the request started early was lost: {e}"),
            };
            (Err(lost), Duration::ZERO)
        })
    }
}

impl<T> Drop for Early<T> {
    fn drop(&mut self) {
        // A task that has finished is not affected.
        self.task.abort();
    }
}
