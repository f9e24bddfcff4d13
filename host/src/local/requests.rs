//! `_ebb_requests`: each request's outcome, for the error rate `status`
//! shows. Kept in memory and written with the round's record
//! (`status::record_round`), or with a later request once the oldest kept
//! is [`REQUESTS_KEPT_MS`] old; pruned to the error window as written.

use std::time::Duration;

use rusqlite::{Connection, params};

use super::cached::Cached;
use super::{Context, Local, LocalError, millis};

/// How long a request's outcome may wait in memory for the round's record
/// (`record_request`): a long round (a bulk pull, a request a page) still
/// shows its requests in another process's status about this late.
const REQUESTS_KEPT_MS: i64 = 1_000;

/// Writes the outcomes `record_request` kept and forgets those older than
/// `window` before `now`.
pub(crate) fn write_requests(
    conn: &Connection,
    kept: &[(i64, bool)],
    now: i64,
    window: Duration,
) -> Result<(), LocalError> {
    for (at, ok) in kept {
        conn.exec(
            "INSERT INTO _ebb_requests (at, ok) VALUES (?1, ?2)",
            params![at, ok],
        )
        .ctx(|| "recording a request".into())?;
    }
    conn.exec(
        "DELETE FROM _ebb_requests WHERE at < ?1",
        [now.saturating_sub(millis(window))],
    )
    .ctx(|| "pruning old requests".into())?;
    Ok(())
}

impl Local {
    /// Records one request's outcome and forgets those older than `window`.
    /// Kept in memory and written with the round's record (`record_round`),
    /// or with the next request once the oldest kept is `REQUESTS_KEPT_MS`
    /// old: a transaction of its own per request was a tenth of an edit's
    /// round. This handle's `status` counts the kept ones too; another
    /// process sees them when they are written (a round's last requests at
    /// its end), and a process killed mid-round loses that round's.
    pub fn record_request(
        &mut self,
        ok: bool,
        now: i64,
        window: Duration,
    ) -> Result<(), LocalError> {
        self.unwritten.push((now, ok));
        self.requests_window = window;
        if self
            .unwritten
            .first()
            .is_some_and(|(at, _)| now.saturating_sub(*at) >= REQUESTS_KEPT_MS)
        {
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .ctx(|| "starting to record requests".into())?;
            write_requests(&tx, &self.unwritten, now, window)?;
            tx.commit().ctx(|| "committing request records".into())?;
            self.unwritten.clear();
        }
        Ok(())
    }

    /// Request outcomes at or after `since` kept in memory, not written yet
    /// (`record_request`): how many, how many failed.
    pub(crate) fn kept_requests(&self, since: i64) -> (i64, i64) {
        let kept = self.unwritten.iter().filter(|(at, _)| *at >= since);
        kept.fold((0, 0), |(n, failed), (_, ok)| {
            (n + 1, failed + i64::from(!ok))
        })
    }
}
