//! The roots TLS trusts: the embedded Mozilla list, plus `AWS_CA_BUNDLE`.

use ureq::tls::{Certificate, PemItem, RootCerts};

use super::Network;
use crate::error::Error;
use crate::token::{self, ReadError};

/// The largest `AWS_CA_BUNDLE` read: the whole Mozilla list as PEM is about
/// 220 KB; a file near this is not a CA bundle, and reading it whole (or
/// `/dev/zero`) would cost memory without end.
pub const MAX_CA_BUNDLE: u64 = 4 * 1024 * 1024;

/// The label of OpenSSL's trusted-certificate PEM blocks.
const TRUSTED: &[u8] = b"-----BEGIN TRUSTED CERTIFICATE-----";
/// The label of a certificate's PEM block.
const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";

/// `bytes` with every occurrence of `cut` taken out.
fn without(bytes: &[u8], cut: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.starts_with(cut) {
            rest = &rest[cut.len()..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    out
}

/// The embedded Mozilla roots, plus the PEM certificates in `AWS_CA_BUNDLE`
/// (for TLS-inspecting corporate proxies) when it is set.
pub(super) fn roots(net: &Network) -> Result<RootCerts, Error> {
    // Borrowed from the binary's read-only data, not copied.
    let mut certs: Vec<Certificate<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()))
        .collect();
    let Some(path) = &net.ca_bundle else {
        return Ok(RootCerts::new_with_certs(&certs));
    };
    let bad = |why: String| Error::Config(format!("AWS_CA_BUNDLE {}: {why}", path.display()));
    let pem = token::read_capped(path, MAX_CA_BUNDLE).map_err(|e| match e {
        ReadError::TooLarge => bad("it is larger than 4 MiB, which no CA bundle is".into()),
        // Out of descriptors: this process's limit, not the bundle's fault.
        ReadError::Io(e) if crate::error::is_out_of_resources(&e) => Error::OutOfResources {
            doing: "read AWS_CA_BUNDLE",
            source: e,
        },
        other => bad(other.describe()),
    })?;
    // A byte-order mark an editor left hides the block after it, first in
    // the file or where `cat` joined a file saved with one.
    let pem: Vec<u8> = without(&pem, "\u{feff}".as_bytes());
    let pem = pem.as_slice();
    // OpenSSL's own form, with trust settings, is skipped by the PEM reader
    // without a word: the proxy it was for would fail every handshake.
    if pem.windows(TRUSTED.len()).any(|w| w == TRUSTED) {
        return Err(bad(
            "it holds a BEGIN TRUSTED CERTIFICATE block (OpenSSL's form with trust settings), which aws-credfile cannot use; convert it to a plain certificate with openssl x509 -in FILE -out FILE.pem".into(),
        ));
    }
    let embedded = certs.len();
    for item in ureq::tls::parse_pem(pem) {
        // Keys and other blocks have no business here; skip them.
        if let PemItem::Certificate(cert) = item.map_err(|e| bad(pem_error(&e)))? {
            // The TLS stack skips a certificate it cannot read as a trust
            // anchor without a word, and every handshake with the proxy it
            // was for then fails as an unknown issuer; say so now.
            let n = certs.len() - embedded + 1;
            rustls::RootCertStore::empty()
                .add(rustls::pki_types::CertificateDer::from(cert.der()))
                .map_err(|e| {
                    bad(format!(
                        "certificate {n} in it cannot be read as a CA certificate ({e}); replace it"
                    ))
                })?;
            certs.push(cert);
        }
    }
    if certs.len() == embedded {
        return Err(bad(
            "it holds no PEM certificate; give it the CA's certificate as PEM (-----BEGIN CERTIFICATE----- lines)".into(),
        ));
    }
    // The PEM reader passes over a block it cannot make out without a
    // word; every one that says it is a certificate must have been read.
    let blocks = pem.windows(BEGIN.len()).filter(|w| *w == BEGIN).count();
    let read = certs.len() - embedded;
    if read < blocks {
        return Err(bad(format!(
            "it holds {blocks} BEGIN CERTIFICATE blocks, of which only {read} could be read; check the others' base64 and END lines"
        )));
    }
    Ok(RootCerts::new_with_certs(&certs))
}

/// What the PEM reader could not make out, in words (its own text quotes
/// the END line as a list of byte values).
fn pem_error(e: &ureq::Error) -> String {
    use rustls::pki_types::pem::Error as Pem;
    let ureq::Error::Pem(pem) = e else {
        return format!("not a PEM file: {e}");
    };
    match pem {
        // Its label is not quoted: in a file flattened onto one line it
        // runs on through the block, a private key's too.
        Pem::MissingSectionEnd { .. } => {
            "a block has no END line: the file is cut short, or lost its line breaks (each BEGIN, base64 and END line must be a line of its own)".to_string()
        }
        Pem::IllegalSectionStart { .. } => "a BEGIN line cannot be read".to_string(),
        Pem::Base64Decode(_) => "a block's base64 cannot be read".to_string(),
        other => format!("not a PEM file: {other}"),
    }
}
