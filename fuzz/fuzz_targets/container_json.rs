//! The container endpoint's answer parser must never panic on any body or
//! status, and its errors stay on one line.
#![no_main]

use aws_credfile::source::container::parse_answer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let status = match data.first() {
        Some(b) if b % 3 == 0 => 403,
        Some(b) if b % 3 == 1 => 500,
        _ => 200,
    };
    if let Err(e) = parse_answer("http://127.0.0.1/v1/credentials", status, None, data) {
        assert!(!e.to_string().contains('\n'));
    }
});
