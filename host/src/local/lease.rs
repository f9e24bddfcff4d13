//! The sync lease: one sync at a time per database.
//!
//! Owns the lease keys in `_ebb_meta` (`lease_owner`, `lease_expires_at`).
//! A lease is held until it expires unless renewed; an expired or free
//! lease is taken by the next owner, and since only the lease holder
//! claims items, every item still inflight at that moment is orphaned and
//! goes back to pending. Times are passed in (`now`, unix ms). Called by
//! `sync` around each round.

use std::time::{Duration, Instant};

use rusqlite::TransactionBehavior;
use rusqlite::types::Value;

use super::cached::Cached;
use super::queue::release_all_inflight;
use super::schema::{meta_int, meta_set, meta_text};
use super::{Context, Local, LocalError, millis};

/// The result of asking for the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lease {
    /// The caller holds the lease now. `took_over` names the previous owner
    /// whose lease had expired; `recovered` counts the orphaned inflight
    /// items returned to pending.
    Acquired {
        took_over: Option<String>,
        recovered: usize,
    },
    /// Someone else holds it until `expires_at`.
    Held { owner: String, expires_at: i64 },
}

/// A lease this handle wrote: its owner, its expiry (unix ms) and when it
/// was written by the monotonic clock. Nobody may take a lease before it
/// expires, so while both clocks say more than half its time is left, it
/// is still ours without reading it: a round's checks (one per request and
/// page) cost no read transaction, whose WAL read lock is two `fcntl`
/// calls (an eighth of an edit round's CPU).
#[derive(Debug, Clone)]
pub(crate) struct Written {
    owner: String,
    expires_at: i64,
    written: Instant,
    ttl: Duration,
}

impl Written {
    fn new(owner: &str, now: i64, ttl: Duration) -> Written {
        Written {
            owner: owner.to_string(),
            expires_at: now.saturating_add(millis(ttl)),
            written: Instant::now(),
            ttl,
        }
    }

    /// Whether it is surely still held by `owner` at `now`: by the wall
    /// clock the lease keeps (another process goes by it; a machine that
    /// slept moved it on) and by the monotonic one (a wall clock set back
    /// does not stretch it).
    fn surely(&self, owner: &str, now: i64) -> bool {
        self.owner == owner
            && self.expires_at.saturating_sub(now) > millis(self.ttl) / 2
            && self.written.elapsed() < self.ttl / 2
    }
}

impl Local {
    /// Takes the lease for `ttl` if it is free, expired, or already ours.
    pub fn lease_acquire(
        &mut self,
        owner: &str,
        ttl: Duration,
        now: i64,
    ) -> Result<Lease, LocalError> {
        // What this handle knew of the horizon is a past round's.
        self.horizon = None;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(|| "starting lease acquisition".into())?;
        let current = meta_text(&tx, "lease_owner")?;
        let expires_at = meta_int(&tx, "lease_expires_at")?.unwrap_or(0);
        let mut took_over = None;
        let mut recovered = 0;
        match current {
            Some(held) if held != owner && expires_at > now => {
                self.written = None;
                return Ok(Lease::Held {
                    owner: held,
                    expires_at,
                });
            }
            Some(held) if held == owner => {}
            previous => {
                took_over = previous;
                recovered = release_all_inflight(&tx)?;
            }
        }
        meta_set(&tx, "lease_owner", Value::Text(owner.to_string()))?;
        meta_set(
            &tx,
            "lease_expires_at",
            Value::Integer(now.saturating_add(millis(ttl))),
        )?;
        tx.commit().ctx(|| "committing lease acquisition".into())?;
        self.written = Some(Written::new(owner, now, ttl));
        // A round starts here: it syncs as the id stored now.
        self.refresh_device_id()?;
        Ok(Lease::Acquired {
            took_over,
            recovered,
        })
    }

    /// Extends the lease if `owner` still holds it (even if it lapsed, as
    /// long as nobody took it). `false`: the lease was lost; stop working.
    /// A lease held with more than half its time left is only checked, not
    /// written (nobody may take a lease before it expires): a round makes
    /// one write for it, not one per request and page; one this handle
    /// wrote itself is not even read then (`Written`).
    pub fn lease_renew(
        &mut self,
        owner: &str,
        ttl: Duration,
        now: i64,
    ) -> Result<bool, LocalError> {
        if self.written.as_ref().is_some_and(|w| w.surely(owner, now)) {
            return Ok(true);
        }
        self.written = None;
        if meta_text(&self.conn, "lease_owner")?.as_deref() != Some(owner) {
            self.horizon = None;
            return Ok(false);
        }
        let expires_at = meta_int(&self.conn, "lease_expires_at")?.unwrap_or(0);
        if expires_at.saturating_sub(now) > millis(ttl) / 2 {
            return Ok(true);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(|| "starting lease renewal".into())?;
        if meta_text(&tx, "lease_owner")?.as_deref() != Some(owner) {
            self.horizon = None;
            return Ok(false);
        }
        meta_set(
            &tx,
            "lease_expires_at",
            Value::Integer(now.saturating_add(millis(ttl))),
        )?;
        tx.commit().ctx(|| "committing lease renewal".into())?;
        self.written = Some(Written::new(owner, now, ttl));
        Ok(true)
    }

    /// Gives the lease up if `owner` holds it; otherwise does nothing.
    pub fn lease_release(&mut self, owner: &str) -> Result<(), LocalError> {
        self.written = None;
        self.horizon = None;
        release(&self.conn, owner)
    }

    /// The current lease holder and expiry, if any (expired or not).
    pub(crate) fn lease_holder(&self) -> Result<Option<(String, i64)>, LocalError> {
        let owner = meta_text(&self.conn, "lease_owner")?;
        let expires = meta_int(&self.conn, "lease_expires_at")?;
        Ok(owner.zip(expires))
    }
}

/// Gives the lease up if `owner` holds it (in the caller's transaction,
/// if any: `record_round` ends a round with it).
pub(crate) fn release(conn: &rusqlite::Connection, owner: &str) -> Result<(), LocalError> {
    conn.exec(
        "DELETE FROM _ebb_meta WHERE key IN ('lease_owner', 'lease_expires_at')
           AND (SELECT value FROM _ebb_meta WHERE key = 'lease_owner') = ?1",
        [owner],
    )
    .ctx(|| "releasing the lease".into())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{exec, open_temp, queue, specs};
    use super::*;

    const TTL: Duration = Duration::from_secs(60);

    #[test]
    fn second_owner_waits_then_takes_over_and_recovers() {
        let (_dir, mut local) = open_temp();
        local.install(&specs()).unwrap();
        let acquired = local.lease_acquire("a", TTL, 1_000).unwrap();
        assert_eq!(
            acquired,
            Lease::Acquired {
                took_over: None,
                recovered: 0
            }
        );
        exec(&local, "INSERT INTO parents (id, name) VALUES (1, 'x')");
        assert_eq!(local.claim(&specs(), 10, 1_000, None).unwrap().len(), 1);
        assert_eq!(
            local.lease_acquire("b", TTL, 2_000).unwrap(),
            Lease::Held {
                owner: "a".into(),
                expires_at: 61_000
            }
        );
        // More than half its time left: checked, not written.
        assert!(local.lease_renew("a", TTL, 30_000).unwrap());
        assert_eq!(local.lease_holder().unwrap(), Some(("a".into(), 61_000)));
        assert!(local.lease_renew("a", TTL, 32_000).unwrap());
        assert_eq!(local.lease_holder().unwrap(), Some(("a".into(), 92_000)));
        assert!(matches!(
            local.lease_acquire("b", TTL, 61_000).unwrap(),
            Lease::Held { .. }
        ));
        assert_eq!(
            local.lease_acquire("b", TTL, 90_000).unwrap(),
            Lease::Held {
                owner: "a".into(),
                expires_at: 92_000
            }
        );
        assert_eq!(
            local.lease_acquire("b", TTL, 90_000 + 2_000).unwrap(),
            Lease::Acquired {
                took_over: Some("a".into()),
                recovered: 1
            }
        );
        assert_eq!(queue(&local, "parents", "1").state, "pending");
        assert!(!local.lease_renew("a", TTL, 93_000).unwrap());
        local.lease_release("a").unwrap();
        assert_eq!(local.lease_holder().unwrap(), Some(("b".into(), 152_000)));
        local.lease_release("b").unwrap();
        assert_eq!(local.lease_holder().unwrap(), None);
    }

    #[test]
    fn reacquire_by_holder_keeps_its_inflight_items() {
        let (_dir, mut local) = open_temp();
        local.install(&specs()).unwrap();
        local.lease_acquire("a", TTL, 0).unwrap();
        exec(&local, "INSERT INTO parents (id, name) VALUES (1, 'x')");
        local.claim(&specs(), 10, 0, None).unwrap();
        assert_eq!(
            local.lease_acquire("a", TTL, 10).unwrap(),
            Lease::Acquired {
                took_over: None,
                recovered: 0
            }
        );
        assert_eq!(queue(&local, "parents", "1").state, "inflight");
    }
}
