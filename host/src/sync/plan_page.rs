//! Planning one pulled page against the local state, in the plan's read
//! transaction: per row, whether this device knows it already (the
//! page's versions read at once when nothing is queued), the row
//! normalized or its keys localized, this device's own write coming back
//! (`echo`), and what `plan::pulled` decides, a policy settling a
//! conflict. Reads only; `pull` applies the ops it gives.

use super::echo;
use super::history::Decided;
use super::keymap::Localized;
use super::{Engine, SyncError, blocking, plan};
use crate::local::{Action, ApplyOp, ConflictRecord, KeyLookup, RowState, TableSpec};
use crate::model::PullPage;
use crate::remote::Remote;

impl<R: Remote> Engine<R> {
    /// The ops that apply `page` of `spec` (it takes the page's rows), and
    /// what they come to.
    pub(super) fn plan_page(
        &mut self,
        spec: &TableSpec,
        page: PullPage,
    ) -> Result<(Vec<ApplyOp>, Counts), SyncError> {
        let merges_deltas = self.policies.merges_deltas(&spec.name);
        let mut ops = Vec::with_capacity(page.rows.len());
        let mut counts = Counts::default();
        // Open conflicts, read once per page and only if a held row needs them.
        let mut open: Option<Vec<ConflictRecord>> = None;
        // Rows of a table without mapped keys carry this device's keys:
        // one already known at this version or newer (often this device's
        // own push coming back) is skipped before it is normalized.
        let plain = !self.keys.touches(&spec.name);
        // A table with no sync state or nothing queued (an initial sync)
        // needs no per-row lookups of either; the apply checks the queue
        // again in its own transaction.
        let any_known = self.local.has_row_states(&spec.name)?;
        let any_queued = self.local.has_queued(&spec.name)?;
        let mut stored: echo::Stored = None;
        // The key map's answers for every key the page names, read at once.
        let lookup = match plain {
            true => KeyLookup::default(),
            false => self.local.key_lookup(
                &self.keys,
                &spec.name,
                page.rows.iter().map(|p| (p.pk.as_str(), p.row.as_ref())),
            )?,
        };
        // Without a queue the rows' versions are all a plan needs of
        // them: read for the whole page at once.
        let versions = match plain && any_known && !any_queued {
            true => Some(
                self.local
                    .row_versions(&spec.name, page.rows.iter().map(|p| p.pk.as_str()))?,
            ),
            false => None,
        };
        for pulled in page.rows {
            let mut known = None;
            if plain && any_known {
                known = match &versions {
                    Some(versions) => versions.get(&pulled.pk).map(|&version| RowState {
                        version,
                        base: None,
                    }),
                    None => self
                        .local
                        .row_state_of(&spec.name, &pulled.pk, any_queued)?,
                };
                if plan::known_already(known.as_ref(), pulled.version)
                    && !self.echo_differs(&mut stored, spec, known.as_ref(), &pulled)?
                {
                    continue;
                }
            }
            // A row is normalized in place. One that may be set aside or
            // adopted is kept as pulled too (`original`): it is planned
            // again from that later, as a fresh pull is. Only a table with
            // something queued has rows set aside (a change of theirs in
            // doubt), and one with mapped keys rows adopted or waiting.
            let (row, original) = if plain {
                let original = any_queued.then(|| pulled.clone());
                (self.normalized(spec, pulled)?, original)
            } else {
                match self.localize(spec, &lookup, &pulled)? {
                    Localized::Here(row) => (row, Some(pulled)),
                    Localized::Absent => continue,
                    Localized::New { global, row } => {
                        counts.written += 1;
                        ops.push(ApplyOp {
                            pk: format!("@{global}"),
                            expect_counter: None,
                            action: Action::Adopt {
                                global,
                                row,
                                version: pulled.version,
                                pulled,
                            },
                        });
                        continue;
                    }
                    Localized::Waits(missing) => {
                        tracing::info!(table = %spec.name, pk = %pulled.pk, column = %missing.column,
                            parent = %missing.parent, "pulled row set aside until its parent arrives");
                        counts.deferred += 1;
                        ops.push(ApplyOp {
                            pk: format!("@{}", pulled.pk),
                            expect_counter: None,
                            action: Action::Defer { pulled },
                        });
                        continue;
                    }
                }
            };
            // The pulled row goes into the plan by value; what is said
            // about it afterwards is its key and version.
            let (pk, version) = (row.pk.clone(), row.version);
            if !plain && any_known {
                known = self.local.row_state_of(&spec.name, &pk, any_queued)?;
            }
            if echo::own_echo(self.local.device_id(), known.as_ref(), &row) {
                if let Some((op, columns)) = self.echo_op(&mut stored, spec, row, any_queued)? {
                    counts.written += 1;
                    counts.rewritten.push((pk, columns));
                    ops.push(op);
                }
                continue;
            }
            let queued = match any_queued {
                true => self.local.queue_item(&spec.name, &pk)?,
                false => None,
            };
            let local_row = match &queued {
                Some(_) => self.local.read_row(spec, &pk)?,
                None => None,
            };
            let in_doubt = match &queued {
                Some(_) => self.local.in_doubt(&spec.name, &pk)?,
                None => false,
            };
            let expect_counter = queued.as_ref().map(|q| q.counter);
            let here = plan::Here {
                known: known.as_ref(),
                queued: queued.as_ref(),
                row: local_row.as_ref(),
                in_doubt,
                merges_deltas,
            };
            let action = match plan::pulled(self.local.device_id(), row, here) {
                plan::PullStep::Skip => continue,
                plan::PullStep::Defer(row) => {
                    tracing::info!(table = %spec.name, pk = %pk, version = version,
                        "pulled row set aside: this device's own change of it is in doubt until its next push");
                    Action::Defer {
                        pulled: original.unwrap_or(row),
                    }
                }
                plan::PullStep::Take(action) => action,
                step @ (plan::PullStep::Resolve(_) | plan::PullStep::Collide(_)) => {
                    let (input, collide) = match step {
                        plan::PullStep::Collide(input) => (input, true),
                        plan::PullStep::Resolve(input) => (input, false),
                        _ => unreachable!("matched above"),
                    };
                    let held = queued.as_ref().is_some_and(|q| q.state == "conflict");
                    let decision = if held {
                        // Already waiting for a person. The version it was
                        // recorded with (often by this round's push) is no
                        // news; a newer one refreshes what they see.
                        if open.is_none() {
                            open = Some(self.local.conflicts(false)?);
                        }
                        let recorded = open
                            .iter()
                            .flatten()
                            .find(|c| c.table == spec.name && c.pk == pk);
                        if recorded.is_some_and(|c| c.remote_version >= version) {
                            continue;
                        }
                        crate::policy::Decision::Manual(String::from(
                            "the remote row changed again while the conflict was open",
                        ))
                    } else if collide {
                        tracing::warn!(table = %spec.name, pk = %pk, "key collision held for a person");
                        crate::policy::Decision::Manual(plan::collision_reason(&spec.name, &pk))
                    } else {
                        let decision = blocking(|| self.policies.resolve(&spec.name, &pk, &input));
                        if let Some(text) = plan::decision_text(&decision) {
                            counts.decided.push(Decided {
                                pk: pk.clone(),
                                input: input.clone(),
                                version,
                                decision: text,
                                lost: plan::overwritten(&input, &decision),
                            });
                        }
                        decision
                    };
                    let policy = match collide {
                        true => plan::COLLISION.to_string(),
                        false => self.policies.policy_name(&spec.name),
                    };
                    plan::settle(decision, input, version, policy)
                }
            };
            match &action {
                Action::Defer { .. } => counts.deferred += 1,
                Action::Conflict { .. } => counts.manual += 1,
                Action::Write { .. } if expect_counter.is_none() => counts.written += 1,
                _ => counts.resolved += 1,
            }
            ops.push(ApplyOp {
                pk: pk.clone(),
                expect_counter,
                action,
            });
        }
        Ok((ops, counts))
    }
}

/// What a page's plan comes to, for the round's report once it is applied.
#[derive(Default)]
pub(super) struct Counts {
    pub(super) written: usize,
    /// Own writes the server stored otherwise (`echo`), taken here: key
    /// and changed columns.
    pub(super) rewritten: Vec<(String, Vec<String>)>,
    pub(super) deferred: usize,
    pub(super) resolved: usize,
    pub(super) manual: usize,
    /// Conflicts the policy settled on its own, kept as history once the
    /// page is applied.
    pub(super) decided: Vec<Decided>,
}
