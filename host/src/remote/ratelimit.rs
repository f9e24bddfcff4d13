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

/// The pure decision core: a token bucket with an optional "not before"
/// instant set by a server's Retry-After.
#[derive(Debug, Clone)]
pub struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    not_before: Option<Instant>,
}

impl Bucket {
    /// A full bucket. A rate that is not a positive finite number means
    /// "no limit" (config validation refuses it; this keeps `take` total).
    pub fn new(requests_per_second: f64, burst: u32, now: Instant) -> Bucket {
        let rate = if requests_per_second.is_finite() && requests_per_second > 0.0 {
            requests_per_second
        } else {
            f64::INFINITY
        };
        let burst = f64::from(burst.max(1));
        Bucket {
            rate,
            burst,
            tokens: burst,
            last: now,
            not_before: None,
        }
    }

    /// Take one token at `now`, or say how long to wait before asking again.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        if let Some(nb) = self.not_before {
            if now < nb {
                return Err(nb - now);
            }
            self.not_before = None;
        }
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        let missing = 1.0 - self.tokens;
        let wait = Duration::try_from_secs_f64(missing / self.rate).unwrap_or(Duration::ZERO);
        // Never ask the caller to spin on a zero wait.
        Err(wait.max(Duration::from_micros(1)))
    }

    /// No token is handed out before `now + d`; the bucket also drains, so
    /// the requests queued behind a throttled one do not burst at once.
    pub fn penalize(&mut self, now: Instant, d: Duration) {
        let until = now + d;
        if self.not_before.is_none_or(|nb| nb < until) {
            self.not_before = Some(until);
        }
        self.refill(now);
        self.tokens = self.tokens.min(1.0);
    }

    fn refill(&mut self, now: Instant) {
        if now > self.last {
            let elapsed = (now - self.last).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
            self.last = now;
        }
    }
}

/// A shared token bucket: `acquire` waits for a token.
#[derive(Debug)]
pub struct RateLimiter {
    bucket: Mutex<Bucket>,
}

impl RateLimiter {
    /// `requests_per_second` tokens a second, at most `burst` at once.
    pub fn new(requests_per_second: f64, burst: u32) -> RateLimiter {
        RateLimiter {
            bucket: Mutex::new(Bucket::new(requests_per_second, burst, Instant::now())),
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

    #[tokio::test]
    async fn acquire_waits_for_tokens_and_penalties() {
        // Real clock (tokio's test-util is not enabled): loose upper bounds.
        let limiter = RateLimiter::new(10.0, 2);
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
