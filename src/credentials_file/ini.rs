//! The credentials file as text: one profile's section rendered, merged
//! into the file keeping every other byte, and read back (keys present, the
//! recorded expiry) the way the SDK parsers read it. Pure string work; the
//! files themselves are `atomic`'s.
//!
//! The expiry is kept in a whole-line `#` comment inside the section, which
//! every parser skips, so `--check` can answer from the file alone.

use std::collections::HashMap;

use crate::credentials::{is_fit_value, odd_number, Credentials};
use crate::time::Timestamp;

/// Starts the comment that records the expiry, and marks the lines we own.
pub(super) const MARKER: &str = "aws-credfile:";

pub(super) const ACCESS_KEY_ID: &str = "aws_access_key_id";

pub(super) const SECRET_ACCESS_KEY: &str = "aws_secret_access_key";

pub(super) const SESSION_TOKEN: &str = "aws_session_token";

/// The section text for one profile ("[name]\n...").
///
/// The expiry comment comes right after the header, before the keys, so it
/// is never part of the trailing comments [`merge`] leaves in place. An empty
/// session token is treated as none, since old parsers reject empty values.
pub fn render_section(profile: &str, creds: &Credentials, now: Timestamp) -> String {
    let mut out = format!(
        "[{profile}]\n# {MARKER} expires {}, refreshed {}; edits to this section are overwritten\n\
         {ACCESS_KEY_ID} = {}\n{SECRET_ACCESS_KEY} = {}\n",
        creds.expiration.to_rfc3339(),
        now.to_rfc3339(),
        creds.access_key_id,
        creds.secret_access_key.expose(),
    );
    if let Some(token) = creds.session_token.as_ref().filter(|t| !t.is_empty()) {
        out.push_str(&format!("{SESSION_TOKEN} = {}\n", token.expose()));
    }
    out
}

/// What one line of the file is, as the SDK parsers would see it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Line<'a> {
    /// `[name]`, surrounding whitespace allowed; `None` for a malformed
    /// header (no `]`), which still ends the section before it.
    Header(Option<&'a str>),
    /// Our own expiry comment.
    Marker,
    /// Any other whole-line `#` or `;` comment.
    Comment,
    Blank,
    /// A `key = value` line, or anything else a parser would read.
    Entry,
}

/// Whitespace as the parsers trim it, plus a byte-order mark, which
/// editors on other systems put before the first header.
pub(super) fn trim_line(line: &str) -> &str {
    line.trim_matches(|c: char| is_python_space(c) || c == '\u{feff}')
}

/// Whitespace as Python's `str.strip` has it: Unicode's, and the four
/// separators U+001C to U+001F (a header indented by one was a
/// header to botocore only).
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

pub(super) fn classify(line: &str) -> Line<'_> {
    let t = trim_line(line);
    if t.is_empty() {
        Line::Blank
    } else if let Some(body) = t.strip_prefix(['#', ';']) {
        if body
            .trim_start_matches(['#', ';'])
            .trim_start()
            .starts_with(MARKER)
        {
            Line::Marker
        } else {
            Line::Comment
        }
    } else if let Some(inner) = t.strip_prefix('[') {
        Line::Header(inner.find(']').map(|end| inner[..end].trim()))
    } else {
        Line::Entry
    }
}

/// Whether aws-credfile wrote `text` before: it holds one of our expiry
/// comments.
pub(super) fn has_marker(text: &str) -> bool {
    text.split_inclusive('\n')
        .any(|line| classify(line) == Line::Marker)
}

/// The number of the line byte `at` of `bytes` is on, counting from 1.
pub(super) fn line_at(bytes: &[u8], at: usize) -> usize {
    bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Why a merge into `text` could make the SDKs read something else than
/// aws-credfile does, if it could: `None` when it is safe.
///
/// - Python reads a lone CR as a line break and this merge does not: the
///   section would be missed and added again, a duplicate botocore refuses.
/// - Python reads a line indented deeper than the `key = value` above it as
///   more of that value: an indented header after the section written here
///   would join the session token (and its profile vanish), and one inside
///   another profile's value would be taken for a section here.
///
/// Better no refresh than a file no SDK reads as meant.
pub(super) fn ambiguity(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    if let Some((at, _)) = text
        .match_indices('\r')
        .find(|(at, _)| bytes.get(at + 1) != Some(&b'\n'))
    {
        return Some(format!(
            "line {} ends in a lone CR (classic Mac OS), which aws-credfile does not merge; convert its line ends to LF (or CRLF)",
            line_at(bytes, at)
        ));
    }
    // The line itself is not quoted: a file may hold anything.
    text.split_inclusive('\n')
        .enumerate()
        .find_map(|(n, line)| {
            let Line::Header(name) = classify(line) else {
                return None;
            };
            let n = n + 1;
            if line.starts_with(is_python_space) {
                return Some(format!(
                    "line {n} is an indented section header, which Python's SDKs read as part of the value above it; remove the indentation"
                ));
            }
            // Python takes a header's name up to the last `]`, untrimmed;
            // Go and aws-credfile up to the first, trimmed.
            let body = trim_line(line);
            let padded = name.is_some_and(|name| {
                let inner = &body[1..body.find(']').unwrap_or(body.len())];
                inner != name
            });
            (body.matches(']').count() > 1 || padded).then(|| format!(
                "line {n} is a section header the SDKs read differently (with a second ] or spaces inside the brackets); write it as [name]"
            ))
        })
}

/// Why Python's `configparser`, which botocore and the AWS CLI read the
/// file with, would refuse `text` whole (they then have no profile at all);
/// `None` when it reads it. Its rules, as `RawConfigParser` has them by
/// default (`--check` passed, and writes went ahead, on files
/// botocore refused):
///
/// - a byte-order mark is not whitespace to it, so the first header is not
///   one; nor may any `key = value` come before the first header;
/// - a line that is no header, comment, blank or continuation must hold a
///   key, then `=` or `:`;
/// - no section twice (`[DEFAULT]` may be), no key twice in a section
///   (case-insensitive);
/// - a line indented deeper than the key above it continues its value, and
///   botocore reads a value that starts empty as `key = value` lines, each
///   of which must hold a `=`.
///
/// Lines are counted as Python counts them (a lone CR is refused earlier,
/// by [`ambiguity`]). The line itself is never quoted: a file may hold
/// anything.
pub(super) fn python_refuses(text: &str) -> Option<String> {
    const REFUSED: &str = "so Python's SDKs (botocore, the AWS CLI) refuse the whole file";
    if text.starts_with('\u{feff}') {
        return Some(format!("it starts with a byte-order mark, which Python does not skip, {REFUSED}; save it as UTF-8 without one"));
    }
    let mut sections: HashMap<&str, usize> = HashMap::new();
    let mut keys: HashMap<(&str, String), usize> = HashMap::new();
    let mut section: Option<&str> = None;
    // The key the lines below may continue: its line, and whether its
    // value starts empty (botocore then reads it as nested keys).
    let mut key: Option<(usize, bool)> = None;
    let mut indent_level = 0;
    for (n, line) in (1..).zip(text.split_inclusive('\n')) {
        let value = line.trim_matches(is_python_space);
        if value.is_empty() || value.starts_with(['#', ';']) {
            continue;
        }
        let indent = line.chars().take_while(|&c| is_python_space(c)).count();
        if let (Some(_), Some((at, nested))) = (section, key) {
            if indent > indent_level {
                if nested && !value.contains('=') {
                    return Some(format!("line {n} continues the empty value of line {at} with no =, which botocore fails on; write it as key = value, or remove the indentation"));
                }
                continue;
            }
        }
        indent_level = indent;
        if let Some(name) = python_header(value) {
            if name != "DEFAULT" {
                if let Some(first) = sections.insert(name, n) {
                    return Some(format!("line {n} is the header of line {first} again, {REFUSED}; merge the two sections into one"));
                }
            }
            (section, key) = (Some(name), None);
            continue;
        }
        let Some(current) = section else {
            return Some(format!("line {n} comes before any [section] header, {REFUSED}; put it under a header, or remove it"));
        };
        let Some(at) = value.find(['=', ':']) else {
            return Some(format!("line {n} is neither a [section] header, a comment, nor key = value, {REFUSED}; fix or remove it"));
        };
        let name = value[..at].trim_end_matches(is_python_space);
        if name.is_empty() {
            return Some(format!(
                "line {n} has no key before its {}, {REFUSED}; fix or remove it",
                &value[at..=at]
            ));
        }
        if let Some(first) = keys.insert((current, name.to_lowercase()), n) {
            return Some(format!("line {n} sets the key of line {first} again in the same section, {REFUSED}; remove one of them"));
        }
        let empty = value[at + 1..].trim_matches(is_python_space).is_empty();
        key = Some((n, empty));
    }
    None
}

/// Why aws-sdk-go v1 (Harbor's registry, Velero's older releases) would
/// fail on `text` whole, or read no profile after some line, where
/// botocore reads it: `None` when no such line was found. Its parser, as
/// tried line by line against v1.44: a header never closed, or whose
/// name starts with `=`, `;`, `#`, `,`, `:` or `"`, holds a `[` or is
/// empty, or that `=`, `:` or `,` follows; a key that is empty (a line Python reads as indented, such as
/// `\v = v`, is one to Go), starts with `,` or `"`, or holds `[` or `]`; a value
/// starting with `;`, `#` or `,` (a comment or a list where a value must
/// be); a value opening a `"` with no other on its line (what follows joins it, the
/// profiles after it included). `--check` only: the file was so before any
/// write, which changes none of those lines.
pub(super) fn go_v1_refuses(text: &str) -> Option<String> {
    let first_in = |s: &str, set: &[u8]| s.bytes().next().is_some_and(|b| set.contains(&b));
    for (n, line) in (1..).zip(text.split_inclusive('\n')) {
        let body = trim_line(line);
        let b = body.as_bytes();
        // Where its lexer starts a word: a `"` there opens a string, a
        // `;` or `#` a comment.
        let word_start = |i: usize| i == 0 || b" \t=:[,".contains(&b[i - 1]);
        let unclosed =
            (0..b.len()).any(|i| b[i] == b'"' && word_start(i) && !b[i + 1..].contains(&b'"'));
        let unreadable = match classify(line) {
            // Never closed: as bad as a `[` inside.
            Line::Header(name) => {
                let name = name.unwrap_or("[");
                let close = body.find(']').unwrap_or(b.len());
                let after = body[close..].get(1..).unwrap_or_default().trim_start();
                name.is_empty()
                    || name.contains('[')
                    || first_in(name, b"=,:")
                    || (1..close).any(|i| b"#;".contains(&b[i]) && word_start(i))
                    || first_in(after, b"=:,")
                    || unclosed
            }
            Line::Entry => {
                let at = body.find(['=', ':']).unwrap_or(body.len());
                let key = body[..at].trim_end();
                let value = body.get(at + 1..).unwrap_or_default().trim_start();
                key.is_empty()
                    || key.contains(['[', ']'])
                    || first_in(key, b",")
                    || first_in(value, b";#,")
                    || unclosed
                    || body
                        .split(|c: char| c.is_ascii_whitespace() || "=:[]".contains(c))
                        .any(odd_number)
            }
            _ => false,
        };
        if unreadable {
            return Some(format!("line {n} is one aws-sdk-go v1 cannot read: it fails the whole file there, or reads no profile after it; fix or remove it"));
        }
    }
    None
}

/// Keys besides the three aws-credfile writes that change which
/// credentials botocore takes for a profile: it prefers
/// `aws_security_token` to `aws_session_token`, reads `aws_account_id` as
/// the credentials' account, and a role or a process setting hands the
/// profile to another provider.
const FOREIGN_KEYS: [&str; 11] = [
    "aws_security_token",
    "aws_account_id",
    "role_arn",
    "source_profile",
    "credential_source",
    "credential_process",
    "web_identity_token_file",
    "sso_session",
    "sso_start_url",
    "sso_account_id",
    "sso_role_name",
];

/// Where the file sets a key that makes botocore read `profile` otherwise
/// than aws-credfile wrote it: in `[DEFAULT]`, whose keys Python's
/// `configparser` gives every section (its `aws_session_token` too, which
/// would join long-term keys), and, with `own`, in the profile itself (a
/// hand-added one: the next write drops it). Its line, key, and whether it
/// is `[DEFAULT]`'s.
pub(super) fn foreign_key(
    text: &str,
    profile: &str,
    own: bool,
) -> Option<(usize, &'static str, bool)> {
    let mut in_default = None;
    // How deep the section's last key line was indented, as Python counts.
    let mut key_indent = None;
    for (n, line) in (1..).zip(text.split_inclusive('\n')) {
        let indent = line.chars().take_while(|&c| is_python_space(c)).count();
        match classify(line) {
            Line::Header(name) => {
                key_indent = None;
                in_default = match name {
                    Some("DEFAULT") => Some(true),
                    Some(name) if own && name == profile => Some(false),
                    _ => None,
                };
            }
            // Deeper than the key above, a line continues its value and
            // sets no key; the first in a section, indented or not, is one
            // (round 29: an indented one passed).
            Line::Entry if key_indent.is_none_or(|k| indent <= k) => {
                key_indent = Some(indent);
                let Some(default) = in_default else { continue };
                let key = line.split(['=', ':']).next().unwrap_or_default();
                let key = key.trim_matches(is_python_space);
                let session = default.then_some(SESSION_TOKEN);
                if let Some(known) = FOREIGN_KEYS
                    .into_iter()
                    .chain(session)
                    .find(|k| k.eq_ignore_ascii_case(key))
                {
                    return Some((n, known, default));
                }
            }
            _ => {}
        }
    }
    None
}

/// The name of a section header as Python's `configparser` reads the
/// (stripped) line: from `[` to the last `]`, at least one character.
fn python_header(value: &str) -> Option<&str> {
    let inner = value.strip_prefix('[')?;
    let end = inner.rfind(']').filter(|&end| end > 0)?;
    Some(&inner[..end])
}

/// One occurrence of our profile's section, as line indices: the header is
/// at `start`, and `start..body_end` is replaced. The comments and blank
/// lines from `body_end` to the next header are kept.
#[derive(Debug)]
pub(super) struct Span {
    start: usize,
    body_end: usize,
}

/// Finds every section named `profile` among `lines`.
///
/// Comments and blank lines at the end of a section are treated as
/// introducing what follows (people write a comment above the header it is
/// about), so they are left in place. Everything from the header to the
/// last key or marker is ours and replaced, comments in between included:
/// the marker says edits to this section are overwritten.
pub(super) fn find_sections(lines: &[&str], profile: &str) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut current: Option<Span> = None;
    for (i, line) in lines.iter().enumerate() {
        match classify(line) {
            Line::Header(name) => {
                spans.extend(current.take());
                if name == Some(profile) {
                    current = Some(Span {
                        start: i,
                        body_end: i + 1,
                    });
                }
            }
            Line::Entry | Line::Marker => {
                if let Some(span) = current.as_mut() {
                    span.body_end = i + 1;
                }
            }
            Line::Comment | Line::Blank => {}
        }
    }
    spans.extend(current);
    spans
}

/// `existing` with `profile`'s section replaced by `section` (or appended
/// when absent).
///
/// Every line outside the section is kept byte for byte, including CRLF
/// endings and a missing final newline (the result always ends in one).
/// When the file's first line ends in CRLF, `section` is written with CRLF
/// too, so the file keeps one convention.
///
/// When the profile appears more than once, the first occurrence is
/// replaced and the later ones are dropped: aws-sdk-go merges duplicate
/// sections with later keys winning, so a stale duplicate would shadow the
/// fresh keys, and botocore refuses a file with duplicate sections outright.
pub fn merge(existing: &str, profile: &str, section: &str) -> String {
    // A file of one unterminated line ending in CR counts as CRLF: the LF
    // added to end it makes that line CRLF, and the next merge must agree.
    let crlf = existing
        .split_inclusive('\n')
        .next()
        .is_some_and(|first| first.ends_with('\r') || first.ends_with("\r\n"));
    let eol = if crlf { "\r\n" } else { "\n" };
    let mut section = section.replace("\r\n", "\n");
    if !section.ends_with('\n') {
        section.push('\n');
    }
    if crlf {
        section = section.replace('\n', "\r\n");
    }

    let lines: Vec<&str> = existing.split_inclusive('\n').collect();
    let spans = find_sections(&lines, profile);
    let mut out = String::with_capacity(existing.len() + section.len() + 2);
    let mut spans_iter = spans.iter().peekable();
    let mut i = 0;
    while i < lines.len() {
        if let Some(span) = spans_iter.next_if(|s| s.start == i) {
            if span.start == spans[0].start {
                out.push_str(&section);
            }
            i = span.body_end;
            continue;
        }
        out.push_str(lines[i]);
        i += 1;
    }

    // Ends the last line; a trailing CR only lacks its LF.
    let terminate = |out: &mut String| {
        if !out.ends_with('\n') {
            out.push_str(if out.ends_with('\r') { "\n" } else { eol });
        }
    };
    if spans.is_empty() {
        if !out.is_empty() {
            terminate(&mut out);
            // A blank line between sections, as people write them.
            if classify(lines.last().copied().unwrap_or_default()) != Line::Blank {
                out.push_str(eol);
            }
        }
        out.push_str(&section);
    } else {
        terminate(&mut out);
    }
    out
}

/// What `check` found in the profile's section(s).
#[derive(Default)]
pub(super) struct Found {
    pub(super) sections: usize,
    pub(super) access_key_id: bool,
    pub(super) secret_access_key: bool,
    pub(super) expires: Option<Timestamp>,
    /// When the section was last written, from the same marker.
    pub(super) refreshed: Option<Timestamp>,
    /// A marker line was there but its timestamp did not parse (only
    /// reported when no other marker did).
    pub(super) bad_marker: bool,
    /// The last key whose value holds what some SDK misreads (see
    /// `is_fit_value`): `;` or `#` first fails aws-sdk-go v1 on the file;
    /// a value continued on an indented line is a line break to Python.
    pub(super) unfit: Option<&'static str>,
    /// The access key is a temporary one (`ASIA…`), which needs a token.
    pub(super) temporary: bool,
    pub(super) session_token: bool,
}

/// Reads `profile` the way aws-sdk-go does: every section of that name,
/// later keys overriding earlier ones. Values are only tested for presence
/// and fitness, so no secret is ever held here.
pub(super) fn inspect(text: &str, profile: &str) -> Found {
    let mut found = Found::default();
    let mut inside = false;
    // The credential key of the line before, if it was one, and how
    // deeply that line was indented.
    let mut last: Option<(&'static str, usize)> = None;
    for line in text.split_inclusive('\n') {
        let before = last.take();
        let indent = line.len() - line.trim_start().len();
        match classify(line) {
            Line::Header(name) => {
                inside = name == Some(profile);
                found.sections += usize::from(inside);
            }
            _ if !inside => {}
            // Python reads a line indented deeper than the `key = value`
            // before it as more of that value.
            Line::Entry if before.is_some_and(|(_, deep)| indent > deep) => {
                found.unfit = before.map(|(name, _)| name);
                last = before;
            }
            // The earliest, if there are several: never the one that
            // promises most.
            Line::Marker => match parse_marker(line) {
                Some(t) if found.expires.is_some_and(|e| e <= t) => {}
                Some(t) => {
                    found.expires = Some(t);
                    found.refreshed = marker_time(line, "refreshed");
                }
                None => found.bad_marker = true,
            },
            Line::Entry => {
                // Python splits at the first `=` or `:`. Only ASCII
                // whitespace is trimmed: Python strips a no-break space
                // around a value, Java's trim() and Ruby's strip keep it.
                let ascii_space = |c: char| c.is_ascii_whitespace();
                let entry = line.trim_matches(ascii_space);
                let Some(at) = entry.find(['=', ':']) else {
                    continue;
                };
                let (key, value) = (
                    entry[..at].trim_matches(ascii_space),
                    entry[at + 1..].trim_matches(ascii_space),
                );
                let present = !value.is_empty();
                let Some(name) = [ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN]
                    .into_iter()
                    .find(|name| key.eq_ignore_ascii_case(name))
                else {
                    continue;
                };
                if name == ACCESS_KEY_ID {
                    found.access_key_id = present;
                    found.temporary = value.starts_with("ASIA");
                } else if name == SECRET_ACCESS_KEY {
                    found.secret_access_key = present;
                } else {
                    found.session_token = present;
                }
                if present && !is_fit_value(value) {
                    found.unfit = Some(name);
                }
                last = Some((name, indent));
            }
            // Python skips blank and comment lines within a value: a
            // deeper-indented line after them still continues it.
            Line::Comment | Line::Blank => last = before,
        }
    }
    found
}

/// The time after `expires` in a marker line, such as
/// `# aws-credfile: expires 2024-01-01T00:00:00Z, refreshed ...`. Tolerates
/// any spacing and punctuation around the words.
pub(super) fn parse_marker(line: &str) -> Option<Timestamp> {
    marker_time(line, "expires")
}

/// The time after the word `word` (`expires`, `refreshed`) in a marker line.
pub(super) fn marker_time(line: &str, word: &str) -> Option<Timestamp> {
    let mut words = line
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|w| !w.is_empty());
    words.find(|w| w.eq_ignore_ascii_case(word))?;
    Timestamp::parse_rfc3339(words.next()?).ok()
}
