//! Blocking HTTP for the STS and container endpoints: one ureq agent per
//! destination with timeouts, a capped body, proxy rules, and transport
//! failures mapped onto `Error`.
//!
//! Status codes are not errors here: the callers parse error bodies (STS's
//! `ErrorResponse`, the agent's JSON) into better messages than a status.

use std::io::Read;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ureq::tls::TlsConfig;
use ureq::unversioned::transport::{
    ConnectProxyConnector, Connector, RustlsConnector, TcpConnector,
};
use ureq::Agent;

use crate::env::{first_var, var, Env};
use crate::error::{Error, Reach};
use crate::time::Timestamp;
use crate::url::{redact_origin, shown, Url};
use resolver::Lookup;
use roots::roots;

mod deadline;
mod proxy;
mod resolver;
mod response;
mod roots;
mod transport;

pub use proxy::proxy_for;
pub use response::{without_pieces, Response};
pub use roots::MAX_CA_BUNDLE;

/// 1 MiB: an STS answer is a few KiB; anything near this is not
/// STS, and reading it would only cost memory.
pub const MAX_BODY: u64 = 1024 * 1024;
/// 5 seconds to set up a connection (DNS, TCP, TLS).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// 20 seconds for one whole exchange, body included, so a server
/// that trickles bytes cannot hold a refresh forever.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// ureq's own chain without the links that only warn of features left out
/// (SOCKS, native-tls), and with every connection's I/O ended when its
/// request's time is up (`lifetime`), whatever ureq's timeouts allow (see
/// `deadline`). A connection made for a call is not kept for the next (no
/// idle connections): each has its own time.
fn connector(lifetime: &deadline::Lifetime) -> impl Connector {
    ().chain(ConnectProxyConnector::default())
        .chain(TcpConnector::default())
        .chain(RustlsConnector::default())
        .chain(deadline::Deadline(lifetime.clone()))
}

/// 5 seconds for the body once the head has come: a credentials answer is a
/// few KiB that follow their head at once. It also bounds what the HTTP
/// library spends skipping the trailers of a chunked body, which it reads
/// without a cap: a server sending them without end kept a core busy for
/// the whole request timeout.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(5);

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

impl Network {
    /// Refuses, at start, a proxy setting no request could use and a CA
    /// bundle that cannot be read: checked only when a request first needed
    /// them, a SOCKS `HTTPS_PROXY` passed every start whose endpoint did not
    /// need a proxy, and a corrupt certificate failed only the handshakes.
    pub fn check(&self) -> Result<(), Error> {
        if let Some(p) = &self.https_proxy {
            proxy::usable(p)?;
        }
        roots(self).map(drop)
    }
}

/// A proxy URL and the variable it came from, for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proxy {
    pub variable: &'static str,
    pub url: String,
}

const USER_AGENT: &str = concat!("aws-credfile/", env!("CARGO_PKG_VERSION"));

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
    /// How long the next connection may do I/O (see `deadline`): the
    /// request's time, set before each request.
    lifetime: deadline::Lifetime,
}

impl Client {
    /// A client for `url`, proxied per `net` unless the host is exempt.
    pub fn new(url: &str, net: &Network) -> Result<Client, Error> {
        install_crypto_provider();
        let proxy_url = proxy_for(url, net);
        let proxy = proxy_url.as_ref().map(proxy::usable).transpose()?;
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(USER_AGENT)
            .max_redirects(0)
            .proxy(proxy)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(REQUEST_TIMEOUT))
            .timeout_recv_body(Some(BODY_TIMEOUT))
            .max_idle_connections(0)
            .tls_config(TlsConfig::builder().root_certs(roots(net)?).build())
            .build();
        let lifetime = deadline::Lifetime::default();
        Ok(Client {
            agent: Agent::with_parts(config, connector(&lifetime), Lookup),
            url: url.to_string(),
            shown: shown(url),
            target: url.to_string(),
            host: None,
            proxy: proxy_url.map(|p| redact_origin(&p.url)),
            lifetime,
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

    /// The client, its URL shown with `(what)` after it: the chain's
    /// `AssumeRole` goes to the same STS as the web identity call, and a
    /// message must say which of the two failed.
    pub fn labelled(mut self, what: &str) -> Client {
        self.shown += " (";
        self.shown += what;
        self.shown += ")";
        self
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
        let time = self.lifetime.set(timeout_until(deadline));
        let mut req = self
            .agent
            .post(&self.target)
            .config()
            .timeout_global(Some(time))
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
        // What it carries is the caller's to keep out of messages (see
        // `source::call_sts`): it knows which of it is secret.
        self.finish(req.send(body.as_bytes()), &[])
    }

    /// `GET` with extra headers, giving up at `deadline` (or after
    /// [`REQUEST_TIMEOUT`], whichever is sooner).
    pub fn get(
        &self,
        headers: &[(&str, &str)],
        deadline: Option<Instant>,
    ) -> Result<Response, Error> {
        let time = self.lifetime.set(timeout_until(deadline));
        let mut req = self
            .agent
            .get(&self.target)
            .config()
            .timeout_global(Some(time))
            .build();
        if let Some(host) = &self.host {
            req = req.header("host", host.as_str());
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let sent: Vec<&str> = headers.iter().map(|(_, v)| *v).collect();
        self.finish(req.call(), &sent)
    }

    /// The answer to a request that carried `sent` (secrets to keep out of
    /// what the answer makes us say).
    fn finish(
        &self,
        result: Result<http::Response<ureq::Body>, ureq::Error>,
        sent: &[&str],
    ) -> Result<Response, Error> {
        let mut resp = result.map_err(|e| self.transport_error(e))?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // The latest, if a proxy added its own: the shortest lifetime.
        let date = resp
            .headers()
            .get_all("date")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(Timestamp::parse_http_date)
            .max();
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
                detail: match is_timeout(&e) {
                    true => format!("timed out reading the answer's body (HTTP {status})"),
                    false => format!(
                        "the answer broke off while reading its body (HTTP {status}): {}",
                        transport::describe(&ureq::Error::Io(e)).0
                    ),
                },
                reach: Reach::Broken,
            })?;
        if matches!(status, 301 | 302 | 303 | 307 | 308) {
            // Never followed: a request that carries a token, or is signed
            // for one host, goes only where it was sent. Where to is shown
            // as URLs are, its query never (it may carry what was sent).
            // Scrubbed whole first: a secret with a `?` in it would
            // otherwise lose its tail to the query and show the rest.
            let to = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map_or("nowhere".to_string(), |l| {
                    let query = crate::url::query_secrets(&self.url);
                    let mut secrets = sent.to_vec();
                    secrets.extend(query.iter().map(String::as_str));
                    crate::url::shown_reference(&without_pieces(l, &secrets))
                });
            return Err(Error::BadResponse {
                from: self.shown.clone(),
                status,
                detail: format!(
                    "a redirect to {to}, which aws-credfile does not follow; give the URL it points to"
                ),
            });
        }
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
            date,
            body,
        })
    }

    fn transport_error(&self, e: ureq::Error) -> Error {
        // Out of descriptors or memory for the socket: this process's
        // limit, not the network's, and said so (EAGAIN is left out: a
        // socket's timeout reports it too).
        let e = match e {
            ureq::Error::Io(source)
                if matches!(
                    source.raw_os_error(),
                    Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::ENOBUFS)
                ) =>
            {
                return Error::OutOfResources {
                    doing: "open a connection for the fetch",
                    source,
                }
            }
            other => other,
        };
        let timed_out = matches!(e, ureq::Error::Timeout(_));
        let (detail, reach) = transport::describe(&e);
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
            reach,
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

#[cfg(test)]
mod tests;
