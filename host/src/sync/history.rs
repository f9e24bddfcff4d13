//! The history of conflicts a policy settled on its own: kept in
//! `_ebb_conflicts` for `ebb policy replay`, and every write such a
//! decision discarded announced (log, metric, round report; `ebb status`
//! counts them from the history).

use super::{Engine, RoundReport, SyncError, now_ms, plan};
use crate::remote::Remote;

impl<R: Remote> Engine<R> {
    /// Keeps a conflict the table's policy settled on its own as history
    /// (`decision` from `plan::decision_text`), for `ebb policy replay`,
    /// and announces every write it discarded (`overwrote`): a warning
    /// naming table and pk (never values), a metric, the round's report,
    /// and `ebb status` (from the history's `overwrote` column).
    pub(super) fn keep_decision(
        &mut self,
        table: &str,
        decided: &Decided,
        report: &mut RoundReport,
    ) -> Result<(), SyncError> {
        let Decided {
            pk,
            input,
            version,
            decision,
            lost,
        } = decided;
        let (pk, version, lost) = (pk.as_str(), *version, *lost);
        let policy = self.policies.policy_name(table);
        let facts = crate::local::Incoming {
            local: input.local.as_ref(),
            remote: input.remote.as_ref(),
            base: input.base.as_ref(),
            remote_version: version,
            policy: &policy,
            reason: "settled by the table's policy",
        };
        let side = match (lost.local, lost.remote) {
            (true, true) => Some("both"),
            (true, false) => Some("local"),
            (false, true) => Some("remote"),
            (false, false) => None,
        };
        self.local
            .record_decision(table, pk, facts, decision, side, now_ms())?;
        if lost.local {
            report.overwritten_local += 1;
            self.metrics.count_overwritten(table, "local");
            tracing::warn!(%table, %pk, %policy, "a local write was overwritten by the table's conflict policy");
        }
        if lost.remote {
            report.overwritten_remote += 1;
            self.metrics.count_overwritten(table, "remote");
            tracing::warn!(%table, %pk, %policy, "a remote write was overwritten by the table's conflict policy");
        }
        Ok(())
    }
}

/// A conflict the table's policy settled on its own, to keep as history.
pub(super) struct Decided {
    pub(super) pk: String,
    pub(super) input: crate::policy::ConflictInput,
    /// The remote version it was settled against.
    pub(super) version: i64,
    /// `plan::decision_text` of the policy's answer.
    pub(super) decision: String,
    /// The writes that answer discarded.
    pub(super) lost: plan::Overwrote,
}
