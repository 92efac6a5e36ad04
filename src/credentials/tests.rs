//! Unit tests of `credentials`.

use super::*;

#[test]
fn debug_never_shows_secrets() {
    let creds = Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG"),
        session_token: Some(Secret::new("FwoGZXIvYXdzEBYaDSESSION")),
        expiration: Timestamp::from_unix(1_700_000_000),
        account_id: Some("123456789012".into()),
        role_arn: None,
    };
    let shown = format!("{creds:?} {creds:#?}");
    assert!(!shown.contains("wJalrXUtnFEMI"), "{shown}");
    assert!(!shown.contains("FwoGZXIvYXdz"), "{shown}");
    assert!(shown.contains("AKIDEXAMPLE"));
    assert!(shown.contains("** redacted **"));
    assert_eq!(format!("{}", Secret::new("x")), "** redacted **");
}

#[test]
fn scrub_hides_every_secret_given() {
    let (a, b) = (Secret::new("SECRETKEY"), Secret::new("TOKEN"));
    assert_eq!(
        scrub("x SECRETKEY y TOKEN z".into(), &[Some(&a), None, Some(&b)]),
        "x *** y TOKEN z"
    );
}

#[test]
fn fit_values_are_printable_ascii_without_spaces() {
    assert!(is_fit_value("AKIDEXAMPLE") && is_fit_value("wJal/K7+MDENG=="));
    for unfit in ["", "a b", "a\nb", "a\0b", "caf\u{e9}", "a\tb", "\u{1b}[2J"] {
        assert!(!is_fit_value(unfit), "{unfit:?}");
    }
    // Round 7: a 300 kB session token was taken, and a --print of it to a
    // pipe nobody read blocked, deaf to SIGTERM.
    assert!(is_fit_value(&"T".repeat(MAX_VALUE)));
    assert!(!is_fit_value(&"T".repeat(MAX_VALUE + 1)));
}
