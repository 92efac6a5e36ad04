//! The container endpoint's answer parser must never panic, its errors
//! stay on one line, and no error quotes a `SecretAccessKey` or `Token`
//! value from the body, whatever the status.
#![no_main]

use aws_credfile::source::container::parse_answer;
use libfuzzer_sys::fuzz_target;

/// String values of the secret fields, if the body is a JSON object.
fn secrets(data: &[u8]) -> Vec<String> {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(data)
    else {
        return Vec::new();
    };
    ["SecretAccessKey", "Token"]
        .iter()
        .filter_map(|k| map.get(*k).and_then(|v| v.as_str()))
        .filter(|v| v.trim().len() >= 12)
        .map(|v| v.trim().to_string())
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let status = match data.first() {
        Some(b) if b % 3 == 0 => 403,
        Some(b) if b % 3 == 1 => 500,
        _ => 200,
    };
    if let Err(e) = parse_answer("http://127.0.0.1/v1/credentials", status, None, data) {
        let shown = e.to_string();
        assert!(!shown.contains('\n'));
        for secret in secrets(data) {
            assert!(
                !shown.contains(&secret),
                "the error quotes a secret: {shown:?}"
            );
        }
    }
});
