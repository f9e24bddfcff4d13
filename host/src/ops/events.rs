//! Live events of the daemon, for `/api/events` (Server-Sent Events) and
//! the console: rounds, pull progress, conflicts, held items, health and
//! overwritten writes.
//!
//! Owns the event types (their JSON is the wire format, documented in
//! docs/api.md) and the hub that fans them out. Emitting never waits: the
//! hub is a bounded broadcast buffer (`ops.event_buffer`), so a reader that
//! falls behind loses its oldest events (it is told how many, and they
//! are counted) and sync is never slowed by it. Called by `ops::daemon`
//! (rounds, diffs), `ops::progress` (pull progress), `ops::api`
//! (settled through the API) and read by `ops::api::sse`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use tokio::sync::broadcast;

use crate::ops::Health;

/// What the round did, in counts (the round's report without its lists).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RoundCounts {
    pub pushed: usize,
    pub pulled: usize,
    pub resolved: usize,
    pub manual: usize,
    pub invalid: usize,
    pub retrying: usize,
    pub dead: usize,
    pub overwritten_local: usize,
    pub overwritten_remote: usize,
    /// This device's writes the server stored with other values, taken.
    pub changed_by_server: usize,
    /// Writes an app trigger made while ebb applied pulled rows, skipped.
    pub skipped_writes: usize,
    /// Why the round ended early, if it did.
    pub error: Option<String>,
    /// Wall time, milliseconds.
    pub ms: u64,
}

impl RoundCounts {
    /// The counts of a round's report that took `ms`.
    pub fn of(r: &crate::sync::RoundReport, ms: u64) -> RoundCounts {
        RoundCounts {
            pushed: r.pushed,
            pulled: r.pulled,
            resolved: r.resolved,
            manual: r.manual,
            invalid: r.invalid,
            retrying: r.retrying,
            dead: r.dead,
            overwritten_local: r.overwritten_local,
            overwritten_remote: r.overwritten_remote,
            changed_by_server: r.changed_by_server,
            skipped_writes: r.skipped_writes,
            error: r.error.clone(),
            ms,
        }
    }
}

/// One event. Serialized with its `type` beside the fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A round began (`round` counts from 1 per process).
    RoundStarted { round: u64 },
    /// A long pull, about once a second per table: rows so far, rows per
    /// second, and seconds left when the total is known.
    Progress {
        table: String,
        rows: u64,
        rows_per_s: f64,
        eta_s: Option<u64>,
    },
    /// A round ended (also when it ended early: `counts.error`).
    RoundFinished { round: u64, counts: RoundCounts },
    /// A round could not run (another process holds the sync lock, the
    /// database is busy).
    RoundSkipped { reason: String },
    /// A conflict now waits for a person.
    ConflictNew {
        id: i64,
        table: String,
        pk: String,
        policy: String,
        reason: String,
    },
    /// An open conflict was settled (by a person through the API or the
    /// CLI, or superseded by sync).
    ConflictSettled {
        id: i64,
        table: String,
        pk: String,
        resolution: Option<String>,
    },
    /// A queue item became dead or invalid.
    ItemHeld {
        id: String,
        table: String,
        pk: String,
        state: String,
        error: Option<String>,
    },
    /// A held item was put back to pending through the API.
    ItemRetried {
        id: String,
        table: String,
        pk: String,
    },
    /// Health changed (and once, after the first assessment).
    HealthChanged { health: Health },
    /// Conflict policies discarded writes in the last round (counts; the
    /// rows are in `GET /api/conflicts?all`).
    Overwritten { local: usize, remote: usize },
    /// The server's change nudges (Realtime) started or stopped flowing:
    /// `state` is `connecting`, `connected` or `polling` (with `reason`;
    /// sync then relies on `sync.interval` until the socket is back).
    RealtimeChanged {
        state: String,
        reason: Option<String>,
    },
    /// Sent to a reader that fell behind: `count` events it will never see.
    Dropped { count: u64 },
}

impl Event {
    /// The SSE `event:` name, the same as the JSON `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::RoundStarted { .. } => "round_started",
            Event::Progress { .. } => "progress",
            Event::RoundFinished { .. } => "round_finished",
            Event::RoundSkipped { .. } => "round_skipped",
            Event::ConflictNew { .. } => "conflict_new",
            Event::ConflictSettled { .. } => "conflict_settled",
            Event::ItemHeld { .. } => "item_held",
            Event::ItemRetried { .. } => "item_retried",
            Event::HealthChanged { .. } => "health_changed",
            Event::Overwritten { .. } => "overwritten",
            Event::RealtimeChanged { .. } => "realtime_changed",
            Event::Dropped { .. } => "dropped",
        }
    }
}

/// An event as sent: its number (the SSE `id:`), time and JSON text.
#[derive(Debug, Clone, PartialEq)]
pub struct Stamped {
    pub id: u64,
    pub kind: &'static str,
    /// The event's JSON with `at` (unix ms) and `seq` (its number) added.
    pub json: String,
}

/// The fan-out of events to every `/api/events` reader. Clones share it.
#[derive(Clone, Debug)]
pub struct Events {
    tx: broadcast::Sender<Arc<Stamped>>,
    next: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
}

impl Events {
    /// A hub that buffers `buffer` events for each reader.
    pub fn new(buffer: usize) -> Events {
        let (tx, _) = broadcast::channel(buffer.max(1));
        Events {
            tx,
            next: Arc::new(AtomicU64::new(1)),
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Sends `event` to every reader; never waits. Returns its number.
    pub fn emit(&self, event: Event) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let stamped = Arc::new(stamp(id, &event));
        // No reader is not an error: the event is simply not seen.
        let _ = self.tx.send(stamped);
        id
    }

    /// A new reader, starting with the next event.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Stamped>> {
        self.tx.subscribe()
    }

    /// Readers connected now.
    pub fn readers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Counts `n` events a slow reader lost.
    pub fn note_dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// Events lost by slow readers since start, all readers together.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The event's JSON with `at` and its number as `seq`.
pub fn stamp(id: u64, event: &Event) -> Stamped {
    let mut value = serde_json::to_value(event).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.insert("at".into(), crate::sync::now_ms().into());
        map.insert("seq".into(), id.into());
    }
    Stamped {
        id,
        kind: event.kind(),
        json: value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_slow_reader_loses_the_oldest_and_is_told() {
        let events = Events::new(16);
        let mut slow = events.subscribe();
        for round in 0..40 {
            events.emit(Event::RoundStarted { round });
        }
        match slow.recv().await {
            Err(broadcast::error::RecvError::Lagged(n)) => assert_eq!(n, 24),
            other => panic!("expected a lag, got {other:?}"),
        }
        let next = slow.recv().await.unwrap();
        assert_eq!(next.id, 25);
        assert_eq!(next.kind, "round_started");
        let v: serde_json::Value = serde_json::from_str(&next.json).unwrap();
        assert_eq!(v["type"], "round_started");
        assert_eq!(v["round"], 24);
        assert!(v["at"].as_i64().unwrap() > 0);
    }

    #[test]
    fn every_kind_matches_its_json_type() {
        let all = [
            Event::RoundStarted { round: 1 },
            Event::RoundSkipped { reason: "x".into() },
            Event::Overwritten {
                local: 1,
                remote: 0,
            },
            Event::Dropped { count: 3 },
            Event::ItemRetried {
                id: "t:1".into(),
                table: "t".into(),
                pk: "1".into(),
            },
        ];
        for e in all {
            let v = serde_json::to_value(&e).unwrap();
            assert_eq!(v["type"], e.kind());
        }
    }
}
