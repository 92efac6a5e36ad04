//! Text from elsewhere made fit for a message: one line, capped, nothing
//! that drives a terminal or hides, and bodies quoted only when they cannot
//! hold credentials.

/// 100 characters of a body quoted in an error message.
pub const BODY_PREFIX_CHARS: usize = 100;

/// `: "<first 100 characters>"` of an unexpected answer's body for an error
/// message, with control characters blanked; or a note that it was withheld
/// when the body mentions a secret, key or token, since an answer that does
/// may carry credentials.
pub fn quote_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let lower = text.to_ascii_lowercase();
    if ["secret", "token", "accesskey", "access_key"]
        .iter()
        .any(|w| lower.contains(w))
    {
        return " (body not quoted: it may hold credentials)".into();
    }
    let shown: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(BODY_PREFIX_CHARS)
        .collect();
    let cut = text.chars().nth(BODY_PREFIX_CHARS).is_some();
    format!(": {:?}{}", shown.trim(), if cut { "…" } else { "" })
}

/// Collapses whitespace (including newlines from remote messages) so every
/// error stays on one log line, and caps its length.
pub fn one_line(s: &str) -> String {
    one_line_within(s, 300)
}

/// A text of ours (what failed, where, what to do; any text from elsewhere
/// in it capped where it was taken in) on one line. The cap only guards,
/// so that the part saying what to do is not cut out of the middle, as
/// [`one_line`]'s 300 bytes did with a long path or a proxy's name.
pub fn one_line_ours(s: &str) -> String {
    one_line_within(s, 1024)
}

/// [`one_line`] with a cap of `max` bytes (plus an ellipsis where cut):
/// control characters become `?`, so nothing a server sent can start a
/// forged log line or drive a terminal. What is cut is the middle: a
/// message ends with what went wrong and what to do, and a huge value
/// quoted before that must not push it out.
pub fn one_line_within(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max));
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.len() > max {
        out = cut_middle(&out, max / 3, max - max / 3).into_owned();
    }
    out.chars()
        .map(|c| {
            if c.is_control() || is_invisible(c) {
                '?'
            } else {
                c
            }
        })
        .collect()
}

/// `s` with all but its first `head` and last `tail` bytes (to whole
/// characters) replaced by `…`, if that makes it shorter.
pub fn cut_middle(s: &str, head: usize, tail: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= head + tail {
        return s.into();
    }
    let mut head = head;
    while !s.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = s.len() - tail;
    while !s.is_char_boundary(tail) {
        tail += 1;
    }
    format!("{}…{}", &s[..head], &s[tail..]).into()
}

/// Unicode characters that show nothing or change how the text around
/// them is shown: the bidi controls (LRM, RLM, ALM, embeddings, overrides,
/// isolates), zero-width characters and joiners, the soft hyphen, the byte
/// order mark, invisible operators and fillers, variation selectors and the
/// tag characters, and the blank braille pattern. In a log line or a name they make what a reader sees
/// differ from what was written.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}'
        | '\u{17B5}' | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{2800}' | '\u{3164}'
        | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}
