//! Unit tests of `http::resolver`.

use super::*;

/// `localhost.` (the same name, fully qualified) and names
/// under `.localhost` went to DNS, and the identity token to its answer.
#[test]
fn localhost_in_every_spelling_is_loopback_and_addresses_are_literal() {
    for addr in [
        "localhost:9",
        "LOCALHOST:9",
        "localhost.:9",
        "LocalHost.:9",
        "sts.localhost:9",
        "sts.localhost.:9",
    ] {
        assert_eq!(loopback_port(addr), Some(9), "{addr}");
    }
    for addr in ["localhost.evil.example:9", "notlocalhost:9", "localhostx:9"] {
        assert_eq!(loopback_port(addr), None, "{addr}");
    }
    assert_eq!(literal("127.0.0.1.:9"), "127.0.0.1:9".parse().ok());
    assert_eq!(literal("[::1]:9"), "[::1]:9".parse().ok());
    assert_eq!(literal("example.com:9"), None);
}
