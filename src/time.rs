//! Instants and durations: UTC timestamps in and out of RFC 3339 text (the
//! calendar is aws-smithy-types'), and the `90`, `15m`, `1h30m` duration
//! syntax of the command line.

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_smithy_types::date_time::{DateTime, Format};

/// A UTC instant with one-second precision (all AWS expirations are whole
/// seconds; fractions in container answers are dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn from_unix(secs: i64) -> Self {
        Timestamp(secs)
    }

    pub fn unix(self) -> i64 {
        self.0
    }

    /// The system clock, now.
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    pub fn from_system_time(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
            Err(e) => Timestamp(-i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX)),
        }
    }

    pub fn to_system_time(self) -> SystemTime {
        if self.0 >= 0 {
            UNIX_EPOCH + Duration::from_secs(self.0 as u64)
        } else {
            UNIX_EPOCH - Duration::from_secs(self.0.unsigned_abs())
        }
    }

    /// This instant plus a duration (saturating).
    pub fn plus(self, d: Duration) -> Self {
        let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_add(secs))
    }

    /// How long from `self` until `later`; zero if `later` is not later.
    pub fn until(self, later: Timestamp) -> Duration {
        Duration::from_secs(u64::try_from(later.0.saturating_sub(self.0)).unwrap_or(0))
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (RFC 3339, `t` and
    /// `z` too), as the AWS SDK for Rust reads STS's and the container
    /// agents' expirations (aws-smithy-types over the `time` crate, both
    /// linked for aws-sigv4's dates already). Fractions are dropped.
    pub fn parse_rfc3339(s: &str) -> Result<Timestamp, String> {
        let parsed = DateTime::from_str(s.trim(), Format::DateTimeWithOffset)
            .map_err(|_| format!("{s:?} is not an RFC 3339 timestamp like 2024-01-02T03:04:05Z"))?;
        let t = parsed.secs();
        // An offset can carry a time past the four-digit years
        // (9999-12-31T23:59:59-23:59 is in year 10000, which nothing reads
        // back); everything said in UTC must fit them.
        if !(EARLIEST..=LATEST).contains(&t) {
            return Err(format!(
                "{s:?} falls outside the years 0001 to 9999 in UTC, which RFC 3339 can write"
            ));
        }
        Ok(Timestamp(t))
    }

    /// An HTTP `Date` header in any of RFC 9110's three forms:
    /// `Sun, 06 Nov 1994 08:49:37 GMT` (IMF-fixdate), and the obsolete
    /// `Sunday, 06-Nov-94 08:49:37 GMT` (RFC 850) and
    /// `Sun Nov  6 08:49:37 1994` (asctime), which a recipient must read
    /// too; `None` for anything else.
    pub fn parse_http_date(s: &str) -> Option<Timestamp> {
        let s = s.trim();
        let fixdate = match s.split_whitespace().collect::<Vec<_>>()[..] {
            // RFC 850: a two-digit year more than 50 years ahead is in the
            // past century.
            [weekday, date, time, "GMT"] if weekday.ends_with(',') => {
                let [day, month, year] = date.split('-').collect::<Vec<_>>()[..] else {
                    return None;
                };
                let year: i64 = year.parse().ok().filter(|_| year.len() == 2)?;
                let year = if year < 70 { 2000 + year } else { 1900 + year };
                format!("{}, {day:0>2} {month} {year} {time} GMT", weekday.get(..3)?)
            }
            [weekday, month, day, time, year] => {
                format!("{weekday}, {day:0>2} {month} {year} {time} GMT")
            }
            _ => s.to_string(),
        };
        let t = DateTime::from_str(&fixdate, Format::HttpDate).ok()?.secs();
        (EARLIEST..=LATEST).contains(&t).then_some(Timestamp(t))
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`, the form STS itself uses. An instant outside
    /// the years 0001 to 9999 (none that was read; only arithmetic that
    /// saturated) is written as seconds since the epoch.
    pub fn to_rfc3339(self) -> String {
        DateTime::from_secs(self.0)
            .fmt(Format::DateTime)
            .unwrap_or_else(|_| format!("{}s since 1970-01-01T00:00:00Z", self.0))
    }
}

/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, as seconds since the
/// epoch: the instants [`Timestamp::to_rfc3339`] writes in four digits.
const EARLIEST: i64 = -62_135_596_800;
const LATEST: i64 = 253_402_300_799;

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// Parses a duration: plain seconds (`900`) or numbers with `h`, `m`, `s`
/// suffixes, alone or combined (`15m`, `1h30m`, `90s`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad =
        || format!("{s:?} is not a duration; use seconds (900) or a suffix: 30s, 15m, 1h, 1h30m");
    let s = s.trim();
    if s.is_empty() {
        return Err(bad());
    }
    if s.bytes().all(|c| c.is_ascii_digit()) {
        return s.parse::<u64>().map(Duration::from_secs).map_err(|_| bad());
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    let mut last_unit = u64::MAX;
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
        // Units must come once each, largest first: "1h30m", not "30m1h".
        if number.is_empty() || unit >= last_unit {
            return Err(bad());
        }
        last_unit = unit;
        let n: u64 = number.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        number.clear();
    }
    if !number.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

/// The shortest `1h2m3s` form of a duration, for help text and logs.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return "0s".into();
    }
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// `now + d` as a monotonic deadline, saturating far in the future instead
/// of overflowing (an expiry in year 9999 must not crash the daemon).
pub fn deadline_after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(now)
}

/// A duration for a log line: tenths of a second below ten seconds (retry
/// waits are often under one), else as [`format_duration`] writes it.
pub fn format_duration_ms(d: Duration) -> String {
    if d < Duration::from_secs(10) {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format_duration(d)
    }
}

#[cfg(test)]
mod tests;
