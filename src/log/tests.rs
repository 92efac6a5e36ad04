//! Unit tests of `log`.

use super::*;
use crate::credentials::Secret;

#[test]
fn text_lines() {
    let l = Logger::new(Format::Text, Level::Info);
    let line = l.render(
        Timestamp::from_unix(0),
        Level::Info,
        "refreshed",
        &[("profile", &"default"), ("error", &"STS said: no\nway")],
    );
    assert_eq!(
        line,
        "1970-01-01T00:00:00Z INFO  refreshed profile=default error=\"STS said: no\\nway\"\n"
    );
}

#[test]
fn json_lines() {
    let l = Logger::new(Format::Json, Level::Info);
    let line = l.render(
        Timestamp::from_unix(0),
        Level::Warn,
        "retry",
        &[("attempt", &3)],
    );
    let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
    assert_eq!(v["level"], "warn");
    assert_eq!(v["event"], "retry");
    assert_eq!(v["attempt"], "3");
    assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
    assert!(line.starts_with(r#"{"time":"1970-01-01T00:00:00Z","level":"warn","event":"retry""#));
}

#[test]
fn secrets_stay_redacted() {
    let l = Logger::new(Format::Text, Level::Info);
    let line = l.render(
        Timestamp::from_unix(0),
        Level::Info,
        "x",
        &[("token", &Secret::new("abc123"))],
    );
    assert!(!line.contains("abc123"));
}

#[test]
fn levels_filter() {
    let l = Logger::new(Format::Text, Level::Warn);
    assert!(!l.enabled(Level::Info));
    assert!(l.enabled(Level::Error));
}
