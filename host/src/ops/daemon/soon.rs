//! When the daemon's next round is due sooner than the poll, after a round:
//! at once again (`sync.push_delay`) when the app wrote during the round,
//! and soon again when a nudged pull found the server's horizon held by a
//! transaction still open (the announced rows may sit behind it). Pure:
//! told the round's outcome and the time, it keeps the counts that bound
//! both.

use std::time::{Duration, Instant};

/// Rounds started one after another because the last one left pending
/// items (writes made during it), before waiting for the next write.
const MAX_FOLLOW_UPS: u32 = 3;

/// A nudged pull that found the horizon held is tried again after this,
/// doubling, at most [`MAX_HELD_RETRIES`] times; then the poll.
const HELD_RETRY: Duration = Duration::from_millis(100);
const MAX_HELD_RETRIES: u32 = 6;

/// What a round tells the loop.
#[derive(Debug, Default)]
pub(super) struct Turn {
    /// The round ran to its end without an error.
    pub(super) ok: bool,
    /// A pull found the server's horizon held by an open transaction.
    pub(super) held: bool,
}

/// The counts of rounds run sooner, in a row.
#[derive(Debug, Default)]
pub(super) struct Soon {
    follow_ups: u32,
    held_retries: u32,
}

impl Soon {
    /// When the next round is due after `turn` (`None`: at the poll, or
    /// when something wakes the loop). `pending`: items wait for their
    /// first push; `nudged`: a server nudge started this round.
    pub(super) fn after(
        &mut self,
        turn: &Turn,
        pending: impl FnOnce() -> bool,
        nudged: bool,
        push_delay: Duration,
        now: Instant,
    ) -> Option<Instant> {
        // A write made during the round, after its push, goes now.
        let mut due = None;
        if turn.ok && self.follow_ups < MAX_FOLLOW_UPS && pending() {
            self.follow_ups += 1;
            due = Some(now + push_delay);
        } else {
            self.follow_ups = 0;
        }
        // The server announced rows, and the pull found a transaction open
        // before them: pull again soon rather than at the poll.
        let retrying = nudged || self.held_retries > 0;
        if turn.held && retrying && self.held_retries < MAX_HELD_RETRIES {
            let soon = now + HELD_RETRY * 2u32.pow(self.held_retries);
            self.held_retries += 1;
            due = Some(due.map_or(soon, |d: Instant| d.min(soon)));
        } else {
            self.held_retries = 0;
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELD: Turn = Turn {
        ok: true,
        held: true,
    };

    #[test]
    fn a_held_nudged_pull_is_retried_doubling_then_left_to_the_poll() {
        let (mut soon, now, delay) = (Soon::default(), Instant::now(), Duration::ZERO);
        let waits: Vec<Option<u128>> = (0..8)
            .map(|i| {
                soon.after(&HELD, || false, i == 0, delay, now)
                    .map(|d| (d - now).as_millis())
            })
            .collect();
        let expect = [100, 200, 400, 800, 1600, 3200].map(Some);
        assert_eq!(&waits[..6], &expect);
        assert_eq!(&waits[6..], &[None, None]);
        // Held without a nudge (the poll's own round): nothing sooner.
        let mut soon = Soon::default();
        assert_eq!(soon.after(&HELD, || false, false, delay, now), None);
    }

    #[test]
    fn writes_during_a_round_follow_up_three_times() {
        let (mut soon, now) = (Soon::default(), Instant::now());
        let delay = Duration::from_millis(50);
        let ok = Turn {
            ok: true,
            held: false,
        };
        let due: Vec<bool> = (0..5)
            .map(|_| soon.after(&ok, || true, false, delay, now).is_some())
            .collect();
        assert_eq!(due, [true, true, true, false, true]);
        let failed = Turn::default();
        assert_eq!(soon.after(&failed, || true, false, delay, now), None);
    }
}
