//! The proxy rules: which requests go through `HTTPS_PROXY` (`NO_PROXY`),
//! and which proxy URLs are usable at all.

use std::net::IpAddr;

use super::{Network, Proxy};
use crate::error::Error;
use crate::url::{authority_port, redact_origin, Url};

/// The proxy `p` as ureq takes it, or a configuration error naming its
/// variable (the URL shown without password, path or query).
pub(super) fn usable(p: &Proxy) -> Result<ureq::Proxy, Error> {
    no_fragment(&p.url)
        .and_then(|()| check_proxy_port(&p.url))
        .and_then(|()| ureq::Proxy::new(&p.url))
        .and_then(http_proxy_only)
        .map_err(|e| {
            Error::Config(format!(
                "{} {:?} is not a usable proxy URL: {e}",
                p.variable,
                redact_origin(&p.url)
            ))
        })
}

/// A `#` anywhere (the URL reader drops a fragment without a word, and a
/// password's unencoded `#` makes one of the rest of the URL), or a `/` or
/// `?` in the user info.
fn no_fragment(proxy: &str) -> Result<(), ureq::Error> {
    if proxy.contains('#') {
        return Err(ureq::Error::BadUri(
            "it has a fragment (#), which a proxy URL has no use for; a password holding # must be percent-encoded (%23)".into(),
        ));
    }
    // `user:abc/def@proxy:3128`: the `/` ends the authority before the `@`,
    // and what follows would be read as a port or a path, not a password.
    let rest = proxy.split_once("://").map_or(proxy, |(_, rest)| rest);
    match rest.rfind('@') {
        Some(at) if rest[..at].contains(['/', '?']) => Err(ureq::Error::BadUri(
            "its user name or password holds / or ?, which must be percent-encoded (%2F %3F)"
                .into(),
        )),
        _ => Ok(()),
    }
}

/// ureq reads a proxy's port leniently (`:3128x`, `:99999` and `:-1` all
/// became port 80); a port, when given, must be one [`authority_port`]
/// takes. The proxy URL may lack a scheme and may hold user info.
pub(super) fn check_proxy_port(proxy: &str) -> Result<(), ureq::Error> {
    let rest = proxy.split_once("://").map_or(proxy, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    authority_port(host_port)
        .map(|_| ())
        .map_err(ureq::Error::BadUri)
}

/// `proxy` if it speaks HTTP (`CONNECT`): SOCKS is not built in, and
/// ureq panics when asked to use it. And if it has no path, query or
/// fragment, which a proxy URL never needs: a password holding an unencoded
/// `/`, `?` or `#` makes one, and then the host before it (the user name)
/// is where the traffic would go.
pub(super) fn http_proxy_only(proxy: ureq::Proxy) -> Result<ureq::Proxy, ureq::Error> {
    // `http://:3128`, `http://[]:3128`: every request would look up an
    // empty name, and fail, for as long as the daemon ran.
    if matches!(proxy.host(), "" | "[]") {
        return Err(ureq::Error::BadUri("it names no host".into()));
    }
    // `[::1%lo]` would be looked up as a name, and the password sent to
    // whatever address DNS gave for it.
    if proxy.host().contains('%') {
        return Err(ureq::Error::BadUri(
            "it has an IPv6 zone (%...), which cannot be used here; give the address without it"
                .into(),
        ));
    }
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
        // `example.com.` is `example.com`, fully qualified, on either side.
        let (host, target) = (
            host.trim_end_matches('.'),
            parts.host().trim_end_matches('.'),
        );
        let same_address = matches!(
            (host.parse::<IpAddr>(), parts.ip()),
            (Ok(a), Some(b)) if a == b
        );
        port.is_none_or(|p| p == parts.port())
            && !host.is_empty()
            && (same_address
                || target == host
                // A suffix names domains: `2.3` is no suffix of 10.1.2.3.
                || (parts.ip().is_none() && target.ends_with(&format!(".{host}"))))
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
