//! Unit tests of timestamps and durations: parsing, printing, round trips.

use super::*;

#[test]
fn deadlines_saturate() {
    assert!(deadline_after(Duration::MAX) > Instant::now());
    assert!(deadline_after(Duration::from_secs(5)) > Instant::now());
}

#[test]
fn log_durations() {
    assert_eq!(format_duration_ms(Duration::from_millis(1500)), "1.5s");
    assert_eq!(
        format_duration_ms(Duration::from_secs(90)),
        format_duration(Duration::from_secs(90))
    );
}

#[test]
fn parses_sts_and_container_timestamps() {
    let t = Timestamp::parse_rfc3339("2024-02-29T12:34:56Z").unwrap();
    assert_eq!(t.unix(), 1_709_210_096);
    assert_eq!(t.to_rfc3339(), "2024-02-29T12:34:56Z");
    let nanos = Timestamp::parse_rfc3339("2024-02-29T12:34:56.123456789Z").unwrap();
    assert_eq!(nanos, t);
    let offset = Timestamp::parse_rfc3339("2024-02-29T14:34:56+02:00").unwrap();
    assert_eq!(offset, t);
    let lower = Timestamp::parse_rfc3339("2024-02-29t12:34:56z").unwrap();
    assert_eq!(lower, t);
    assert_eq!(
        Timestamp::from_unix(i64::MAX).to_rfc3339(),
        format!("{}s since 1970-01-01T00:00:00Z", i64::MAX)
    );
    assert_eq!(
        Timestamp::parse_rfc3339("1970-01-01T00:00:00Z")
            .unwrap()
            .unix(),
        0
    );
    assert_eq!(
        Timestamp::from_unix(-1).to_rfc3339(),
        "1969-12-31T23:59:59Z"
    );
}

#[test]
fn rejects_malformed_timestamps() {
    for bad in [
        "",
        "2024-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T00:00:00",
        "2024-01-01T00:00:00.Z",
        "2024-01-01T00:00:00Zjunk",
        "2024-01-01X00:00:00Z",
        "２０24-01-01T00:00:00Z",
        "yesterday at noon, roughly",
    ] {
        assert!(Timestamp::parse_rfc3339(bad).is_err(), "{bad}");
    }
}

/// An offset carried 9999-12-31T23:59:59-23:59 into year 10000,
/// written as five digits that neither `--check` nor botocore read back.
#[test]
fn only_times_that_four_digit_years_can_write_are_taken() {
    for edge in [
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:00:00-00:59",
    ] {
        let t = Timestamp::parse_rfc3339(edge).expect(edge);
        assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Ok(t), "{edge}");
    }
    for beyond in [
        "9999-12-31T23:59:59-23:59",
        "9999-12-31T23:59:59-00:01",
        "0001-01-01T00:00:00+00:01",
        "0000-06-01T00:00:00Z",
    ] {
        let err = Timestamp::parse_rfc3339(beyond).expect_err(beyond);
        assert!(err.contains("outside the years 0001 to 9999"), "{err}");
    }
}

#[test]
fn round_trips_many_days() {
    for days in (-700_000..2_900_000).step_by(997) {
        let t = Timestamp::from_unix(days * 86_400 + 12_345);
        assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()).unwrap(), t);
    }
}

#[test]
fn durations() {
    assert_eq!(parse_duration("900").unwrap(), Duration::from_secs(900));
    assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
    assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
    assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
    assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
    assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
    for bad in [
        "",
        "m",
        "1x",
        "1.5h",
        "-5",
        "30m1h",
        "1h1h",
        "5 m",
        "99999999999999999999",
        "h1",
    ] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
    assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
    assert_eq!(format_duration(Duration::from_secs(300)), "5m");
    assert_eq!(format_duration(Duration::from_secs(61)), "1m1s");
}
