//! Tests of the test harness itself, so a failure elsewhere points at the
//! binary and not at the fake: the fake speaks enough HTTP, decodes
//! forms, misbehaves on cue; the secret check catches leaks.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, UNIX_EPOCH};

use super::fake::{parse_form, percent_encode};
use super::{ini, Answer, Fake, Harness, HOUR};

/// Sends raw bytes and returns everything the fake answered (until it
/// closes, errors, or the read times out).
fn exchange(sts: &Fake, request: &[u8], read_timeout: Duration) -> (Vec<u8>, bool) {
    let mut stream =
        TcpStream::connect(sts.url().trim_start_matches("http://")).expect("connect to the fake");
    stream
        .set_read_timeout(Some(read_timeout))
        .expect("set a read timeout");
    stream.write_all(request).expect("send the request");
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (answer, true),
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(_) => return (answer, false),
        }
    }
}

fn form_post(body: &str) -> Vec<u8> {
    format!(
        "POST / HTTP/1.1\r\nHost: sts\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn fake_decodes_a_form_and_issues_credentials() {
    let sts = Fake::start(|_, _| Answer::issue(HOUR));
    let token = "abc+/=&%~ x";
    let body = format!(
        "Action=AssumeRoleWithWebIdentity&RoleArn={}&WebIdentityToken={}",
        percent_encode("arn:aws:iam::1:role/r"),
        percent_encode(token)
    );
    let (answer, closed) = exchange(&sts, &form_post(&body), Duration::from_secs(10));
    assert!(closed, "the fake closes after answering");
    let answer = String::from_utf8(answer).expect("utf-8");
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    let issued = sts.issued();
    assert_eq!(issued.len(), 1);
    assert!(answer.contains(&issued[0].secret_access_key));
    assert!(answer.contains(&format!(
        "<AccessKeyId>{}</AccessKeyId>",
        issued[0].access_key_id
    )));
    assert_eq!(issued[0].access_key_id.len(), 20);

    let r = &sts.requests()[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.param("WebIdentityToken").as_deref(), Some(token));
    assert_eq!(r.param("RoleArn").as_deref(), Some("arn:aws:iam::1:role/r"));
    assert_eq!(
        r.header("CONTENT-TYPE"),
        Some("application/x-www-form-urlencoded")
    );
}

#[test]
fn fake_reads_a_chunked_body() {
    let sts = Fake::start(|_, _| Answer::raw(200, "text/plain", "ok"));
    let request = b"POST / HTTP/1.1\r\nHost: sts\r\nTransfer-Encoding: chunked\r\n\r\n\
        7\r\nAction=\r\n5\r\nHello\r\n0\r\n\r\n";
    let (answer, _) = exchange(&sts, request, Duration::from_secs(10));
    assert!(String::from_utf8_lossy(&answer).ends_with("\r\n\r\nok"));
    assert_eq!(sts.requests()[0].param("Action").as_deref(), Some("Hello"));
}

#[test]
fn fake_hangs_and_resets_on_cue() {
    let sts = Fake::start(|n, _| {
        if n == 0 {
            Answer::Hang
        } else {
            Answer::raw(200, "text/xml", vec![b'x'; 1000]).cut_off(10)
        }
    });
    let (answer, closed) = exchange(&sts, &form_post("a=b"), Duration::from_millis(500));
    assert!(answer.is_empty() && !closed, "a hang sends nothing");
    let (answer, _) = exchange(&sts, &form_post("a=b"), Duration::from_secs(10));
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(answer.contains("Content-Length: 1000"), "{answer}");
    assert!(answer.ends_with(&"x".repeat(10)), "{answer}");
}

#[test]
fn form_decoding_handles_plus_and_percent() {
    assert_eq!(
        parse_form("a=1+2&b=%2B%2F%3D&c&d=%zz%"),
        vec![
            ("a".to_string(), "1 2".to_string()),
            ("b".to_string(), "+/=".to_string()),
            ("c".to_string(), String::new()),
            ("d".to_string(), "%zz%".to_string()),
        ]
    );
}

#[test]
fn timestamps_are_rfc3339_utc() {
    use super::time::rfc3339;
    assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    assert_eq!(
        rfc3339(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
        "2023-11-14T22:13:20Z"
    );
    assert_eq!(
        rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
        "2000-02-29T00:00:00Z"
    );
}

#[test]
fn ini_reader_finds_profiles_and_refuses_duplicates() {
    let text = "top\n[a]\r\nk = v\r\n# c\n[b]\nx=1\n[a]\nk=w\n";
    assert_eq!(ini::sections(text).len(), 3);
    assert!(ini::section(text, "a").is_err(), "duplicates are an error");
    assert_eq!(ini::values(text, "b").expect("b")["x"], "1");
}

/// The check's panic is caught here rather than by `#[should_panic]`: a
/// harness dropped while its thread panics keeps its scratch directory for
/// inspection, and this test passing must leave nothing behind.
#[test]
fn secret_check_catches_a_piece_of_a_token() {
    let h = Harness::new("harness_leak", |_, _| Answer::issue(HOUR));
    let token = h.token();
    let piece = token.split('.').nth(1).expect("a JWT has three parts");
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        h.assert_no_secrets("log", &format!("token payload {piece}"));
    }));
    let panic = caught.expect_err("a piece of the token is a leak");
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    assert!(message.contains("leaks a secret"), "{message}");
}

#[test]
fn secret_check_allows_the_access_key_id() {
    let h = Harness::new("harness_akid", |_, _| Answer::issue(HOUR));
    let (answer, _) = exchange(&h.sts, &form_post("a=b"), Duration::from_secs(10));
    assert!(!answer.is_empty());
    let akid = h.sts.issued()[0].access_key_id.clone();
    h.assert_no_secrets("log", &format!("refreshed access_key_id={akid}"));
}
