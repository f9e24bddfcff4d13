//! `_ebb_history`: what the daemon did, minute by minute, for the console's
//! charts (pushed and pulled rows, conflicts left for a person, failed
//! requests, queue depth, round time).
//!
//! Owns the table's rows: one per minute at most, older ones deleted as
//! new minutes arrive, so the table never holds more than
//! `keep / 1 min + 1` rows however many rounds run, and a restart keeps
//! the charts. Decides nothing: `ops::daemon` records a sample after each
//! round and `ops::api` reads them back.

use std::time::Duration;

use rusqlite::params;
use serde::Serialize;

use super::cached::Cached;
use super::{Context, Local, LocalError, millis};

const MINUTE_MS: i64 = 60_000;

/// One daemon round (or one loop turn that could not run a round).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistorySample {
    /// When it ended, unix ms.
    pub at: i64,
    /// Whether a round ran (false: another process held the lock).
    pub ran: bool,
    /// Whether the round ended early.
    pub failed: bool,
    pub pushed: u64,
    pub pulled: u64,
    /// Conflicts left for a person.
    pub conflicts: u64,
    /// Failed request attempts during the round.
    pub errors: u64,
    /// Items in the queue after it (every state).
    pub queue_depth: u64,
    /// Wall time of the round.
    pub round_ms: u64,
}

/// One minute of history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryMinute {
    /// The minute's start, unix ms.
    pub at: i64,
    pub rounds: u64,
    pub failed_rounds: u64,
    pub pushed: u64,
    pub pulled: u64,
    pub conflicts: u64,
    pub errors: u64,
    /// Queue depth after the minute's last round.
    pub queue_depth: u64,
    pub round_ms_avg: u64,
    pub round_ms_max: u64,
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Local {
    /// Adds `sample` to its minute and deletes minutes older than `keep`
    /// before it. One short transaction.
    pub fn record_history(
        &mut self,
        sample: &HistorySample,
        keep: Duration,
    ) -> Result<(), LocalError> {
        let minute = sample.at.div_euclid(MINUTE_MS);
        let oldest = sample.at.saturating_sub(millis(keep)).div_euclid(MINUTE_MS);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .ctx(|| "starting to record history".into())?;
        tx.exec(
            "INSERT INTO _ebb_history (minute, rounds, failed_rounds, pushed, pulled,
                     conflicts, errors, queue_depth, round_ms_total, round_ms_max)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)
                 ON CONFLICT (minute) DO UPDATE SET
                     rounds = rounds + excluded.rounds,
                     failed_rounds = failed_rounds + excluded.failed_rounds,
                     pushed = pushed + excluded.pushed,
                     pulled = pulled + excluded.pulled,
                     conflicts = conflicts + excluded.conflicts,
                     errors = errors + excluded.errors,
                     queue_depth = excluded.queue_depth,
                     round_ms_total = round_ms_total + excluded.round_ms_total,
                     round_ms_max = max(round_ms_max, excluded.round_ms_max)",
            params![
                minute,
                i64::from(sample.ran),
                i64::from(sample.ran && sample.failed),
                count(sample.pushed),
                count(sample.pulled),
                count(sample.conflicts),
                count(sample.errors),
                count(sample.queue_depth),
                count(sample.round_ms),
            ],
        )
        .ctx(|| "recording history".into())?;
        tx.exec("DELETE FROM _ebb_history WHERE minute < ?1", [oldest])
            .ctx(|| "deleting history past ops.history_keep".into())?;
        tx.commit().ctx(|| "committing history".into())
    }

    /// The minutes from `since` (unix ms) on, oldest first.
    pub fn history(&self, since: i64) -> Result<Vec<HistoryMinute>, LocalError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT minute, rounds, failed_rounds, pushed, pulled, conflicts, errors,
                        queue_depth, round_ms_total, round_ms_max
                 FROM _ebb_history WHERE minute >= ?1 ORDER BY minute",
            )
            .ctx(|| "reading history".into())?;
        let get = |r: &rusqlite::Row<'_>, i: usize| -> rusqlite::Result<u64> {
            Ok(r.get::<_, i64>(i)?.max(0) as u64)
        };
        let rows = stmt
            .query_map([since.div_euclid(MINUTE_MS)], |r| {
                let rounds = get(r, 1)?;
                Ok(HistoryMinute {
                    at: r.get::<_, i64>(0)?.saturating_mul(MINUTE_MS),
                    rounds,
                    failed_rounds: get(r, 2)?,
                    pushed: get(r, 3)?,
                    pulled: get(r, 4)?,
                    conflicts: get(r, 5)?,
                    errors: get(r, 6)?,
                    queue_depth: get(r, 7)?,
                    round_ms_avg: get(r, 8)?.checked_div(rounds).unwrap_or(0),
                    round_ms_max: get(r, 9)?,
                })
            })
            .ctx(|| "reading history".into())?;
        rows.collect::<Result<_, _>>()
            .ctx(|| "reading history".into())
    }

    /// Failed request attempts recorded since `since` (unix ms), from the
    /// window `record_request` keeps.
    pub fn failed_requests_since(&self, since: i64) -> Result<u64, LocalError> {
        let n: i64 = self
            .conn
            .row(
                "SELECT count(*) FROM _ebb_requests WHERE ok = 0 AND at >= ?1",
                [since],
                |r| r.get(0),
            )
            .ctx(|| "counting failed requests".into())?;
        let (_, kept_failed) = self.kept_requests(since);
        Ok((n + kept_failed).max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn sample(at: i64, pushed: u64) -> HistorySample {
        HistorySample {
            at,
            ran: true,
            pushed,
            queue_depth: pushed,
            round_ms: 10 + pushed,
            ..Default::default()
        }
    }

    #[test]
    fn rounds_add_up_per_minute_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let keep = Duration::from_secs(24 * 3600);
        let t0 = 30_000_000 * MINUTE_MS;
        {
            let mut local = Local::open(&path, Duration::from_secs(1)).unwrap();
            local.record_history(&sample(t0, 2), keep).unwrap();
            local.record_history(&sample(t0 + 30_000, 3), keep).unwrap();
            let mut failed = sample(t0 + 60_000, 0);
            failed.failed = true;
            failed.errors = 4;
            local.record_history(&failed, keep).unwrap();
        }
        let local = Local::open(&path, Duration::from_secs(1)).unwrap();
        let h = local.history(0).unwrap();
        assert_eq!(h.len(), 2, "{h:?}");
        assert_eq!(
            (h[0].at, h[0].rounds, h[0].pushed, h[0].queue_depth),
            (t0, 2, 5, 3)
        );
        assert_eq!((h[0].round_ms_avg, h[0].round_ms_max), (12, 13));
        assert_eq!((h[1].failed_rounds, h[1].errors), (1, 4));
        assert_eq!(local.history(t0 + 60_000).unwrap().len(), 1);
    }

    /// The bound, not a timing: 100k rounds every 3 s (83 hours) leave at
    /// most one row per minute of `keep`, and the file stops growing.
    #[test]
    fn a_hundred_thousand_rounds_stay_within_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let keep = Duration::from_secs(24 * 3600);
        let bound = (millis(keep) / MINUTE_MS + 1) as usize;
        let mut local = Local::open(&path, Duration::from_secs(1)).unwrap();
        let t0 = 1_800_000_000_000;
        let mut pages_at_bound = None;
        for i in 0..100_000i64 {
            let at = t0 + i * 3_000;
            local.record_history(&sample(at, 1), keep).unwrap();
            if i % 5_000 == 4_999 {
                let rows = local.history(0).unwrap();
                assert!(rows.len() <= bound, "{} rows after {i} rounds", rows.len());
                let pages: i64 = local
                    .conn
                    .query_row("PRAGMA page_count", [], |r| r.get(0))
                    .unwrap();
                if at - t0 > 2 * 24 * HOUR {
                    let first = *pages_at_bound.get_or_insert(pages);
                    assert!(pages <= first + 2, "file grew: {first} -> {pages} pages");
                }
            }
        }
        let rows = local.history(0).unwrap();
        assert_eq!(rows.len(), bound, "a full day of minutes is kept");
        assert!(rows.iter().all(|m| m.rounds == 20 && m.pushed == 20));
    }
}
