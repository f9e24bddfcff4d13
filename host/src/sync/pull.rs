//! The pull half of a round: page through one table's changes since its
//! cursor, plan each row against the local state (`plan::pulled`), let the
//! policy settle conflicts, and apply the page with its cursor in one
//! local transaction.

use super::echo;
use super::fetch::{Ahead, Replans};
use super::history::Decided;
use super::keymap::Localized;
use super::pull_all::Fetched;
use super::{Engine, RoundReport, SyncError, blocking, now_ms, plan};
use crate::local::{Action, ApplyOp, ConflictRecord, KeyLookup, LocalError, RowState, TableSpec};
use crate::model::{Cursor, PullPage};
use crate::remote::Remote;

impl<R: Remote> Engine<R> {
    /// Pulls every page of the table `name`. Returns the number of rows written.
    ///
    /// While one page is applied, the next is already being fetched (a
    /// pipeline one page deep): its request starts from the cursor the
    /// page being applied ends at, and its answer is used only when that
    /// cursor is what the table's stored cursor then says, so a cursor
    /// still moves only with the rows it covers. The fetched answer counts
    /// as the request's first attempt (`call_remote_or`); when applying
    /// fails, it is dropped unread. `first`, fetched with every table's
    /// (`pull_all`), is the first page the same way.
    pub(super) async fn pull_table(
        &mut self,
        name: &str,
        first: Option<Fetched>,
        set_aside: bool,
        report: &mut RoundReport,
    ) -> Result<(), SyncError> {
        let spec = self.spec_of(name)?;
        // Rows set aside while this device's own change was in doubt
        // (`set_aside`: the table has some): the push before this pull
        // settled those changes, so plan them again.
        let mut replans = Replans::new(self.config.sync.max_replans, name);
        if set_aside {
            self.replan_set_aside(&spec, &mut replans, report)?;
        }
        let bar = self.progress.table(name);
        let mut ahead: Option<Ahead> = None;
        let mut fetched = first;
        let mut pages = 0;
        loop {
            let cursor = self.local.cursor(name)?;
            let page = match fetched.take() {
                // Fetched with every table's (counted, and pacing the
                // next pages, as that one request).
                Some(f) if f.from == cursor => f.page,
                _ => {
                    let (page, took) = self.fetch_page(name, &cursor, ahead.take()).await?;
                    // A page shorter than asked is the table's end, not the
                    // server's pace: only a full one grows the next.
                    self.pull_pace.answered(page.rows.len(), took);
                    self.pull_pace.sized(page.rows.len(), page.bytes);
                    page
                }
            };
            // Still ours before anything of the page is written (the
            // horizon this handle keeps, then the rows; a check in memory
            // while the lease it wrote has more than half its time left).
            self.renew()?;
            let now = now_ms();
            let held = self
                .local
                .note_horizon(&page.horizon, page.in_flight, now)?;
            if let Some(since) = held {
                report.pull_held_since =
                    Some(report.pull_held_since.map_or(since, |s| s.min(since)));
            }
            let lag = held.map_or(0, |since| (now - since).max(0) as u64);
            self.metrics
                .set_pull_lag(std::time::Duration::from_millis(lag));
            if page.rows.is_empty() && page.next == cursor {
                // Nothing new and the cursor stays: no local transaction
                // (a round with nothing to do costs its one `ebb_pull_all`).
                bar.finish();
                return Ok(());
            }
            if page.has_more && !page.rows.is_empty() {
                ahead = Some(self.fetch_ahead(name, &page.next, self.pull_pace.size()));
            }
            // On an error the page fetched ahead is dropped, so cancelled.
            let (next, has_more, rows) = (page.next.clone(), page.has_more, page.rows.len());
            if !self.apply_page(&spec, page, Some(&next), report)? {
                // The app edited one of its rows meanwhile: the cursor
                // stays, and the page is asked for again (as it is now).
                report.replanned += 1;
                replans.another()?;
                continue;
            }
            replans.reset();
            pages += 1;
            bar.add_rows(rows as u64);
            self.metrics.add_pulled(name, rows as u64);
            self.renew()?;
            if !has_more || rows == 0 {
                bar.finish();
                if pages > 1
                    && let Err(e) = self.local.checkpoint()
                {
                    tracing::warn!(table = %name, error = %e, "checkpoint after a bulk pull failed");
                }
                return Ok(());
            }
        }
    }

    /// Plans again the rows of `spec` set aside (`Local::deferred`).
    fn replan_set_aside(
        &mut self,
        spec: &TableSpec,
        replans: &mut Replans<'_>,
        report: &mut RoundReport,
    ) -> Result<(), SyncError> {
        loop {
            let rows = self.local.deferred(&spec.name)?;
            if rows.is_empty() {
                return Ok(());
            }
            let page = PullPage {
                rows,
                next: Cursor::default(),
                has_more: false,
                horizon: String::new(),
                in_flight: false,
                bytes: 0,
            };
            if self.apply_page(spec, page, None, report)? {
                replans.reset();
                return Ok(());
            }
            report.replanned += 1;
            replans.another()?;
        }
    }

    /// Plans and applies one page; `cursor` is where the table's pull
    /// goes on from (`None` for rows set aside earlier: they move nothing).
    /// The plan takes the page's rows. `false`: a row of the page was
    /// edited here between planning and applying, nothing was applied, and
    /// the page is to be read again and planned anew.
    fn apply_page(
        &mut self,
        spec: &TableSpec,
        page: PullPage,
        cursor: Option<&Cursor>,
        report: &mut RoundReport,
    ) -> Result<bool, SyncError> {
        let set_aside = cursor.is_none();
        // Planning only reads: in one read transaction (one snapshot;
        // the apply below checks every row's queue counter again).
        let began = self.local.begin_reads()?;
        let planned = self.plan_page(spec, page);
        if began {
            self.local.end_reads()?;
        }
        let (ops, counts) = planned?;
        let applied = if set_aside {
            self.local.apply_set_aside(spec, &ops, now_ms())
        } else {
            self.local.apply(spec, &ops, cursor, now_ms())
        };
        match applied {
            Ok(()) => {}
            Err(LocalError::Stale { table, pk }) => {
                tracing::debug!(%table, %pk, "row edited while applying a page; planning again");
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        }
        for d in &counts.decided {
            self.keep_decision(&spec.name, d, report)?;
        }
        report.pulled += counts.written;
        self.announce_rewritten(&spec.name, &counts.rewritten, report)?;
        report.deferred += counts.deferred;
        report.resolved += counts.resolved;
        report.manual += counts.manual;
        for _ in 0..counts.resolved {
            self.metrics.count_conflict(&spec.name, "resolved");
        }
        for _ in 0..counts.manual {
            self.metrics.count_conflict(&spec.name, "manual");
        }
        Ok(true)
    }

    fn plan_page(
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

#[derive(Default)]
struct Counts {
    written: usize,
    /// Own writes the server stored otherwise (`echo`), taken here: key
    /// and changed columns.
    rewritten: Vec<(String, Vec<String>)>,
    deferred: usize,
    resolved: usize,
    manual: usize,
    /// Conflicts the policy settled on its own, kept as history once the
    /// page is applied.
    decided: Vec<Decided>,
}
