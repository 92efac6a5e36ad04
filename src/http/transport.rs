//! A failed exchange in words an operator can act on: how far it got, and
//! whether trying again soon can help. ureq's and rustls' own texts name
//! their internals (`timed out (global)`, `Other(OtherError(...))`,
//! `proxy server responded 407/407`).

use std::io;

use rustls::{AlertDescription, CertificateError, Error as TlsError};

use crate::error::{one_line, Reach, NO_COMMON_TLS};

/// What went wrong, and how far the exchange got.
pub fn describe(e: &ureq::Error) -> (String, Reach) {
    use ureq::Error as E;
    use Reach::*;
    match e {
        E::Timeout(ureq::Timeout::Connect) => (
            "timed out connecting (the TCP connection, or the TLS handshake after it)".into(),
            Unreached,
        ),
        E::Timeout(ureq::Timeout::Resolve) => {
            ("timed out looking up the host (DNS)".into(), Unreached)
        }
        E::Timeout(_) => (crate::error::STALLED.into(), Unreached),
        E::HostNotFound => ("host not found (DNS)".into(), Unreached),
        E::ConnectionFailed => ("connection failed".into(), Unreached),
        E::Io(e) => io_error(e),
        E::Rustls(e) => tls(e),
        E::Tls(what) => (format!("TLS failed: {what}"), Unreached),
        E::ConnectProxyFailed(why) => proxy_refused(why),
        E::Protocol(e) => (format!("the answer is not valid HTTP/1.1 ({e})"), Broken),
        E::LargeResponseHeader(size, limit) => (
            format!("the answer's headers are larger than {limit} bytes ({size})"),
            Broken,
        ),
        E::BodyExceedsLimit(limit) => (format!("the answer is larger than {limit} bytes"), Broken),
        E::BodyStalled => ("the answer's body stopped coming".into(), Broken),
        E::BadUri(why) => (format!("the URL cannot be used: {why}"), Lasting),
        other => (other.to_string(), Unreached),
    }
}

/// A system-call failure; one that carries a TLS failure is read as one.
fn io_error(e: &io::Error) -> (String, Reach) {
    if let Some(tls_error) = e.get_ref().and_then(|i| i.downcast_ref::<TlsError>()) {
        return tls(tls_error);
    }
    let reach = match e.kind() {
        // rustls says so with a link to its manual, which helps no operator.
        io::ErrorKind::UnexpectedEof => {
            return (
                "the server closed the connection before the whole answer came".into(),
                Reach::Broken,
            )
        }
        io::ErrorKind::InvalidData => Reach::Broken,
        _ => Reach::Unreached,
    };
    (e.to_string(), reach)
}

/// A TLS failure. A certificate that is not trusted stays so until someone
/// changes it, the trusted roots or the clock: retrying soon cannot help.
fn tls(e: &TlsError) -> (String, Reach) {
    let TlsError::InvalidCertificate(cert) = e else {
        // No retry mends a server that speaks no TLS on that port (plain
        // HTTP answers a hello with what rustls calls a corrupt message).
        if let TlsError::InvalidMessage(_) = e {
            return (format!("the TLS handshake failed ({e})"), Reach::Lasting);
        }
        // Nor one that speaks only what rustls refuses.
        if matches!(
            e,
            TlsError::PeerIncompatible(_)
                | TlsError::AlertReceived(AlertDescription::ProtocolVersion)
                | TlsError::AlertReceived(AlertDescription::HandshakeFailure)
        ) {
            return (format!("{NO_COMMON_TLS} ({e})"), Reach::Lasting);
        }
        return (format!("the TLS handshake failed ({e})"), Reach::Unreached);
    };
    let why = match cert {
        CertificateError::UnknownIssuer => {
            "it is issued by a CA that is neither among the embedded Mozilla roots nor in AWS_CA_BUNDLE".to_string()
        }
        CertificateError::NotValidForName => "it is not valid for this host name".to_string(),
        CertificateError::Expired => "it has expired (or this machine's clock is wrong)".to_string(),
        CertificateError::NotValidYet => {
            "it is not valid yet (or this machine's clock is wrong)".to_string()
        }
        CertificateError::Revoked => "it has been revoked".to_string(),
        CertificateError::BadSignature => "its signature does not verify".to_string(),
        CertificateError::BadEncoding => "it cannot be read".to_string(),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "it is not for TLS servers".to_string()
        }
        CertificateError::Other(other) if other.to_string().contains("CaUsedAsEndEntity") => {
            "it is a CA certificate, not a server's (openssl req -x509 makes one by default; as a server's it is refused even in AWS_CA_BUNDLE): give the server a certificate that CA signs, or one made with basicConstraints CA:FALSE".to_string()
        }
        // rustls says these well: the name asked for and the names it has
        // (as many as the server's certificate lists: capped), the dates.
        CertificateError::NotValidForNameContext { .. }
        | CertificateError::ExpiredContext { .. }
        | CertificateError::NotValidYetContext { .. } => one_line(&cert.to_string()),
        // Named by webpki in its own words, or not at all: read the name.
        other => {
            let name = format!("{other:?}");
            [
                ("UnsupportedSignatureAlgorithm", "it is signed with an algorithm TLS here refuses (SHA-1, or a key too weak)"),
                ("NameConstraintViolation", "it names a host its CA may not vouch for (the CA's name constraints)"),
                ("PathLenConstraintViolated", "its chain is longer than a CA in it allows (path length constraint)"),
                ("EndEntityUsedAsCa", "it is signed by a server's certificate, not by a CA's"),
                ("UnsupportedCertVersion", "a certificate in its chain is X.509 version 1 or 2, which TLS here refuses (make it version 3)"),
            ]
            .iter()
            .find(|(debug, _)| name.contains(debug))
            .map_or(name.clone(), |(_, words)| words.to_string())
        }
    };
    (
        format!("the server's TLS certificate is not trusted: {why}"),
        Reach::Lasting,
    )
}

/// The proxy answered CONNECT with something other than 200. ureq says
/// `proxy server responded 407/407`.
fn proxy_refused(why: &str) -> (String, Reach) {
    let status = why
        .strip_prefix("proxy server responded ")
        .and_then(|rest| rest.split('/').next())
        .and_then(|code| code.parse::<u16>().ok());
    match status {
        Some(407) => (
            "the proxy asks for credentials (HTTP 407), or refused those given: give the right user and password in HTTPS_PROXY, before the proxy's host (user, colon, password, @)".into(),
            Reach::Lasting,
        ),
        // Its upstream is down or slow: that may pass.
        Some(status @ 500..) => (
            format!("the proxy could not connect there (HTTP {status})"),
            Reach::Unreached,
        ),
        Some(status) => (
            format!("the proxy answered HTTP {status} to CONNECT instead of connecting there"),
            Reach::Lasting,
        ),
        None => (format!("the proxy failed: {why}"), Reach::Unreached),
    }
}

#[cfg(test)]
mod tests;
