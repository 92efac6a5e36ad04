//! Unit tests of `http`.

use super::proxy::check_proxy_port;
use super::*;

#[test]
fn echoed_secrets_are_taken_out_of_bodies() {
    let resp = Response {
        status: 400,
        content_type: None,
        date: None,
        body: b"bad token eyJhbGci.x.y in request; eyJhbGci.x.y again; key ab".to_vec(),
    };
    assert_eq!(
        resp.body_without(&["eyJhbGci.x.y", "ab"]),
        b"bad token ** redacted ** in request; ** redacted ** again; key ab".to_vec()
    );
}

#[test]
fn any_twelve_bytes_of_a_secret_are_taken_out_of_an_error() {
    let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2lnbmF0dXJl";
    let without = |text: String| without_pieces(&text, &[token]);
    // Cut to a length, from an offset, and from the middle: each run goes.
    assert_eq!(
        without(format!("token {}... rejected", &token[..40])),
        "token ** redacted **... rejected"
    );
    assert_eq!(
        without(format!("tail '{}'", &token[50..])),
        "tail '** redacted **'"
    );
    assert_eq!(
        without(format!("[{}][{}]", &token[10..26], &token[30..60])),
        "[** redacted **][** redacted **]"
    );
    // A prefix as an agent quotes one ("token 0123456789abcde...") goes.
    assert_eq!(
        without(format!("token {}... is not valid", &token[..12])),
        "token ** redacted **... is not valid"
    );
    // Eleven bytes of it are not a piece; the whole of it still is.
    let short = &token[5..16];
    assert_eq!(without(format!("<{short}>")), format!("<{short}>"));
    assert_eq!(without(format!("{token}{token}")), "** redacted **");
}

#[test]
fn pieces_of_a_secret_in_a_good_answer_change_nothing() {
    // The session token an answer carries shares a long prefix with the
    // one the request was signed with, as AWS's do: read as it came.
    let signed_with = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJGsourceSOURCE";
    let resp = Response {
        status: 200,
        content_type: None,
        date: None,
        body: b"IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJGissuedISSUED".to_vec(),
    };
    let read = resp.parse_with(&[signed_with], |body| Ok(body.to_vec()));
    assert_eq!(read.unwrap(), resp.body);
    // And when the answer cannot be read, the error quotes no piece of it.
    let err = resp
        .parse_with(&[signed_with], |body| {
            Err::<(), _>(Error::BadResponse {
                from: "sts".into(),
                status: 200,
                detail: String::from_utf8_lossy(body).into_owned(),
            })
        })
        .unwrap_err()
        .to_string();
    assert!(!err.contains("IQoJb3JpZ2luX2Vj"), "{err}");
}

#[test]
fn a_body_that_ran_out_of_time_is_a_timeout() {
    let from_body = ureq::Error::Timeout(ureq::Timeout::Global).into_io();
    assert!(is_timeout(&from_body));
    assert!(is_timeout(&std::io::ErrorKind::TimedOut.into()));
    assert!(!is_timeout(&ureq::Error::ConnectionFailed.into_io()));
    assert!(!is_timeout(&std::io::ErrorKind::ConnectionReset.into()));
}

#[test]
fn proxy_rules() {
    let net = Network {
        https_proxy: Some(Proxy {
            variable: "https_proxy",
            url: "http://proxy:3128".into(),
        }),
        no_proxy: vec!["internal.example".into(), ".corp".into()],
        ca_bundle: None,
    };
    let via = |url: &str, net: &Network| proxy_for(url, net).map(|p| p.url);
    assert_eq!(
        via("https://sts.amazonaws.com", &net).as_deref(),
        Some("http://proxy:3128")
    );
    assert_eq!(via("https://sts.internal.example", &net), None);
    assert_eq!(via("https://internal.example", &net), None);
    assert_eq!(via("https://x.corp", &net), None);
    assert_eq!(via("http://127.0.0.1:9", &net), None);
    assert_eq!(via("https://localhost", &net), None);
    // Loopback as the resolver reads it: a final dot, a name under
    // localhost, in any case. These went to the proxy, the identity token
    // with them, while the connection without one went to this machine.
    for loopback in [
        "https://localhost.:8443",
        "https://foo.localhost:8443",
        "https://a.b.LOCALHOST/",
        "https://foo.localhost./",
        "https://127.0.0.1.:8443/",
        "https://[::ffff:127.0.0.1]:8443/",
        "https://[::]:8443/",
        "https://0.0.0.0:8443/",
    ] {
        assert_eq!(via(loopback, &net), None, "{loopback}");
    }
    assert!(via("https://localhost.example/", &net).is_some());
    assert!(via("https://notlocalhost/", &net).is_some());
    assert_eq!(via("http://sts.amazonaws.com", &net), None);
    let all = Network {
        no_proxy: vec!["*".into()],
        ..net.clone()
    };
    assert_eq!(via("https://sts.amazonaws.com", &all), None);
    assert_eq!(via("https://sts.amazonaws.com", &Network::default()), None);
    // An entry with a port exempts that port only.
    let ports = Network {
        no_proxy: vec![
            "sts.test:9999".into(),
            "[fd00::1]:8443".into(),
            "fd00::2".into(),
            "odd.test:x".into(),
        ],
        ..net.clone()
    };
    assert_eq!(via("https://sts.test:9999/", &ports), None);
    assert!(via("https://sts.test:8443/", &ports).is_some());
    assert!(via("https://sts.test/", &ports).is_some());
    assert_eq!(via("https://[fd00::1]:8443/", &ports), None);
    assert!(via("https://[fd00::1]/", &ports).is_some());
    assert_eq!(via("https://[fd00::2]/", &ports), None);
    assert!(via("https://odd.test/", &ports).is_some());
    // `*` is special only as a whole entry, as Go and Python
    // read it; an address matches however it is spelled.
    let stars = Network {
        no_proxy: vec![
            "*:443".into(),
            ".*".into(),
            "*.*".into(),
            "fd00:0::3".into(),
        ],
        ..net.clone()
    };
    assert!(via("https://sts.corp/", &stars).is_some());
    assert_eq!(via("https://[fd00::3]/", &stars), None);
    // A final dot (a fully qualified name) on either side was no match.
    let dotted = Network {
        no_proxy: vec!["internal.example.".into(), ".".into()],
        ..net.clone()
    };
    assert_eq!(via("https://sts.internal.example/", &dotted), None);
    assert_eq!(via("https://sts.internal.example./", &dotted), None);
    assert_eq!(via("https://x.corp./", &net), None);
    assert!(via("https://sts.amazonaws.com./", &dotted).is_some());
    // A suffix names domains, not addresses: `2.3` and `.2.3` sent
    // 10.1.2.3 around the proxy.
    let numbers = Network {
        no_proxy: vec!["2.3".into(), ".2.3".into(), "10.1.2.4".into()],
        ..net.clone()
    };
    assert!(via("https://10.1.2.3/", &numbers).is_some());
    assert_eq!(via("https://10.1.2.4/", &numbers), None);
    assert_eq!(via("https://sts.2.3/", &numbers), None);
}

#[test]
fn a_proxy_port_must_be_a_port() {
    for good in [
        "http://proxy:3128",
        "proxy:3128",
        "http://user:p%40ss@proxy:3128/",
        "http://proxy",
        "http://[fd00::1]:3128",
        "http://[fd00::1]",
        "https://proxy:65535",
    ] {
        assert!(check_proxy_port(good).is_ok(), "{good}");
    }
    for bad in [
        "http://127.0.0.1:3128x",
        "http://127.0.0.1:99999",
        "http://127.0.0.1:-1",
        "http://127.0.0.1:0",
        "http://127.0.0.1:",
        "http://user:pw@proxy:31 28",
        "http://[fd00::1]x",
        "http://[fd00::1]:x",
    ] {
        assert!(check_proxy_port(bad).is_err(), "{bad}");
    }
}

/// A SOCKS proxy in `HTTPS_PROXY` (`socks5://`, `socks5h://`,
/// `socks4://`, `socks://`) reached ureq, which panics when a proxy needs a
/// feature it was built without: every refresh aborted (exit 134). Now a
/// configuration error naming the variable.
#[test]
fn a_socks_proxy_is_a_config_error_not_a_panic() {
    // The configuration error a client for STS through `proxy` gets, if any.
    let refusal = |proxy: &str| {
        let net = Network {
            https_proxy: Some(Proxy {
                variable: "HTTPS_PROXY",
                url: proxy.into(),
            }),
            no_proxy: Vec::new(),
            ca_bundle: None,
        };
        match Client::new("https://sts.eu-west-1.amazonaws.com/", &net) {
            Err(Error::Config(msg)) => Some(msg),
            Err(other) => panic!("{proxy}: {other}"),
            Ok(_) => None,
        }
    };
    for url in [
        "socks5://127.0.0.1:1080",
        "socks5h://127.0.0.1:1080",
        "socks4://127.0.0.1:1080",
        "socks://127.0.0.1:1080",
    ] {
        let msg = refusal(url).unwrap_or_else(|| panic!("{url}: accepted"));
        assert!(msg.starts_with("HTTPS_PROXY"), "{msg}");
        assert!(msg.contains("only http:// and https://"), "{msg}");
    }
    assert_eq!(refusal("http://127.0.0.1:3128"), None);
    // An IPv6 zone made the host a name, looked up in DNS, and the
    // password went to whatever address came back.
    for url in ["http://u:pw@[::1%lo]:3128", "http://[fe80::1%25eth0]:3128"] {
        let msg = refusal(url).unwrap_or_else(|| panic!("{url}: accepted"));
        assert!(msg.contains("IPv6 zone") && !msg.contains("pw@"), "{msg}");
    }
    // A password with an unencoded / ? or # made a path or a
    // query, and the user name the proxy's host.
    // Where an `@` comes after it, it is named as the password's, whose
    // `/` made the port look invalid.
    for url in [
        "http://localhost:18003/pw@proxy.corp.example:3128",
        "http://localhost:18003?pw@proxy.corp.example:3128",
        "http://user:abc/def@proxy.corp.example:3128",
    ] {
        let msg = refusal(url).unwrap_or_else(|| panic!("{url}: accepted"));
        assert!(msg.contains("password holds / or ?"), "{msg}");
        assert!(msg.contains("percent-encoded"), "{msg}");
    }
    let msg = refusal("http://proxy.corp.example:3128/x").expect("a path");
    assert!(msg.contains("path or a query"), "{msg}");
    assert_eq!(refusal("http://proxy.corp.example:3128/"), None);
}

/// A bundle an editor saved with a byte-order mark first was refused as
/// holding no certificate; OpenSSL's `TRUSTED CERTIFICATE` blocks were
/// skipped without a word, and the proxy they were for failed every
/// handshake.
#[test]
fn a_bundle_with_a_byte_order_mark_is_read_and_openssls_trusted_form_refused() {
    // One of the embedded roots, as PEM.
    let der: &[u8] = webpki_root_certs::TLS_SERVER_ROOT_CERTS[0].as_ref();
    let cert = &format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----",
        base64(der)
    );
    let path = std::env::temp_dir().join(format!("aws-credfile-ca-{}.pem", std::process::id()));
    let net = Network {
        ca_bundle: Some(path.clone()),
        ..Network::default()
    };
    std::fs::write(&path, format!("\u{feff}{cert}\n")).expect("write");
    let with_bom = net.check();
    // A second file saved with a byte-order mark, joined by `cat`: its
    // certificate was dropped without a word.
    std::fs::write(&path, format!("{cert}\n\u{feff}{cert}\n")).expect("write");
    let joined = net.check();
    // A block the PEM reader passes over (no END line) is named.
    std::fs::write(
        &path,
        format!("{cert}\n-----BEGIN CERTIFICATE-----\nTUlJ\n"),
    )
    .expect("write");
    let unended = net.check();
    // The same bundle with a private key, flattened onto one line (pasted
    // into a one-line value): the label the reader reports runs on through
    // both blocks, and was quoted, key and all.
    let flat = format!(
        "{cert}\n-----BEGIN PRIVATE KEY-----\nPrivateKeyMaterialNeverShown0123\n-----END PRIVATE KEY-----\n"
    )
    .replace('\n', " ");
    std::fs::write(&path, flat).expect("write");
    let flattened = net.check();
    let trusted = cert.replace("BEGIN CERTIFICATE", "BEGIN TRUSTED CERTIFICATE");
    std::fs::write(&path, format!("{cert}\n{trusted}\n")).expect("write");
    let openssl_form = net.check();
    std::fs::remove_file(&path).expect("remove");
    assert!(with_bom.is_ok(), "{with_bom:?}");
    assert!(joined.is_ok(), "{joined:?}");
    // Said in words, not as the END line's byte values.
    let unended = unended.expect_err("a block left unread").to_string();
    assert!(unended.contains("a block has no END line"), "{unended}");
    let flattened = flattened.expect_err("a flattened file").to_string();
    assert!(flattened.contains("lost its line breaks"), "{flattened}");
    assert!(!flattened.contains("PrivateKeyMaterial"), "{flattened}");
    assert!(!flattened.contains(&base64(der)[..40]), "{flattened}");
    let err = openssl_form
        .expect_err("a TRUSTED CERTIFICATE block")
        .to_string();
    assert!(
        err.contains("TRUSTED CERTIFICATE") && err.contains("openssl x509"),
        "{err}"
    );
}

/// Standard base64 with padding, for the PEM above.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                ABC[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}
