//! One request for the first page of every table (`ebb_pull_all`), so a
//! round with nothing to pull costs one request whatever the number of
//! tables, and a write on one till reaches another in one request. A table
//! with more rows goes on page by page (`pull`), from the page fetched
//! here. The combined request is never retried: whatever goes wrong with
//! it, this round pulls table by table, where each table's error is its
//! own and is retried as it always was; and it is not asked again until a
//! round pulled every table cleanly (`Combined::Rest`). A server without
//! it (installed by an older `ebb remote-sql`) is asked table by table from
//! then on (`Combined::Off`).

use std::collections::HashMap;
use std::time::Instant;

use super::{Engine, SyncError};
use crate::model::{Cursor, PullPage};
use crate::remote::Remote;

/// Whether a round asks `ebb_pull_all` first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Combined {
    #[default]
    Ask,
    /// It failed: table by table until a round pulls every table cleanly.
    Rest,
    /// The server does not serve it.
    Off,
}

/// A table's first page, fetched with the others, and the cursor it was
/// asked from: used only while the table's stored cursor still says so.
pub(super) struct Fetched {
    pub(super) from: Cursor,
    pub(super) page: PullPage,
}

impl<R: Remote> Engine<R> {
    /// The first page of every synced table, by table name; empty when
    /// there is one table or `combined` is not `Ask`, or when the request
    /// failed (each table is then pulled alone). Only a lost sync lock is
    /// an error.
    pub(super) async fn pull_first_pages(&mut self) -> Result<HashMap<String, Fetched>, SyncError> {
        // Brought back by this round's last push (`ebb_push_pull`).
        if let Some(fetched) = self.pulled_with_push.take() {
            return Ok(fetched);
        }
        let mut fetched = HashMap::new();
        if self.config.tables.len() < 2 || self.combined != Combined::Ask {
            return Ok(fetched);
        }
        let cursors = self
            .local
            .cursors(self.config.tables.iter().map(|t| t.name.as_str()))?;
        let size = self.pull_pace.size();
        let started = Instant::now();
        let asked = &cursors;
        let answer = self
            .call_remote_or("ebb_pull_all", &|_| true, None, |remote| {
                remote.pull_all(asked, size)
            })
            .await?;
        match answer {
            Ok(pages) => {
                // One answer paces the next pages once, by its largest.
                let largest = pages.iter().map(|p| p.rows.len()).max().unwrap_or(0);
                self.pull_pace.answered(largest, started.elapsed());
                for ((table, from), page) in cursors.into_iter().zip(pages) {
                    fetched.insert(table, Fetched { from, page });
                }
            }
            Err(e) if e.is_missing_function("ebb_pull_all") => {
                tracing::info!(error = %e, "the server has no ebb_pull_all (apply `ebb remote-sql` again): pulling table by table");
                self.combined = Combined::Off;
            }
            Err(e) => {
                if e.is_retryable() {
                    // Asked of N tables at once, it may be what timed out.
                    self.pull_pace.too_big(size);
                }
                tracing::info!(error = %e, "ebb_pull_all failed: pulling table by table until a round pulls every table");
                self.combined = Combined::Rest;
            }
        }
        Ok(fetched)
    }
}
