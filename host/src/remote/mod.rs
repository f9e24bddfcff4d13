//! The remote side: the [`Remote`] trait (push and pull, in domain terms),
//! its production implementation over PostgREST (`postgrest`), the SQL a
//! user applies once to install ebb on the server (`sql`), and the Realtime
//! listener that turns the server's change nudges into pulls (`realtime`).
//!
//! reqwest and tokio-tungstenite appear only under this folder. `sync` drives a `Remote` and
//! decides on its typed errors through [`RemoteError::is_retryable`] and
//! [`RemoteError::retry_after`], never on message text.

use std::future::Future;

use crate::model::{Change, Cursor, PullPage, PushResult};

mod error;
pub mod postgrest;
pub mod ratelimit;
pub mod realtime;
pub mod sql;
pub use error::RemoteError;

/// A push's answer and the first pages fetched with it
/// ([`Remote::push_pull`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PushedAndPulled {
    /// One per change, in order, as [`Remote::push`] answers.
    pub results: Vec<PushResult>,
    /// One per table asked, in the order asked; `None` when the pull half
    /// failed (`pull_error` says why).
    pub pages: Option<Vec<PullPage>>,
    pub pull_error: Option<String>,
}

/// The server as the sync engine sees it. `'static`: a pull fetches its
/// next page on a task of its own (`sync::pull`).
pub trait Remote: Send + Sync + 'static {
    /// Apply a batch in one server transaction. The answer holds one
    /// [`PushResult`] per change, in order. Safe to retry: a change the
    /// server already applied gets the answer it got the first time.
    fn push(
        &self,
        changes: &[Change],
    ) -> impl Future<Output = Result<Vec<PushResult>, RemoteError>> + Send;

    /// Rows of `table` changed after `cursor`, at most `page` of them,
    /// ordered by (txid, pk), none newer than the server's txid horizon.
    fn pull(
        &self,
        table: &str,
        cursor: &Cursor,
        page: usize,
    ) -> impl Future<Output = Result<PullPage, RemoteError>> + Send;

    /// The first page of each of `tables` (table, cursor), at most `page`
    /// rows each, in the order asked: what [`Remote::pull`] answers for
    /// each. One request where the server has `ebb_pull_all`; this default
    /// asks table by table.
    fn pull_all(
        &self,
        tables: &[(String, Cursor)],
        page: usize,
    ) -> impl Future<Output = Result<Vec<PullPage>, RemoteError>> + Send {
        async move {
            let mut pages = Vec::with_capacity(tables.len());
            for (table, cursor) in tables {
                pages.push(self.pull(table, cursor, page).await?);
            }
            Ok(pages)
        }
    }

    /// Applies `changes` as [`Remote::push`] does, then fetches the first
    /// page of each of `tables` as [`Remote::pull_all`] does: one request
    /// where the server has `ebb_push_pull`; this default makes the two.
    /// A failure of the pull half never fails the push: `pages` is then
    /// `None` with the reason.
    fn push_pull(
        &self,
        changes: &[Change],
        tables: &[(String, Cursor)],
        page: usize,
    ) -> impl Future<Output = Result<PushedAndPulled, RemoteError>> + Send {
        async move {
            let results = self.push(changes).await?;
            let (pages, pull_error) = match self.pull_all(tables, page).await {
                Ok(pages) => (Some(pages), None),
                Err(e) => (None, Some(e.to_string())),
            };
            Ok(PushedAndPulled {
                results,
                pages,
                pull_error,
            })
        }
    }

    /// This device's number, for minting the global keys of tables with
    /// `keys = "map"` (`ebb_device_number`): given once, the same ever after.
    fn device_number(&self, device: &str) -> impl Future<Output = Result<i64, RemoteError>> + Send {
        let _ = device;
        async {
            Err(RemoteError::Config(
                "this remote does not hand out device numbers (keys = \"map\")".into(),
            ))
        }
    }
}
