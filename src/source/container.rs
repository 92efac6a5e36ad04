//! EKS Pod Identity and ECS: credentials from the container credentials
//! endpoint, as JSON, with the authorization token read fresh at every
//! refresh (the agent rotates it).

use std::path::Path;
use std::time::Instant;

use serde::Deserialize;

use crate::config::{
    validate_container_token, Container, ContainerToken, Network,
    ENV_CONTAINER_AUTHORIZATION_TOKEN_FILE,
};
use crate::credentials::{Credentials, Secret};
use crate::error::{one_line, quote_body, Error};
use crate::http::Client;
use crate::time::Timestamp;

use super::{read_token_text, TokenFileError};

/// Defaults to 16 KiB: agent tokens are a few hundred bytes.
pub const MAX_TOKEN_BYTES: u64 = 16 * 1024;

pub struct ContainerProvider {
    cfg: Container,
    net: Network,
}

/// The endpoint's JSON. Unknown fields are ignored; `Token` is absent for
/// long-term keys.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    token: Option<String>,
    expiration: Option<String>,
    account_id: Option<String>,
    role_arn: Option<String>,
}

/// The error JSON some agents send.
#[derive(Deserialize)]
struct ErrorAnswer {
    code: Option<String>,
    message: Option<String>,
}

impl ContainerProvider {
    pub fn new(cfg: Container, net: &Network) -> Result<Self, Error> {
        // Never through a proxy (the agents are link-local or loopback), but
        // an https endpoint may need the extra roots.
        let net = Network {
            ca_bundle: net.ca_bundle.clone(),
            ..Network::default()
        };
        // Built once here only to fail at start on a bad CA bundle.
        Client::new(&cfg.url, &net)?;
        Ok(ContainerProvider { cfg, net })
    }

    /// The token must be usable at start.
    pub fn preflight(&self) -> Result<(), Error> {
        self.token().map(drop).map_err(|e| match e {
            Error::Config(_) => e,
            other => Error::Config(format!(
                "{ENV_CONTAINER_AUTHORIZATION_TOKEN_FILE}: {other}; check the Pod Identity token volume is mounted"
            )),
        })
    }

    fn token(&self) -> Result<Option<Secret>, Error> {
        match &self.cfg.token {
            ContainerToken::None => Ok(None),
            ContainerToken::Value(secret) => Ok(Some(secret.clone())),
            ContainerToken::File(path) => read_token_file(path).map(Some),
        }
    }

    pub fn fetch(&self, deadline: Option<Instant>) -> Result<Credentials, Error> {
        let token = self.token()?;
        let headers: Vec<(&str, &str)> = match &token {
            Some(t) => vec![
                ("authorization", t.expose()),
                ("accept", "application/json"),
            ],
            None => vec![("accept", "application/json")],
        };
        let resp = Client::new(&self.cfg.url, &self.net)?.get(&headers, deadline)?;
        parse_answer(
            &self.cfg.url,
            resp.status,
            resp.content_type.as_deref(),
            &resp.body,
        )
    }

    pub fn describe(&self) -> String {
        format!("container endpoint {}", self.cfg.url)
    }
}

/// Reads the authorization token file: surrounding whitespace trimmed (a
/// trailing newline from an editor is harmless), then refused if a CR or LF
/// remains, because it would end the header and inject another.
pub fn read_token_file(path: &Path) -> Result<Secret, Error> {
    let invalid = |why: &str| {
        Error::Config(format!(
            "{ENV_CONTAINER_AUTHORIZATION_TOKEN_FILE} {}: {why}",
            path.display()
        ))
    };
    let text = read_token_text(path, MAX_TOKEN_BYTES).map_err(|e| match e {
        TokenFileError::Io(e) => Error::io("read the container authorization token file", path, e),
        TokenFileError::TooLarge => invalid("larger than 16 KiB, which no agent token is"),
        TokenFileError::NotText => invalid("not text"),
    })?;
    let token = Secret::new(text);
    validate_container_token(&token).map_err(|why| invalid(&why))?;
    Ok(token)
}

/// Parses the endpoint's answer into credentials, or its error into a
/// message with the status.
pub fn parse_answer(
    url: &str,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Credentials, Error> {
    if !(200..300).contains(&status) {
        return Err(Error::Endpoint {
            url: url.to_string(),
            status,
            message: error_message(body),
        });
    }
    let bad = |detail: String| Error::BadResponse {
        from: url.to_string(),
        status,
        detail,
    };
    let answer: Answer = serde_json::from_slice(body).map_err(|e| {
        bad(format!(
            "not the credentials JSON (content type {}): {}",
            content_type.unwrap_or("none"),
            // serde_json's message names a line and column, never the input.
            e
        ))
    })?;
    let required = |field: Option<String>, name: &str| {
        field
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| bad(format!("the answer has no {name}")))
    };
    let access_key_id = required(answer.access_key_id, "AccessKeyId")?;
    let secret = required(answer.secret_access_key, "SecretAccessKey")?;
    let expiration_text = required(answer.expiration, "Expiration")?;
    let expiration =
        Timestamp::parse_rfc3339(&expiration_text).map_err(|e| bad(format!("Expiration: {e}")))?;
    Ok(Credentials {
        access_key_id,
        secret_access_key: Secret::new(secret),
        session_token: answer.token.filter(|t| !t.is_empty()).map(Secret::new),
        expiration,
        account_id: answer.account_id.filter(|a| !a.is_empty()),
        role_arn: answer.role_arn.filter(|a| !a.is_empty()),
    })
}

/// `{"code": .., "message": ..}` as `code: message`; otherwise a quote of
/// the body, withheld if it could hold credentials.
fn error_message(body: &[u8]) -> String {
    if let Ok(ErrorAnswer { code, message }) = serde_json::from_slice::<ErrorAnswer>(body) {
        if code.is_some() || message.is_some() {
            return one_line(&format!(
                "{}: {}",
                code.unwrap_or_else(|| "error".into()),
                message.unwrap_or_default()
            ));
        }
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return "(empty body)".into();
    }
    one_line(quote_body(body).trim_start_matches(": "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "http://169.254.170.23/v1/credentials";

    #[test]
    fn parses_pod_identity_answer() {
        let body = br#"{"AccessKeyId":"ASIAPOD","SecretAccessKey":"podsecret","Token":"podtoken",
            "AccountId":"123456789012","Expiration":"2026-11-26T16:00:00.123456789Z","Extra":1}"#;
        let c = parse_answer(URL, 200, Some("application/json"), body).unwrap();
        assert_eq!(c.access_key_id, "ASIAPOD");
        assert_eq!(c.secret_access_key.expose(), "podsecret");
        assert_eq!(
            c.session_token.as_ref().map(Secret::expose),
            Some("podtoken")
        );
        assert_eq!(c.expiration.to_rfc3339(), "2026-11-26T16:00:00Z");
        assert_eq!(c.account_id.as_deref(), Some("123456789012"));
    }

    #[test]
    fn token_is_optional_for_long_term_keys() {
        let body =
            br#"{"AccessKeyId":"AKIA","SecretAccessKey":"s","Expiration":"2026-11-26T16:00:00Z"}"#;
        assert!(parse_answer(URL, 200, None, body)
            .unwrap()
            .session_token
            .is_none());
    }

    #[test]
    fn errors_name_status_and_message_without_secrets() {
        let e = parse_answer(
            URL,
            403,
            None,
            br#"{"code":"AccessDeniedException","message":"no association"}"#,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "container credentials endpoint http://169.254.170.23/v1/credentials answered HTTP 403: AccessDeniedException: no association");
        assert!(!e.is_transient());
        let e = parse_answer(URL, 500, None, b"agent\nexploded").unwrap_err();
        assert!(
            e.to_string().contains(r#"HTTP 500: "agent exploded""#),
            "{e}"
        );
        assert!(e.is_transient());
        assert!(parse_answer(URL, 429, None, b"")
            .unwrap_err()
            .is_transient());
        for body in [
            &b"<html>proxy</html>"[..],
            b"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"topsecret\"}",
            b"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"topsecret\",\"Expiration\":\"soon\"}",
            b"{\"AccessKeyId\":\"\",\"SecretAccessKey\":\"topsecret\",\"Expiration\":\"2026-11-26T16:00:00Z\"}",
            b"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"topsecret\",\"Exp",
            b"\xff\xfe",
            b"",
        ] {
            let e = parse_answer(URL, 200, Some("text/html"), body).unwrap_err();
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains("topsecret"), "{shown}");
            assert_eq!(e.exit_code(), 1);
        }
    }
}
