//! One line per event on stderr, as text (`time level event key=value ...`)
//! or JSON. Fields are plain strings chosen by the caller; secrets are never
//! passed in, `Secret` values print as `** redacted **` even if they were, and
//! the user info of any URL in a field (a proxy password) is redacted.

use std::io::Write;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::is_invisible;
use crate::poll::{poll, Interest};
use crate::time::Timestamp;
use crate::url::redact_text;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// How long a line waits for stderr to have room (a pipe with less than
/// 4 KiB free) before it is dropped.
const STDERR_WAIT: Duration = Duration::from_millis(100);

/// Lines dropped since the last one written.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Writes `text` to stderr if it has room within [`STDERR_WAIT`]; whether
/// it did. A closed stderr must not stop credential refreshes, nor one that
/// nobody reads (a full pipe, a stuck log driver): what it cannot take soon
/// is dropped (and counted by the logger, whose next line that gets through
/// says how many were), rather than block the loop, the endpoint and the
/// reaction to SIGTERM.
pub fn write_stderr(text: &str) -> bool {
    let stderr = std::io::stderr();
    poll(&[(stderr.as_fd(), Interest::Write)], STDERR_WAIT)[0]
        && stderr.lock().write_all(text.as_bytes()).is_ok()
}

/// Writes events at or above `level` in `format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Logger {
    format: Format,
    level: Level,
}

impl Logger {
    pub fn new(format: Format, level: Level) -> Self {
        Logger { format, level }
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn enabled(&self, level: Level) -> bool {
        level >= self.level
    }

    pub fn debug(&self, event: &str, fields: &[(&str, &dyn std::fmt::Display)]) {
        self.log(Level::Debug, event, fields);
    }

    pub fn info(&self, event: &str, fields: &[(&str, &dyn std::fmt::Display)]) {
        self.log(Level::Info, event, fields);
    }

    pub fn warn(&self, event: &str, fields: &[(&str, &dyn std::fmt::Display)]) {
        self.log(Level::Warn, event, fields);
    }

    pub fn error(&self, event: &str, fields: &[(&str, &dyn std::fmt::Display)]) {
        self.log(Level::Error, event, fields);
    }

    pub fn log(&self, level: Level, event: &str, fields: &[(&str, &dyn std::fmt::Display)]) {
        if !self.enabled(level) {
            return;
        }
        let now = Timestamp::now();
        let mut line = self.render(now, level, event, fields);
        let dropped = DROPPED.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let note = self.render(
                now,
                Level::Warn,
                "log_lines_dropped",
                &[("count", &dropped)],
            );
            line.insert_str(0, &note);
        }
        if !write_stderr(&line) {
            DROPPED.fetch_add(1 + dropped, Ordering::Relaxed);
        }
    }

    /// The line for one event, newline included.
    pub fn render(
        &self,
        time: Timestamp,
        level: Level,
        event: &str,
        fields: &[(&str, &dyn std::fmt::Display)],
    ) -> String {
        match self.format {
            Format::Text => {
                let mut line = format!("{time} {:<5} {event}", level.name().to_uppercase());
                for (key, value) in fields {
                    line.push(' ');
                    line.push_str(key);
                    line.push('=');
                    line.push_str(&text_value(&visible(&redact_text(&value.to_string()))));
                }
                line.push('\n');
                line
            }
            Format::Json => {
                // Written by hand so time, level and event come first, in
                // the order people read them; serde_json escapes each string.
                let mut line = String::from("{");
                let mut first = true;
                let mut push = |key: &str, value: &str| {
                    if !first {
                        line.push(',');
                    }
                    first = false;
                    line.push_str(&json_string(key));
                    line.push(':');
                    line.push_str(&json_string(value));
                };
                push("time", &time.to_rfc3339());
                push("level", level.name());
                push("event", event);
                for (key, value) in fields {
                    push(key, &visible(&redact_text(&value.to_string())));
                }
                line.push_str("}\n");
                line
            }
        }
    }
}

/// `v` with every character that shows nothing, or reorders what is around
/// it, as `?` (see `error::is_invisible`): what a server or a flag sent
/// cannot make a log line read differently from what it holds.
fn visible(v: &str) -> std::borrow::Cow<'_, str> {
    if v.chars().any(is_invisible) {
        v.chars()
            .map(|c| if is_invisible(c) { '?' } else { c })
            .collect::<String>()
            .into()
    } else {
        v.into()
    }
}

fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// Quotes a value when it would otherwise be ambiguous to split on spaces,
/// and keeps it on one line.
fn text_value(v: &str) -> String {
    let plain = !v.is_empty()
        && v.chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && c != '"' && c != '=');
    if plain {
        v.to_string()
    } else {
        format!("{v:?}")
    }
}

#[cfg(test)]
mod tests;
