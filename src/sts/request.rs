//! What is sent to STS: the form bodies of both actions, percent-encoded as
//! the SDKs send them, and the SigV4 headers (aws-sigv4) of `AssumeRole`.
//! The web identity body holds the identity token, so no body is ever
//! logged.

use std::time::SystemTime;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::credentials::{Credentials, Secret};
use crate::error::Error;
use crate::url::Url;

use super::endpoint::StsEndpoint;
use super::{ACTION_ASSUME_ROLE, ACTION_WEB_IDENTITY, CONTENT_TYPE, SIGNING_NAME, STS_VERSION};
use std::time::Duration;

/// Parameters of `AssumeRoleWithWebIdentity`.
#[derive(Debug)]
pub struct WebIdentityParams<'a> {
    pub role_arn: &'a str,
    pub session_name: &'a str,
    /// The projected service-account token (a JWT).
    pub token: &'a Secret,
    /// `None` leaves the choice to STS (one hour).
    pub duration: Option<Duration>,
}

/// Parameters of `AssumeRole`.
#[derive(Debug)]
pub struct AssumeRoleParams<'a> {
    pub role_arn: &'a str,
    pub session_name: &'a str,
    pub external_id: Option<&'a str>,
    /// `None` leaves the choice to STS (one hour).
    pub duration: Option<Duration>,
}

/// The `application/x-www-form-urlencoded` body of an
/// `AssumeRoleWithWebIdentity` request. It contains the identity token, so
/// it must never be logged.
pub fn web_identity_body(p: &WebIdentityParams) -> String {
    let mut form = Form::new(ACTION_WEB_IDENTITY);
    form.push("RoleArn", p.role_arn);
    form.push("RoleSessionName", p.session_name);
    form.push("WebIdentityToken", p.token.expose());
    if let Some(d) = p.duration {
        form.push("DurationSeconds", &d.as_secs().to_string());
    }
    form.0
}

/// The `application/x-www-form-urlencoded` body of an `AssumeRole` request.
pub fn assume_role_body(p: &AssumeRoleParams) -> String {
    let mut form = Form::new(ACTION_ASSUME_ROLE);
    form.push("RoleArn", p.role_arn);
    form.push("RoleSessionName", p.session_name);
    if let Some(id) = p.external_id {
        form.push("ExternalId", id);
    }
    if let Some(d) = p.duration {
        form.push("DurationSeconds", &d.as_secs().to_string());
    }
    form.0
}

/// A form body under construction: `Action` and `Version` first, as the
/// SDKs send them, then the parameters in the order pushed.
struct Form(String);

impl Form {
    fn new(action: &str) -> Form {
        let mut form = Form(String::with_capacity(256));
        form.push("Action", action);
        form.push("Version", STS_VERSION);
        form
    }

    fn push(&mut self, name: &str, value: &str) {
        if !self.0.is_empty() {
            self.0.push('&');
        }
        percent_encode_into(&mut self.0, name);
        self.0.push('=');
        percent_encode_into(&mut self.0, value);
    }
}

/// Everything outside RFC 3986's unreserved set (`A-Z a-z 0-9 - . _ ~`) is
/// percent-encoded, byte by byte in UTF-8, with uppercase hex. This is what
/// the SDKs send; it is also valid form encoding, where `%20` for a space
/// decodes the same as `+`.
const FORM_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub(super) fn percent_encode_into(out: &mut String, s: &str) {
    out.extend(utf8_percent_encode(s, FORM_ENCODE));
}

/// The headers for a SigV4-signed `POST` of `body` to
/// [`StsEndpoint::post_url`], signed by aws-sigv4 for service `sts` in
/// `endpoint.signing_region` with `creds` at `now`.
///
/// Returns lowercase `(name, value)` pairs: `host`, `content-type`,
/// `x-amz-date`, `x-amz-security-token` (when the credentials have one;
/// signed, as STS requires) and `authorization`. The caller sends exactly
/// these, `host` included, so what is sent is what was signed: the host from
/// the URL (lowercase, IPv6 in brackets, the port unless it is the scheme's
/// default), and the URL's own path.
pub fn sign(
    endpoint: &StsEndpoint,
    body: &str,
    creds: &Credentials,
    now: SystemTime,
) -> Result<Vec<(String, String)>, Error> {
    use aws_sigv4::http_request::{self, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4;

    let url = endpoint.post_url();
    let failed = |what: &str| {
        Error::Config(format!(
            "cannot sign the sts:AssumeRole request to {url}: {what} (the endpoint URL or the \
             source credentials contain characters that cannot be sent)"
        ))
    };
    // Header values with control characters cannot be sent; the message
    // names which value, never its content.
    let token = creds.session_token.as_ref().map(Secret::expose);
    for (what, value) in [
        ("session token", token),
        ("access key id", Some(creds.access_key_id.as_str())),
    ] {
        if value.is_some_and(|v| v.bytes().any(|b| b.is_ascii_control())) {
            return Err(failed(&format!("the {what} contains a control character")));
        }
    }
    let host = Url::parse(&url).map_err(|e| failed(&e))?.host_header();

    let identity = aws_credential_types::Credentials::new(
        &creds.access_key_id,
        creds.secret_access_key.expose(),
        token.map(str::to_owned),
        None,
        "aws-credfile",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&endpoint.signing_region)
        .name(SIGNING_NAME)
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| failed(&e.to_string()))?
        .into();
    let unsigned = [("host", host.as_str()), ("content-type", CONTENT_TYPE)];
    let request = SignableRequest::new(
        "POST",
        url.as_str(),
        unsigned.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    )
    // aws-sigv4's errors name what was wrong with the request, not the keys.
    .map_err(|e| failed(&e.to_string()))?;
    let (instructions, _signature) = http_request::sign(request, &params)
        .map_err(|e| failed(&e.to_string()))?
        .into_parts();

    let mut headers: Vec<(String, String)> = unsigned
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    headers.extend(
        instructions
            .headers()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned())),
    );
    Ok(headers)
}
