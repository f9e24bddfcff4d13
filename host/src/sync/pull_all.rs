//! One request for the first page of every table (`ebb_pull_all`), so a
//! round with nothing to pull costs one request whatever the number of
//! tables, and a write on one till reaches another in one request. A table
//! with more rows goes on page by page (`pull`), from the page fetched
//! here. When the server refuses the combined request, this round pulls
//! table by table, where each error names its table; a server without it
//! (installed by an older `ebb remote-sql`) is asked table by table from
//! then on.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::{Engine, SyncError};
use crate::model::{Cursor, PullPage};
use crate::remote::{Remote, RemoteError};

/// A table's first page, fetched with the others, and the cursor it was
/// asked from: used only while the table's stored cursor still says so.
pub(super) struct Fetched {
    pub(super) from: Cursor,
    pub(super) page: PullPage,
    /// How long the combined request took (it paces the next page).
    pub(super) took: Duration,
}

impl<R: Remote> Engine<R> {
    /// The first page of every synced table, by table name; empty when
    /// there is one table, when the server does not serve `ebb_pull_all`,
    /// or when it refused this request (each table is then pulled alone).
    pub(super) async fn pull_first_pages(&mut self) -> Result<HashMap<String, Fetched>, SyncError> {
        let mut fetched = HashMap::new();
        if self.config.tables.len() < 2 || !self.pull_all_served {
            return Ok(fetched);
        }
        let mut cursors = Vec::with_capacity(self.config.tables.len());
        for t in &self.config.tables {
            cursors.push((t.name.clone(), self.local.cursor(&t.name)?));
        }
        let size = self.pull_pace.size();
        let started = Instant::now();
        let asked = &cursors;
        let answer = self
            .call_remote("ebb_pull_all", |remote| remote.pull_all(asked, size))
            .await?;
        match answer {
            Ok(pages) => {
                let took = started.elapsed();
                for ((table, from), page) in cursors.into_iter().zip(pages) {
                    fetched.insert(table, Fetched { from, page, took });
                }
            }
            Err(e) if not_served(&e) => {
                tracing::info!(error = %e, "the server has no ebb_pull_all (apply `ebb remote-sql` again): pulling table by table");
                self.pull_all_served = false;
            }
            Err(e) if !e.is_retryable() => {
                tracing::debug!(error = %e, "ebb_pull_all refused: pulling table by table");
            }
            Err(e) => return Err(e.into()),
        }
        Ok(fetched)
    }
}

/// The function is missing: PostgREST's "not in the schema cache"
/// (`PGRST202`) or PostgreSQL's undefined function (`42883`).
fn not_served(e: &RemoteError) -> bool {
    matches!(e.code(), Some("PGRST202" | "42883"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16, code: &str) -> RemoteError {
        RemoteError::Http {
            endpoint: "http://h/rpc/ebb_pull_all".into(),
            status,
            code: Some(code.into()),
            message: "m".into(),
            details: None,
            hint: None,
            retry_after: None,
        }
    }

    #[test]
    fn only_a_missing_function_turns_the_combined_pull_off() {
        assert!(not_served(&http(404, "PGRST202")));
        assert!(not_served(&http(404, "42883")));
        assert!(!not_served(&http(403, "42501")));
        assert!(!not_served(&http(400, "P0001")));
    }
}
