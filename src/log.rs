//! One line per event on stderr, as text (`time level event key=value ...`)
//! or JSON. Fields are plain strings chosen by the caller; secrets are never
//! passed in, `Secret` values print as `** redacted **` even if they were, and
//! the user info of any URL in a field (a proxy password) is redacted.

use std::io::Write;

use crate::error::is_invisible;
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
        let line = self.render(Timestamp::now(), level, event, fields);
        // A closed stderr must not stop credential refreshes.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
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
