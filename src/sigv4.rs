//! AWS Signature Version 4 for the one request this program signs: a
//! `POST` of a form body to STS, with no query string.
//!
//! Hand-written over ring's SHA-256 and HMAC (already linked for TLS)
//! instead of the aws-sigv4 crate, whose general machinery (and the smithy
//! crates it brings) cost about 100 KB of a 2 MiB budget for a request that
//! has exactly one shape. The unit tests in `sts` pin the output to
//! signatures computed independently by botocore, and the end-to-end tests
//! have moto verify it.

use ring::{digest, hmac};

use crate::credentials::Credentials;
use crate::time::Timestamp;

/// What to sign.
pub struct Request<'a> {
    /// The `Host` header value the client will send: host, plus `:port`
    /// when it is not the scheme's default; IPv6 in brackets.
    pub host: &'a str,
    /// The absolute path, already in canonical form (`/` for STS).
    pub path: &'a str,
    pub content_type: &'a str,
    pub body: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

/// The headers to send: `x-amz-date`, `x-amz-security-token` (when the
/// credentials have one) and `authorization`, lowercase. The content type and
/// host are signed too but are the caller's to send.
pub fn sign(
    req: &Request,
    creds: &Credentials,
    now: Timestamp,
) -> Result<Vec<(String, String)>, String> {
    let token = creds.session_token.as_ref().map(|t| t.expose());
    // Header values with control characters cannot be sent; the message
    // names which value, never its content.
    for (what, value) in [
        ("host", Some(req.host)),
        ("content type", Some(req.content_type)),
        ("session token", token),
        ("access key id", Some(creds.access_key_id.as_str())),
    ] {
        if value.is_some_and(|v| v.bytes().any(|b| b.is_ascii_control())) {
            return Err(format!("the {what} contains a control character"));
        }
    }
    let amz_date = amz_date(now);
    let date = &amz_date[..8];

    // Canonical headers: lowercase names in order, values trimmed (none of
    // these values has inner runs of spaces to collapse).
    let mut canonical_headers = format!(
        "content-type:{}\nhost:{}\nx-amz-date:{amz_date}\n",
        req.content_type.trim(),
        req.host.trim()
    );
    let mut signed_headers = String::from("content-type;host;x-amz-date");
    if let Some(t) = token {
        canonical_headers.push_str(&format!("x-amz-security-token:{}\n", t.trim()));
        signed_headers.push_str(";x-amz-security-token");
    }
    let canonical_request = format!(
        "POST\n{}\n\n{canonical_headers}\n{signed_headers}\n{}",
        req.path,
        hex(digest::digest(&digest::SHA256, req.body.as_bytes()).as_ref())
    );
    let scope = format!("{date}/{}/{}/aws4_request", req.region, req.service);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(digest::digest(&digest::SHA256, canonical_request.as_bytes()).as_ref())
    );

    let secret = format!("AWS4{}", creds.secret_access_key.expose());
    let k_date = mac(secret.as_bytes(), date.as_bytes());
    let k_region = mac(k_date.as_ref(), req.region.as_bytes());
    let k_service = mac(k_region.as_ref(), req.service.as_bytes());
    let k_signing = mac(k_service.as_ref(), b"aws4_request");
    let signature = hex(mac(k_signing.as_ref(), string_to_sign.as_bytes()).as_ref());

    let mut headers = vec![("x-amz-date".to_owned(), amz_date.clone())];
    if let Some(t) = token {
        headers.push(("x-amz-security-token".to_owned(), t.to_owned()));
    }
    headers.push((
        "authorization".to_owned(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            creds.access_key_id
        ),
    ));
    Ok(headers)
}

/// `YYYYMMDDTHHMMSSZ`.
fn amz_date(now: Timestamp) -> String {
    now.to_rfc3339()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect()
}

fn mac(key: &[u8], data: &[u8]) -> hmac::Tag {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Secret;

    /// The derived-key example from AWS's SigV4 documentation ("Examples of
    /// how to derive a signing key"): secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY,
    /// 20120215, us-east-1, iam.
    #[test]
    fn derives_the_documented_signing_key() {
        let k_date = mac(b"AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", b"20120215");
        let k_region = mac(k_date.as_ref(), b"us-east-1");
        let k_service = mac(k_region.as_ref(), b"iam");
        let k_signing = mac(k_service.as_ref(), b"aws4_request");
        assert_eq!(
            hex(k_signing.as_ref()),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn secrets_never_appear_in_errors() {
        let creds = Credentials {
            access_key_id: "AKID".into(),
            secret_access_key: Secret::new("topsecret"),
            session_token: Some(Secret::new("tok\nen-secret")),
            expiration: Timestamp::from_unix(0),
            account_id: None,
            role_arn: None,
        };
        let req = Request {
            host: "sts.amazonaws.com",
            path: "/",
            content_type: "application/x-www-form-urlencoded",
            body: "Action=AssumeRole",
            region: "us-east-1",
            service: "sts",
        };
        let err = sign(&req, &creds, Timestamp::from_unix(0)).unwrap_err();
        assert!(
            err.contains("session token") && !err.contains("secret"),
            "{err}"
        );
    }
}
