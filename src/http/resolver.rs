//! Name lookup for ureq that never aborts the process. ureq's own resolver
//! bounds a lookup by running it on a thread spawned with
//! `std::thread::spawn`, which panics, and so aborts aws-credfile (a
//! `panic = "abort"` program) and with it a supervised program, when the
//! kernel refuses a thread: a pod's pids limit reached for a moment,
//! `RLIMIT_NPROC`, `ulimit -v`. This one spawns through `thread::Builder`
//! and, when no thread can be had, looks the name up on the calling thread
//! (the fetch's worker, which the loop does not wait on to answer a stop).
//! An IP literal, which every pinned container URL is, needs neither.
//!
//! ureq's `Resolver` is in its `unversioned` module: changes there come only
//! with a minor version, so Cargo.toml takes ureq's patch releases only.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// Looks names up as ureq's default resolver does, without its panic.
#[derive(Debug, Default)]
pub struct Lookup;

impl Resolver for Lookup {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let bad = || ureq::Error::BadUri(uri.to_string());
        let (scheme, authority) = uri.scheme().zip(uri.authority()).ok_or_else(bad)?;
        let addr = DefaultResolver::host_and_port(scheme, authority).ok_or_else(bad)?;
        let found = match (literal(&addr), loopback_port(&addr)) {
            (Some(literal), _) => vec![literal],
            (None, Some(port)) => vec![
                SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
            ],
            (None, None) if timeout.after.is_not_happening() => {
                look_up(&addr).map_err(not_found)?
            }
            (None, None) => look_up_within(addr, *timeout.after)?,
        };
        let mut resolved = self.empty();
        for addr in config.ip_family().keep_wanted(found.into_iter()) {
            if resolved.try_push(addr).is_err() {
                break;
            }
        }
        if resolved.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(resolved)
    }
}

/// `host:port` when the host is an IP address, a final dot allowed
/// (`127.0.0.1.`), which would otherwise go to the resolver as a name.
fn literal(addr: &str) -> Option<SocketAddr> {
    let (host, port) = addr.rsplit_once(':')?;
    let host = host.strip_suffix('.').unwrap_or(host);
    format!("{host}:{port}").parse().ok()
}

/// The port of `host:port` when the host is `localhost` or a name under it
/// (in any case, with or without a final dot), which is loopback and never
/// looked up (RFC 6761): `/etc/hosts` may lack it (a scratch image has
/// none), and DNS with a search domain would ask for `localhost.<domain>`,
/// a name anyone who can make one in the cluster would answer, and be sent
/// the identity token.
fn loopback_port(addr: &str) -> Option<u16> {
    let (host, port) = addr.rsplit_once(':')?;
    let host = host.strip_suffix('.').unwrap_or(host);
    crate::url::is_localhost_name(host)
        .then(|| port.parse().ok())
        .flatten()
}

fn look_up(addr: &str) -> std::io::Result<Vec<SocketAddr>> {
    Ok(addr.to_socket_addrs()?.collect())
}

/// A failed lookup, said as one: the resolver's own words ("failed to
/// lookup address information: Try again") do not say it was the lookup.
fn not_found(_: std::io::Error) -> ureq::Error {
    ureq::Error::HostNotFound
}

/// The lookup on a thread of its own, given up after `within`; on this
/// thread, unbounded but for the system resolver's own timeouts, when no
/// thread can be started.
fn look_up_within(addr: String, within: Duration) -> Result<Vec<SocketAddr>, ureq::Error> {
    let (tx, rx) = mpsc::sync_channel(1);
    let name = addr.clone();
    let spawned = std::thread::Builder::new()
        .name("lookup".into())
        .spawn(move || tx.send(look_up(&name)).ok());
    if spawned.is_err() {
        return look_up(&addr).map_err(not_found);
    }
    match rx.recv_timeout(within) {
        Ok(found) => found.map_err(not_found),
        // Whichever budget ran out, it ran out in the lookup.
        Err(RecvTimeoutError::Timeout) => Err(ureq::Error::Timeout(ureq::Timeout::Resolve)),
        Err(RecvTimeoutError::Disconnected) => Err(ureq::Error::HostNotFound),
    }
}

#[cfg(test)]
mod tests;
