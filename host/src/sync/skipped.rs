//! Announces the writes an app trigger made to a synced table while ebb
//! applied pulled rows of another (`local::skip`) or of the same one
//! (`local::nested`), which were skipped: a
//! warning per pair of tables (how many; never keys or values), the
//! round's report, the metric `ebb_skipped_writes_total` and `ebb
//! status`. Called once per round, after every table has pulled.

use super::{Engine, RoundReport, SyncError};
use crate::remote::Remote;

impl<R: Remote> Engine<R> {
    pub(super) fn announce_skipped(&mut self, report: &mut RoundReport) -> Result<(), SyncError> {
        for s in self.local.skipped_news()? {
            tracing::warn!(table = %s.table, by = %s.by, rows = s.rows,
                "an app trigger wrote this synced table while ebb applied pulled rows of table `by`; skipped those writes: the device that made the change ran the trigger and synced its result");
            report.skipped_writes += usize::try_from(s.rows).unwrap_or(usize::MAX);
            self.metrics.count_skipped_writes(&s.table, &s.by, s.rows);
        }
        Ok(())
    }
}
