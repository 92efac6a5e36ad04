//! EKS Pod Identity and ECS: credentials from the container credentials
//! endpoint, as JSON, with the authorization token read fresh at every
//! refresh (the agent rotates it). This module owns the container
//! environment (`AWS_CONTAINER_*`) and the SDKs' rules for the endpoint URL.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Deserialize;

use crate::credentials::{
    hide_secret_shaped, is_fit_arn, is_fit_value, scrub, Credentials, Secret, UNFIT_VALUE,
};
use crate::env::{var, Env};
use crate::error::{one_line, quote_body, Error, Reach};
use crate::http::{without_pieces, Client, Network};
use crate::time::Timestamp;
use crate::token::{self, ReadError};
use crate::url::{redact_origin, Url};

/// A full URL of the endpoint (EKS Pod Identity: the agent's) ...
pub const ENV_CONTAINER_CREDENTIALS_FULL_URI: &str = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
/// ... or a path on the ECS agent's address.
pub const ENV_CONTAINER_CREDENTIALS_RELATIVE_URI: &str = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI";
/// The `Authorization` value for the endpoint, from a file (re-read at every
/// refresh; wins) or the variable itself.
pub const ENV_CONTAINER_AUTHORIZATION_TOKEN_FILE: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";
pub const ENV_CONTAINER_AUTHORIZATION_TOKEN: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN";

/// The ECS agent's address, to which a relative URI is appended.
pub const ECS_AGENT: Ipv4Addr = Ipv4Addr::new(169, 254, 170, 2);
/// The EKS Pod Identity agent, IPv4 and IPv6.
pub const EKS_POD_IDENTITY_AGENT: Ipv4Addr = Ipv4Addr::new(169, 254, 170, 23);
pub const EKS_POD_IDENTITY_AGENT_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23);
/// The hosts the AWS SDKs accept over plain http besides loopback.
pub const ALLOWED_HTTP_HOSTS: [IpAddr; 3] = [
    IpAddr::V4(ECS_AGENT),
    IpAddr::V4(EKS_POD_IDENTITY_AGENT),
    IpAddr::V6(EKS_POD_IDENTITY_AGENT_V6),
];

/// EKS Pod Identity or ECS: a credentials endpoint answering JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Checked against the SDKs' rules (plain http only to loopback and the
    /// agents).
    pub url: String,
    pub token: TokenSource,
}

/// Where the endpoint's `Authorization` value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenSource {
    None,
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN`, checked for line breaks.
    Value(Secret),
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`, read at every refresh.
    File(PathBuf),
}

/// Whether the environment names a container endpoint at all.
pub fn configured(env: Env) -> bool {
    var(env, ENV_CONTAINER_CREDENTIALS_FULL_URI).is_some()
        || var(env, ENV_CONTAINER_CREDENTIALS_RELATIVE_URI).is_some()
}

/// The endpoint's settings from the container variables, as the SDKs read
/// them: the relative URI wins over the full one; the token file over the
/// token.
pub fn settings(env: Env) -> Result<Settings, Error> {
    let url = match (
        var(env, ENV_CONTAINER_CREDENTIALS_FULL_URI),
        var(env, ENV_CONTAINER_CREDENTIALS_RELATIVE_URI),
    ) {
        (_, Some(rel)) => {
            let rel = rel.trim();
            // Shown without its query, which may carry a token.
            let path = match rel.find(['?', '#']) {
                Some(at) => format!("{}?…", &rel[..at]),
                None => rel.to_string(),
            };
            if !rel.starts_with('/') {
                return Err(Error::Config(format!(
                    "{ENV_CONTAINER_CREDENTIALS_RELATIVE_URI} {path:?} must start with /"
                )));
            }
            // Read as the full URI is, so what no request can carry
            // (control characters, whitespace) is refused now, not at every
            // refresh as a network failure.
            let url = format!("http://{ECS_AGENT}{rel}");
            Url::parse(&url).map_err(|e| {
                Error::Config(format!("{ENV_CONTAINER_CREDENTIALS_RELATIVE_URI} {path:?}: {e}"))
            })?;
            url
        }
        (Some(full), None) => {
            let full = full.trim().to_string();
            validate_url(&full).map_err(|e| {
                // A path alone (`/v1/credentials`) belongs in the relative
                // variable; shown as given then (it has no password).
                let shown = match full.starts_with('/') {
                    true => full.split(['?', '#']).next().unwrap_or_default().to_string(),
                    false => redact_origin(&full),
                };
                let hint = match full.starts_with('/') {
                    true => format!("; a path alone goes in {ENV_CONTAINER_CREDENTIALS_RELATIVE_URI}"),
                    false => String::new(),
                };
                Error::Config(format!(
                    "{ENV_CONTAINER_CREDENTIALS_FULL_URI} {shown:?}: {e}{hint}"
                ))
            })?;
            full
        }
        (None, None) => {
            return Err(Error::Config(format!(
                "--source container needs {ENV_CONTAINER_CREDENTIALS_FULL_URI} or {ENV_CONTAINER_CREDENTIALS_RELATIVE_URI}"
            )))
        }
    };
    let token = match (
        var(env, ENV_CONTAINER_AUTHORIZATION_TOKEN_FILE),
        env(ENV_CONTAINER_AUTHORIZATION_TOKEN).filter(|v| !v.is_empty()),
    ) {
        (Some(file), _) => TokenSource::File(PathBuf::from(file)),
        (None, Some(value)) => {
            let secret = Secret::new(value);
            token::check_header_value(&secret)
                .map_err(|e| Error::Config(format!("{ENV_CONTAINER_AUTHORIZATION_TOKEN}: {e}")))?;
            TokenSource::Value(secret)
        }
        (None, None) => TokenSource::None,
    };
    Ok(Settings { url, token })
}

/// Checks an endpoint URL as the SDKs do: https may go anywhere; plain http
/// only to loopback or the ECS/EKS agent addresses. No user info: the token
/// goes in its own variables.
pub fn validate_url(url: &str) -> Result<(), String> {
    let url = Url::parse(url)?;
    if url.is_https() {
        return Ok(());
    }
    // `localhost` itself only, not a name under it nor one with a final
    // dot: plain http to a name connects by `plain_http_addresses`.
    let loopback = url.host() == "localhost" || url.ip().is_some_and(|ip| ip.is_loopback());
    let agent = url.ip().is_some_and(|ip| ALLOWED_HTTP_HOSTS.contains(&ip));
    if loopback || agent {
        Ok(())
    } else {
        Err(format!(
            "plain http is allowed only to localhost, loopback addresses, {ECS_AGENT}, {EKS_POD_IDENTITY_AGENT} and {EKS_POD_IDENTITY_AGENT_V6} (no other name, even one resolving to loopback), not {}; use https, or one of those",
            url.host()
        ))
    }
}

/// Where plain http to a name goes: `localhost` (in any case, the only name
/// [`validate_url`] lets through) is 127.0.0.1, then ::1, as RFC 6761 has
/// it, never looked up: `/etc/hosts` or a DNS search domain could otherwise
/// send the token in the clear to another host, a scratch image has no
/// `/etc/hosts` at all, and a lookup would be a query off the machine. The
/// connection goes to these addresses in turn, with the URL's `Host`.
/// Empty for https and for addresses, which connect as written.
fn plain_http_addresses(url: &str) -> Result<Vec<IpAddr>, Error> {
    let Ok(parsed) = Url::parse(url) else {
        return Ok(Vec::new());
    };
    if parsed.is_https() || parsed.ip().is_some() {
        return Ok(Vec::new());
    }
    if parsed.host() != "localhost" {
        return Err(Error::Config(format!(
            "{ENV_CONTAINER_CREDENTIALS_FULL_URI}: plain http goes to no name but localhost, not {}; use https, or an address",
            parsed.host()
        )));
    }
    Ok(vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()])
}

pub struct ContainerProvider {
    cfg: Settings,
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
    /// Optional and only passed on: anything but a string is dropped, not
    /// a reason to refuse the credentials (a number was).
    #[serde(default, deserialize_with = "string_or_nothing")]
    account_id: Option<String>,
    #[serde(default, deserialize_with = "string_or_nothing")]
    role_arn: Option<String>,
}

/// A string, or `None` for any other JSON value (skipped, never built).
fn string_or_nothing<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
    struct StringOrNothing;
    impl<'de> Visitor<'de> for StringOrNothing {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
            Ok(Some(s.to_owned()))
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    }
    d.deserialize_any(StringOrNothing)
}

/// The error JSON some agents send, its keys in either case (the EKS
/// agent's are lower case, AWS's own JSON errors capitalised).
#[derive(Deserialize)]
struct ErrorAnswer {
    #[serde(alias = "Code")]
    code: Option<String>,
    #[serde(alias = "Message")]
    message: Option<String>,
}

impl ContainerProvider {
    pub fn new(cfg: Settings, net: &Network) -> Result<Self, Error> {
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

    /// The token must be usable at start, and a plain-http name must
    /// resolve to loopback.
    pub fn preflight(&self) -> Result<(), Error> {
        plain_http_addresses(&self.cfg.url)?;
        self.token().map(drop).map_err(super::at_start)
    }

    /// The token; a file that cannot be read names its variable and what
    /// to check, at start and at every refresh alike.
    fn token(&self) -> Result<Option<Secret>, Error> {
        match &self.cfg.token {
            TokenSource::None => Ok(None),
            TokenSource::Value(secret) => Ok(Some(secret.clone())),
            TokenSource::File(path) => read_token_file(path).map(Some).map_err(|e| {
                super::token_file_problem(
                    e,
                    ENV_CONTAINER_AUTHORIZATION_TOKEN_FILE,
                    "the Pod Identity token volume is mounted",
                )
            }),
        }
    }

    /// The credentials, and the authorization token sent for them, if any
    /// (a chained hop takes it out of its own errors).
    pub fn fetch(&self, deadline: Option<Instant>) -> Result<(Credentials, Option<Secret>), Error> {
        let pinned = plain_http_addresses(&self.cfg.url)?;
        let token = self.token()?;
        // What the request carries: the token, and the URI's query, which
        // messages never show either.
        let query = crate::url::query_secrets(&self.cfg.url);
        let mut sent: Vec<&str> = token.iter().map(Secret::expose).collect();
        sent.extend(query.iter().map(String::as_str));
        let unsent = |e: Error| e.map_quoted(|text| without_pieces(text, &sent));
        let headers: Vec<(&str, &str)> = match &token {
            Some(t) => vec![
                ("authorization", t.expose()),
                ("accept", "application/json"),
            ],
            None => vec![("accept", "application/json")],
        };
        let ask = |ip: IpAddr| {
            Client::new(&self.cfg.url, &self.net)?
                .pinned_to(ip)?
                .get(&headers, deadline)
        };
        // Each pinned address in turn: one nothing listens on is passed
        // over, as a client given the name would; the last answer stands.
        let mut answer = None;
        for &ip in &pinned {
            let this = ask(ip);
            let refused = matches!(
                this,
                Err(Error::Network {
                    timed_out: false,
                    reach: Reach::Unreached,
                    ..
                })
            );
            answer = Some(this);
            if !refused {
                break;
            }
        }
        let resp = match answer {
            Some(answer) => answer,
            None => Client::new(&self.cfg.url, &self.net)?.get(&headers, deadline),
        }
        .map_err(unsent)?;
        let creds = resp.parse_with(&sent, |body| {
            parse_answer(
                &crate::url::shown(&self.cfg.url),
                resp.status,
                resp.content_type.as_deref(),
                body,
            )
        })?;
        Ok((creds.on_our_clock(resp.date, Timestamp::now()), token))
    }

    pub fn describe(&self) -> String {
        format!("container endpoint {}", crate::url::shown(&self.cfg.url))
    }
}

/// Reads the authorization token file: surrounding whitespace trimmed (a
/// trailing newline from an editor is harmless), then refused if a CR or LF
/// remains, because it would end the header and inject another.
pub fn read_token_file(path: &Path) -> Result<Secret, Error> {
    let invalid = |why: &str| {
        Error::io(
            "use the container authorization token file",
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string()),
        )
    };
    let text = token::read_text(path, token::MAX_HEADER_TOKEN).map_err(|e| match e {
        ReadError::Io(e) => Error::io("read the container authorization token file", path, e),
        ReadError::TooLarge => invalid("larger than 16 KiB, which no agent token is"),
        ReadError::NotText => invalid("not text"),
        not_regular @ ReadError::NotRegular(_) => invalid(&not_regular.describe()),
    })?;
    let token = Secret::new(text);
    token::check_header_value(&token).map_err(|why| invalid(&why))?;
    Ok(token)
}

/// What is wrong with an answer that is not the credentials JSON, by kind
/// and place only. serde_json's own message quotes values ("invalid type:
/// string \"{...}\"", of an answer encoded twice, with the keys inside),
/// so it is never shown.
fn describe_json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let at = format!("line {} column {}", e.line(), e.column());
    match e.classify() {
        Category::Eof => "the JSON is cut short".into(),
        Category::Syntax | Category::Io => format!("not valid JSON, at {at}"),
        Category::Data => format!(
            "JSON of another shape (an object with AccessKeyId, SecretAccessKey, Token and Expiration strings was expected), at {at}"
        ),
    }
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
            describe_json_error(&e)
        ))
    })?;
    let required = |field: Option<String>, name: &str| {
        field
            .filter(|v| !v.is_empty())
            .ok_or_else(|| bad(format!("the answer has no {name}")))
    };
    // The same rule as for STS's answers, whatever mode prints or writes them.
    let fit = |value: String, name: &str| {
        if is_fit_value(&value) {
            Ok(value)
        } else {
            Err(bad(format!(
                "{name} {UNFIT_VALUE}; AWS issues no such value, refused for every mode"
            )))
        }
    };
    let access_key_id = fit(
        required(answer.access_key_id, "AccessKeyId")?,
        "AccessKeyId",
    )?;
    let secret = fit(
        required(answer.secret_access_key, "SecretAccessKey")?,
        "SecretAccessKey",
    )?;
    let session_token = match answer.token.filter(|t| !t.is_empty()) {
        Some(token) => Some(Secret::new(fit(token, "Token")?)),
        None => None,
    };
    // A temporary key (ASIA...) is useless without its session token; an
    // agent that named it otherwise (`SessionToken`) would have the
    // credentials handed on as long-term keys that every call refuses.
    if session_token.is_none() && access_key_id.starts_with("ASIA") {
        return Err(bad(
            "AccessKeyId is a temporary key (ASIA...) but there is no Token, which the SDKs need with it; the agent must send its session token as Token".into(),
        ));
    }
    let secret = Secret::new(secret);
    let expiration_text = required(answer.expiration, "Expiration")?;
    let expiration = Timestamp::parse_rfc3339(&expiration_text).map_err(|e| {
        bad(scrub(
            format!("Expiration: {e}"),
            &[Some(&secret), session_token.as_ref()],
        ))
    })?;
    Ok(Credentials {
        access_key_id,
        secret_access_key: secret,
        session_token,
        expiration,
        // An account is twelve digits; anything else would be handed on
        // to SDKs that refuse the credentials for it (botocore does).
        account_id: answer
            .account_id
            .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit())),
        role_arn: answer.role_arn.filter(|a| is_fit_arn(a)),
    })
}

/// `{"code": .., "message": ..}` (or `Code`, `Message`) as `code: message`; otherwise a quote of
/// the body, withheld if it could hold credentials.
fn error_message(body: &[u8]) -> String {
    if let Ok(ErrorAnswer { code, message }) = serde_json::from_slice::<ErrorAnswer>(body) {
        if code.is_some() || message.is_some() {
            let code = code
                .filter(|c| !c.trim().is_empty())
                .unwrap_or_else(|| "error".into());
            let text = hide_secret_shaped(&match message.filter(|m| !m.trim().is_empty()) {
                Some(message) => format!("{code}: {message}"),
                None => code,
            });
            // An error that carries credentials beside it: none of their
            // secrets is quoted, wherever the message repeats them.
            let secrets = secrets_in(body);
            let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
            return one_line(&without_pieces(&text, &secrets));
        }
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return "(empty body)".into();
    }
    one_line(quote_body(body).trim_start_matches(": "))
}

/// The secret key and token of the credentials a body carries, if any,
/// which no message may quote.
fn secrets_in(body: &[u8]) -> Vec<String> {
    serde_json::from_slice::<Answer>(body)
        .map(|a| a.secret_access_key.into_iter().chain(a.token).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
