//! `[sync]`, `[retry]` and `[rate_limit]` of policies.toml: raw -> how
//! rounds run ([`SyncConfig`], [`RetryConfig`], [`RateLimitConfig`]). Owns
//! their defaults and the rules the JSON Schema cannot state (a max size
//! never below its start, the shortest kept-conflicts age, a rows rate of
//! 0 or more). Reads nothing; called by `resolve` only.

use std::time::Duration;

use super::raw::{RawRateLimit, RawRetry, RawSync};
use super::resolve::Ctx;
use super::{ConfigError, RateLimitConfig, RetryConfig, SyncConfig};

/// `sync.keep_resolved_conflicts` when unset: 90 days.
const KEEP_RESOLVED_CONFLICTS: Duration = Duration::from_secs(90 * 24 * 3600);

/// The shortest `sync.keep_resolved_conflicts` other than "0s" (forever):
/// anything shorter is more likely a slip ("90s" for "90d") than a wish.
const MIN_KEEP_RESOLVED_CONFLICTS: Duration = Duration::from_secs(3600);

pub(super) fn sync(cx: &Ctx, s: Option<&RawSync>) -> Result<SyncConfig, ConfigError> {
    let count = |key: &str, v: Option<u64>, default: usize| -> Result<usize, ConfigError> {
        match v {
            None => Ok(default),
            Some(0) => Err(cx.invalid(key, "must be at least 1")),
            Some(n) => usize::try_from(n).map_err(|_| cx.invalid(key, "too large")),
        }
    };
    let keep = cx.duration(
        "sync.keep_resolved_conflicts",
        s.and_then(|s| s.keep_resolved_conflicts.as_ref()),
        KEEP_RESOLVED_CONFLICTS,
        false,
    )?;
    if !keep.is_zero() && keep < MIN_KEEP_RESOLVED_CONFLICTS {
        return Err(cx.invalid(
            "sync.keep_resolved_conflicts",
            format!(
                "{} is shorter than the minimum of 1h (write \"0s\" to keep settled \
                 conflicts forever)",
                humantime::format_duration(keep)
            ),
        ));
    }
    let batch_size = count("sync.batch_size", s.and_then(|s| s.batch_size), 1000)?;
    let pull_page_size = count(
        "sync.pull_page_size",
        s.and_then(|s| s.pull_page_size),
        2000,
    )?;
    Ok(SyncConfig {
        interval: cx.duration(
            "sync.interval",
            s.and_then(|s| s.interval.as_ref()),
            Duration::from_secs(30),
            true,
        )?,
        batch_size,
        pull_page_size,
        // Never below the starting size: a config from before the sizes
        // grew keeps its batch_size.
        max_batch_size: count(
            "sync.max_batch_size",
            s.and_then(|s| s.max_batch_size),
            2000,
        )?
        .max(batch_size),
        max_pull_page_size: count(
            "sync.max_pull_page_size",
            s.and_then(|s| s.max_pull_page_size),
            6000,
        )?
        .max(pull_page_size),
        max_pull_page_bytes: match cx.size(
            "sync.max_pull_page_bytes",
            s.and_then(|s| s.max_pull_page_bytes.as_ref()),
            4 << 20,
        )? {
            0 => return Err(cx.invalid("sync.max_pull_page_bytes", "must be more than 0")),
            n => n,
        },
        local_cache: cx.size(
            "sync.local_cache",
            s.and_then(|s| s.local_cache.as_ref()),
            16 << 20,
        )?,
        local_wal: cx.size(
            "sync.local_wal",
            s.and_then(|s| s.local_wal.as_ref()),
            64 << 20,
        )?,
        answer_time: cx.duration(
            "sync.answer_time",
            s.and_then(|s| s.answer_time.as_ref()),
            Duration::from_secs(1),
            true,
        )?,
        lease: cx.duration(
            "sync.lease",
            s.and_then(|s| s.lease.as_ref()),
            Duration::from_secs(60),
            true,
        )?,
        busy_timeout: cx.duration(
            "sync.busy_timeout",
            s.and_then(|s| s.busy_timeout.as_ref()),
            Duration::from_secs(5),
            false,
        )?,
        wait_for_lock: s.and_then(|s| s.wait_for_lock).unwrap_or(false),
        max_replans: count("sync.max_replans", s.and_then(|s| s.max_replans), 5)?,
        keep_resolved_conflicts: (!keep.is_zero()).then_some(keep),
        push_delay: cx.duration(
            "sync.push_delay",
            s.and_then(|s| s.push_delay.as_ref()),
            Duration::from_millis(50),
            false,
        )?,
    })
}

pub(super) fn retry(cx: &Ctx, r: Option<&RawRetry>) -> Result<RetryConfig, ConfigError> {
    let max_attempts = match r.and_then(|r| r.max_attempts) {
        None => 5,
        Some(0) => return Err(cx.invalid("retry.max_attempts", "must be at least 1")),
        Some(n) => u32::try_from(n).map_err(|_| cx.invalid("retry.max_attempts", "too large"))?,
    };
    let initial_backoff = cx.duration(
        "retry.initial_backoff",
        r.and_then(|r| r.initial_backoff.as_ref()),
        Duration::from_secs(1),
        true,
    )?;
    let max_backoff = cx.duration(
        "retry.max_backoff",
        r.and_then(|r| r.max_backoff.as_ref()),
        Duration::from_secs(300),
        true,
    )?;
    if max_backoff < initial_backoff {
        return Err(cx.invalid(
            "retry.max_backoff",
            format!(
                "{} is shorter than retry.initial_backoff ({})",
                humantime::format_duration(max_backoff),
                humantime::format_duration(initial_backoff)
            ),
        ));
    }
    let jitter = r.and_then(|r| r.jitter).unwrap_or(0.2);
    if !(0.0..=1.0).contains(&jitter) {
        return Err(cx.invalid("retry.jitter", format!("{jitter} is outside 0 to 1")));
    }
    let dead = cx.duration(
        "retry.retry_dead_after",
        r.and_then(|r| r.retry_dead_after.as_ref()),
        Duration::from_secs(3600),
        false,
    )?;
    Ok(RetryConfig {
        max_attempts,
        initial_backoff,
        max_backoff,
        jitter,
        retry_dead_after: (!dead.is_zero()).then_some(dead),
    })
}

pub(super) fn rate_limit(
    cx: &Ctx,
    r: Option<&RawRateLimit>,
) -> Result<RateLimitConfig, ConfigError> {
    let requests_per_second = r.and_then(|r| r.requests_per_second).unwrap_or(10.0);
    if !(requests_per_second.is_finite() && requests_per_second > 0.0) {
        return Err(cx.invalid(
            "rate_limit.requests_per_second",
            format!("{requests_per_second} must be above 0"),
        ));
    }
    let burst = match r.and_then(|r| r.burst) {
        None => 20,
        Some(0) => return Err(cx.invalid("rate_limit.burst", "must be at least 1")),
        Some(b) => u32::try_from(b).map_err(|_| cx.invalid("rate_limit.burst", "too large"))?,
    };
    let rows_per_second = r.and_then(|r| r.rows_per_second).unwrap_or(50_000.0);
    if !(rows_per_second.is_finite() && rows_per_second >= 0.0) {
        return Err(cx.invalid(
            "rate_limit.rows_per_second",
            format!("{rows_per_second} must be 0 (no limit) or above"),
        ));
    }
    let max_retry_after = cx.duration(
        "rate_limit.max_retry_after",
        r.and_then(|r| r.max_retry_after.as_ref()),
        Duration::from_secs(3600),
        true,
    )?;
    Ok(RateLimitConfig {
        requests_per_second,
        burst,
        rows_per_second,
        max_retry_after,
    })
}
