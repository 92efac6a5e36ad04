//! When to refresh: the wait before the next refresh from an expiry, retry
//! backoff with full jitter, and the random numbers both use. Pure arithmetic with the
//! clock and the randomness passed in, so tests are exact.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use crate::time::Timestamp;

/// 10 minutes: a refresh is never planned later than this before
/// expiry, so retries have time before a `--check --min-valid 5m` probe
/// sees the file as stale.
pub const SAFETY_MARGIN: Duration = Duration::from_secs(600);
/// 1 second: the shortest wait between refreshes, so that
/// credentials living only seconds (test fakes, a skewed clock) cannot make
/// the loop spin.
pub const MIN_WAIT: Duration = Duration::from_secs(1);
/// 6 hours: the longest any refresh is planned ahead. STS issues no session
/// longer than 12 h, so its half-life is at most this; an answer claiming a
/// far later expiry (a proxy's mistake, a clock far behind) is still
/// refreshed this often, never left alone for good.
pub const LONGEST_WAIT: Duration = Duration::from_secs(6 * 3600);
/// At most this share of a planned wait is taken off at random, so a fleet
/// started together spreads out.
pub const REFRESH_JITTER: f64 = 0.1;
/// 1 second: the first retry's upper bound.
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// 1 minute: the daemon's largest retry wait.
pub const BACKOFF_CAP: Duration = Duration::from_secs(60);
/// 10 seconds: `--once` has a bounded budget, so its waits stay shorter.
pub const ONCE_BACKOFF_CAP: Duration = Duration::from_secs(10);
/// Even full jitter waits this long, so a retry is never immediate.
pub const MIN_BACKOFF: Duration = Duration::from_millis(100);

/// How long to wait before refreshing credentials that expire at
/// `expiration`: half the remaining lifetime, but no later than
/// [`SAFETY_MARGIN`] before expiry and no more than [`LONGEST_WAIT`], minus
/// up to [`REFRESH_JITTER`] of it (`jitter` in `[0, 1)`), and never less than
/// [`MIN_WAIT`]. Never less than a quarter of the remaining lifetime either:
/// credentials living just over the margin (601 s) would otherwise be
/// refreshed every second, each answer as short as the last.
pub fn refresh_delay(now: Timestamp, expiration: Timestamp, jitter: f64) -> Duration {
    refresh_delay_keeping(now, expiration, Duration::ZERO, jitter)
}

/// 1 minute: with `/readyz` asking for `--min-valid` at all times, how long
/// before the credentials fall short of it the refresh is due, so one that
/// takes a while, or a retry, still lands in time.
pub const READY_HEADROOM: Duration = Duration::from_secs(60);

/// [`refresh_delay`], when credentials must stay valid for `keep` at all
/// times (`/readyz` with `--min-valid`): the refresh is also due
/// [`READY_HEADROOM`] before less than `keep` is left, whatever the rules
/// above say, but never sooner than an eighth of the remaining lifetime: a
/// `keep` just short of the lifetime (`--duration 15m --min-valid 13m58s`)
/// made that due a second or two after every refresh, and STS was called
/// over and over. (Credentials that cannot meet `keep` that way, see
/// [`falls_short`], are the caller's to warn about.)
pub fn refresh_delay_keeping(
    now: Timestamp,
    expiration: Timestamp,
    keep: Duration,
    jitter: f64,
) -> Duration {
    let remaining = now.until(expiration).min(2 * LONGEST_WAIT);
    let half = remaining / 2;
    let planned = match remaining.checked_sub(SAFETY_MARGIN) {
        Some(before_margin) if !before_margin.is_zero() => half.min(before_margin),
        _ => half,
    }
    .max(remaining / 4);
    // Credentials that cannot stay valid for `keep` even when fresh gain
    // nothing from coming sooner; all others come in time for it where an
    // eighth of their lifetime allows, and at that eighth where it does not.
    let planned = if keep.is_zero() || keep >= remaining {
        planned
    } else {
        let before_short = remaining.saturating_sub(keep + READY_HEADROOM);
        planned.min(before_short.max(remaining / 8))
    };
    let cut = planned.mul_f64(REFRESH_JITTER * jitter.clamp(0.0, 1.0));
    planned.saturating_sub(cut).max(MIN_WAIT)
}

/// How long before a refresh after `wait` credentials expiring at
/// `expiration` are valid for less than `keep` (zero when they never are):
/// what `/readyz` and `--check` probes with that `--min-valid` see fail. At
/// most the whole wait: credentials shorter than `keep` fail probes all the
/// time.
pub fn falls_short(
    now: Timestamp,
    expiration: Timestamp,
    keep: Duration,
    wait: Duration,
) -> Duration {
    let remaining = now.until(expiration);
    keep.saturating_sub(remaining.saturating_sub(wait))
        .min(wait)
}

/// The wait before retry number `attempt` (1 for the first retry):
/// uniformly random up to `min(cap, base * 2^(attempt-1))` ("full jitter"),
/// so that many sidecars failing together do not retry together.
pub fn backoff(attempt: u32, cap: Duration, jitter: f64) -> Duration {
    doubling(attempt, cap)
        .mul_f64(jitter.clamp(0.0, 1.0))
        .max(MIN_BACKOFF)
}

/// `min(cap, BACKOFF_BASE * 2^(n-1))`, for `n` from 1.
fn doubling(n: u32, cap: Duration) -> Duration {
    BACKOFF_BASE
        .checked_mul(1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX))
        .unwrap_or(cap)
        .min(cap)
}

/// 1 minute: credentials that arrive with less than this left are
/// short-lived. No source issues such on purpose (STS's shortest session is
/// 15 minutes); a source gone wrong, or a clock far ahead, answers nothing
/// else.
pub const SHORT_LIVED: Duration = Duration::from_secs(60);
/// 10: short-lived answers in a row before refreshes are spaced out.
pub const SHORT_LIVED_IN_A_ROW: u32 = 10;

/// The least wait after the `in_a_row`-th short-lived answer in a row: none
/// before [`SHORT_LIVED_IN_A_ROW`], then doubling from [`BACKOFF_BASE`] to
/// [`BACKOFF_CAP`], less up to [`REFRESH_JITTER`] of it. A source that only
/// ever answers credentials about to expire made the daemon ask it once a
/// second for good; now, after a few tries, once a minute.
pub fn short_lived_floor(in_a_row: u32, jitter: f64) -> Duration {
    let Some(over) = in_a_row.checked_sub(SHORT_LIVED_IN_A_ROW) else {
        return Duration::ZERO;
    };
    let floor = doubling(over + 1, BACKOFF_CAP);
    floor.saturating_sub(floor.mul_f64(REFRESH_JITTER * jitter.clamp(0.0, 1.0)))
}

/// A random number in `[0, 1)`. `RandomState` is seeded from the operating
/// system's randomness per process and mixed per call; that is plenty for
/// spreading retries and needs no extra crate or device file.
pub fn random_unit() -> f64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests;
