//! The credentials every source produces and every sink consumes, and the
//! `Secret` wrapper that keeps key material out of logs and `Debug` output.

use std::fmt;
use std::time::Duration;

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

/// 12 hours: the longest session STS issues (`DurationSeconds` 43200). An
/// expiry further off is not believed: not by `--check`, and not handed on
/// (see [`Credentials::believed`]).
pub const LONGEST_SESSION: Duration = Duration::from_secs(12 * 3600);

/// 2048 bytes: the longest ARN IAM allows.
pub const MAX_ARN: usize = 2048;

impl Credentials {
    /// These credentials, their expiry cut to at most [`LONGEST_SESSION`]
    /// after `now`. A source that claims a later one (9999-12-31, a proxy's
    /// mistake, a clock far behind) would otherwise have every SDK handed
    /// it (`credential_process`, `--print env`, the endpoint) never ask
    /// again, and fail with ExpiredToken once the real keys expire; cut, they
    /// are asked for again in time, which costs nothing if they were good.
    pub fn believed(mut self, now: Timestamp) -> Credentials {
        self.expiration = self.expiration.min(now.plus(LONGEST_SESSION));
        self
    }

    /// The expiry as this machine's clock reads it, for credentials a
    /// server that says when it answered (`answered`, its `Date`) issued:
    /// it meant them to last `expiration - answered`. A clock behind the
    /// server's took them for valid minutes after they had expired, and
    /// planned the refresh too late, while probes passed. Never later than
    /// the expiry given: a clock ahead of the server's already sees it
    /// sooner.
    pub fn on_our_clock(mut self, answered: Option<Timestamp>, now: Timestamp) -> Credentials {
        if let Some(answered) = answered {
            self.expiration = self
                .expiration
                .min(now.plus(answered.until(self.expiration)));
        }
        self
    }
}

/// Whether `arn`, which is only passed on (the endpoint's `RoleArn`), may be:
/// `arn:` then printable ASCII without spaces, at most [`MAX_ARN`] bytes. A
/// source's terminal escapes, line breaks or half a megabyte would reach
/// every client that prints it.
pub fn is_fit_arn(arn: &str) -> bool {
    arn.starts_with("arn:") && arn.len() <= MAX_ARN && arn.bytes().all(|b| b.is_ascii_graphic())
}

/// `text` with each of `secrets` hidden as `***` (see [`hide_pieces`]):
/// for a message quoting a field of a document that also held them (a
/// server may put a secret, or part of one, where a timestamp belongs).
pub fn scrub(text: String, secrets: &[Option<&Secret>]) -> String {
    // A value this short is no secret worth hiding, and replacing it would
    // garble the message (and show what it is).
    const SHORTEST: usize = 8;
    let secrets: Vec<&str> = secrets
        .iter()
        .flatten()
        .map(|s| s.expose())
        .filter(|s| s.len() >= SHORTEST)
        .collect();
    hide_pieces(&text, &secrets, "***")
}

/// How many characters of a secret in a row are hidden wherever they
/// appear in a message (a shorter secret is matched whole): 12 characters,
/// so that a prefix a server quotes ("token 0123456789abcde... is not
/// valid") gives away at most 11 characters of it, while 12 characters of a
/// random secret are too many to turn up by chance in a message's words.
pub const PIECE: usize = 12;

/// `text` with every stretch that spells out [`PIECE`] characters in a row
/// of one of `secrets` (or all of a shorter one) replaced by one `marker`.
/// Spelled out as the text would be read, not only byte for byte: only
/// letters and digits count, on both sides, case ignored; punctuation,
/// whitespace, control and invisible characters, and any other character
/// that is not ASCII, are skipped (a quote split by dashes or dots spells
/// the same secret) (a log shows them as
/// `?` or a space, and a token with one after each byte is still read);
/// and the encodings a server quoting a request uses are undone: `%XX`,
/// `&#N;`, `&#xH;`, `&amp;` and the like, JSON's `\uXXXX` and `\/`, and
/// the `\u{..}` and `\"` of a quoted Debug string. For error messages
/// only: text that happens to match part of a secret is no loss there. Of a
/// text longer than twice [`QUOTED_END`], only both ends are kept, `…`
/// between: a message shows far less (`error::one_line`), and the scan
/// holds 24 bytes per byte.
pub fn hide_pieces(text: &str, secrets: &[&str], marker: &str) -> String {
    let text = &*crate::error::cut_middle(text, QUOTED_END, QUOTED_END);
    // Letters and digits only, on both sides: a quote split by dashes,
    // dots, slashes or spaces (`Ktq-7Zp-2Xw-9Lm`) spells the secret's
    // letters and digits in order all the same.
    let skeleton = skeleton(text);
    let letters: Vec<u8> = skeleton.iter().map(|unit| unit.letter).collect();
    let mut hidden = vec![false; text.len()];
    for secret in secrets {
        let secret: Vec<u8> = secret
            .bytes()
            .filter(u8::is_ascii_alphanumeric)
            .map(|b| b.to_ascii_lowercase())
            .collect();
        let n = secret.len().min(PIECE);
        if n < 4 {
            continue;
        }
        let pieces: std::collections::HashSet<&[u8]> = secret.windows(n).collect();
        for (at, window) in letters.windows(n).enumerate() {
            if pieces.contains(window) {
                hidden[skeleton[at].start..skeleton[at + n - 1].end].fill(true);
            }
        }
    }
    // Each hidden stretch begins and ends where a character does.
    String::from_utf8_lossy(&mark_runs(text.as_bytes(), &hidden, marker.as_bytes())).into_owned()
}

/// 4 KiB: how much of each end of a quoted text [`hide_pieces`] keeps.
pub const QUOTED_END: usize = 4096;

/// The message of a server's error document (an STS `<Message>`, an agent's
/// `message`) with every word shaped like a secret key or a token replaced
/// by `** redacted **`: a server may quote credentials aws-credfile never
/// had (another client's, the answer it meant to give), which
/// [`hide_pieces`] cannot know. See [`secret_shaped`].
pub fn hide_secret_shaped(text: &str) -> String {
    let hidden = secret_shaped(text.as_bytes());
    String::from_utf8_lossy(&mark_runs(text.as_bytes(), &hidden, b"** redacted **")).into_owned()
}

/// Which bytes of `text` belong to a word shaped like a secret key or a
/// token: 40 or more base64 characters (`A-Z a-z 0-9 + / =`, and `%2F`,
/// `%2B`, `%3D` as a URL spells them) in a row, with upper and lower case
/// letters among them, changing from one kind (upper, lower, digit, sign)
/// to another at two characters in five or more. Random ones change at about two in
/// three, as a secret access key does and a session token's or JWT's
/// stretches between separators do; names, even long ones in CamelCase
/// with digits (`role/PartnerCrossAccountReadOnlyAccessRole2024`), at
/// about one in three. ARNs, account and request ids stay.
fn secret_shaped(text: &[u8]) -> Vec<bool> {
    let mut hidden = vec![false; text.len()];
    let mut at = 0;
    while at < text.len() {
        let start = at;
        let (mut chars, mut changes, mut seen, mut last) = (0usize, 0usize, 0u8, 0u8);
        while let Some((kind, len)) = base64_at(text, at) {
            chars += 1;
            changes += usize::from(last != 0 && kind != last);
            (seen, last, at) = (seen | kind, kind, at + len);
        }
        if chars >= 40 && seen & 3 == 3 && changes * 5 >= chars * 2 {
            hidden[start..at].fill(true);
        }
        at += usize::from(at == start);
    }
    hidden
}

/// The kind of the base64 character at `at` in `text` (1 upper case, 2
/// lower case, 4 digit, 8 `+ / =`) and how many bytes spell it, if one is
/// there.
fn base64_at(text: &[u8], at: usize) -> Option<(u8, usize)> {
    Some(match *text.get(at)? {
        b'A'..=b'Z' => (1, 1),
        b'a'..=b'z' => (2, 1),
        b'0'..=b'9' => (4, 1),
        b'+' | b'/' | b'=' => (8, 1),
        b'%' => {
            let hex = text.get(at + 1..at + 3)?.to_ascii_uppercase();
            matches!(hex.as_slice(), b"2F" | b"2B" | b"3D").then_some((8, 3))?
        }
        _ => return None,
    })
}

/// `text` with each run of bytes `hidden` marks replaced by one `marker`.
pub fn mark_runs(text: &[u8], hidden: &[bool], marker: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for (at, &byte) in text.iter().enumerate() {
        match (hidden[at], at > 0 && hidden[at - 1]) {
            (false, _) => out.push(byte),
            (true, false) => out.extend_from_slice(marker),
            (true, true) => {}
        }
    }
    out
}

/// One ASCII letter or digit as `text` spells it, lowercased, and the
/// bytes of `text` that spell it.
struct Unit {
    letter: u8,
    start: usize,
    end: usize,
}

/// The ASCII letters and digits `text` spells out, in order (see
/// [`hide_pieces`]).
fn skeleton(text: &str) -> Vec<Unit> {
    let bytes = text.as_bytes();
    let mut units = Vec::with_capacity(text.len());
    let mut at = 0;
    while at < bytes.len() {
        let (letter, mut len) = spelled_at(text, at);
        // An ANSI control sequence after an escape says nothing either.
        if letter == Some(0x1b) && bytes.get(at + len) == Some(&b'[') {
            len += 1;
            while let Some(&b) = bytes.get(at + len) {
                len += 1;
                if (0x40..=0x7e).contains(&b) {
                    break;
                }
            }
        }
        if let Some(letter) = letter.filter(u8::is_ascii_alphanumeric) {
            units.push(Unit {
                letter: letter.to_ascii_lowercase(),
                start: at,
                end: at + len,
            });
        }
        at += len;
    }
    units
}

/// The byte spelled at `at` in `text` (`None` for a character beyond ASCII)
/// and how many bytes spell it.
fn spelled_at(text: &str, at: usize) -> (Option<u8>, usize) {
    let rest = &text.as_bytes()[at..];
    let hex = |digits: &[u8]| {
        std::str::from_utf8(digits)
            .ok()
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|d| u32::from_str_radix(d, 16).ok())
    };
    let ascii = |code: u32| u8::try_from(code).ok().filter(u8::is_ascii);
    match rest[0] {
        b'%' if rest.len() >= 3 => match hex(&rest[1..3]) {
            Some(code) => (ascii(code), 3),
            None => (Some(b'%'), 1),
        },
        b'&' => {
            let Some(semi) = rest.iter().take(12).position(|&b| b == b';') else {
                return (Some(b'&'), 1);
            };
            let code = match &rest[1..semi] {
                [b'#', b'x' | b'X', digits @ ..] => hex(digits),
                [b'#', digits @ ..] => std::str::from_utf8(digits)
                    .ok()
                    .and_then(|d| d.parse().ok()),
                b"amp" => Some(u32::from(b'&')),
                b"lt" => Some(u32::from(b'<')),
                b"gt" => Some(u32::from(b'>')),
                b"quot" => Some(u32::from(b'"')),
                b"apos" => Some(u32::from(b'\'')),
                _ => return (Some(b'&'), 1),
            };
            match code {
                Some(code) => (ascii(code), semi + 1),
                None => (Some(b'&'), 1),
            }
        }
        b'\\' => match rest.get(1) {
            // Rust's Debug escape, `\u{200b}`.
            Some(b'u') if rest.get(2) == Some(&b'{') => {
                match rest.iter().take(12).position(|&b| b == b'}') {
                    Some(close) => (hex(&rest[3..close]).and_then(ascii), close + 1),
                    None => (Some(b'\\'), 1),
                }
            }
            // JSON's `\u0065`.
            Some(b'u') if rest.len() >= 6 => match hex(&rest[2..6]) {
                Some(code) => (ascii(code), 6),
                None => (Some(b'\\'), 1),
            },
            Some(b'x') if rest.len() >= 4 => match hex(&rest[2..4]) {
                Some(code) => (ascii(code), 4),
                None => (Some(b'\\'), 1),
            },
            Some(&b @ (b'"' | b'\'' | b'/')) => (Some(b), 2),
            Some(b'n' | b't' | b'r' | b'0') => (None, 2),
            // Any other backslash is an escape's (a quote of a quote:
            // `\\/` is `\/` escaped again), and spells nothing;
            // the next one is read afresh. No secret is matched by its
            // backslashes either.
            _ => (None, 1),
        },
        b if b.is_ascii() => (Some(b), 1),
        _ => {
            let len = text[at..].chars().next().map_or(1, char::len_utf8);
            (None, len)
        }
    }
}

/// 16 KiB: far more than any key or session token AWS issues (a session
/// token is a few KiB at most). A longer value could not be printed in one
/// pipe buffer (a `--print` to a reader that never reads would block, deaf
/// to SIGTERM), nor sent as a header to most servers.
pub const MAX_VALUE: usize = 16 * 1024;

/// Whether `value` can be an access key id, a secret key or a session
/// token wherever it goes: HTTP headers, a `key = value` file line, an
/// `export` line, JSON, and every SDK's reading of the file. AWS issues
/// base64 (`A-Z a-z 0-9 + / =`); other issuers' JWT session tokens add `-`,
/// `_` and `.`. Nothing else is taken: aws-sdk-go v1 refuses the whole file
/// at a value starting with `;` or `#` (every other profile with it), the
/// Ruby SDK drops the profile, and parsers disagree on quotes; nor a value
/// aws-sdk-go v1 reads as a number it then fails the file at (its words
/// start after `=` too). At most [`MAX_VALUE`].
pub fn is_fit_value(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_VALUE
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=-_.".contains(&b))
        && !value.split('=').any(odd_number)
}

/// The characters [`is_fit_value`] takes, for messages.
pub const FIT_VALUE_CHARS: &str = "letters, digits and + / = - _ .";

/// Why a value is not fit (see [`is_fit_value`]), after its name.
pub const UNFIT_VALUE: &str = "holds characters other than letters, digits and + / = - _ . (whitespace around it too), is over 16 KiB, or is a word aws-sdk-go v1 takes for a number and fails the file at (-1, .5, e1)";

/// A word aws-sdk-go v1 takes for a number and then fails the file at:
/// signed (`-1`, `-.5`, `-x1f`), opening with `.` or an exponent (`.5`,
/// `e1`, `e-1`), or with a base letter after two digits or more (`12x3`,
/// `00b1`). Plain ones (`10`, `3.5`, `0x1`) it reads. Each rule was tried
/// against aws-sdk-go v1.44's reader.
pub fn odd_number(word: &str) -> bool {
    let all = |s: &[u8], ok: fn(&u8) -> bool| !s.is_empty() && s.iter().all(ok);
    let (signed, w) = match word.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        w => (false, w),
    };
    match w {
        [b'e' | b'E', b'-', rest @ ..] | [b'e' | b'E', rest @ ..] | [b'.', rest @ ..] => {
            all(rest, u8::is_ascii_digit)
        }
        [b'x' | b'b' | b'o', rest @ ..] => signed && all(rest, u8::is_ascii_hexdigit),
        [b'0'..=b'9', ..] => {
            // `12x3`, `00b1`, `-1x1`: a base letter after two digits or
            // more (one, signed), which it reads as a number and fails at.
            let digits = w.iter().take_while(|b| b.is_ascii_digit()).count();
            let base: Option<fn(&u8) -> bool> = match w.get(digits) {
                Some(b'x') => Some(u8::is_ascii_hexdigit),
                Some(b'b') => Some(|b| matches!(b, b'0' | b'1')),
                Some(b'o') => Some(|b| (b'0'..=b'7').contains(b)),
                _ => None,
            };
            if let Some(base) = base {
                return digits + usize::from(signed) >= 2 && all(&w[digits + 1..], base);
            }
            // `-1` and `-1.5`, not `-1.` or `-1.2.3`.
            let (int, frac) = match w.iter().position(|&b| b == b'.') {
                Some(dot) => (&w[..dot], Some(&w[dot + 1..])),
                None => (w, None),
            };
            signed
                && all(int, u8::is_ascii_digit)
                && frac.is_none_or(|f| all(f, u8::is_ascii_digit))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
