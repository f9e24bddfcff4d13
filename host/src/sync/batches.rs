//! The push loop of a round: claims and validates batches from the queue
//! and sends them strictly one after the other, with one batch in flight
//! while the next is claimed and validated and the one before settled (see
//! `Flight`): the server applies a batch while this side does its own work
//! for the neighbours. Sending and settling one batch is `push::send`.

use std::collections::BTreeSet;

use super::early::Early;
use super::push::settlement;
use super::{Engine, RoundReport, SyncError, now_ms};
use crate::local::{Claimed, Settle, Settlement};
use crate::model::{Change, PushResult};
use crate::remote::Remote;

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
                    Some(batch) => *flight = Some(self.launch(batch, ready)),
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
                answer: mut on_the_wire,
            }) = flight.take()
            else {
                return Ok(());
            };
            let answer = on_the_wire.answer().await;
            // Answered: the next batch goes while this one is settled.
            if answer.0.is_ok()
                && let Some(next) = ready.take()
            {
                *flight = Some(self.launch(next, ready));
            }
            self.send(items, Some((changes, answer)), report, failed)
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
    /// the rest waits in `ready` (empty when this is called).
    fn launch(&self, mut batch: Batch, ready: &mut Option<Batch>) -> Flight {
        let size = self.push_pace.size();
        if batch.items.len() > size {
            *ready = Some(Batch {
                items: batch.items.split_off(size),
                changes: batch.changes.split_off(size),
            });
        }
        let remote = std::sync::Arc::clone(&self.remote);
        let changes = batch.changes.clone();
        let answer = Early::start("rpc/ebb_push", async move { remote.push(&changes).await });
        Flight {
            items: batch.items,
            changes: batch.changes,
            answer,
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
    answer: Early<Vec<PushResult>>,
}
