//! What `ebb status`, `/health` and `/metrics` read from the local side:
//! queue counts, conflicts, rounds, recent request outcomes, the lease.
//!
//! Owns the round keys of `_ebb_meta` (`last_round_at`,
//! `last_round_ok_at`, `last_error`); reads `_ebb_requests` (`requests`
//! writes it). Reports facts; deciding what is
//! healthy is `ops`'s job. Called by `sync` (record_*) and `ops` (status).

use std::collections::BTreeMap;
use std::time::Duration;

use rusqlite::OptionalExtension;
use rusqlite::types::Value;
use serde::Serialize;

use super::cached::Cached;
use super::schema::{meta_int, meta_set, meta_text};
use super::{Context, Local, LocalError, millis};
use crate::model::Cursor;

/// The local side at a glance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocalStatus {
    pub device: String,
    /// The tables of the last `install`, in configured order.
    pub tables: Vec<TableStatus>,
    /// Queue items per state.
    pub queue: BTreeMap<String, u64>,
    /// When the oldest edit still waiting to be pushed (pending, retry or
    /// inflight) was made.
    pub oldest_pending_at: Option<i64>,
    pub open_conflicts: u64,
    pub last_round_at: Option<i64>,
    pub last_round_ok_at: Option<i64>,
    pub last_error: Option<String>,
    /// Requests to the remote within the error window, and how many failed.
    pub requests: u64,
    pub failed_requests: u64,
    /// The lease holder and expiry (possibly expired).
    pub lease: Option<(String, i64)>,
    /// Since when an open server transaction has held the pull horizon at
    /// the same txid (pull lag), if it does.
    pub horizon_held_since: Option<i64>,
    /// Writes a conflict policy discarded within [`OVERWRITE_WINDOW`]:
    /// this device's, and the server's.
    pub overwritten_local: u64,
    pub overwritten_remote: u64,
    /// Pulled rows set aside while this device's own change is in doubt.
    pub deferred_rows: u64,
    /// Writes of this device the server stored with other values, taken
    /// here within [`OVERWRITE_WINDOW`] (`Local::rewritten` names them).
    pub rewritten: u64,
    /// Open conflicts that are key collisions (two devices created
    /// different rows under one key).
    pub open_collisions: u64,
    /// Writes an app trigger made to a synced table while ebb wrote rows
    /// of another, skipped since ebb was installed (`Local::skipped`).
    pub skipped_writes: u64,
}

/// How far back `ebb status` counts overwritten writes ("in the last 24 h").
pub const OVERWRITE_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// One synced table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableStatus {
    pub table: String,
    /// Items waiting to be pushed (pending, retry, inflight).
    pub pending: u64,
    pub last_sync_at: Option<i64>,
    pub cursor: Cursor,
}

const WAITING: &str = "state IN ('pending', 'retry', 'inflight')";

impl Local {
    /// Records the end of a sync round: `error` is kept as the last error
    /// (cleared by a round without one), `synced` (the tables it completed)
    /// get `now` as their last sync, the requests `record_request` kept are
    /// written; and gives up the lease of `release`, when given, in the
    /// same transaction.
    pub fn record_round(
        &mut self,
        ok: bool,
        error: Option<&str>,
        now: i64,
        synced: &[String],
        release: Option<&str>,
    ) -> Result<(), LocalError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .ctx(|| "starting to record a round".into())?;
        meta_set(&tx, "last_round_at", Value::Integer(now))?;
        if ok {
            meta_set(&tx, "last_round_ok_at", Value::Integer(now))?;
        }
        let error = error.map_or(Value::Null, |e| Value::Text(e.to_string()));
        meta_set(&tx, "last_error", error)?;
        super::cursors::write_last_syncs(&tx, synced, now)?;
        if let Some(owner) = release {
            super::lease::release(&tx, owner)?;
        }
        if !self.unwritten.is_empty() {
            super::requests::write_requests(&tx, &self.unwritten, now, self.requests_window)?;
        }
        self.written = None;
        self.horizon = None;
        tx.commit().ctx(|| "committing a round record".into())?;
        self.unwritten.clear();
        Ok(())
    }

    /// Queue items per state (the states with none are left out).
    pub fn queue_depth(&self) -> Result<BTreeMap<String, u64>, LocalError> {
        let mut queue = BTreeMap::new();
        let mut stmt = self
            .conn
            .prepare_cached("SELECT state, COUNT(*) FROM _ebb_queue GROUP BY state")
            .ctx(|| "counting the queue".into())?;
        let counts = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .ctx(|| "counting the queue".into())?;
        for count in counts {
            let (state, n) = count.ctx(|| "counting the queue".into())?;
            queue.insert(state, n.max(0) as u64);
        }
        Ok(queue)
    }

    /// The local side's status; requests are counted over `error_window`
    /// before `now`.
    pub fn status(&self, now: i64, error_window: Duration) -> Result<LocalStatus, LocalError> {
        let conn = &self.conn;
        let queue = self.queue_depth()?;
        let oldest_pending_at = conn
            .row(
                &format!("SELECT MIN(queued_at) FROM _ebb_queue WHERE {WAITING}"),
                [],
                |r| r.get(0),
            )
            .ctx(|| "finding the oldest pending edit".into())?;
        let (open_conflicts, open_collisions): (i64, i64) = conn
            .row(
                "SELECT COUNT(*), COALESCE(SUM(policy = 'key_collision'), 0)
                 FROM _ebb_conflicts WHERE resolved_at IS NULL",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ctx(|| "counting conflicts".into())?;
        let (requests, failed): (i64, i64) = conn
            .row(
                "SELECT COUNT(*), COALESCE(SUM(ok = 0), 0) FROM _ebb_requests WHERE at >= ?1",
                [now.saturating_sub(millis(error_window))],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ctx(|| "counting requests".into())?;
        let (kept, kept_failed) = self.kept_requests(now.saturating_sub(millis(error_window)));
        let (requests, failed) = (requests + kept, failed + kept_failed);
        let (overwritten_local, overwritten_remote): (i64, i64) = conn
            .row(
                "SELECT COALESCE(SUM(overwrote IN ('local', 'both')), 0),
                        COALESCE(SUM(overwrote IN ('remote', 'both')), 0)
                 FROM _ebb_conflicts WHERE resolved_at >= ?1",
                [now.saturating_sub(millis(OVERWRITE_WINDOW))],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ctx(|| "counting overwritten writes".into())?;
        let names: Vec<String> = meta_text(conn, "tables")?
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        let mut tables = Vec::with_capacity(names.len());
        for table in names {
            let pending: i64 = conn
                .row(
                    &format!("SELECT COUNT(*) FROM _ebb_queue WHERE tbl = ?1 AND {WAITING}"),
                    [&table],
                    |r| r.get(0),
                )
                .ctx(|| format!("counting the queue of {table}"))?;
            let last_sync_at = conn
                .row(
                    "SELECT last_sync_at FROM _ebb_cursors WHERE tbl = ?1",
                    [&table],
                    |r| r.get::<_, Option<i64>>(0),
                )
                .optional()
                .ctx(|| format!("reading the last sync of {table}"))?
                .flatten();
            tables.push(TableStatus {
                cursor: self.cursor(&table)?,
                pending: pending.max(0) as u64,
                last_sync_at,
                table,
            });
        }
        Ok(LocalStatus {
            device: self.device.clone(),
            tables,
            queue,
            oldest_pending_at,
            open_conflicts: open_conflicts.max(0) as u64,
            last_round_at: meta_int(conn, "last_round_at")?,
            last_round_ok_at: meta_int(conn, "last_round_ok_at")?,
            last_error: meta_text(conn, "last_error")?,
            requests: requests.max(0) as u64,
            failed_requests: failed.max(0) as u64,
            lease: self.lease_holder()?,
            horizon_held_since: meta_int(conn, "horizon_since")?,
            overwritten_local: overwritten_local.max(0) as u64,
            overwritten_remote: overwritten_remote.max(0) as u64,
            deferred_rows: self.deferred_count()?,
            rewritten: self.rewritten(now)?.iter().map(|r| r.rows).sum(),
            open_collisions: open_collisions.max(0) as u64,
            skipped_writes: self.skipped()?.iter().map(|s| s.rows).sum(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{exec, open_temp, specs};
    use super::*;
    use crate::local::Settle;

    const WINDOW: Duration = Duration::from_secs(60);

    #[test]
    fn counts_queue_rounds_requests_and_tables() {
        let (_dir, mut local) = open_temp();
        local.install(&specs()).unwrap();
        exec(
            &local,
            "INSERT INTO parents (id, name) VALUES (1, 'a'), (2, 'b');
             INSERT INTO items (id, qty) VALUES ('x', 1);",
        );
        let claimed = local.claim(&specs()[1..], 10, 5, None).unwrap();
        let item = &claimed[0].change;
        let invalid = Settle::Invalid {
            error: "qty too big".into(),
        };
        local
            .settle("items", &item.pk, item.counter, invalid)
            .unwrap();
        local.record_request(true, 1_000, WINDOW).unwrap();
        local.record_request(true, 20_000, WINDOW).unwrap();
        local.record_request(false, 30_000, WINDOW).unwrap();
        local.record_request(false, 70_000, WINDOW).unwrap();
        local
            .record_round(false, Some("boom"), 70_000, &[], None)
            .unwrap();
        local
            .set_last_sync(&["parents".to_string()], 69_000)
            .unwrap();
        local.lease_acquire("me", WINDOW, 70_000).unwrap();

        let status = local.status(70_500, WINDOW).unwrap();
        assert_eq!(status.device, local.device_id());
        assert_eq!(status.queue.get("pending"), Some(&2));
        assert_eq!(status.queue.get("invalid"), Some(&1));
        assert!(status.oldest_pending_at.is_some());
        assert_eq!((status.requests, status.failed_requests), (3, 2));
        assert_eq!(status.last_round_at, Some(70_000));
        assert_eq!(status.last_round_ok_at, None);
        assert_eq!(status.last_error.as_deref(), Some("boom"));
        assert_eq!(status.lease, Some(("me".into(), 130_000)));
        let names: Vec<&str> = status.tables.iter().map(|t| t.table.as_str()).collect();
        assert_eq!(names, ["parents", "items"]);
        assert_eq!(status.tables[0].pending, 2);
        assert_eq!(status.tables[0].last_sync_at, Some(69_000));
        assert_eq!(status.tables[1].pending, 0);
        serde_json::to_string(&status).expect("status serializes");

        local.record_round(true, None, 80_000, &[], None).unwrap();
        local.record_request(true, 85_000, WINDOW).unwrap();
        // Kept in memory until the round's record, and counted meanwhile.
        let status = local.status(85_000, WINDOW).unwrap();
        assert_eq!((status.requests, status.failed_requests), (3, 2));
        assert_eq!(status.last_round_ok_at, Some(80_000));
        assert_eq!(status.last_error, None);
        let written = |local: &Local| -> Vec<i64> {
            let mut stmt = local
                .conn
                .prepare("SELECT at FROM _ebb_requests ORDER BY at")
                .unwrap();
            let at = stmt.query_map([], |r| r.get(0)).unwrap();
            at.map(Result::unwrap).collect()
        };
        assert_eq!(written(&local), [20_000, 30_000, 70_000]);
        // The round's record writes them, prunes to the window and records
        // the tables it completed, in one transaction.
        local
            .record_round(true, None, 90_000, &["items".to_string()], None)
            .unwrap();
        assert_eq!(written(&local), [30_000, 70_000, 85_000]);
        let status = local.status(90_000, WINDOW).unwrap();
        assert_eq!((status.requests, status.failed_requests), (3, 2));
        assert_eq!(status.tables[1].last_sync_at, Some(90_000));
        // One kept a second is written at the next request.
        local.record_request(false, 91_000, WINDOW).unwrap();
        assert_eq!(written(&local), [30_000, 70_000, 85_000]);
        local.record_request(true, 92_000, WINDOW).unwrap();
        assert_eq!(written(&local), [70_000, 85_000, 91_000, 92_000]);
    }
}
