//! What an exchange brought back, and keeping what a request sent out of
//! whatever of it reaches an error message.

use crate::credentials::{hide_pieces, mark_runs};
use crate::error::Error;
use crate::time::Timestamp;

/// An answer with any status.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: Option<String>,
    /// When the server says it answered (`Date`), if it said so readably.
    pub date: Option<Timestamp>,
    pub body: Vec<u8>,
}

impl Response {
    /// The body read by `parse` as it came, and only when that fails, read
    /// again with `secrets` taken out (see [`Response::body_without`]), so
    /// the error cannot quote what the request sent; pieces of them are
    /// then taken out of the error's text. Taking them out first
    /// would change a real answer whenever a secret equals part of it (an
    /// authorization token `Token` turned the session token's key into
    /// `** redacted **`, and the credentials came out without it).
    pub fn parse_with<T>(
        &self,
        secrets: &[&str],
        parse: impl Fn(&[u8]) -> Result<T, Error>,
    ) -> Result<T, Error> {
        match parse(&self.body) {
            Ok(parsed) => Ok(parsed),
            Err(first) => match parse(&self.body_without(secrets)) {
                Err(redacted) => Err(redacted.map_quoted(|text| without_pieces(text, secrets))),
                // The secrets were what made it unreadable: the first
                // error may quote them, so say only that.
                Ok(_) => Err(match first {
                    Error::BadResponse { from, status, .. } => Error::BadResponse {
                        from,
                        status,
                        detail: "an answer that cannot be read, holding what the request sent"
                            .into(),
                    },
                    other => other,
                }),
            },
        }
    }

    /// The body with every occurrence of `secrets` (what the request sent:
    /// an identity token, the signing credentials, an authorization token)
    /// replaced by `** redacted **`. A server, or a proxy in front of it,
    /// may quote the request in an error message, which would otherwise
    /// reach the log. Only whole secrets: a piece of one may legitimately
    /// be part of the answer (session tokens share long prefixes), and
    /// taking it out would change what the answer says.
    pub fn body_without(&self, secrets: &[&str]) -> Vec<u8> {
        hide(&self.body, secrets)
    }
}

/// `text` with every occurrence of a whole secret replaced by one
/// `** redacted **` (adjacent ones by one). Secrets shorter than four bytes
/// are left alone: they would match too much, and protect too little.
fn hide(text: &[u8], secrets: &[&str]) -> Vec<u8> {
    let mut hidden = vec![false; text.len()];
    for secret in secrets
        .iter()
        .map(|s| s.as_bytes())
        .filter(|s| s.len() >= 4)
    {
        for (at, window) in text.windows(secret.len()).enumerate() {
            if window == secret {
                hidden[at..at + secret.len()].fill(true);
            }
        }
    }
    mark_runs(text, &hidden, b"** redacted **")
}

/// An error message with any piece of `secrets` it spells out taken out
/// (see [`hide_pieces`]): a server may quote a secret cut to a length or
/// from an offset, encoded, or broken up, which taking whole secrets out of
/// the answer does not catch.
pub fn without_pieces(message: &str, secrets: &[&str]) -> String {
    hide_pieces(message, secrets, "** redacted **")
}
