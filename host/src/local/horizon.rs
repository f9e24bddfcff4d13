//! The server's txid horizon as pulls see it (`_ebb_meta` keys `horizon`
//! and `horizon_since`): since when one open server transaction has held
//! it, which `ebb status` shows as the pull held back. Written by `sync`
//! after each page's answer, read by `status`.

use rusqlite::types::Value;

use super::schema::{meta_int, meta_set, meta_text};
use super::{Context, Local, LocalError};

impl Local {
    /// Notes the server's txid horizon seen by a pull and returns since
    /// when that same horizon has been held by an open transaction (`None`
    /// when nothing was in flight). Writes only when that changes (every
    /// table's page of a round brings the same horizon); a horizon with
    /// nothing in flight is not kept, as no later answer depends on it.
    pub fn note_horizon(
        &mut self,
        horizon: &str,
        in_flight: bool,
        now: i64,
    ) -> Result<Option<i64>, LocalError> {
        // What this handle read or wrote last, while it holds the lease
        // (only the lease's holder writes it): every table's page of a
        // round brings the same horizon, so one read a round.
        let (stored, held) = match self.horizon.take() {
            Some(known) => known,
            None => (
                meta_text(&self.conn, "horizon")?,
                meta_int(&self.conn, "horizon_since")?,
            ),
        };
        let same = stored.as_deref() == Some(horizon);
        let since = match (in_flight, same) {
            (false, _) => None,
            (true, true) => held.or(Some(now)),
            (true, false) => Some(now),
        };
        if since == held && (same || !in_flight) {
            self.horizon = Some((stored, held));
            return Ok(since);
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .ctx(|| "starting to record the server horizon".into())?;
        meta_set(&tx, "horizon", Value::Text(horizon.to_string()))?;
        meta_set(
            &tx,
            "horizon_since",
            since.map_or(Value::Null, Value::Integer),
        )?;
        tx.commit().ctx(|| "committing the server horizon".into())?;
        self.horizon = Some((Some(horizon.to_string()), since));
        Ok(since)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::Local;
    use super::super::schema::meta_set;
    use super::super::testutil::open_temp;
    use rusqlite::types::Value;

    #[test]
    fn a_held_horizon_keeps_its_first_sighting() {
        let (_dir, mut local) = open_temp();
        assert_eq!(
            local.note_horizon("10", true, 1_000).expect("note"),
            Some(1_000)
        );
        assert_eq!(
            local.note_horizon("10", true, 5_000).expect("note"),
            Some(1_000)
        );
        let status = local
            .status(5_000, Duration::from_secs(60))
            .expect("status");
        assert_eq!(status.horizon_held_since, Some(1_000));
        assert_eq!(
            local.note_horizon("12", true, 6_000).expect("note"),
            Some(6_000)
        );
        assert_eq!(local.note_horizon("12", false, 7_000).expect("note"), None);
        let status = local
            .status(7_000, Duration::from_secs(60))
            .expect("status");
        assert_eq!(status.horizon_held_since, None);
        // What the handle keeps is a round's: after the round's record, or
        // once the lease is lost, the stored horizon is read again.
        let store = |local: &Local, horizon: &str, since: i64| {
            meta_set(&local.conn, "horizon", Value::Text(horizon.into())).unwrap();
            meta_set(&local.conn, "horizon_since", Value::Integer(since)).unwrap();
        };
        assert_eq!(
            local.note_horizon("14", true, 8_000).expect("note"),
            Some(8_000)
        );
        local.record_round(true, None, 8_500, &[], None).unwrap();
        store(&local, "14", 2_000);
        assert_eq!(
            local.note_horizon("14", true, 9_000).expect("note"),
            Some(2_000)
        );
        let ttl = Duration::from_secs(1);
        local.lease_acquire("me", ttl, 9_000).unwrap();
        store(&local, "14", 3_000);
        assert_eq!(
            local.note_horizon("14", true, 9_100).expect("note"),
            Some(3_000)
        );
        // Past half its time, the lease is read, and found someone else's.
        store(&local, "14", 4_000);
        meta_set(&local.conn, "lease_owner", Value::Text("another".into())).unwrap();
        assert!(!local.lease_renew("me", ttl, 9_600).unwrap());
        assert_eq!(
            local.note_horizon("14", true, 9_700).expect("note"),
            Some(4_000)
        );
    }
}
