//! The INI merge must never panic, must be idempotent, and must never lose
//! or alter a line outside the profile it replaces: every line of another
//! section's key or header survives in order.
#![no_main]

use aws_credfile::credentials_file::merge;
use libfuzzer_sys::fuzz_target;

const PROFILE: &str = "default";
const SECTION: &str = "[default]\naws_access_key_id = AKID\naws_secret_access_key = s\n";

/// Whitespace as Python's `str.strip` (and so the merge) has it: Unicode's
/// and U+001C..U+001F.
fn space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn header_name(line: &str) -> Option<&str> {
    let t = line.trim_matches(space).trim_start_matches('\u{feff}');
    let inner = t.strip_prefix('[')?;
    let end = inner.find(']')?;
    Some(inner[..end].trim_matches(space))
}

fuzz_target!(|data: &[u8]| {
    let Ok(existing) = std::str::from_utf8(data) else {
        return;
    };
    let once = merge(existing, PROFILE, SECTION);
    assert_eq!(
        merge(&once, PROFILE, SECTION),
        once,
        "merge is not idempotent"
    );
    // A CRLF file gets our section in CRLF too.
    assert!(
        once.replace("\r\n", "\n").contains(SECTION.trim_end()),
        "our section is missing"
    );

    // Headers and key lines of other sections, in order, must all be kept.
    let mut ours = false;
    let mut others = Vec::new();
    for line in existing.lines() {
        if let Some(name) = header_name(line) {
            ours = name == PROFILE;
        }
        let t = line.trim_matches(space);
        if !ours && !t.is_empty() && !t.starts_with('#') && !t.starts_with(';') {
            others.push(line.trim_end_matches('\r'));
        }
    }
    let mut rest = once.lines().map(|l| l.trim_end_matches('\r'));
    for want in others {
        assert!(rest.any(|l| l == want), "lost or reordered line {want:?}");
    }
});
