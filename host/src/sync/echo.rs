//! This device's own writes coming back in a pull. The push's answer gave
//! their version already, so such a row used to be skipped. But a server
//! may store something other than what was sent: a trigger of its own
//! (Supabase's `moddatetime`, a `BEFORE` trigger that normalizes), a
//! column type that rounds (`numeric(10,2)`), a default filling a NULL.
//! Skipped, the row here would differ from the server's for ever and
//! nothing would say so. So an own row at the version this device holds,
//! with nothing queued for it, is compared with the stored row as the
//! write of a pulled row compares: unchanged, it is skipped; changed, it
//! is written as the server has it and announced: a warning naming its
//! columns (never their values), `RoundReport::changed_by_server`, the
//! metric `ebb_changed_by_server_total` and `ebb status`. A row the app
//! edited since is left to its own push, whose answer comes back the same
//! way.

use super::{Engine, RoundReport, SyncError, now_ms};
use crate::local::{Action, ApplyOp, RowState, StoredRows, TableSpec, group_rewritten};
use crate::model::PulledRow;
use crate::remote::Remote;

/// A page's comparer of pulled and stored rows, made when the page meets
/// its first own echo.
pub(super) type Stored = Option<StoredRows>;

/// Whether `pulled` is a write of this device (`device`) at the version
/// it holds already (`known`), other than a delete.
pub(super) fn own_echo(device: &str, known: Option<&RowState>, pulled: &PulledRow) -> bool {
    !pulled.deleted
        && pulled.origin.as_deref() == Some(device)
        && known.is_some_and(|k| k.version == pulled.version)
}

impl<R: Remote> Engine<R> {
    /// Whether a pulled row of a table without mapped keys, known here
    /// at its version already, must be looked at further: only an own echo
    /// whose values, as pulled (not normalized), differ from the stored
    /// row. Equal, the server stored it as sent and it is skipped without
    /// normalizing; a value the server spells otherwise (a `timestamptz`'s
    /// date) is looked at again normalized, by [`Engine::echo_op`].
    pub(super) fn echo_differs(
        &self,
        stored: &mut Stored,
        spec: &TableSpec,
        known: Option<&RowState>,
        pulled: &PulledRow,
    ) -> Result<bool, SyncError> {
        let Some(content) = pulled.row.as_ref() else {
            return Ok(false);
        };
        if !own_echo(self.local.device_id(), known, pulled) {
            return Ok(false);
        }
        let rows = self.stored_rows(stored, spec)?;
        let changed = self.local.changed_columns(rows, &pulled.pk, content)?;
        Ok(!changed.is_some_and(|c| c.is_empty()))
    }

    /// For an own echo (`row` normalized): the write of what the server
    /// changed and the columns it changed; `None` when it stored the row
    /// as sent, or when the app edited the row since (looked up only if
    /// the table has anything queued, `any_queued`): that edit's own push
    /// comes back the same way.
    pub(super) fn echo_op(
        &self,
        stored: &mut Stored,
        spec: &TableSpec,
        row: PulledRow,
        any_queued: bool,
    ) -> Result<Option<(ApplyOp, Vec<String>)>, SyncError> {
        if any_queued && self.local.queue_item(&spec.name, &row.pk)?.is_some() {
            return Ok(None);
        }
        let Some(content) = row.row else {
            return Ok(None);
        };
        let rows = self.stored_rows(stored, spec)?;
        let changed = self
            .local
            .changed_columns(rows, &row.pk, &content)?
            .unwrap_or_default();
        if changed.is_empty() {
            return Ok(None);
        }
        let op = ApplyOp {
            pk: row.pk,
            expect_counter: None,
            action: Action::Write {
                row: Some(content),
                version: row.version,
            },
        };
        Ok(Some((op, changed)))
    }

    /// The page's comparer of `spec`'s rows, made on its first use.
    fn stored_rows<'a>(
        &self,
        stored: &'a mut Stored,
        spec: &TableSpec,
    ) -> Result<&'a StoredRows, SyncError> {
        Ok(match stored {
            Some(rows) => rows,
            slot => slot.insert(self.local.stored_rows(&spec.name)?),
        })
    }

    /// Announces the own writes of `table` a page took as the server
    /// stored them (key, columns), leaving out any a local constraint held
    /// instead: a warning per set of columns (how many
    /// rows, the first keys; never values), the report, the metric, and
    /// `ebb status`.
    pub(super) fn announce_rewritten(
        &mut self,
        table: &str,
        rows: &[(String, Vec<String>)],
        report: &mut RoundReport,
    ) -> Result<(), SyncError> {
        if rows.is_empty() {
            return Ok(());
        }
        // A row a local constraint refused was held as a conflict instead
        // (announced as one): it was not taken.
        let held: Vec<String> = self
            .local
            .conflicts(false)?
            .into_iter()
            .filter(|c| c.table == table)
            .map(|c| c.pk)
            .collect();
        let taken: Vec<(String, Vec<String>)> = rows
            .iter()
            .filter(|(pk, _)| !held.contains(pk))
            .cloned()
            .collect();
        let rows = taken.as_slice();
        if rows.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let groups = group_rewritten(table, rows, now);
        for g in &groups {
            tracing::warn!(%table, rows = g.rows, columns = %g.columns.join(", "), keys = %g.keys.join(", "),
                "the server stored this device's writes with other values (a trigger, a default or a column type of its own); took the server's");
        }
        report.changed_by_server += rows.len();
        self.metrics.count_changed_by_server(table, rows.len());
        self.local.note_rewritten(&groups, now)?;
        Ok(())
    }
}
