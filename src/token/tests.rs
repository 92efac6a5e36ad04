//! Unit tests of `token`.

use super::*;

#[test]
fn header_tokens_with_line_breaks_are_refused() {
    assert!(check_header_value(&Secret::new("abc")).is_ok());
    assert!(check_header_value(&Secret::new("abc\r\nX-Evil: 1")).is_err());
    assert!(check_header_value(&Secret::new("abc\n")).is_err());
    assert!(check_header_value(&Secret::new("")).is_err());
    let msg = check_header_value(&Secret::new("secret-part\nx")).unwrap_err();
    assert!(!msg.contains("secret-part"));
}

#[test]
fn header_tokens_outside_ascii_are_refused() {
    for bad in ["tökén", "token\u{00a0}", "token\u{200b}", "\u{1f511}"] {
        let msg = check_header_value(&Secret::new(bad)).unwrap_err();
        assert!(msg.contains("ASCII"), "{bad:?}: {msg}");
        assert!(!msg.contains("tök") && !msg.contains('\u{1f511}'), "{msg}");
    }
    assert!(check_header_value(&Secret::new("Basic dXNlcjpwYXNz==")).is_ok());
}

#[test]
fn random_tokens_differ() {
    let a = random_token().expect("random");
    let b = random_token().expect("random");
    assert_eq!(a.expose().len(), 64);
    assert_ne!(a.expose(), b.expose());
}

#[test]
fn web_identity_tokens_are_one_word() {
    assert!(check_web_identity("eyJhbGciOi.payload.sig").is_ok());
    // A byte-order mark was sent, percent-encoded, as the token.
    for bad in [
        "",
        "a b",
        "a\tb",
        "a\u{0}b",
        "\u{feff}eyJ.x.y",
        "eyJ\u{200b}.x.y",
    ] {
        assert!(check_web_identity(bad).is_err(), "{bad:?}");
    }
}
