//! Fetching a table's pages: the page asked for now, or the one fetched
//! ahead on a task of its own while the previous page is applied; and
//! how many times a page is asked for again when the app edits its rows
//! between planning and applying it.

use std::time::Instant;

use super::early::Early;
use super::{Engine, SyncError};
use crate::local::LocalError;
use crate::model::{Cursor, PullPage};
use crate::remote::Remote;

impl<R: Remote> Engine<R> {
    /// The page of `table` after `cursor`: the one fetched `ahead` when it
    /// starts there (its answer is attempt 1), else asked now; and how long
    /// the request took.
    pub(super) async fn fetch_page(
        &mut self,
        table: &str,
        cursor: &Cursor,
        ahead: Option<Ahead>,
    ) -> Result<(PullPage, std::time::Duration), SyncError> {
        let (first, mut ahead_took) = match ahead {
            Some(mut a) if a.from == *cursor => {
                let (answer, took) = a.page.answer().await;
                (Some(answer), Some(took))
            }
            // Dropped, so cancelled: it was fetched from another cursor.
            _ => (None, None),
        };
        let started = Instant::now();
        let size = self.pull_pace.size();
        let answer = self
            .call_remote_or("ebb_pull", &|_| false, first, |remote| {
                ahead_took = None;
                remote.pull(table, cursor, size)
            })
            .await?;
        let page = answer?;
        Ok((page, ahead_took.unwrap_or_else(|| started.elapsed())))
    }

    /// Starts fetching the page of `table` after `from` on a task of its
    /// own, so the server works while this one applies.
    pub(super) fn fetch_ahead(&self, table: &str, from: &Cursor, page_size: usize) -> Ahead {
        let remote = std::sync::Arc::clone(&self.remote);
        let (table, cursor) = (table.to_string(), from.clone());
        let page = Early::start("rpc/ebb_pull", async move {
            remote.pull(&table, &cursor, page_size).await
        });
        Ahead {
            from: from.clone(),
            page,
        }
    }
}

/// A page being fetched ahead, and the cursor it starts from.
pub(super) struct Ahead {
    from: Cursor,
    page: Early<PullPage>,
}

/// How many more times the page being pulled may be planned again
/// (`sync.max_replans` plans of a page in all).
pub(super) struct Replans<'a> {
    max: usize,
    left: usize,
    table: &'a str,
}

impl<'a> Replans<'a> {
    pub(super) fn new(max: usize, table: &'a str) -> Self {
        let max = max.max(1);
        Replans {
            max,
            left: max,
            table,
        }
    }

    /// A page was applied: the next one starts afresh.
    pub(super) fn reset(&mut self) {
        self.left = self.max;
    }

    /// One more plan of a page whose rows the app kept editing between
    /// planning and applying; `Stale` once there were too many.
    pub(super) fn another(&mut self) -> Result<(), SyncError> {
        self.left = self.left.saturating_sub(1);
        match self.left {
            0 => Err(LocalError::Stale {
                table: self.table.to_string(),
                pk: String::from("(page edited continuously)"),
            }
            .into()),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_planned_at_most_max_replans_times_and_each_page_afresh() {
        let mut replans = Replans::new(3, "products");
        // Planned once, stale twice: the third plan is allowed.
        assert!(replans.another().is_ok());
        assert!(replans.another().is_ok());
        let err = replans.another().expect_err("a fourth plan");
        assert!(err.to_string().contains("products"), "{err}");
        // The next page counts from the start again.
        replans.reset();
        assert!(replans.another().is_ok());
        // max_replans = 0 plans once, as 1 does.
        assert!(Replans::new(0, "t").another().is_err());
    }
}
