//! Unit tests of `schedule`.

use super::*;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_unix(secs)
}

#[test]
fn one_hour_credentials_refresh_at_half_life() {
    assert_eq!(
        refresh_delay(at(0), at(3600), 0.0),
        Duration::from_secs(1800)
    );
    let jittered = refresh_delay(at(0), at(3600), 0.999);
    assert!(jittered < Duration::from_secs(1800) && jittered > Duration::from_secs(1619));
}

#[test]
fn fifteen_minute_credentials_keep_the_safety_margin() {
    // half would be 450 s; the margin says no later than 300 s.
    assert_eq!(refresh_delay(at(0), at(900), 0.0), Duration::from_secs(300));
}

#[test]
fn twelve_hour_credentials() {
    assert_eq!(
        refresh_delay(at(100), at(100 + 43_200), 0.0),
        Duration::from_secs(21_600)
    );
}

#[test]
fn a_far_future_expiry_is_refreshed_all_the_same() {
    assert_eq!(refresh_delay(at(0), at(253_402_300_799), 0.0), LONGEST_WAIT);
    assert_eq!(refresh_delay(at(0), at(30 * 3600), 0.0), LONGEST_WAIT);
}

#[test]
fn short_lived_credentials_never_spin() {
    assert_eq!(refresh_delay(at(0), at(4), 0.0), Duration::from_secs(2));
    assert_eq!(refresh_delay(at(0), at(1), 0.0), MIN_WAIT);
    assert_eq!(refresh_delay(at(10), at(0), 0.5), MIN_WAIT);
    assert_eq!(refresh_delay(at(0), at(600), 0.0), Duration::from_secs(300));
}

/// 601-second credentials were refreshed every second
/// (the margin left 1 s), forever. Whatever the lifetime, the wait is
/// at least a quarter of it, jitter included.
#[test]
fn credentials_just_over_the_margin_cause_no_storm() {
    assert_eq!(
        refresh_delay(at(0), at(601), 0.0),
        Duration::from_millis(150_250)
    );
    for lifetime in 2..=7200 {
        let wait = refresh_delay(at(0), at(lifetime), 0.999);
        let quarter = Duration::from_secs(lifetime as u64) / 4;
        assert!(
            wait >= quarter.mul_f64(1.0 - REFRESH_JITTER) || wait == MIN_WAIT,
            "{lifetime} s: {wait:?}"
        );
    }
}

#[test]
fn backoff_grows_to_the_cap_with_full_jitter() {
    assert_eq!(
        backoff(1, BACKOFF_CAP, 0.999_999),
        Duration::from_nanos(999_999_000)
    );
    assert_eq!(backoff(3, BACKOFF_CAP, 0.5), Duration::from_secs(2));
    assert_eq!(backoff(7, BACKOFF_CAP, 1.0), BACKOFF_CAP);
    assert_eq!(backoff(100, BACKOFF_CAP, 1.0), BACKOFF_CAP);
    assert_eq!(backoff(u32::MAX, ONCE_BACKOFF_CAP, 1.0), ONCE_BACKOFF_CAP);
    assert_eq!(backoff(5, BACKOFF_CAP, 0.0), MIN_BACKOFF);
}

#[test]
fn random_unit_is_in_range_and_varies() {
    let draws: Vec<f64> = (0..1000).map(|_| random_unit()).collect();
    assert!(draws.iter().all(|x| (0.0..1.0).contains(x)));
    let mean = draws.iter().sum::<f64>() / draws.len() as f64;
    assert!((0.4..0.6).contains(&mean), "mean {mean}");
}

/// With `/readyz` asking for more validity than the
/// margin leaves (`--min-valid 11m`, 15-minute credentials refreshed 10
/// minutes before expiry), readiness turned 503 before every refresh. The
/// refresh now comes a minute before less than `--min-valid` is left.
#[test]
fn credentials_kept_valid_for_min_valid_are_refreshed_before_they_fall_short() {
    let keep = |secs| Duration::from_secs(secs);
    // Nothing to keep, or less than the margin: as before.
    assert_eq!(
        refresh_delay_keeping(at(0), at(900), keep(0), 0.0),
        refresh_delay(at(0), at(900), 0.0)
    );
    assert_eq!(
        refresh_delay_keeping(at(0), at(3600), keep(300), 0.0),
        Duration::from_secs(1800)
    );
    // 15 minutes, 11 kept: due with 12 left, not 10.
    assert_eq!(
        refresh_delay_keeping(at(0), at(900), keep(660), 0.0),
        Duration::from_secs(180)
    );
    // One hour, 50 minutes kept: before the quarter-life floor.
    assert_eq!(
        refresh_delay_keeping(at(0), at(3600), keep(3000), 0.0),
        Duration::from_secs(540)
    );
    // Never valid that long, even fresh: the usual plan, and the caller
    // warns.
    assert_eq!(
        refresh_delay_keeping(at(0), at(900), keep(900), 0.0),
        refresh_delay(at(0), at(900), 0.0)
    );
    // Within a minute of the lifetime: as soon as an eighth allows, not
    // the usual plan (which left probes failing half the time).
    assert_eq!(
        refresh_delay_keeping(at(0), at(3600), keep(3540), 0.0),
        Duration::from_secs(450)
    );
}

/// A `keep` just short of the lifetime made the refresh due a second or two
/// after each one (lifetime - keep - 60 s), and STS was called over and
/// over. Whatever `keep`, the wait is at least an eighth of the lifetime,
/// jitter included; what that leaves short of `keep` is `falls_short`.
#[test]
fn no_min_valid_makes_refreshes_come_one_after_another() {
    for lifetime in [120u64, 900, 3600, 43_200] {
        for keep in (0..lifetime).step_by((lifetime / 97).max(1) as usize) {
            let wait =
                refresh_delay_keeping(at(0), at(lifetime as i64), Duration::from_secs(keep), 0.999);
            let eighth = Duration::from_secs(lifetime) / 8;
            assert!(
                wait >= eighth.mul_f64(1.0 - REFRESH_JITTER).max(MIN_WAIT),
                "{lifetime} s keeping {keep} s: {wait:?}"
            );
        }
    }
    let keep = |secs| Duration::from_secs(secs);
    // 15 minutes, 13m58s kept: due after 112.5 s, 50.5 s short.
    assert_eq!(
        refresh_delay_keeping(at(0), at(900), keep(838), 0.0),
        Duration::from_millis(112_500)
    );
    assert_eq!(
        falls_short(at(0), at(900), keep(838), latest(900, 838)),
        Duration::from_millis(50_500)
    );
    // Kept with time to spare, or nothing to keep: never short.
    assert_eq!(
        falls_short(at(0), at(900), keep(660), latest(900, 660)),
        Duration::ZERO
    );
    assert_eq!(
        falls_short(at(0), at(30), keep(5), latest(30, 5)),
        Duration::ZERO
    );
    assert_eq!(
        falls_short(at(0), at(3600), keep(0), latest(3600, 0)),
        Duration::ZERO
    );
    // Within a minute of the lifetime: short by what an eighth leaves.
    assert_eq!(
        falls_short(at(0), at(900), keep(870), latest(900, 870)),
        Duration::from_millis(82_500)
    );
    // Never valid that long: short for the whole wait, not more.
    assert_eq!(
        falls_short(at(0), at(120), keep(300), latest(120, 300)),
        refresh_delay_keeping(at(0), at(120), keep(300), 0.0)
    );
    assert_eq!(
        falls_short(at(0), at(120), keep(39_600), latest(120, 39_600)),
        Duration::from_secs(60)
    );
}

/// The wait with no jitter: the latest a refresh comes.
fn latest(lifetime: i64, keep: u64) -> Duration {
    refresh_delay_keeping(at(0), at(lifetime), Duration::from_secs(keep), 0.0)
}

/// `failing_for=` was worked out for the latest refresh, while the wait
/// it warned about had jitter taken off: it said 7m29s of a 7m3s wait.
/// It is worked out for the wait the refresh really has.
#[test]
fn the_shortfall_is_that_of_the_wait_planned() {
    let keep = Duration::from_secs(3599);
    for jitter in [0.0, 0.5, 0.999] {
        let wait = refresh_delay_keeping(at(0), at(3600), keep, jitter);
        let short = falls_short(at(0), at(3600), keep, wait);
        // Valid for 3600 s - wait at the refresh, 3599 s asked: short by
        // all of the wait but its first second.
        assert_eq!(short, wait - Duration::from_secs(1), "jitter {jitter}");
    }
}

/// Short-lived answers in a row: nothing before the tenth, then doubling
/// from a second to a minute, jitter taking at most a tenth off.
#[test]
fn short_lived_answers_in_a_row_space_refreshes_out() {
    let secs = |s: u64| Duration::from_secs(s);
    for n in 0..SHORT_LIVED_IN_A_ROW {
        assert_eq!(short_lived_floor(n, 0.5), Duration::ZERO, "{n}");
    }
    let floors: Vec<Duration> = (10..18).map(|n| short_lived_floor(n, 0.0)).collect();
    assert_eq!(
        floors,
        [1, 2, 4, 8, 16, 32, 60, 60].map(secs),
        "doubling to a minute"
    );
    assert_eq!(short_lived_floor(u32::MAX, 0.0), BACKOFF_CAP);
    assert_eq!(short_lived_floor(16, 0.999_999).as_secs(), 54);
}
