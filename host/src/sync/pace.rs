//! How much one request carries: the changes of a push batch or the rows
//! of a pull page. One rule for both (`[sync]` `answer_time`): a full
//! request answered within half the answer time doubles the next one, up
//! to the max; one answered slower halves it; one the server could not
//! finish (a timeout, 413) halves it at once, down to one. So bulk work
//! goes in few, large requests while the server keeps up, and each request
//! costs the server about `answer_time` at most.
//!
//! Pure: it is told what was sent and how long the answer took, and never
//! reads a clock. Owned by the `Engine` (one for pushes, one for pulls).
//! The time is the request's as this side sees it: a wait in the rate
//! limiter (a server's Retry-After included) and the backoff of a retried
//! request count as slow, so a throttled or failing server gets smaller
//! requests too.

use std::time::Duration;

/// The size of the next request.
#[derive(Debug, Clone)]
pub(crate) struct Pace {
    now: usize,
    max: usize,
    answer_time: Duration,
    /// The most bytes one answer is to carry (pull pages), `None` for none.
    max_bytes: Option<u64>,
}

impl Pace {
    /// Starts at `start`, grows to `max` at most (never below `start`).
    pub(crate) fn new(start: usize, max: usize, answer_time: Duration) -> Pace {
        let start = start.max(1);
        Pace {
            now: start,
            max: max.max(start),
            answer_time,
            max_bytes: None,
        }
    }

    /// The same, and no answer to grow past `max_bytes` (pull pages: the
    /// client holds two at once).
    pub(crate) fn with_max_bytes(self, max_bytes: u64) -> Pace {
        Pace {
            max_bytes: Some(max_bytes),
            ..self
        }
    }

    /// How many changes or rows the next request carries.
    pub(crate) fn size(&self) -> usize {
        self.now
    }

    /// A request of `sent` was answered in `took`. Only a full one says the
    /// server keeps up with this size; any slow one says it does not.
    pub(crate) fn answered(&mut self, sent: usize, took: Duration) {
        if took > self.answer_time {
            self.now = (self.now / 2).max(1);
        } else if sent >= self.now && took <= self.answer_time / 2 {
            self.now = self.now.saturating_mul(2).min(self.max);
        }
    }

    /// An answer of `rows` came in `bytes` (after [`Pace::answered`]): the
    /// next carries as many rows of that size as `max_bytes` holds at
    /// most, and one at least. An answer of unknown size (0) says nothing.
    pub(crate) fn sized(&mut self, rows: usize, bytes: usize) {
        let Some(max_bytes) = self.max_bytes else {
            return;
        };
        if rows == 0 || bytes == 0 {
            return;
        }
        let per_row = (bytes as u64).div_ceil(rows as u64);
        let fits = usize::try_from(max_bytes / per_row).unwrap_or(usize::MAX);
        self.now = self.now.min(fits).max(1);
    }

    /// The server could not finish a request of `sent` (it timed out, or
    /// said it is too large): the next carries half of it at most.
    pub(crate) fn too_big(&mut self, sent: usize) {
        self.now = self.now.min(sent / 2).max(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn grows_while_the_server_keeps_up_and_stops_at_the_max() {
        let mut pace = Pace::new(1000, 10_000, ms(1000));
        let mut sizes = Vec::new();
        for _ in 0..6 {
            let n = pace.size();
            sizes.push(n);
            pace.answered(n, ms(100));
        }
        assert_eq!(sizes, [1000, 2000, 4000, 8000, 10_000, 10_000]);
    }

    #[test]
    fn a_slow_answer_halves_and_a_middling_one_holds() {
        let mut pace = Pace::new(4000, 10_000, ms(1000));
        pace.answered(4000, ms(1500));
        assert_eq!(pace.size(), 2000);
        // Between half and the whole answer time: stays.
        pace.answered(2000, ms(700));
        assert_eq!(pace.size(), 2000);
        for _ in 0..20 {
            pace.answered(1, ms(5000));
        }
        assert_eq!(pace.size(), 1, "never below one");
    }

    #[test]
    fn a_short_request_says_nothing_about_a_full_one() {
        let mut pace = Pace::new(1000, 10_000, ms(1000));
        pace.answered(3, ms(1));
        assert_eq!(pace.size(), 1000);
    }

    #[test]
    fn too_big_halves_what_was_sent() {
        let mut pace = Pace::new(8000, 10_000, ms(1000));
        pace.too_big(8000);
        assert_eq!(pace.size(), 4000);
        pace.too_big(1);
        assert_eq!(pace.size(), 1);
        // The max is never below the start.
        let pace = Pace::new(5000, 10, ms(1000));
        assert_eq!((pace.size(), pace.max), (5000, 5000));
    }

    #[test]
    fn pages_of_wide_rows_stay_within_the_bytes() {
        let mut pace = Pace::new(2000, 8000, ms(1000)).with_max_bytes(4 << 20);
        // Rows of ~235 B: the rows' max binds.
        for _ in 0..4 {
            let n = pace.size();
            pace.answered(n, ms(50));
            pace.sized(n, n * 235);
        }
        assert_eq!(pace.size(), 8000);
        // Rows of 2 KiB: 2048 of them fill 4 MiB.
        pace.answered(8000, ms(50));
        pace.sized(8000, 8000 * 2048);
        assert_eq!(pace.size(), 2048);
        pace.answered(2048, ms(50));
        pace.sized(2048, 2048 * 2048);
        assert_eq!(pace.size(), 2048, "grown and sized again");
        // A row bigger than the whole: one a page, never none.
        pace.sized(1, 5 << 20);
        assert_eq!(pace.size(), 1);
        // Size unknown (pages that came together): nothing said.
        pace.answered(1, ms(50));
        pace.sized(2, 0);
        assert_eq!(pace.size(), 2);
        // No max in bytes (pushes): rows only.
        let mut push = Pace::new(1000, 2000, ms(1000));
        push.answered(1000, ms(50));
        push.sized(1000, 1 << 30);
        assert_eq!(push.size(), 2000);
    }
}
