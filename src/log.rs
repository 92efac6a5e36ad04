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

/// The longest line written: what a pipe with any room at all takes in one
/// write (PIPE_BUF), so a line that waited for room never blocks.
pub const MAX_LINE: usize = 4096;

/// `value` cut to `cap` characters, an ellipsis saying so.
fn cut_to(value: &str, cap: usize) -> String {
    match value.char_indices().nth(cap) {
        Some((at, _)) => format!("{}…", &value[..at]),
        None => value.to_string(),
    }
}

/// Lines dropped since the last one written.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Writes `text` (at most [`MAX_LINE`] bytes, so one write never blocks
/// once there is room) to stderr if it has room within [`STDERR_WAIT`];
/// whether it did. A closed stderr must not stop credential refreshes, nor one that
/// nobody reads (a full pipe, a stuck log driver): what it cannot take soon
/// is dropped (and counted by the logger, whose next line that gets through
/// says how many were), rather than block the loop, the endpoint and the
/// reaction to SIGTERM.
pub fn write_stderr(text: &str) -> bool {
    write_stderr_within(text, STDERR_WAIT)
}

/// [`write_stderr`], waiting at most `wait` for room.
fn write_stderr_within(text: &str, wait: Duration) -> bool {
    let stderr = std::io::stderr();
    poll(&[(stderr.as_fd(), Interest::Write)], wait)[0]
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
        let dropped = DROPPED.swap(0, Ordering::Relaxed);
        // Lines already dropped: stderr is stuck, and waiting for it again
        // at every line would slow whatever logs (100 ms a request, under a
        // flood of debug lines) for nothing. Until a line gets through,
        // none waits.
        let wait = if dropped > 0 {
            Duration::ZERO
        } else {
            STDERR_WAIT
        };
        if dropped > 0 {
            let note = self.render(
                now,
                Level::Warn,
                "log_lines_dropped",
                &[("count", &dropped)],
            );
            if !write_stderr_within(&note, wait) {
                DROPPED.fetch_add(dropped + 1, Ordering::Relaxed);
                return;
            }
        }
        if !write_stderr_within(&self.render(now, level, event, fields), wait) {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The line for one event, newline included, at most [`MAX_LINE`]
    /// bytes: values too long for that are cut (after redaction), each to
    /// 256 characters, or to 32 if that is still too long.
    pub fn render(
        &self,
        time: Timestamp,
        level: Level,
        event: &str,
        fields: &[(&str, &dyn std::fmt::Display)],
    ) -> String {
        let shown: Vec<(&str, String)> = fields
            .iter()
            .map(|(key, value)| (*key, visible(&redact_text(&value.to_string())).into_owned()))
            .collect();
        let mut line = String::new();
        for cap in [usize::MAX, 256, 32] {
            let cut: Vec<(&str, String)> = shown
                .iter()
                .map(|(key, value)| (*key, cut_to(value, cap)))
                .collect();
            line = self.render_shown(time, level, event, &cut);
            if line.len() <= MAX_LINE {
                break;
            }
        }
        line
    }

    fn render_shown(
        &self,
        time: Timestamp,
        level: Level,
        event: &str,
        fields: &[(&str, String)],
    ) -> String {
        match self.format {
            Format::Text => {
                let mut line = format!("{time} {:<5} {event}", level.name().to_uppercase());
                for (key, value) in fields {
                    line.push(' ');
                    line.push_str(key);
                    line.push('=');
                    line.push_str(&text_value(value));
                }
                line.push('\n');
                line
            }
            Format::Json => {
                // Time, level and event first, in the order people read them.
                let mut json = crate::json::Object::start();
                json.string("time", &time.to_rfc3339())
                    .string("level", level.name())
                    .string("event", event);
                for (key, value) in fields {
                    json.string(key, value);
                }
                let mut line = json.end();
                line.push('\n');
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
