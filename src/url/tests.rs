//! Unit tests of `url`.

use super::*;

#[test]
fn strict_reading() {
    // A raw non-ASCII path went out as bytes, signed encoded.
    assert!(Url::parse("http://127.0.0.1:8080/\u{fc}/").is_err());
    assert!(Url::parse("http://127.0.0.1:8080/%C3%BC/").is_ok());
    let u = Url::parse("https://STS.eu-west-1.amazonaws.com").unwrap();
    assert!(u.is_https());
    assert_eq!(
        (u.host(), u.host_header()),
        (
            "sts.eu-west-1.amazonaws.com",
            "sts.eu-west-1.amazonaws.com".to_string()
        )
    );
    let u = Url::parse("http://127.0.0.1:8080/v1/credentials?x=1").unwrap();
    assert!(u.is_loopback() && u.has_query_or_fragment());
    assert_eq!(u.host_header(), "127.0.0.1:8080");
    let u = Url::parse("http://[fd00:ec2::23]/v1/credentials").unwrap();
    assert_eq!(u.ip(), Some("fd00:ec2::23".parse().unwrap()));
    assert_eq!(u.host_header(), "[fd00:ec2::23]");
    assert_eq!(
        Url::parse("http://[::1]:99").unwrap().host_header(),
        "[::1]:99"
    );
    assert_eq!(Url::parse("https://h:443/").unwrap().host_header(), "h");
    assert!(Url::parse("http://LocalHost:1").unwrap().is_loopback());
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(
        Url::pinned_to("http://LOCALHOST:8080/v1/c?x=1", ip("127.0.0.1")).unwrap(),
        "http://127.0.0.1:8080/v1/c?x=1"
    );
    assert_eq!(
        Url::pinned_to("http://localhost/creds", ip("::1")).unwrap(),
        "http://[::1]:80/creds"
    );
    for bad in [
        "",
        "nohost",
        "http://",
        "http://u:p@host",
        "http://h:notaport",
        "http://h:0",
        "http://h:",
        "http://[::1",
        "ftp://h",
        "http://h /x",
        // A zone made the address a name the resolver looked up in DNS.
        "http://[::1%lo]:8080/",
        "https://[fe80::1%25eth0]/",
    ] {
        assert!(Url::parse(bad).is_err(), "{bad}");
    }
    // Each refusal says what to give instead.
    for (bad, remedy) in [
        ("http://h:99999", "a number from 1 to 65535"),
        ("http://u:p@host", "remove them"),
    ] {
        let msg = Url::parse(bad).unwrap_err();
        assert!(msg.ends_with(remedy), "{bad}: {msg}");
    }
}

#[test]
fn user_info_is_redacted() {
    for (given, shown) in [
        ("http://user:pw@proxy:3128", "http://***@proxy:3128"),
        ("https://user:p%40ss@host/path", "https://***@host/path"),
        // An `@` after the host cannot be told from one in a password
        // holding `/` or `?`: everything up to the last one goes.
        ("https://user:p%40ss@host/path?q=a@b", "https://***@b"),
        ("http://a@b@host:1/x", "http://***@host:1/x"),
        ("user:pw@proxy:3128", "***@proxy:3128"),
        ("http://proxy:3128", "http://proxy:3128"),
        ("proxy:3128", "proxy:3128"),
        ("/v1/creds", "/v1/creds"),
        // Characters a password should have encoded, and did not.
        (
            "http://user:wJalrXUtnFEMI/K7MDENG@127.0.0.1:3128",
            "http://***@127.0.0.1:3128",
        ),
        (
            "http://user:s3cret proxypw@127.0.0.1:3128",
            "http://***@127.0.0.1:3128",
        ),
        ("https://user:s3cr\"et@sts.test/", "https://***@sts.test/"),
        (
            "http://user:s3cr#et@127.0.0.1:8443/v1",
            "http://***@127.0.0.1:8443/v1",
        ),
        ("http://u:p?a<b>`'\\@h:1", "http://***@h:1"),
        ("u:pa/ss@proxy:3128", "***@proxy:3128"),
        // A `://` inside the password is not a scheme's.
        ("user:PWGse://cret@127.0.0.1:9", "***@127.0.0.1:9"),
        ("http:/user:pw@host", "***@host"),
    ] {
        assert_eq!(redact(given), shown, "{given}");
    }
    assert_eq!(
        redact_text(
            r#"HTTPS_PROXY "http://u:secret@p:1" failed: connect http://v:secret2@q/x, ok"#
        ),
        r#"HTTPS_PROXY "http://***@p:1" failed: connect http://***@q/x, ok"#
    );
    // In running text a URL ends at whitespace; quoted with Debug, as the
    // configuration errors do, a quote inside it is escaped.
    assert_eq!(
        redact_text(r#"override "https://user:s3cr\"et/x@sts.test/": invalid"#),
        r#"override "https://***@sts.test/": invalid"#
    );
    assert_eq!(
        redact_text(r#"value "user:PWGse://cret@127.0.0.1:9": bad, and (u:p://q@h)"#),
        r#"value "***@127.0.0.1:9": bad, and (***@h)"#
    );
    assert_eq!(
        redact_text("no urls here @ all://"),
        "no urls here @ all://"
    );
}

#[test]
fn a_value_that_is_no_url_is_not_quoted_as_a_scheme() {
    let err = Url::parse("user:PWGse://cret@127.0.0.1:9").unwrap_err();
    assert!(!err.contains("PWGse"), "{err}");
    assert_eq!(
        Url::parse("ftp://host").unwrap_err(),
        "scheme \"ftp\" is not http or https"
    );
}

/// A proxy URL's path, query or fragment (`?auth=...`) was shown
/// whole in errors; only its user info was hidden.
#[test]
fn a_proxy_is_shown_as_its_scheme_host_and_port_only() {
    for (url, shown) in [
        ("http://proxy:3128", "http://proxy:3128"),
        (
            "http://proxy:3128/?auth=ProxySecretToken123",
            "http://proxy:3128",
        ),
        ("http://u:p@proxy:3128#frag", "http://***@proxy:3128"),
        ("http://u:p/a#b@proxy:3128/x", "http://***@proxy:3128"),
        ("proxy:3128?auth=x", "proxy:3128"),
    ] {
        assert_eq!(redact_origin(url), shown, "{url}");
    }
}

/// An endpoint URL's query (a token, for a credentials server
/// that authenticates by one) reached every log line naming the endpoint,
/// and an `@` in it read as user info, so messages named a host never
/// contacted.
#[test]
fn an_endpoint_is_shown_without_its_query() {
    for (url, expected) in [
        (
            "http://127.0.0.1:9/v1/credentials",
            "http://127.0.0.1:9/v1/credentials",
        ),
        (
            "http://127.0.0.1:9/creds?access_token=QuerySecret0123",
            "http://127.0.0.1:9/creds?…",
        ),
        (
            "http://127.0.0.1:9/v1/credentials?owner=ops@example.com",
            "http://127.0.0.1:9/v1/credentials?…",
        ),
        (
            "https://[fd00:ec2::23]/v1/credentials",
            "https://[fd00:ec2::23]/v1/credentials",
        ),
        ("http://u:p@127.0.0.1:9/x?t=1", "http://***@127.0.0.1:9"),
    ] {
        assert_eq!(shown(url), expected, "{url}");
        assert_eq!(redact_text(&shown(url)), expected, "{url}");
    }
}

#[test]
fn a_query_is_kept_out_of_messages_whole_and_by_value() {
    let secrets = query_secrets("http://127.0.0.1/v1/credentials?sig=S3CR%2FET%2BXYZ&t=AB+CD#frag");
    for expected in [
        "sig=S3CR%2FET%2BXYZ&t=AB+CD",
        "frag",
        "S3CR%2FET%2BXYZ",
        "S3CR/ET+XYZ",
        "AB+CD",
        "AB CD",
    ] {
        assert!(
            secrets.iter().any(|s| s == expected),
            "{expected}: {secrets:?}"
        );
    }
    assert!(query_secrets("http://127.0.0.1/v1/credentials").is_empty());
}

#[test]
fn a_reference_is_shown_without_its_query() {
    assert_eq!(
        shown_reference("/v1/credentials?token=SECRET&x=1"),
        "/v1/credentials?…"
    );
    assert_eq!(
        shown_reference("https://u:pw@127.0.0.1:8443/v1?token=SECRET"),
        "https://***@127.0.0.1:8443/v1?…"
    );
    assert_eq!(shown_reference("/elsewhere"), "/elsewhere");
}
