//! How long to wait before trying again: exponential backoff with jitter,
//! and the item-level decision of retry versus dead. Pure functions, no I/O.

use std::time::Duration;

use crate::config::RetryConfig;

/// The wait before retry number `attempt` (1 = the first retry):
/// `initial * 2^(attempt-1)`, capped at `max_backoff`, then scaled by a
/// jitter factor in `[1 - jitter, 1 + jitter]` chosen by `unit` in `[0, 1)`.
/// A server's Retry-After, when longer, wins.
pub fn delay(
    attempt: u32,
    cfg: &RetryConfig,
    unit: f64,
    retry_after: Option<Duration>,
) -> Duration {
    let exp = attempt.saturating_sub(1).min(32);
    let base = cfg
        .initial_backoff
        .saturating_mul(1u32 << exp.min(31))
        .min(cfg.max_backoff);
    let factor = 1.0 - cfg.jitter + 2.0 * cfg.jitter * unit.clamp(0.0, 1.0);
    let jittered = Duration::try_from_secs_f64(base.as_secs_f64() * factor.max(0.0))
        .unwrap_or(cfg.max_backoff)
        .min(cfg.max_backoff);
    match retry_after {
        Some(server) if server > jittered => server,
        _ => jittered,
    }
}

/// What becomes of an item whose push failed for the `attempts`-th time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemFate {
    /// Try again at `at` (unix ms).
    Retry { at: i64 },
    /// Retries exhausted: kept as dead with its error, revived after
    /// `retry.retry_dead_after` if set.
    Dead,
}

/// Decides an item's fate after its `attempts`-th failed try at `now`.
pub fn item_fate(attempts: u32, cfg: &RetryConfig, now: i64, unit: f64) -> ItemFate {
    if attempts >= cfg.max_attempts {
        return ItemFate::Dead;
    }
    ItemFate::Retry {
        at: retry_at(attempts, cfg, now, unit),
    }
}

/// When an item that failed `attempts` times (charged, see
/// [`item_fate`]) is tried again: `now` plus [`delay`].
pub fn retry_at(attempts: u32, cfg: &RetryConfig, now: i64, unit: f64) -> i64 {
    let wait = delay(attempts, cfg, unit, None);
    now.saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(jitter: f64) -> RetryConfig {
        RetryConfig {
            max_attempts: 3,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            jitter,
            retry_dead_after: None,
        }
    }

    #[test]
    fn doubles_until_the_cap() {
        let c = cfg(0.0);
        let waits: Vec<u64> = (1..=6).map(|a| delay(a, &c, 0.5, None).as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 10, 10]);
    }

    #[test]
    fn jitter_stays_in_its_band_and_under_the_cap() {
        let c = cfg(0.2);
        assert_eq!(delay(1, &c, 0.0, None), Duration::from_millis(800));
        assert_eq!(delay(1, &c, 1.0, None), Duration::from_millis(1200));
        assert_eq!(delay(9, &c, 1.0, None), Duration::from_secs(10));
    }

    #[test]
    fn retry_after_wins_when_longer() {
        let c = cfg(0.0);
        let server = Some(Duration::from_secs(7));
        assert_eq!(delay(1, &c, 0.5, server), Duration::from_secs(7));
        assert_eq!(
            delay(5, &c, 0.5, Some(Duration::from_secs(1))),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow() {
        let c = cfg(0.5);
        assert_eq!(delay(u32::MAX, &c, 0.99, None), Duration::from_secs(10));
    }

    #[test]
    fn absurd_durations_do_not_panic() {
        let mut c = cfg(1.0);
        c.initial_backoff = Duration::MAX;
        c.max_backoff = Duration::MAX;
        assert_eq!(delay(40, &c, 1.0, None), Duration::MAX);
    }

    #[test]
    fn items_die_after_max_attempts() {
        let c = cfg(0.0);
        assert_eq!(item_fate(1, &c, 1000, 0.5), ItemFate::Retry { at: 2000 });
        assert_eq!(item_fate(2, &c, 1000, 0.5), ItemFate::Retry { at: 3000 });
        assert_eq!(item_fate(3, &c, 1000, 0.5), ItemFate::Dead);
    }
}
