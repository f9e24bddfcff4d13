//! The token bucket in front of every request to the remote (`[rate_limit]`).
//!
//! Owns the pacing decision only: [`Bucket::take`] is a pure function of the
//! bucket and an explicit instant, so its tests need no clock. The async
//! [`RateLimiter`] wraps it with a mutex and tokio's timer. It never talks to
//! the network and never decides retries (that is `sync`'s job).
//!
//! Called by `remote::postgrest::Client` before each request, and told
//! through [`RateLimiter::penalize`] when the server sends `Retry-After`, so
//! that one throttled answer pushes back every later request, not only the
//! one that was refused.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// One token bucket: `rate` tokens a second, at most `burst` banked.
#[derive(Debug, Clone)]
struct Tokens {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Tokens {
    /// A full bucket. A rate that is not a positive finite number means
    /// "no limit".
    fn new(rate: f64, burst: f64, now: Instant) -> Tokens {
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            f64::INFINITY
        };
        Tokens {
            rate,
            burst,
            tokens: burst,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        if now > self.last {
            let elapsed = (now - self.last).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
            self.last = now;
        }
    }

    /// How long until the bucket holds `need` tokens (zero if it does).
    fn wait_for(&self, need: f64) -> Duration {
        if self.tokens >= need {
            return Duration::ZERO;
        }
        let wait =
            Duration::try_from_secs_f64((need - self.tokens) / self.rate).unwrap_or(Duration::ZERO);
        // Never ask the caller to spin on a zero wait.
        wait.max(Duration::from_micros(1))
    }
}

/// The pure decision core: a bucket of requests, a bucket of rows (pushed
/// or pulled, charged after each request, so a big batch makes the next
/// request wait) and an optional "not before" instant set by a server's
/// Retry-After.
#[derive(Debug, Clone)]
pub struct Bucket {
    requests: Tokens,
    rows: Tokens,
    not_before: Option<Instant>,
}

impl Bucket {
    /// A full bucket with no limit on rows. A rate that is not a positive
    /// finite number means "no limit" (config validation refuses it; this
    /// keeps `take` total).
    pub fn new(requests_per_second: f64, burst: u32, now: Instant) -> Bucket {
        Bucket {
            requests: Tokens::new(requests_per_second, f64::from(burst.max(1)), now),
            rows: Tokens::new(f64::INFINITY, f64::INFINITY, now),
            not_before: None,
        }
    }

    /// At most `rows_per_second` rows a second on average, a second's worth
    /// at once (0: no limit).
    pub fn with_rows(mut self, rows_per_second: f64) -> Bucket {
        let now = self.rows.last;
        self.rows = match rows_per_second > 0.0 {
            true => Tokens::new(rows_per_second, rows_per_second.max(1.0), now),
            false => Tokens::new(f64::INFINITY, f64::INFINITY, now),
        };
        self
    }

    /// Take one request token at `now`, or say how long to wait before
    /// asking again. Waits too while the rows of earlier requests are
    /// still owed.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        if let Some(nb) = self.not_before {
            if now < nb {
                return Err(nb - now);
            }
            self.not_before = None;
        }
        self.requests.refill(now);
        self.rows.refill(now);
        let wait = self.requests.wait_for(1.0).max(self.rows.wait_for(0.0));
        if !wait.is_zero() {
            return Err(wait);
        }
        self.requests.tokens -= 1.0;
        Ok(())
    }

    /// Charges `rows` pushed or pulled at `now`; the bucket may go below
    /// zero, and then the next request waits until it is paid back.
    pub fn charge(&mut self, now: Instant, rows: usize) {
        if self.rows.rate.is_finite() {
            self.rows.refill(now);
            self.rows.tokens -= rows as f64;
        }
    }

    /// No token is handed out before `now + d`; the bucket also drains, so
    /// the requests queued behind a throttled one do not burst at once.
    pub fn penalize(&mut self, now: Instant, d: Duration) {
        let until = now + d;
        if self.not_before.is_none_or(|nb| nb < until) {
            self.not_before = Some(until);
        }
        self.requests.refill(now);
        self.requests.tokens = self.requests.tokens.min(1.0);
    }
}

/// A shared token bucket: `acquire` waits for a token.
#[derive(Debug)]
pub struct RateLimiter {
    bucket: Mutex<Bucket>,
}

impl RateLimiter {
    /// `requests_per_second` tokens a second, at most `burst` at once, and
    /// at most `rows_per_second` rows (0: no limit on rows).
    pub fn new(requests_per_second: f64, burst: u32, rows_per_second: f64) -> RateLimiter {
        let bucket = Bucket::new(requests_per_second, burst, Instant::now());
        RateLimiter {
            bucket: Mutex::new(bucket.with_rows(rows_per_second)),
        }
    }

    /// Wait until a token is available and take it.
    pub async fn acquire(&self) {
        loop {
            let wait = match self.with_bucket(|b| b.take(Instant::now())) {
                Ok(()) => return,
                Err(wait) => wait,
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Counts `rows` pushed or pulled against the rows per second.
    pub fn charge(&self, rows: usize) {
        self.with_bucket(|b| b.charge(Instant::now(), rows));
    }

    /// Hold every later request back for `d` (a server's Retry-After).
    pub fn penalize(&self, d: Duration) {
        self.with_bucket(|b| b.penalize(Instant::now(), d));
    }

    fn with_bucket<T>(&self, f: impl FnOnce(&mut Bucket) -> T) -> T {
        // A panic while holding the lock cannot leave the bucket in a state
        // worse than "a few tokens off", so a poisoned lock is used as is.
        let mut guard = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn burst_then_paced() {
        let t0 = Instant::now();
        let mut b = Bucket::new(10.0, 3, t0);
        for _ in 0..3 {
            assert_eq!(b.take(t0), Ok(()));
        }
        let wait = b.take(t0).unwrap_err();
        assert!(wait > ms(99) && wait <= ms(100), "{wait:?}");
        // Half a token later: still waiting, for the other half.
        let wait = b.take(t0 + ms(50)).unwrap_err();
        assert!(wait > ms(49) && wait <= ms(50), "{wait:?}");
        assert_eq!(b.take(t0 + ms(100)), Ok(()));
        assert!(b.take(t0 + ms(100)).is_err());
    }

    #[test]
    fn refill_is_capped_at_burst() {
        let t0 = Instant::now();
        let mut b = Bucket::new(100.0, 2, t0);
        b.take(t0).unwrap();
        b.take(t0).unwrap();
        let later = t0 + Duration::from_secs(60);
        assert_eq!(b.take(later), Ok(()));
        assert_eq!(b.take(later), Ok(()));
        assert!(
            b.take(later).is_err(),
            "a minute idle must not bank 6000 tokens"
        );
    }

    #[test]
    fn penalty_holds_back_every_request() {
        let t0 = Instant::now();
        let mut b = Bucket::new(1000.0, 50, t0);
        b.penalize(t0, Duration::from_secs(2));
        assert_eq!(b.take(t0 + ms(500)), Err(ms(1500)));
        assert_eq!(b.take(t0 + ms(1999)), Err(ms(1)));
        assert_eq!(b.take(t0 + ms(2000)), Ok(()));
    }

    #[test]
    fn shorter_penalty_does_not_shorten_a_longer_one() {
        let t0 = Instant::now();
        let mut b = Bucket::new(10.0, 5, t0);
        b.penalize(t0, Duration::from_secs(5));
        b.penalize(t0 + ms(100), Duration::from_secs(1));
        assert_eq!(b.take(t0 + ms(1200)), Err(ms(3800)));
    }

    #[test]
    fn penalty_drains_the_burst() {
        let t0 = Instant::now();
        let mut b = Bucket::new(1.0, 10, t0);
        b.penalize(t0, ms(10));
        let t1 = t0 + ms(10);
        assert_eq!(b.take(t1), Ok(()));
        assert!(b.take(t1).is_err(), "after a 429 the burst is not replayed");
    }

    #[test]
    fn nonsense_rate_means_unlimited() {
        let t0 = Instant::now();
        for rate in [0.0, -1.0, f64::NAN] {
            let mut b = Bucket::new(rate, 1, t0);
            assert_eq!(b.take(t0), Ok(()));
            // Refill is instant at an infinite rate.
            assert_eq!(b.take(t0 + ms(1)), Ok(()));
        }
    }

    #[test]
    fn rows_owed_hold_the_next_request_back() {
        let t0 = Instant::now();
        let mut b = Bucket::new(1000.0, 100, t0).with_rows(1000.0);
        // A batch of 3,000 rows at once: the request goes (a second's worth
        // is banked), the next waits until the 2,000 owed are paid back.
        assert_eq!(b.take(t0), Ok(()));
        b.charge(t0, 3000);
        assert_eq!(b.take(t0), Err(ms(2000)));
        assert_eq!(b.take(t0 + ms(1500)), Err(ms(500)));
        assert_eq!(b.take(t0 + ms(2000)), Ok(()));
        // Small requests pay as they go: 10 rows each, 100 a second.
        let mut b = Bucket::new(1000.0, 100, t0).with_rows(100.0);
        b.charge(t0, 100);
        for i in 0..10 {
            let at = t0 + ms(100 * i);
            assert_eq!(b.take(at), Ok(()), "request {i}");
            b.charge(at, 10);
        }
        assert_eq!(b.take(t0 + ms(1000)), Ok(()));
    }

    #[test]
    fn no_rows_limit_charges_nothing() {
        let t0 = Instant::now();
        let mut b = Bucket::new(1000.0, 100, t0).with_rows(0.0);
        b.charge(t0, usize::MAX);
        assert_eq!(b.take(t0), Ok(()));
    }

    #[tokio::test]
    async fn acquire_waits_for_tokens_and_penalties() {
        // Real clock (tokio's test-util is not enabled): loose upper bounds.
        let limiter = RateLimiter::new(10.0, 2, 0.0);
        let start = Instant::now();
        limiter.acquire().await;
        limiter.acquire().await;
        assert!(start.elapsed() < ms(50));
        limiter.acquire().await;
        let e = start.elapsed();
        assert!(e >= ms(99) && e < ms(400), "{e:?}");
        let before = Instant::now();
        limiter.penalize(ms(300));
        limiter.acquire().await;
        let e = before.elapsed();
        assert!(e >= ms(299) && e < ms(900), "{e:?}");
    }
}
