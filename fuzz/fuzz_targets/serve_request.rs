//! The loopback endpoint's request parser must never panic, must answer
//! a definite status for anything complete, and must refuse oversized heads.
#![no_main]

use aws_credfile::serve::http1::{parse_request, Parsed, MAX_REQUEST};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_request(data) {
        Parsed::Bad(status, _) => assert!((400..600).contains(&status)),
        Parsed::Incomplete => assert!(
            data.len() < MAX_REQUEST,
            "an oversized head must be refused"
        ),
        Parsed::Request(r) => assert!(r.path.starts_with('/')),
    }
});
