//! A push's conflict answer, settled: the base it is merged from (the
//! last agreed row, or this device's own unconfirmed write named by the
//! server), key collisions held for a person, equal rows, and the table's
//! policy; the local side follows in one apply.

use super::history::Decided;
use super::{Engine, RoundReport, SyncError, blocking, now_ms, plan};
use crate::local::{Action, ApplyOp, LocalError, Settle};
use crate::model::{Change, OwnWrite, Row};
use crate::policy::{ConflictInput, Decision};
use crate::remote::Remote;

impl<R: Remote> Engine<R> {
    /// The server holds a newer version than the push was based on: the
    /// table's policy decides, and the local side follows. `own` is this
    /// device's write the server applied but never confirmed: its content
    /// as sent, not the stale base, is what both sides started from.
    pub(super) fn settle_conflict(
        &mut self,
        c: &Change,
        remote: Option<Row>,
        version: i64,
        own: Option<OwnWrite>,
        report: &mut RoundReport,
    ) -> Result<(), SyncError> {
        let spec = self.spec_of(&c.table)?;
        let remote = match remote {
            Some(row) => match self.localize_row(&c.table, self.local.normalize(&spec, &row)?)? {
                Ok(row) => Some(row),
                // Points at a parent this device has not pulled yet: the
                // next round, after pulling it, meets this conflict again.
                Err(missing) => {
                    tracing::info!(table = %c.table, pk = %c.pk, parent = %missing.parent,
                        "conflict waits for its parent row to be pulled");
                    self.local
                        .settle(&c.table, &c.pk, c.counter, Settle::Release)?;
                    return Ok(());
                }
            },
            None => None,
        };
        let base = match own {
            None => Some(self.local.row_state(&c.table, &c.pk)?.and_then(|s| s.base)),
            Some(own) => self.local.sent_row(&c.table, &c.pk, own.counter)?,
        };
        let lost_base = base.is_none();
        let input = ConflictInput {
            local: c.row.clone(),
            remote,
            base: base.flatten(),
        };
        let mut decided = None;
        let action = if lost_base {
            // Cannot happen while `_ebb_sent` keeps every unanswered send;
            // if it does, a person decides rather than a merge from a
            // base that would count an edit twice.
            let reason = format!(
                "the server applied an earlier change of this device ({}) whose content is no longer known",
                own.map_or(0, |o| o.counter)
            );
            plan::settle(
                Decision::Manual(reason),
                input,
                version,
                self.policies.policy_name(&c.table),
            )
        } else if plan::collides(
            c.base_version.is_none() && own.is_none(),
            input.local.as_ref(),
            input.remote.as_ref(),
        ) {
            // This device created the row, and so did another one, under
            // the same key: a key collision, never settled by a policy.
            tracing::warn!(table = %c.table, pk = %c.pk, "key collision held for a person");
            let reason = plan::collision_reason(&c.table, &c.pk);
            plan::settle(
                Decision::Manual(reason),
                input,
                version,
                plan::COLLISION.into(),
            )
        } else if input.local == input.remote && !self.policies.merges_deltas(&c.table) {
            plan::settle(Decision::TakeRemote, input, version, String::new())
        } else {
            let decision = blocking(|| self.policies.resolve(&c.table, &c.pk, &input));
            decided = plan::decision_text(&decision).map(|text| Decided {
                pk: c.pk.clone(),
                input: input.clone(),
                version,
                decision: text,
                lost: plan::overwritten(&input, &decision),
            });
            plan::settle(
                decision,
                input,
                version,
                self.policies.policy_name(&c.table),
            )
        };
        let keep = matches!(action, Action::Keep { .. });
        let manual = matches!(action, Action::Conflict { .. });
        let op = ApplyOp {
            pk: c.pk.clone(),
            expect_counter: Some(c.counter),
            action,
        };
        match self.local.apply(&spec, &[op], None, now_ms()) {
            Ok(()) => {}
            // Edited while in flight: the new content is pushed (and
            // meets this conflict again) next time.
            Err(LocalError::Stale { .. }) => {
                self.local
                    .settle(&c.table, &c.pk, c.counter, Settle::Release)?;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
        // Settled with what the server knows: no earlier send is in doubt.
        self.local.forget_sent(&c.table, &c.pk, c.counter)?;
        if keep {
            self.local
                .settle(&c.table, &c.pk, c.counter, Settle::Release)?;
        }
        if let Some(decided) = decided {
            self.keep_decision(&c.table, &decided, report)?;
        }
        let outcome = if manual { "manual" } else { "resolved" };
        self.metrics.count_conflict(&c.table, outcome);
        if manual {
            report.manual += 1;
            tracing::warn!(table = %c.table, pk = %c.pk, "conflict left for manual resolution");
        } else {
            report.resolved += 1;
        }
        Ok(())
    }
}
