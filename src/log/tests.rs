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

#[test]
fn what_shows_nothing_shows_as_a_question_mark() {
    // Zero-width and other invisible characters from a server, or
    // a flag, reached log lines unchanged.
    let sneaky = "Access\u{200B}Denied\u{202E}\u{E0041}";
    for format in [Format::Text, Format::Json] {
        let line = Logger::new(format, Level::Info).render(
            Timestamp::from_unix(0),
            Level::Warn,
            "refresh_failed",
            &[("error", &sneaky)],
        );
        assert!(line.contains("Access?Denied??"), "{line}");
        assert!(!line.chars().any(crate::error::is_invisible), "{line}");
    }
}

#[test]
fn a_line_never_exceeds_what_a_pipe_takes_in_one_write() {
    let long = "p".repeat(10_000);
    let url = format!("http://user:secret@host/{long}");
    for format in [Format::Text, Format::Json] {
        let log = Logger::new(format, Level::Debug);
        let line = log.render(
            Timestamp::from_unix(0),
            Level::Debug,
            "serve_request",
            &[("path", &long), ("url", &url), ("status", &200)],
        );
        assert!(line.len() <= MAX_LINE, "{} bytes", line.len());
        assert!(line.contains('…') && line.contains("status") && !line.contains("secret"));
        if format == Format::Json {
            serde_json::from_str::<serde_json::Value>(&line).expect("still JSON");
        }
        let short = log.render(Timestamp::from_unix(0), Level::Info, "e", &[("k", &"v")]);
        assert!(!short.contains('…'), "{short}");
    }
}
