//! What the credentials endpoint answers: the container-credentials JSON at
//! `/v1/credentials`, only to a `Host` that names this machine and, with
//! `--serve-token-file`, only with the right `Authorization`. Pure: the
//! credentials, the token, the `Host` rule and the time are passed in.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use subtle::ConstantTimeEq;

use crate::credentials::{Credentials, Secret};
use crate::json;
use crate::metrics::Shared;
use crate::time::Timestamp;

use super::http1::{Answer, Request};
use super::Handler;

/// The path the SDKs are pointed at.
pub const CREDENTIALS_PATH: &str = "/v1/credentials";

/// The credentials endpoint as a [`Handler`]: what it needs to answer, the
/// credentials swapped in by the refresh loop as they change.
pub struct Endpoint {
    /// The required `Authorization` value (`--serve-token-file`, or a
    /// supervised program's random one).
    pub token: Option<Secret>,
    pub hosts: Hosts,
    /// The last good credentials; `None` until the first refresh.
    pub creds: Option<Credentials>,
    /// Where answers are counted, with `--metrics`.
    pub status: Option<Shared>,
}

impl Handler for Endpoint {
    fn answer(&self, req: &Request, now: Timestamp) -> Answer {
        answer(
            req,
            self.creds.as_ref(),
            self.token.as_ref(),
            self.hosts,
            now,
        )
    }

    fn answered(&self, status: u16) {
        if let Some(shared) = &self.status {
            shared.borrow_mut().answered(status);
        }
    }
}

/// Which `Host` values are answered. This is the defence against DNS
/// rebinding: a web page on `attacker.example` makes its own name resolve to
/// 127.0.0.1, and the browser on this machine then sends the page's
/// requests here, with `Host: attacker.example`, and lets the page read the
/// answers. A rebinding attack always uses a DNS name the attacker controls,
/// never an IP literal or `localhost`; the SDKs send the host of the URI
/// they were given, which names this endpoint as one of those. A request
/// without `Host` (HTTP/1.0 allows it; no SDK sends one) is refused too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hosts {
    /// `localhost` (any case) and loopback literals (`127.0.0.0/8`,
    /// `[::1]`), with any port or none. The default.
    Loopback,
    /// Also the IP literal of the address the client connected to, for
    /// `--serve-any-address`: clients on other machines name the address
    /// they connect to.
    ConnectedIp,
}

/// Whether a request with `Host: value`, made to the local address `to`,
/// is answered under `hosts`.
pub fn host_allowed(value: &str, to: Option<IpAddr>, hosts: Hosts) -> bool {
    match parse_host(value) {
        Some(Host::Name(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ip(ip)) => {
            ip.is_loopback() || (hosts == Hosts::ConnectedIp && Some(ip.to_canonical()) == to)
        }
        None => false,
    }
}

/// The host part of a `Host` value (RFC 9110 section 7.2: `uri-host [ ":"
/// port ]`).
enum Host<'a> {
    Ip(IpAddr),
    Name(&'a str),
}

/// Splits off the port and tells IP literals from names; None for what is
/// neither (a bad port, an unbracketed or malformed IPv6 address).
fn parse_host(value: &str) -> Option<Host<'_>> {
    let (host, port) = match value.strip_prefix('[') {
        Some(rest) => {
            let (inner, after) = rest.split_once(']')?;
            let port = match after {
                "" => "",
                _ => after.strip_prefix(':')?,
            };
            (Host::Ip(IpAddr::V6(inner.parse::<Ipv6Addr>().ok()?)), port)
        }
        None => {
            let (name, port) = value.split_once(':').unwrap_or((value, ""));
            match name.parse::<Ipv4Addr>() {
                Ok(ip) => (Host::Ip(IpAddr::V4(ip)), port),
                Err(_) => (Host::Name(name), port),
            }
        }
    };
    // RFC 3986: `port = *DIGIT`; no port is five digits or more than that.
    (port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit())).then_some(host)
}

/// Decides the answer to a well-formed request. Pure: the credentials, the
/// required token, the `Host` rule and the time are passed in.
pub fn answer(
    req: &Request,
    creds: Option<&Credentials>,
    token: Option<&Secret>,
    hosts: Hosts,
    now: Timestamp,
) -> Answer {
    // First, so a page that rebound a name learns nothing, not even which
    // paths exist.
    let host = req.host.as_deref().unwrap_or("");
    if !host_allowed(host, req.to, hosts) {
        let message = match hosts {
            Hosts::Loopback => "the Host must be localhost or a loopback address",
            Hosts::ConnectedIp => {
                "the Host must be localhost, a loopback address or the address connected to"
            }
        };
        return Answer::json_error(403, "InvalidHost", message);
    }
    if req.path != CREDENTIALS_PATH {
        return Answer::json_error(
            404,
            "NotFound",
            "the credentials are served at /v1/credentials",
        );
    }
    if req.method != "GET" {
        return Answer::json_error(405, "MethodNotAllowed", "only GET is served");
    }
    if let Some(required) = token {
        let given = req.authorization.as_ref().map(Secret::expose).unwrap_or("");
        if !constant_time_eq(given.as_bytes(), required.expose().as_bytes()) {
            return Answer::json_error(
                401,
                "Unauthorized",
                "missing or wrong Authorization header",
            );
        }
    }
    match creds {
        None => Answer::json_error(
            503,
            "CredentialsNotReady",
            "no credentials obtained yet; retry shortly",
        ),
        Some(c) if c.expiration <= now => Answer::json_error(
            503,
            "CredentialsExpired",
            "the last credentials expired and refreshing is failing; see aws-credfile's log",
        ),
        Some(c) => Answer::json(200, credentials_json(c)),
    }
}

/// The container-credentials JSON the SDKs parse.
pub fn credentials_json(c: &Credentials) -> String {
    let mut json = json::Object::start();
    json.string("AccessKeyId", &c.access_key_id)
        .string("SecretAccessKey", c.secret_access_key.expose());
    // Always present: botocore fails with a KeyError when `Token` is
    // missing, and treats an empty one as "no session token".
    let token = c.session_token.as_ref().map(Secret::expose).unwrap_or("");
    json.string("Token", token)
        .string("Expiration", &c.expiration.to_rfc3339());
    if let Some(account) = &c.account_id {
        json.string("AccountId", account);
    }
    if let Some(arn) = &c.role_arn {
        json.string("RoleArn", arn);
    }
    json.end()
}

/// Compares without stopping at the first difference, so response time
/// does not reveal how much of a guessed token was right (only whether its
/// length was).
pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}
