//! Per-table figures for the console's table cards: how many rows the
//! app's table holds. Read-only; called by `ops::api`.

use super::cached::Cached;
use super::{Context, Local, LocalError, quote_ident};

impl Local {
    /// Rows in the app's `table` (a configured, synced table).
    pub fn row_count(&self, table: &str) -> Result<u64, LocalError> {
        let n: i64 = self
            .conn
            .row(
                &format!("SELECT count(*) FROM {}", quote_ident(table)),
                [],
                |r| r.get(0),
            )
            .ctx(|| format!("counting the rows of {table}"))?;
        Ok(n.max(0) as u64)
    }
}
