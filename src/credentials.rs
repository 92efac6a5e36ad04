//! The credentials every source produces and every sink consumes, and the
//! `Secret` wrapper that keeps key material out of logs and `Debug` output.

use std::fmt;

use crate::time::Timestamp;

/// A string that must never be printed: a secret access key, a session token
/// or an identity token. `Debug` and `Display` both print `** redacted **`;
/// the only way to the text is the explicit [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret text, for the one place that must send or write it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("** redacted **")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("** redacted **")
    }
}

/// One set of temporary AWS credentials, as STS or a container endpoint
/// issued them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The access key id. Not a secret (it appears in CloudTrail); logged to
    /// tell refreshes apart.
    pub access_key_id: String,
    pub secret_access_key: Secret,
    /// Absent only for long-term keys served by a container endpoint.
    pub session_token: Option<Secret>,
    /// When the credentials stop working.
    pub expiration: Timestamp,
    /// The account the credentials belong to, when the source said.
    pub account_id: Option<String>,
    /// The assumed role's ARN, when the source said.
    pub role_arn: Option<String>,
}

/// `text` with each of `secrets` replaced by `***`: for a message quoting a
/// field of a document that also held them (a server may put a secret
/// where a timestamp belongs).
pub fn scrub(text: String, secrets: &[Option<&Secret>]) -> String {
    // A value this short is no secret worth hiding, and replacing it would
    // garble the message (and show what it is).
    const SHORTEST: usize = 8;
    secrets
        .iter()
        .flatten()
        .filter(|s| s.expose().len() >= SHORTEST)
        .fold(text, |text, s| text.replace(s.expose(), "***"))
}

/// 16 KiB: far more than any key or session token AWS issues (a session
/// token is a few KiB at most). A longer value could not be printed in one
/// pipe buffer (a `--print` to a reader that never reads would block, deaf
/// to SIGTERM), nor sent as a header to most servers.
pub const MAX_VALUE: usize = 16 * 1024;

/// Whether `value` can be an access key id, a secret key or a session
/// token wherever it goes: HTTP headers, a `key = value` file line, an
/// `export` line, JSON. Every source's values are held to it, since AWS
/// issues only printable ASCII without spaces, and at most [`MAX_VALUE`].
pub fn is_fit_value(value: &str) -> bool {
    !value.is_empty() && value.len() <= MAX_VALUE && value.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests;
