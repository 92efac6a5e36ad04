//! Blocking HTTP for the STS and container endpoints: one ureq agent per
//! destination with timeouts, a capped body, proxy rules, and transport
//! failures mapped onto `Error`.
//!
//! Status codes are not errors here: the callers parse error bodies (STS's
//! `ErrorResponse`, the agent's JSON) into better messages than a status.

use std::io::Read;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::unversioned::transport::DefaultConnector;
use ureq::Agent;

use std::path::PathBuf;

use crate::credentials::{hide_pieces, mark_runs};
use crate::env::{first_var, var, Env};
use crate::error::Error;
use crate::token::{self, ReadError};
use crate::url::{redact_origin, shown, Url};
use resolver::Lookup;

mod resolver;

/// 1 MiB: an STS answer is a few KiB; anything near this is not
/// STS, and reading it would only cost memory.
pub const MAX_BODY: u64 = 1024 * 1024;
/// 5 seconds to set up a connection (DNS, TCP, TLS).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// 20 seconds for one whole exchange, body included, so a server
/// that trickles bytes cannot hold a refresh forever.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// The largest `AWS_CA_BUNDLE` read: the whole Mozilla list as PEM is about
/// 220 KB; a file near this is not a CA bundle, and reading it whole (or
/// `/dev/zero`) would cost memory without end.
pub const MAX_CA_BUNDLE: u64 = 4 * 1024 * 1024;

/// Proxy settings, each checked in upper then lower case as curl does.
pub const ENV_HTTPS_PROXY: [&str; 2] = ["HTTPS_PROXY", "https_proxy"];
pub const ENV_NO_PROXY: [&str; 2] = ["NO_PROXY", "no_proxy"];
/// Extra trusted CA certificates (PEM), on top of the embedded Mozilla roots.
pub const ENV_CA_BUNDLE: &str = "AWS_CA_BUNDLE";

/// How to reach servers beyond the pod.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Network {
    /// `HTTPS_PROXY` (or `https_proxy`), used for STS.
    pub https_proxy: Option<Proxy>,
    /// `NO_PROXY` entries, lowercased, spaces trimmed.
    pub no_proxy: Vec<String>,
    /// `AWS_CA_BUNDLE`: more roots to trust, beside the embedded ones.
    pub ca_bundle: Option<PathBuf>,
}

impl Network {
    /// `HTTPS_PROXY`, `NO_PROXY` and `AWS_CA_BUNDLE`, as the SDKs read them.
    /// Checked when a client is first built (`Client::new`).
    pub fn from_env(env: Env) -> Network {
        Network {
            https_proxy: ENV_HTTPS_PROXY.iter().find_map(|&variable| {
                var(env, variable).map(|url| Proxy {
                    variable,
                    url: url.trim().to_string(),
                })
            }),
            no_proxy: first_var(env, &ENV_NO_PROXY)
                .map(|(_, v)| {
                    v.split(',')
                        .map(|e| e.trim().to_ascii_lowercase())
                        .filter(|e| !e.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            ca_bundle: var(env, ENV_CA_BUNDLE).map(PathBuf::from),
        }
    }
}

/// A proxy URL and the variable it came from, for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proxy {
    pub variable: &'static str,
    pub url: String,
}

const USER_AGENT: &str = concat!("aws-credfile/", env!("CARGO_PKG_VERSION"));

/// An answer with any status.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Response {
    /// The body read by `parse` as it came, and only when that fails, read
    /// again with `secrets` taken out (see [`Response::body_without`]), so
    /// the error cannot quote what the request sent; pieces of them are
    /// then taken out of the error's text. Taking them out first
    /// would change a real answer whenever a secret equals part of it (an
    /// authorization token `Token` turned the session token's key into
    /// `** redacted **`, and the credentials came out without it).
    pub fn parse_with<T>(
        &self,
        secrets: &[&str],
        parse: impl Fn(&[u8]) -> Result<T, Error>,
    ) -> Result<T, Error> {
        match parse(&self.body) {
            Ok(parsed) => Ok(parsed),
            Err(first) => match parse(&self.body_without(secrets)) {
                Err(redacted) => Err(redacted.map_quoted(|text| without_pieces(text, secrets))),
                // The secrets were what made it unreadable: the first
                // error may quote them, so say only that.
                Ok(_) => Err(match first {
                    Error::BadResponse { from, status, .. } => Error::BadResponse {
                        from,
                        status,
                        detail: "an answer that cannot be read, holding what the request sent"
                            .into(),
                    },
                    other => other,
                }),
            },
        }
    }

    /// The body with every occurrence of `secrets` (what the request sent:
    /// an identity token, the signing credentials, an authorization token)
    /// replaced by `** redacted **`. A server, or a proxy in front of it,
    /// may quote the request in an error message, which would otherwise
    /// reach the log. Only whole secrets: a piece of one may legitimately
    /// be part of the answer (session tokens share long prefixes), and
    /// taking it out would change what the answer says.
    pub fn body_without(&self, secrets: &[&str]) -> Vec<u8> {
        hide(&self.body, secrets)
    }
}

/// `text` with every occurrence of a whole secret replaced by one
/// `** redacted **` (adjacent ones by one). Secrets shorter than four bytes
/// are left alone: they would match too much, and protect too little.
fn hide(text: &[u8], secrets: &[&str]) -> Vec<u8> {
    let mut hidden = vec![false; text.len()];
    for secret in secrets
        .iter()
        .map(|s| s.as_bytes())
        .filter(|s| s.len() >= 4)
    {
        for (at, window) in text.windows(secret.len()).enumerate() {
            if window == secret {
                hidden[at..at + secret.len()].fill(true);
            }
        }
    }
    mark_runs(text, &hidden, b"** redacted **")
}

/// An error message with any piece of `secrets` it spells out taken out
/// (see [`hide_pieces`]): a server may quote a secret cut to a length or
/// from an offset, encoded, or broken up, which taking whole secrets out of
/// the answer does not catch.
pub fn without_pieces(message: &str, secrets: &[&str]) -> String {
    hide_pieces(message, secrets, "** redacted **")
}

/// A client for one destination, built for one refresh and dropped after
/// it. Nothing is kept between refreshes on purpose: a connection would not
/// be reused half an hour later anyway, and an idle daemon that kept its
/// agent would keep its parsed root store too (a few hundred KiB of the
/// 2 MiB idle-memory budget, measured in BENCHMARKS.md).
pub struct Client {
    agent: Agent,
    /// As given: what `pinned_to` reads.
    url: String,
    /// For messages (see `url::shown`): no query, which may hold a token.
    shown: String,
    /// Where requests go: `url`, or `url` pinned to an address, with the
    /// `Host` header `url` implies.
    target: String,
    host: Option<String>,
    /// The proxy in use, redacted, for messages.
    proxy: Option<String>,
}

impl Client {
    /// A client for `url`, proxied per `net` unless the host is exempt.
    pub fn new(url: &str, net: &Network) -> Result<Client, Error> {
        install_crypto_provider();
        let proxy_url = proxy_for(url, net);
        let proxy = match &proxy_url {
            Some(p) => Some(
                check_proxy_port(&p.url)
                    .and_then(|()| ureq::Proxy::new(&p.url))
                    .and_then(http_proxy_only)
                    .map_err(|e| {
                        Error::Config(format!(
                            "{} {:?} is not a usable proxy URL: {e}",
                            p.variable,
                            redact_origin(&p.url)
                        ))
                    })?,
            ),
            None => None,
        };
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(USER_AGENT)
            .max_redirects(0)
            .proxy(proxy)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(REQUEST_TIMEOUT))
            .tls_config(TlsConfig::builder().root_certs(roots(net)?).build())
            .build();
        Ok(Client {
            agent: Agent::with_parts(config, DefaultConnector::default(), Lookup),
            url: url.to_string(),
            shown: shown(url),
            target: url.to_string(),
            host: None,
            proxy: proxy_url.map(|p| redact_origin(&p.url)),
        })
    }

    /// Connects to `ip` instead of looking the host up: the caller chose
    /// the address (`localhost` is never looked up). Requests still carry
    /// the URL's `Host`.
    pub fn pinned_to(self, ip: IpAddr) -> Result<Client, Error> {
        let parsed =
            Url::parse(&self.url).map_err(|e| Error::Config(format!("{}: {e}", self.shown)))?;
        let target = Url::pinned_to(&self.url, ip)
            .map_err(|e| Error::Config(format!("{}: {e}", self.shown)))?;
        Ok(Client {
            target,
            host: Some(parsed.host_header()),
            ..self
        })
    }

    /// The URL this client talks to, as messages show it.
    pub fn shown_url(&self) -> &str {
        &self.shown
    }

    /// `POST` an `application/x-www-form-urlencoded` body, giving up at
    /// `deadline` (or after [`REQUEST_TIMEOUT`], whichever is sooner).
    pub fn post_form(
        &self,
        headers: &[(String, String)],
        body: &str,
        deadline: Option<Instant>,
    ) -> Result<Response, Error> {
        let mut req = self
            .agent
            .post(&self.target)
            .config()
            .timeout_global(Some(timeout_until(deadline)))
            .build();
        if let Some(host) = &self.host {
            req = req.header("host", host.as_str());
        }
        let mut has_content_type = false;
        for (name, value) in headers {
            has_content_type |= name.eq_ignore_ascii_case("content-type");
            req = req.header(name.as_str(), value.as_str());
        }
        if !has_content_type {
            req = req.header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            );
        }
        self.finish(req.send(body.as_bytes()))
    }

    /// `GET` with extra headers, giving up at `deadline` (or after
    /// [`REQUEST_TIMEOUT`], whichever is sooner).
    pub fn get(
        &self,
        headers: &[(&str, &str)],
        deadline: Option<Instant>,
    ) -> Result<Response, Error> {
        let mut req = self
            .agent
            .get(&self.target)
            .config()
            .timeout_global(Some(timeout_until(deadline)))
            .build();
        if let Some(host) = &self.host {
            req = req.header("host", host.as_str());
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        self.finish(req.call())
    }

    fn finish(
        &self,
        result: Result<http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Response, Error> {
        let mut resp = result.map_err(|e| self.transport_error(e))?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // Read one byte past the cap so "exactly at the cap" and "over it"
        // can be told apart without trusting Content-Length.
        let mut body = Vec::new();
        resp.body_mut()
            .with_config()
            .limit(u64::MAX)
            .reader()
            .take(MAX_BODY + 1)
            .read_to_end(&mut body)
            .map_err(|e| Error::Network {
                url: self.shown.clone(),
                timed_out: is_timeout(&e),
                detail: format!("the answer broke off while reading its body (HTTP {status}): {e}"),
            })?;
        if body.len() as u64 > MAX_BODY {
            return Err(Error::BadResponse {
                from: self.shown.clone(),
                status,
                detail: format!("the answer is larger than {MAX_BODY} bytes; this is not an AWS credentials answer"),
            });
        }
        Ok(Response {
            status,
            content_type,
            body,
        })
    }

    fn transport_error(&self, e: ureq::Error) -> Error {
        let timed_out = matches!(e, ureq::Error::Timeout(_));
        let detail = match e {
            ureq::Error::Timeout(t) => format!("timed out ({t})"),
            ureq::Error::HostNotFound => "host not found (DNS)".to_string(),
            ureq::Error::ConnectionFailed => "connection failed".to_string(),
            other => other.to_string(),
        };
        let detail = match &self.proxy {
            Some(proxy) => {
                format!("{detail} (through the proxy {proxy}; check HTTPS_PROXY and NO_PROXY)")
            }
            None => detail,
        };
        Error::Network {
            url: self.shown.clone(),
            detail,
            timed_out,
        }
    }
}

/// Whether reading a body failed because time ran out. ureq's body reader
/// hands its own timeout over as an `io::Error` of kind `Other` wrapping
/// `ureq::Error::Timeout` (see `ureq::Error::into_io`), not as `TimedOut`,
/// so a head that came in time and a body that stalled past the deadline
/// would otherwise count as a network failure in the metrics.
fn is_timeout(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::TimedOut
        || e.get_ref()
            .and_then(|inner| inner.downcast_ref::<ureq::Error>())
            .is_some_and(|inner| matches!(inner, ureq::Error::Timeout(_)))
}

/// Gives rustls ring as the process's crypto provider, which ureq (built
/// without a provider of its own) picks up for every TLS connection. The
/// first call installs it; later calls find it there.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err only when another thread installed one first, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// The time one exchange may take: [`REQUEST_TIMEOUT`], cut to what is left
/// before `deadline` (`--once-timeout`), but never below a second, so a
/// nearly spent budget still allows one real attempt.
fn timeout_until(deadline: Option<Instant>) -> Duration {
    match deadline {
        Some(d) => d
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_secs(1), REQUEST_TIMEOUT),
        None => REQUEST_TIMEOUT,
    }
}

/// The embedded Mozilla roots, plus the PEM certificates in `AWS_CA_BUNDLE`
/// (for TLS-inspecting corporate proxies) when it is set.
fn roots(net: &Network) -> Result<RootCerts, Error> {
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
    let embedded = certs.len();
    for item in ureq::tls::parse_pem(&pem) {
        // Keys and other blocks have no business here; skip them.
        if let PemItem::Certificate(cert) = item.map_err(|e| bad(format!("not a PEM file: {e}")))? {
            certs.push(cert);
        }
    }
    if certs.len() == embedded {
        return Err(bad("it holds no PEM certificate".into()));
    }
    Ok(RootCerts::new_with_certs(&certs))
}

/// ureq reads a proxy's port leniently: `:3128x`, `:99999` and `:-1` all
/// became port 80, and the failure came only at the first connection, as a
/// network error. A port, when given, must be a number from 1 to 65535.
fn check_proxy_port(proxy: &str) -> Result<(), ureq::Error> {
    let rest = proxy.split_once("://").map_or(proxy, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let port = match host_port.strip_prefix('[') {
        Some(v6) => v6.split_once(']').and_then(|(_, after)| match after {
            "" => Some(None),
            _ => after.strip_prefix(':').map(Some),
        }),
        None => Some(host_port.split_once(':').map(|(_, port)| port)),
    };
    let valid = match port {
        None => false,
        Some(None) => true,
        Some(Some(port)) => {
            port.len() <= 5
                && port.bytes().all(|b| b.is_ascii_digit())
                && port.parse::<u16>().is_ok_and(|p| p > 0)
        }
    };
    if valid {
        Ok(())
    } else {
        Err(ureq::Error::BadUri(
            "its port is not a number from 1 to 65535".into(),
        ))
    }
}

/// `proxy` if it speaks HTTP (`CONNECT`): SOCKS is not built in, and
/// ureq panics when asked to use it. And if it has no path, query or
/// fragment, which a proxy URL never needs: a password holding an unencoded
/// `/`, `?` or `#` makes one, and then the host before it (the user name)
/// is where the traffic would go (round 13).
fn http_proxy_only(proxy: ureq::Proxy) -> Result<ureq::Proxy, ureq::Error> {
    if !matches!(proxy.uri().path(), "" | "/") || proxy.uri().query().is_some() {
        return Err(ureq::Error::BadUri(
            "it has a path or a query, which a proxy URL has no use for; a password holding / ? or # must be percent-encoded (%2F %3F %23)".into(),
        ));
    }
    match proxy.protocol() {
        ureq::ProxyProtocol::Http | ureq::ProxyProtocol::Https => Ok(proxy),
        other => Err(ureq::Error::BadUri(format!(
            "{other} proxies are not supported, only http:// and https:// ones"
        ))),
    }
}

/// The proxy to use for `url`: `HTTPS_PROXY` for https URLs unless the host
/// is loopback or listed in `NO_PROXY` (exact, an address in any spelling,
/// or a domain suffix; `*` as a whole entry for every host).
/// An entry with a port (`host:port`, `[v6]:port`) exempts that port only,
/// as Go's and Python's HTTP clients read it.
pub fn proxy_for(url: &str, net: &Network) -> Option<Proxy> {
    let proxy = net.https_proxy.as_ref()?;
    let parts = Url::parse(url).ok()?;
    if !parts.is_https() || parts.is_loopback() {
        return None;
    }
    let exempt = net.no_proxy.iter().any(|entry| {
        if entry == "*" {
            return true;
        }
        let (host, port) = no_proxy_entry(entry);
        let host = host
            .strip_prefix("*.")
            .or_else(|| host.strip_prefix('.'))
            .unwrap_or(host);
        let same_address = matches!(
            (host.parse::<IpAddr>(), parts.ip()),
            (Ok(a), Some(b)) if a == b
        );
        port.is_none_or(|p| p == parts.port())
            && (same_address || parts.host() == host || parts.host().ends_with(&format!(".{host}")))
    });
    (!exempt).then(|| proxy.clone())
}

/// A `NO_PROXY` entry as host and port: `host`, `host:port`, `[v6]`,
/// `[v6]:port` or a bare IPv6 address. A port that is not a number matches
/// no port at all.
fn no_proxy_entry(entry: &str) -> (&str, Option<u16>) {
    let (host, port) = match entry.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((host, after)) => (host, after.strip_prefix(':')),
            None => (v6, None),
        },
        None => match entry.split_once(':') {
            Some((host, port)) if !port.contains(':') => (host, Some(port)),
            _ => (entry, None),
        },
    };
    (host, port.map(|p| p.parse().unwrap_or(0)))
}

#[cfg(test)]
mod tests;
