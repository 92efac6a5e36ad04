//! Unit tests of `transport`.

use super::*;

fn described(e: ureq::Error) -> (String, Reach) {
    describe(&e)
}

#[test]
fn no_library_internals_reach_the_words() {
    let (text, reach) = described(ureq::Error::Timeout(ureq::Timeout::Global));
    assert_eq!(text, "timed out before the whole answer came");
    assert_eq!(reach, Reach::Unreached);
    let (text, _) = described(ureq::Error::ConnectProxyFailed(
        "proxy server responded 407/407".into(),
    ));
    assert!(text.contains("asks for credentials (HTTP 407)"), "{text}");
    assert!(!text.contains("407/407"), "{text}");
}

/// What retrying within a `--once` budget cannot mend fails it at once.
#[test]
fn an_untrusted_certificate_or_a_refusing_proxy_is_lasting() {
    let cert =
        |c: CertificateError| described(ureq::Error::Rustls(TlsError::InvalidCertificate(c)));
    for (c, says) in [
        (
            CertificateError::UnknownIssuer,
            "neither among the embedded Mozilla roots nor in AWS_CA_BUNDLE",
        ),
        (
            CertificateError::NotValidForName,
            "not valid for this host name",
        ),
        (CertificateError::Expired, "expired"),
    ] {
        let (text, reach) = cert(c);
        assert!(
            text.starts_with("the server's TLS certificate is not trusted: "),
            "{text}"
        );
        assert!(text.contains(says), "{text}");
        assert_eq!(reach, Reach::Lasting, "{text}");
    }
    // The same, handed over inside an io::Error.
    let wrapped = io::Error::new(
        io::ErrorKind::InvalidData,
        TlsError::InvalidCertificate(CertificateError::UnknownIssuer),
    );
    assert_eq!(described(ureq::Error::Io(wrapped)).1, Reach::Lasting);
    for (answer, reach) in [
        ("proxy server responded 407/407", Reach::Lasting),
        ("proxy server responded 403/403", Reach::Lasting),
        ("proxy server responded 302/302", Reach::Lasting),
        ("proxy server responded 503/503", Reach::Unreached),
        ("proxy server did not respond", Reach::Unreached),
    ] {
        assert_eq!(
            described(ureq::Error::ConnectProxyFailed(answer.into())).1,
            reach,
            "{answer}"
        );
    }
    // A refused connection or a reset may pass.
    let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
    assert_eq!(described(ureq::Error::Io(refused)).1, Reach::Unreached);
}

/// What webpki names only in a Debug text (`Other(OtherError(...))`, a
/// list of OIDs) is said in words, and a server no retry can mend (no TLS
/// version or cipher suite in common) fails a `--once` at once.
#[test]
fn tls_refusals_are_said_in_words() {
    #[derive(Debug)]
    struct NameConstraintViolation;
    impl std::fmt::Display for NameConstraintViolation {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{self:?}")
        }
    }
    impl std::error::Error for NameConstraintViolation {}
    let other = CertificateError::Other(rustls::OtherError(std::sync::Arc::new(
        NameConstraintViolation,
    )));
    let (text, reach) = described(ureq::Error::Rustls(TlsError::InvalidCertificate(other)));
    assert!(text.contains("name constraints"), "{text}");
    assert!(!text.contains("OtherError"), "{text}");
    assert_eq!(reach, Reach::Lasting);
    #[allow(deprecated)]
    let sha1 = CertificateError::UnsupportedSignatureAlgorithm;
    let (text, _) = described(ureq::Error::Rustls(TlsError::InvalidCertificate(sha1)));
    assert!(text.contains("SHA-1"), "{text}");
    for alert in [
        AlertDescription::ProtocolVersion,
        AlertDescription::HandshakeFailure,
    ] {
        let (text, reach) = described(ureq::Error::Rustls(TlsError::AlertReceived(alert)));
        assert!(text.starts_with(NO_COMMON_TLS), "{text}");
        assert_eq!(reach, Reach::Lasting, "{text}");
    }
    // Plain HTTP on an https URL's port: no retry mends it either.
    let (text, reach) = described(ureq::Error::Rustls(TlsError::InvalidMessage(
        rustls::InvalidMessage::InvalidContentType,
    )));
    assert_eq!(reach, Reach::Lasting, "{text}");
    // Any other alert may pass.
    let (_, reach) = described(ureq::Error::Rustls(TlsError::AlertReceived(
        AlertDescription::InternalError,
    )));
    assert_eq!(reach, Reach::Unreached);
}

/// An answer that came but was broken is not "could not reach".
#[test]
fn a_broken_answer_is_told_from_no_answer() {
    let eof = io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "peer closed connection without sending TLS close_notify: https://docs.rs/rustls/x",
    );
    let (said, reach) = described(ureq::Error::Io(eof));
    assert_eq!(reach, Reach::Broken);
    assert!(!said.contains("docs.rs"), "{said}");
    assert_eq!(
        described(ureq::Error::LargeResponseHeader(70_000, 65_536)).1,
        Reach::Broken
    );
}
