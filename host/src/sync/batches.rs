//! The push loop of a round: claims and validates batches from the queue
//! and sends them strictly one after the other, with one batch in flight
//! while the next is claimed and validated and the one before settled (see
//! `Flight`): the server applies a batch while this side does its own work
//! for the neighbours. Sending and settling one batch is `push::send`.

use std::collections::BTreeSet;
use std::time::Duration;

use super::early::Early;
use super::pull_all::{Combined, Fetched};
use super::push::settlement;
use super::{Engine, RoundReport, SyncError, now_ms};
use crate::local::{Claimed, Settle, Settlement};
use crate::model::{Change, Cursor, PullPage};
use crate::remote::{PushedAndPulled, Remote};

impl<R: Remote> Engine<R> {
    /// Pushes the queue in batches. Returns the tables that have items
    /// which failed this round (their last_sync_at must not move).
    pub(super) async fn push(
        &mut self,
        report: &mut RoundReport,
    ) -> Result<BTreeSet<String>, SyncError> {
        let mut failed = BTreeSet::new();
        let queued = self.local.queued_total()?;
        // Edits landing while we push, and rows a conflict resolution
        // queued again (a merge, client wins), go out in this round too; a
        // busy app cannot keep one round going for ever: the round claims
        // what was queued at its start and two batches more, whatever
        // sizes the batches shrink or grow to.
        let mut budget = queued.saturating_add(2 * self.push_pace.size() as u64);
        // One batch in flight while the next is claimed and validated and
        // the last one settled (see `Flight`); sent strictly one after
        // the other, each once the one before was answered.
        let mut ready: Option<Batch> = None;
        let mut flight: Option<Flight> = None;
        let pushed = self
            .push_batches(&mut budget, &mut ready, &mut flight, report, &mut failed)
            .await;
        // Claimed and never answered (the one in flight may have reached
        // the server): back to pending, no attempt charged, what was sent
        // kept, as stuck-item recovery would leave them. Not once the lock
        // is lost: its new holder owns the queue.
        if pushed.is_err() && !matches!(pushed, Err(SyncError::LeaseLost)) {
            let unanswered: Vec<Settlement> = ready
                .iter()
                .flat_map(|b| b.items.iter())
                .chain(flight.iter().flat_map(|f| f.items.iter()))
                .map(|i| settlement(&i.change, Settle::Unanswered))
                .collect();
            drop(flight);
            if let Err(e) = self.local.settle_all(&unanswered) {
                tracing::warn!(error = %e, "could not put unanswered items back to pending; the next round does");
            }
        }
        pushed.map(|()| failed)
    }

    async fn push_batches(
        &mut self,
        budget: &mut u64,
        ready: &mut Option<Batch>,
        flight: &mut Option<Flight>,
        report: &mut RoundReport,
        failed: &mut BTreeSet<String>,
    ) -> Result<(), SyncError> {
        loop {
            if flight.is_none() {
                // Claimed after the last batch was settled: an edit made
                // while it was on the wire, or a row its conflicts queued
                // again, goes out in this round too.
                if ready.is_none() {
                    *ready = self.next_batch(budget, report).await?;
                }
                match ready.take() {
                    Some(batch) => *flight = Some(self.launch(batch, ready)?),
                    None => return Ok(()),
                }
            }
            // The next batch is claimed and validated while this one is on
            // the wire (it stays in `flight` meanwhile, so an error here
            // puts it back to pending).
            if ready.is_none() {
                *ready = self.next_batch(budget, report).await?;
            }
            let Some(Flight {
                items,
                changes,
                asked,
                answer: mut on_the_wire,
            }) = flight.take()
            else {
                return Ok(());
            };
            let (answer, took) = on_the_wire.answer().await;
            let what = if asked.is_some() {
                "ebb_push_pull"
            } else {
                "ebb_push"
            };
            let answer = match (answer, asked) {
                (Ok(both), asked) => {
                    let took = match asked {
                        // Its time is the pull's too: it paces nothing.
                        Some(asked) => {
                            self.keep_first_pages(asked, both.pages, both.pull_error);
                            Duration::ZERO
                        }
                        None => took,
                    };
                    (Ok(both.results), took)
                }
                // The combined request was too big or too slow (its pull
                // half may be what timed out, undoing the push too), or
                // the server lacks it: the batch goes again at once as a
                // plain push, charged and retried as pushes always are,
                // and this round pulls table by table. The pull never
                // costs the items an attempt. Any other failure is the
                // push's own, answered as it always was.
                (Err(e), Some(_))
                    if e.is_missing_function("ebb_push_pull")
                        || super::push::blames_the_size(&e) =>
                {
                    super::retry::record_attempt(
                        &mut self.local,
                        &self.metrics,
                        &self.config.alerts,
                        "ebb_push_pull",
                        Some(&e),
                    )?;
                    if e.is_missing_function("ebb_push_pull") {
                        tracing::info!(error = %e, "the server has no ebb_push_pull (apply `ebb remote-sql` again): pushing and pulling apart");
                        self.push_pull = false;
                    } else {
                        self.pull_pace.too_big(self.pull_pace.size());
                        tracing::info!(error = %e, "ebb_push_pull too big or slow: the batch goes as ebb_push, and this round pulls table by table");
                        self.combined = Combined::Rest;
                    }
                    self.send(items, None, report, failed).await?;
                    self.renew()?;
                    continue;
                }
                (Err(e), _) => (Err(e), took),
            };
            // Answered: the next batch goes while this one is settled.
            if answer.0.is_ok()
                && let Some(next) = ready.take()
            {
                *flight = Some(self.launch(next, ready)?);
            }
            self.send(items, Some((changes, answer, what)), report, failed)
                .await?;
            self.renew()?;
        }
    }

    /// Claims and validates the next batch (`None`: nothing left to send
    /// this round). Items found invalid are settled here, never sent.
    async fn next_batch(
        &mut self,
        budget: &mut u64,
        report: &mut RoundReport,
    ) -> Result<Option<Batch>, SyncError> {
        while *budget > 0 {
            let claimed = self.local.claim(
                &self.specs,
                self.push_pace.size(),
                now_ms(),
                self.config.retry.retry_dead_after,
            )?;
            if claimed.is_empty() {
                return Ok(None);
            }
            *budget = budget.saturating_sub(claimed.len() as u64);
            let items = self.validate(claimed, report)?;
            if items.is_empty() {
                continue;
            }
            // Sent with the server's keys; everything local stays in local ids.
            let mut changes: Vec<Change> = items.iter().map(|i| i.change.clone()).collect();
            self.globalize(&mut changes).await?;
            return Ok(Some(Batch { items, changes }));
        }
        Ok(None)
    }

    /// Sends `batch` on a task of its own (its first attempt). A batch
    /// claimed before the last answer shrank the size is cut to it first;
    /// the rest waits in `ready` (empty when this is called). A batch that
    /// is the last one claimed for now (smaller than the size, nothing
    /// waiting) also asks for every table's first page (`ebb_push_pull`),
    /// so a round that pushes an edit is one request.
    fn launch(&self, mut batch: Batch, ready: &mut Option<Batch>) -> Result<Flight, SyncError> {
        let size = self.push_pace.size();
        if batch.items.len() > size {
            *ready = Some(Batch {
                items: batch.items.split_off(size),
                changes: batch.changes.split_off(size),
            });
        }
        let last = batch.items.len() < size && ready.is_none();
        let asked = match last && self.push_pull && self.combined == Combined::Ask {
            true => Some(
                self.local
                    .cursors(self.config.tables.iter().map(|t| t.name.as_str()))?,
            ),
            false => None,
        };
        let remote = std::sync::Arc::clone(&self.remote);
        let changes = batch.changes.clone();
        let answer = match &asked {
            Some(cursors) => {
                let (cursors, page) = (cursors.clone(), self.pull_pace.size());
                Early::start("rpc/ebb_push_pull", async move {
                    remote.push_pull(&changes, &cursors, page).await
                })
            }
            None => Early::start("rpc/ebb_push", async move {
                let results = remote.push(&changes).await?;
                Ok(PushedAndPulled {
                    results,
                    pages: None,
                    pull_error: None,
                })
            }),
        };
        Ok(Flight {
            items: batch.items,
            changes: batch.changes,
            asked,
            answer,
        })
    }

    /// Keeps the first pages a push brought back for this round's pull
    /// (each used only while its table's cursor is the one asked from);
    /// when the pull half failed, this round pulls table by table.
    fn keep_first_pages(
        &mut self,
        asked: Vec<(String, Cursor)>,
        pages: Option<Vec<PullPage>>,
        error: Option<String>,
    ) {
        match pages {
            Some(pages) => {
                self.pulled_with_push = Some(
                    asked
                        .into_iter()
                        .zip(pages)
                        .map(|((table, from), page)| (table, Fetched { from, page }))
                        .collect(),
                );
            }
            None => {
                let error = error.unwrap_or_default();
                tracing::info!(%error, "the pull half of ebb_push_pull failed: pulling table by table until a round pulls every table");
                self.combined = Combined::Rest;
            }
        }
    }
}

/// Claimed, validated changes, and the same as they are sent (global keys).
struct Batch {
    items: Vec<Claimed>,
    changes: Vec<Change>,
}

/// A batch whose first attempt is on the wire (see `early`), so the
/// server applies it while this side claims and validates the next batch
/// and settles the one before.
struct Flight {
    items: Vec<Claimed>,
    changes: Vec<Change>,
    /// The tables and cursors whose first pages it asked for, if it did.
    asked: Option<Vec<(String, Cursor)>>,
    answer: Early<PushedAndPulled>,
}
