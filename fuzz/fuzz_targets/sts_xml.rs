//! The STS answer parser must never panic, its errors stay on one line, and
//! no error it returns may quote a secret from the body.
#![no_main]

use aws_credfile::sts::{parse_response, ACTION_ASSUME_ROLE, ACTION_WEB_IDENTITY};
use libfuzzer_sys::fuzz_target;

/// Stands in for a secret; no message template contains it.
const MARKER: &[u8] = b"Qz9LeakMarkerQz9LeakMarkerQz9LeakMarker";

/// Byte ranges of every `<SecretAccessKey>` and `<SessionToken>` value that
/// looks like a real one (12+ characters of the base64 alphabet).
fn secret_ranges(data: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for tag in [&b"<SecretAccessKey>"[..], b"<SessionToken>"] {
        let mut from = 0;
        while let Some(i) = data[from..].windows(tag.len()).position(|w| w == tag) {
            let start = from + i + tag.len();
            let len = data[start..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || b"+/=".contains(b))
                .count();
            if len >= 12 {
                out.push((start, start + len));
            }
            from = start;
        }
    }
    out
}

fn errors(data: &[u8], status: u16) -> Vec<String> {
    [ACTION_WEB_IDENTITY, ACTION_ASSUME_ROLE]
        .iter()
        .filter_map(|action| {
            parse_response(
                action,
                "https://sts.example",
                status,
                Some("text/xml"),
                data,
            )
            .err()
        })
        .map(|e| e.to_string())
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let status = if data.first().is_some_and(|b| b & 1 == 1) {
        200
    } else {
        400
    };
    for shown in errors(data, status) {
        assert!(!shown.contains('\n'), "multi-line error: {shown:?}");
    }
    // Swap each secret-looking value for a marker of the same length: if
    // the marker shows up in an error, the error quotes the body's secret.
    for (start, end) in secret_ranges(data) {
        let mut swapped = data.to_vec();
        for (k, b) in swapped[start..end].iter_mut().enumerate() {
            *b = MARKER[k % MARKER.len()];
        }
        let needle = std::str::from_utf8(&MARKER[..(end - start).min(MARKER.len())]).unwrap();
        for shown in errors(&swapped, status) {
            // An ErrorResponse quotes its own Code and Message on purpose.
            if shown.contains("STS refused") {
                continue;
            }
            assert!(
                !shown.contains(needle),
                "the error quotes a secret: {shown:?}"
            );
        }
    }
});
