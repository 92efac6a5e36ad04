//! What comes back from STS: a success document read into [`Credentials`]
//! by element name (order and extra elements vary), an `ErrorResponse` into
//! [`Error::Sts`], and anything else (a proxy's HTML, truncated XML) into a
//! message that names it without quoting a secret.
//!
//! Everything here faces bytes from the network, which may come from STS,
//! from a proxy's error page, or from a half-closed connection; none of it
//! may panic, and no error may carry key material.

use serde::Deserialize;

use crate::credentials::{
    hide_secret_shaped, is_fit_arn, is_fit_value, scrub, Credentials, Secret, UNFIT_VALUE,
};
use crate::error::{one_line_within, quote_body as quote, Error};
use crate::time::Timestamp;

use super::ACTION_ASSUME_ROLE;

// The documents STS answers with. Every field is optional (or, for an
// element made of others, a default, missing when they all are: one
// `Option` fewer to deserialize is kilobytes of code fewer) so that a
// missing element is reported by name instead of as a serde error, and unknown
// elements (and the `xmlns` attribute) are ignored. None of these derive
// Debug: they hold the secret key and token as plain strings.

#[derive(Deserialize)]
struct SuccessXml {
    #[serde(rename = "AssumeRoleWithWebIdentityResult", default)]
    web_identity: ResultXml,
    #[serde(rename = "AssumeRoleResult", default)]
    assume_role: ResultXml,
}

#[derive(Default, Deserialize)]
struct ResultXml {
    #[serde(rename = "Credentials", default)]
    credentials: CredentialsXml,
    #[serde(rename = "AssumedRoleUser", default)]
    assumed_role_user: AssumedRoleUserXml,
}

#[derive(Default, Deserialize)]
struct CredentialsXml {
    #[serde(rename = "AccessKeyId")]
    access_key_id: Option<String>,
    #[serde(rename = "SecretAccessKey")]
    secret_access_key: Option<String>,
    #[serde(rename = "SessionToken")]
    session_token: Option<String>,
    #[serde(rename = "Expiration")]
    expiration: Option<String>,
}

#[derive(Default, Deserialize)]
struct AssumedRoleUserXml {
    #[serde(rename = "Arn")]
    arn: Option<String>,
}

#[derive(Deserialize)]
struct ErrorResponseXml {
    #[serde(rename = "Error", default)]
    error: ErrorXml,
    /// Some servers (moto's auth layer, some proxies) wrap the error one
    /// level deeper, as `<Errors><Error>`; botocore reads both shapes.
    #[serde(rename = "Errors", default)]
    errors: ErrorsXml,
    #[serde(rename = "RequestId")]
    request_id: Option<String>,
}

#[derive(Default, Deserialize)]
struct ErrorsXml {
    #[serde(rename = "Error", default)]
    error: ErrorXml,
}

#[derive(Default, Deserialize)]
struct ErrorXml {
    #[serde(rename = "Code")]
    code: Option<String>,
    #[serde(rename = "Message")]
    message: Option<String>,
}

/// Parses an STS answer to `action` (`AssumeRoleWithWebIdentity` or
/// `AssumeRole`). `from` names who answered, for messages.
///
/// - An `ErrorResponse` document is always [`Error::Sts`], whatever the
///   status (some proxies answer 200 with one).
/// - A `{action}Response` is accepted only with a 2xx status; with any other
///   status it is [`Error::BadResponse`], because something between us and
///   STS has rewritten the answer.
/// - Anything else (HTML, JSON, an empty or truncated body, invalid UTF-8)
///   is [`Error::BadResponse`] naming the status and content type, quoting
///   at most the first 100 characters of the body, and only when the body
///   does not look as if it could hold credentials.
pub fn parse_response(
    action: &'static str,
    from: &str,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Credentials, Error> {
    let bad = |detail: String| Error::BadResponse {
        from: from.to_owned(),
        status,
        detail,
    };
    let what = match content_type {
        Some(ct) => format!("{} body", one_word(ct)),
        None => "body without a content type".to_owned(),
    };
    let success_status = (200..300).contains(&status);

    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(bad(format!("empty {what}; expected STS XML")));
    }
    let Ok(text) = std::str::from_utf8(body) else {
        return Err(bad(format!(
            "the {what} is not UTF-8 text ({} bytes); expected STS XML",
            body.len()
        )));
    };
    let expected_root = format!("{action}Response");
    let root = root_element(text);

    if root.as_deref() == Some("ErrorResponse") {
        return Err(sts_error(action, text, status)
            .unwrap_or_else(|e| bad(format!("an STS ErrorResponse that cannot be read: {e}"))));
    }
    if !success_status {
        return Err(match root {
            // Could be real credentials; never quote it.
            Some(name) if name == expected_root => bad(format!(
                "a <{name}> document with a non-success status; ignoring it"
            )),
            _ => bad(format!("no STS ErrorResponse in the {what}{}", quote(body))),
        });
    }
    match root {
        Some(name) if name == expected_root => {}
        Some(name) => {
            return Err(bad(format!(
                "expected <{expected_root}> XML, got <{name}> in the {what}{}",
                quote(body)
            )))
        }
        None => {
            return Err(bad(format!(
                "expected <{expected_root}> XML, got a {what} that is not XML{}",
                quote(body)
            )))
        }
    }

    let doc: SuccessXml = quick_xml::de::from_str(text).map_err(|e| {
        bad(format!(
            "malformed <{expected_root}>: {}",
            describe_de_error(&e)
        ))
    })?;
    let result = if action == ACTION_ASSUME_ROLE {
        doc.assume_role
    } else {
        doc.web_identity
    };
    // A missing result element reads as one without credentials.
    let xml = result.credentials;
    if xml.access_key_id.is_none() && xml.secret_access_key.is_none() {
        return Err(bad(format!("<{action}Result><Credentials> is missing")));
    }

    let field = |value: Option<String>, name: &str| -> Result<String, Error> {
        let value = value.unwrap_or_default();
        if value.is_empty() {
            return Err(bad(format!("<Credentials><{name}> is missing or empty")));
        }
        Ok(value)
    };
    // These values go into HTTP headers, a `key = value` file line, every
    // SDK's reading of it.
    let key = |value: Option<String>, name: &str| -> Result<String, Error> {
        let value = field(value, name)?;
        if !is_fit_value(&value) {
            return Err(bad(format!(
                "<Credentials><{name}> {UNFIT_VALUE}; AWS issues no such value"
            )));
        }
        Ok(value)
    };
    let access_key_id = key(xml.access_key_id, "AccessKeyId")?;
    let secret_access_key = Secret::new(key(xml.secret_access_key, "SecretAccessKey")?);
    let session_token = Secret::new(key(xml.session_token, "SessionToken")?);
    let expiration = field(xml.expiration, "Expiration")?;
    let expiration = Timestamp::parse_rfc3339(&expiration).map_err(|e| {
        bad(scrub(
            format!("<Credentials><Expiration>: {e}"),
            &[Some(&secret_access_key), Some(&session_token)],
        ))
    })?;

    let role_arn = result
        .assumed_role_user
        .arn
        .map(|a| a.trim().to_owned())
        .filter(|a| is_fit_arn(a));
    let account_id = role_arn.as_deref().and_then(account_of_arn);

    Ok(Credentials {
        access_key_id,
        secret_access_key,
        session_token: Some(session_token),
        expiration,
        account_id,
        role_arn,
    })
}

/// The local name of the document's first element, or `None` when the text
/// is not XML (text before any element, a syntax error, no element at all).
fn root_element(text: &str) -> Option<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e) | Event::Empty(e)) => {
                let name = e.local_name();
                let name: &str = name.as_ref();
                // quick-xml is lenient about names ("<<<>" is a tag named
                // "<<"); anything an XML name cannot be means "not XML".
                let plausible = !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
                return plausible.then(|| name.to_owned());
            }
            Ok(Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_)) => {}
            Ok(Event::Text(t)) if t.trim_ascii().is_empty() => {}
            _ => return None,
        }
    }
}

/// The longest STS error code shown; AWS's longest is under 40 bytes.
const MAX_CODE_BYTES: usize = 64;

/// Reads an `ErrorResponse` into [`Error::Sts`], with the request id (which
/// AWS support asks for) appended to the message.
fn sts_error(action: &'static str, text: &str, status: u16) -> Result<Error, String> {
    let doc: ErrorResponseXml = quick_xml::de::from_str(text).map_err(|e| describe_de_error(&e))?;
    let shallow = doc.error;
    let ErrorXml { code, message } = match (&shallow.code, &shallow.message) {
        (None, None) => doc.errors.error,
        _ => shallow,
    };
    // Codes are short words (`AccessDenied`); whatever else a server sends
    // is shown on one line, short.
    let code = code
        .map(|c| one_line_within(&hide_secret_shaped(&c), MAX_CODE_BYTES))
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "Unknown".to_owned());
    let mut message = message
        .map(|m| hide_secret_shaped(m.trim()))
        .unwrap_or_default();
    if message.is_empty() {
        message = "no message".to_owned();
    }
    if let Some(id) = doc
        .request_id
        .map(|i| i.trim().to_owned())
        .filter(|i| !i.is_empty())
    {
        message = format!("{message} (request id {id})");
    }
    Ok(Error::Sts {
        action,
        status,
        code,
        message,
    })
}

/// A short description of why a document did not parse. Escape errors
/// quote the text around the bad escape, which could be inside a secret, so
/// they are described without it; the rest name tags, not content.
fn describe_de_error(e: &quick_xml::DeError) -> String {
    use quick_xml::DeError;
    match e {
        DeError::UnexpectedEof => "the document ends early (truncated?)".into(),
        DeError::InvalidXml(quick_xml::Error::Escape(_)) => "an invalid character escape".into(),
        DeError::InvalidXml(quick_xml::Error::Encoding(_)) => "text that is not UTF-8".into(),
        // quick-xml's and serde's own messages quote the input around the
        // fault ("start tag not closed: `<SessionToken>…`", "invalid type:
        // string \"…\""), which may be a secret, so none of them is shown.
        _ => "malformed XML".into(),
    }
}

/// A content type as a message may show it: without parameters or control
/// characters, and short.
fn one_word(content_type: &str) -> String {
    let mut s: String = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    truncate_chars(&mut s, 60);
    s
}

/// Cuts `s` to at most `max` characters; says whether it cut.
fn truncate_chars(s: &mut String, max: usize) -> bool {
    match s.char_indices().nth(max) {
        Some((at, _)) => {
            s.truncate(at);
            true
        }
        None => false,
    }
}

/// The account id field of an ARN (`arn:aws:sts::123456789012:assumed-role/...`).
fn account_of_arn(arn: &str) -> Option<String> {
    let account = arn.split(':').nth(4)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then(|| account.to_owned())
}
