//! The STS answer parser must never panic, and no error it returns may
//! quote a secret from the body.
#![no_main]

use aws_credfile::sts::{parse_response, ACTION_ASSUME_ROLE, ACTION_WEB_IDENTITY};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let status = if data.first().is_some_and(|b| b & 1 == 1) { 200 } else { 400 };
    for action in [ACTION_WEB_IDENTITY, ACTION_ASSUME_ROLE] {
        if let Err(e) = parse_response(action, "https://sts.example", status, Some("text/xml"), data) {
            let shown = e.to_string();
            assert!(!shown.contains('\n'), "multi-line error: {shown:?}");
        }
    }
});
