//! The flat JSON objects this tool prints, serves and logs, written field by
//! field in the order given. serde_json escapes each string; no document tree
//! is built, since none of them nests.

/// `s` as a JSON string: quoted, with every character JSON requires escaped.
pub fn string(s: &str) -> String {
    // Serializing a `str` cannot fail; the default is never reached.
    serde_json::to_string(s).unwrap_or_default()
}

/// A JSON object being written. The keys are this program's own names,
/// which need no escaping; the values are escaped by `string`.
pub struct Object(String);

impl Object {
    pub fn start() -> Object {
        Object(String::from("{"))
    }

    /// Adds `key` with a value already in JSON (a number, a quoted string).
    pub fn raw(&mut self, key: &str, value: &str) -> &mut Object {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        self.0.push('"');
        self.0.push_str(key);
        self.0.push_str("\":");
        self.0.push_str(value);
        self
    }

    /// Adds `key` with the string `value`.
    pub fn string(&mut self, key: &str, value: &str) -> &mut Object {
        self.raw(key, &string(value))
    }

    pub fn end(mut self) -> String {
        self.0.push('}');
        self.0
    }
}
