//! One batch of the push half of a round (the loop over batches is
//! `batches`): validate it, send it, and settle every item by the server's
//! answer (applied, conflict -> policy, rejected -> retry or dead). The
//! outcomes of a batch are written in one local transaction
//! (`Local::settle_all`); conflicts go through the policy and
//! `Local::apply` one by one.

use std::collections::BTreeSet;
use std::time::Instant;

use rand::Rng;

use super::backoff::{ItemFate, item_fate, retry_at};
use super::early::Answered;
use super::{Engine, RoundReport, SyncError, blocking, now_ms};
use crate::local::{Claimed, LocalError, Settle, Settlement, TableSpec};
use crate::model::{Change, Op, PushResult};
use crate::policy::Verdict;
use crate::remote::{Remote, RemoteError};

/// A batch's first attempt, made early (`batches`): the changes as sent,
/// the answer, and the RPC it went to (`ebb_push` or `ebb_push_pull`).
pub(super) type FirstAttempt = (Vec<Change>, Answered<Vec<PushResult>>, &'static str);

impl<R: Remote> Engine<R> {
    /// Checks each upsert against its table's schema and validator; an
    /// invalid one is held as `invalid` with its violations, never sent.
    pub(super) fn validate(
        &mut self,
        claimed: Vec<Claimed>,
        report: &mut RoundReport,
    ) -> Result<Vec<Claimed>, SyncError> {
        let mut sendable = Vec::with_capacity(claimed.len());
        let mut invalid = Vec::new();
        for item in claimed {
            let c = &item.change;
            // A value JSON cannot carry exactly (bytes that are not UTF-8,
            // a BLOB in a TEXT column): held, never changed in transit.
            if let Some(why) = &item.unrepresentable {
                tracing::warn!(table = %c.table, pk = %c.pk,
                    "row held as invalid: a value cannot travel exactly (ebb queue --state invalid shows why)");
                invalid.push(settlement(c, Settle::Invalid { error: why.clone() }));
                report.invalid += 1;
                continue;
            }
            let verdict = match (&c.op, &c.row) {
                (Op::Upsert, Some(row)) => {
                    blocking(|| self.policies.validate(&c.table, &c.pk, row))
                }
                _ => Verdict::Valid,
            };
            match verdict {
                Verdict::Valid => sendable.push(item),
                Verdict::Invalid(violations) => {
                    let why = crate::policy::summary(&violations);
                    let error = format!("{} {}: invalid: {why}", c.table, c.pk);
                    // The violations may quote row values: they go to the
                    // queue item (`ebb queue --state invalid`), not the log.
                    tracing::warn!(table = %c.table, pk = %c.pk, violations = violations.len(),
                        "row held as invalid (ebb queue --state invalid shows why)");
                    invalid.push(settlement(c, Settle::Invalid { error }));
                    report.invalid += 1;
                }
            }
        }
        self.local.settle_all(&invalid)?;
        Ok(sendable)
    }

    /// Sends one validated batch (or takes the answer its `Flight` already
    /// had: the changes as sent, the first attempt's answer and the RPC it
    /// went to) and settles each item by its result.
    pub(super) async fn send(
        &mut self,
        items: Vec<Claimed>,
        first_attempt: Option<FirstAttempt>,
        report: &mut RoundReport,
        failed: &mut BTreeSet<String>,
    ) -> Result<(), SyncError> {
        let (changes, first, what) = match first_attempt {
            Some((changes, first, what)) => (changes, Some(first), what),
            None => {
                // Sent with the server's keys; everything local stays in local ids.
                let mut changes: Vec<Change> = items.iter().map(|i| i.change.clone()).collect();
                self.globalize(&mut changes).await?;
                (changes, None, "ebb_push")
            }
        };
        let several = items.len() > 1;
        let split_now = move |e: &RemoteError| several && blames_the_size(e);
        let started = Instant::now();
        let (first, mut first_took) = match first {
            Some((answer, took)) => (Some(answer), Some(took)),
            None => (None, None),
        };
        let answer = self
            .call_remote_or(what, &split_now, first, |remote| {
                first_took = None;
                remote.push(&changes)
            })
            .await?;
        let results = match answer {
            Ok(results) => {
                let took = first_took.unwrap_or_else(|| started.elapsed());
                self.push_pace.answered(items.len(), took);
                results
            }
            // Too big or too slow for the server as a whole (a statement
            // or request timeout, 413, a gateway timeout): halve it, down
            // to one change, and send smaller batches for a while. Only
            // the change that fails alone is charged an attempt.
            Err(e) if several && blames_the_size(&e) => {
                self.push_pace.too_big(items.len());
                let mut first = items;
                let second = first.split_off(first.len() / 2);
                tracing::warn!(error = %e, halves = ?(first.len(), second.len()),
                    "batch too large or slow for the server; splitting it");
                Box::pin(self.send(first, None, report, failed)).await?;
                Box::pin(self.send(second, None, report, failed)).await?;
                return Ok(());
            }
            Err(e) if blames_the_size(&e) => {
                let item = &items[0];
                let c = &item.change;
                let error = format!("{} {} {:?}: fails alone: {e}", c.table, c.pk, c.op);
                let settle = self.fail_item(c, item.attempts, error, report);
                failed.insert(c.table.clone());
                self.local.settle_all(&[settle])?;
                return Ok(());
            }
            // The server refused the request itself (too large, malformed):
            // find the change it refuses by sending them one at a time, so
            // one bad item never holds back the rest for ever.
            Err(e) if blames_the_batch(&e) && items.len() > 1 => {
                tracing::warn!(error = %e, items = items.len(), "batch refused; sending its changes one by one");
                for item in items {
                    Box::pin(self.send(vec![item], None, report, failed)).await?;
                }
                return Ok(());
            }
            Err(e) if blames_the_batch(&e) => {
                let mut settles = Vec::with_capacity(items.len());
                for item in &items {
                    let c = &item.change;
                    let error = format!(
                        "{} {} {:?}: refused by the server: {e}",
                        c.table, c.pk, c.op
                    );
                    settles.push(self.fail_item(c, item.attempts, error, report));
                    failed.insert(c.table.clone());
                }
                self.local.settle_all(&settles)?;
                return Ok(());
            }
            Err(e) => {
                self.fail_all(&items, &e, report, failed)?;
                return Err(e.into());
            }
        };
        // The answer is only ours to record while we still hold the lock.
        self.renew()?;
        // Applied and rejected items are settled together in one local
        // transaction; conflicts then go through the policy one by one.
        let mut settles = Vec::with_capacity(items.len());
        let mut conflicts = Vec::new();
        for (item, result) in items.into_iter().zip(results) {
            let c = item.change;
            match result {
                PushResult::Applied { version } => {
                    let outcome = Settle::Applied {
                        version,
                        row: c.row,
                    };
                    settles.push(Settlement {
                        table: c.table,
                        pk: c.pk,
                        sent_counter: c.counter,
                        outcome,
                    });
                }
                PushResult::Rejected { code, message } => {
                    let error = format!(
                        "{} {} {:?}: rejected by the server ({code}): {message}",
                        c.table, c.pk, c.op
                    );
                    settles.push(self.fail_item(&c, item.attempts, error, report));
                    failed.insert(c.table.clone());
                }
                PushResult::Conflict {
                    version,
                    row,
                    deleted,
                    own,
                } => {
                    let remote_row = if deleted { None } else { row };
                    conflicts.push((c, remote_row, version, own));
                }
            }
        }
        self.local.settle_all(&settles)?;
        for s in &settles {
            if matches!(s.outcome, Settle::Applied { .. }) {
                report.pushed += 1;
                self.metrics.add_pushed(&s.table, 1);
            }
        }
        for (c, remote_row, version, own) in conflicts {
            self.settle_conflict(&c, remote_row, version, own, report)?;
        }
        Ok(())
    }

    /// The whole request failed: retryable errors cost each item an
    /// attempt; permanent ones (auth, config) are not the items' fault, nor
    /// is a server that could not be reached (a till offline, an outage):
    /// its items wait for the next round at the attempt they were at, so
    /// an outage longer than `max_attempts` rounds kills none of them and
    /// they go as soon as the server answers again.
    fn fail_all(
        &mut self,
        items: &[Claimed],
        e: &RemoteError,
        report: &mut RoundReport,
        failed: &mut BTreeSet<String>,
    ) -> Result<(), SyncError> {
        let mut settles = Vec::with_capacity(items.len());
        for item in items {
            let c = &item.change;
            failed.insert(c.table.clone());
            if e.is_retryable() {
                let error = format!("{} {} {:?}: {e}", c.table, c.pk, c.op);
                settles.push(match e {
                    RemoteError::Network { .. } => self.wait_item(c, item.attempts, error, report),
                    _ => self.fail_item(c, item.attempts, error, report),
                });
            } else {
                settles.push(settlement(c, Settle::Release));
            }
        }
        self.local.settle_all(&settles)?;
        Ok(())
    }

    /// A failed item not charged an attempt (the server was not reached):
    /// retried later at the attempt it was at, never dead. Counts it in
    /// `report`; the caller writes the returned settlement.
    fn wait_item(
        &self,
        c: &Change,
        attempts: u32,
        error: String,
        report: &mut RoundReport,
    ) -> Settlement {
        report.retrying += 1;
        let unit: f64 = rand::rng().random();
        let next_attempt_at = retry_at(attempts, &self.config.retry, now_ms(), unit);
        let settle = Settle::Retry {
            attempts,
            next_attempt_at,
            error,
        };
        settlement(c, settle)
    }

    /// How a failed item ends: retried later, or dead. Counts it in
    /// `report`; the caller writes the returned settlement.
    fn fail_item(
        &self,
        c: &Change,
        attempts_before: u32,
        error: String,
        report: &mut RoundReport,
    ) -> Settlement {
        let attempts = attempts_before.saturating_add(1);
        let unit: f64 = rand::rng().random();
        let settle = match item_fate(attempts, &self.config.retry, now_ms(), unit) {
            ItemFate::Retry { at } => {
                report.retrying += 1;
                Settle::Retry {
                    attempts,
                    next_attempt_at: at,
                    error,
                }
            }
            ItemFate::Dead => {
                report.dead += 1;
                tracing::error!(table = %c.table, pk = %c.pk, %error, "item is dead after {attempts} attempts");
                Settle::Dead { attempts, error }
            }
        };
        settlement(c, settle)
    }

    /// The configured table `table` (claims and pulls only ever name
    /// configured tables; anything else is refused, never guessed).
    pub(super) fn spec_of(&self, table: &str) -> Result<TableSpec, SyncError> {
        self.specs
            .iter()
            .find(|s| s.name == table)
            .cloned()
            .ok_or_else(|| {
                LocalError::NoSuchTable {
                    table: table.to_string(),
                }
                .into()
            })
    }
}

/// `outcome` for the claimed change `c`.
pub(super) fn settlement(c: &Change, outcome: Settle) -> Settlement {
    Settlement {
        table: c.table.clone(),
        pk: c.pk.clone(),
        sent_counter: c.counter,
        outcome,
    }
}

/// An answer that says the request was too big or too slow for the server,
/// not that the server is away: a statement timeout (57014), an internal
/// error a trigger raised (XX000), the client's own request timeout, 413,
/// and the gateway timeouts 504 and 544 (Supabase's edge). A smaller batch
/// may pass where the whole one cannot.
pub(super) fn blames_the_size(e: &RemoteError) -> bool {
    matches!(e, RemoteError::Timeout { .. })
        || matches!(e.status(), Some(413 | 504 | 544))
        || e.code()
            .is_some_and(|c| c == "57014" || c.starts_with("XX"))
}

/// A permanent refusal of this request's content (not of who sent it,
/// nor of the server being away): auth (401, 403), a missing function
/// (404) and config problems stop the round instead.
pub(super) fn blames_the_batch(e: &RemoteError) -> bool {
    !e.is_retryable()
        && !matches!(e, RemoteError::Config(_))
        && !e.is_server_config()
        && !matches!(e.status(), Some(401 | 403 | 404))
}
