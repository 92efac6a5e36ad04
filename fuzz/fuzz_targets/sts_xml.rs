//! The STS answer parser must never panic, its errors stay on one line, and
//! no error it returns may quote a secret from the body.
#![no_main]

use aws_credfile::sts::{parse_response, ACTION_ASSUME_ROLE, ACTION_WEB_IDENTITY};
use libfuzzer_sys::fuzz_target;

/// The text of every `<SecretAccessKey>` and `<SessionToken>` element long
/// enough to be unmistakable in a message.
fn secrets(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for tag in ["SecretAccessKey>", "SessionToken>"] {
        for (i, _) in text.match_indices(tag) {
            let rest = &text[i + tag.len()..];
            let value = rest.split('<').next().unwrap_or("").trim();
            if value.len() >= 12 {
                out.push(value);
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let status = if data.first().is_some_and(|b| b & 1 == 1) { 200 } else { 400 };
    let text = String::from_utf8_lossy(data);
    // An ErrorResponse's own Code and Message are quoted on purpose; a body
    // that repeats a "secret" there is not a leak.
    let check_secrets = !text.contains("ErrorResponse");
    for action in [ACTION_WEB_IDENTITY, ACTION_ASSUME_ROLE] {
        if let Err(e) = parse_response(action, "https://sts.example", status, Some("text/xml"), data) {
            let shown = e.to_string();
            assert!(!shown.contains('\n'), "multi-line error: {shown:?}");
            if check_secrets {
                for secret in secrets(&text) {
                    assert!(!shown.contains(secret), "the error quotes a secret: {shown:?}");
                }
            }
        }
    }
});
