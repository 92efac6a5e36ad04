//! The loopback credentials endpoint (`--serve`) as an HTTP server that
//! shares the program's one wait (see `wait`): a listener and its
//! connections are a [`Part`], answered from the same thread between
//! refreshes and while a refresh's fetch is in flight on its worker. What
//! is answered is a [`Handler`]'s business (`answer::Endpoint` for the
//! credentials); the wire format is `http1`'s.
//!
//! Each connection has a deadline and a size cap, so a silent or slow
//! client can delay no one. A new connection is read as soon as it is
//! accepted, so a well-behaved client is answered at once and hardly holds a
//! slot; at the cap, only a connection still waiting for its request is
//! ever closed to make room. Running out of descriptors pauses accepting
//! rather than spinning. One GET per connection, then close.

mod accept;
pub mod answer;
mod conn;
pub mod http1;
mod limits;
mod socket;
#[cfg(test)]
mod tests;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::Duration;

use crate::error::Error;
use crate::log::Logger;
use crate::time::Timestamp;
use crate::token;

use self::answer::{Endpoint, Hosts};
use self::conn::Conn;
use self::http1::{Answer, Request};
use self::limits::{connection_cap, fd_limit, shared_caps, AcceptFailures};
use self::socket::{absent, listen, listen_error, other_loopback};

/// `--serve`, `--serve-token-file`, `--serve-any-address`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub addr: SocketAddr,
    /// Read at start; its content is the required `Authorization` value.
    pub token_file: Option<PathBuf>,
    /// `--serve-any-address`: a non-loopback address was asked for, and
    /// clients may name any IP address in `Host` (see [`Hosts`]).
    pub any_address: bool,
    /// Without a token file, require a random token of this run (for a
    /// supervised program, which is handed it).
    pub random_token: bool,
}

/// What a server answers: the credentials endpoint, or the metrics.
pub trait Handler {
    /// The answer to a well-formed request at `now`.
    fn answer(&self, req: &Request, now: Timestamp) -> Answer;

    /// Told the status of every answer sent, malformed requests' included
    /// (for the metrics).
    fn answered(&self, _status: u16) {}
}

/// Binds the endpoint `--serve` asked for, reading the required token.
pub fn start(cfg: &Settings, log: Logger) -> Result<Server<Endpoint>, Error> {
    let token = match &cfg.token_file {
        Some(path) => {
            let token = token::read_header_token(path, "--serve-token-file")?;
            // The client sends it in a request head of at most
            // http1::MAX_REQUEST bytes; a longer one could never be answered.
            if token.expose().len() > MAX_TOKEN {
                return Err(Error::Config(format!(
                    "--serve-token-file {}: the token is longer than {MAX_TOKEN} bytes, more than a request to this endpoint may carry; use a shorter one",
                    path.display()
                )));
            }
            if token.expose().len() < MIN_TOKEN {
                return Err(Error::Config(format!(
                    "--serve-token-file {}: the token is shorter than {MIN_TOKEN} characters, which any local user can guess; use at least {MIN_TOKEN} random ones (head -c 24 /dev/urandom | base64 | tr -d '\\n')",
                    path.display()
                )));
            }
            Some(token)
        }
        None if cfg.random_token => Some(token::random_token().map_err(|e| {
            Error::Config(format!("--serve: cannot make the endpoint's token: {e}"))
        })?),
        None => None,
    };
    let tokenless = token.is_none();
    let hosts = if cfg.any_address {
        Hosts::ConnectedIp
    } else {
        Hosts::Loopback
    };
    let endpoint = Endpoint {
        token,
        hosts,
        creds: None,
        status: None,
    };
    let server = Server::bind(cfg.addr, "--serve", "serve", endpoint, log)?;
    // Said with the port bound, which `--serve 127.0.0.1:0` leaves to the
    // system.
    let addr = server.local_addr().unwrap_or(cfg.addr);
    let log = &server.sockets.log;
    // The Host rule keeps browsers out, not other local users.
    if tokenless {
        log.warn(
            "serve_without_token",
            &[
                ("addr", &addr),
                (
                    "risk",
                    &"every process that can reach it (any user here, any container of the pod) can read the credentials; give --serve-token-file",
                ),
            ],
        );
    }
    if !cfg.addr.ip().is_loopback() {
        log.warn(
            "serve_not_loopback",
            &[
                ("addr", &addr),
                ("risk", &"the credentials are reachable from the network"),
            ],
        );
    }
    if let Some(limit) = fd_limit().filter(|&l| l < limits::RESERVED_FDS + LOW_FD_CONNECTIONS) {
        log.warn(
            "descriptor_limit_low",
            &[
                ("limit", &limit),
                ("risk", &"after the descriptors kept for refreshing, too few are left for clients: under load some are closed unanswered; raise ulimit -n"),
            ],
        );
    }
    Ok(server)
}

/// Fewer connections than this at once, under the descriptor limit, is
/// warned about at start.
const LOW_FD_CONNECTIONS: u64 = 32;

/// 16 characters: the shortest `--serve-token-file` token. The endpoint
/// answers a few thousand guesses a second to any local user; a short token
/// falls within a second (two characters did), 16 random ones never.
pub const MIN_TOKEN: usize = 16;

/// 4 KiB: the longest `--serve-token-file` token; with the request line
/// and the other headers it must fit [`http1::MAX_REQUEST`].
pub const MAX_TOKEN: usize = 4 * 1024;

/// 2 seconds for a client to send its request and take the
/// answer; a slower one is cut off.
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(2);

/// 512 connections open at once, fewer under a low
/// RLIMIT_NOFILE (see `connection_cap`). A well-behaved client is answered
/// as soon as it is accepted, so only the idle and the slow add up towards
/// this; at the cap, the one that has waited longest for its request is
/// closed to make room (see `Server::make_room`), and when none can be,
/// new clients wait in the kernel's accept queue.
pub const MAX_CONNECTIONS: usize = 512;

/// An HTTP server in the one wait: its sockets, and what answers on them.
pub struct Server<H> {
    sockets: Sockets,
    handler: H,
}

/// A server's listeners (the address asked for, and its loopback sibling,
/// see [`other_loopback`]) and the connections in flight, whatever answers
/// them: one copy of the wire work for both servers, each handler reached
/// through `&dyn Handler`.
struct Sockets {
    listeners: Vec<TcpListener>,
    /// The other loopback address, missing when the server started.
    unclaimed: Option<SocketAddr>,
    conns: Vec<Conn>,
    /// At most this many in `conns`; see [`connection_cap`].
    cap: usize,
    accept_failures: AcceptFailures,
    /// Starts every log event of this server (`serve_request`, ...).
    events: &'static str,
    log: Logger,
}

impl<H: Handler> Server<H> {
    /// Binds `addr` for `handler`. `flag` names the setting in errors,
    /// `events` starts the name of every log event.
    pub fn bind(
        addr: SocketAddr,
        flag: &str,
        events: &'static str,
        handler: H,
        log: Logger,
    ) -> Result<Server<H>, Error> {
        let sockets = Sockets::bind(addr, flag, events, log)?;
        Ok(Server { sockets, handler })
    }

    /// Shares the connections the descriptor limit allows with the metrics
    /// listener (see [`shared_caps`]).
    pub fn share_connections<M: Handler>(&mut self, metrics: &mut Server<M>) {
        (self.sockets.cap, metrics.sockets.cap) = shared_caps(fd_limit());
    }

    /// See [`Sockets::claim_other_loopback`].
    pub fn claim_other_loopback(&mut self) -> Result<(), String> {
        self.sockets.claim_other_loopback()
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.sockets.listeners.first()?.local_addr().ok()
    }

    /// What answers; the refresh loop updates it.
    pub fn handler_mut(&mut self) -> &mut H {
        &mut self.handler
    }

    pub fn handler(&self) -> &H {
        &self.handler
    }
}

impl Sockets {
    fn bind(
        addr: SocketAddr,
        flag: &str,
        events: &'static str,
        log: Logger,
    ) -> Result<Sockets, Error> {
        let cannot = |e| {
            listen_error(e, |e| {
                format!(
                    "{flag} {addr}: cannot listen there: {e}; {}",
                    socket::remedy(e)
                )
            })
        };
        let other = other_loopback(addr);
        // Both loopbacks are ours, for clients that resolve localhost (see
        // `other_loopback`); not with a port of our own choosing (0), which
        // is handed out as an address.
        let (mut listeners, mut unclaimed) = match (listen(addr), other) {
            (Ok(listener), other) => (vec![listener], other.filter(|_| addr.port() != 0)),
            // That loopback is missing here (an IPv6-only one):
            // the other serves alone, as the address handed out says.
            (Err(e), Some(other)) if absent(&e) => (
                vec![listen(other).map_err(cannot)?],
                Some(addr).filter(|_| addr.port() != 0),
            ),
            (Err(e), _) => return Err(cannot(e)),
        };
        if let Some(other) = unclaimed {
            match listen(other) {
                Ok(listener) => {
                    listeners.push(listener);
                    unclaimed = None;
                }
                // No such loopback here (IPv6 disabled, say): no one else
                // can listen there either, until it appears (see
                // `claim_other_loopback`).
                Err(e) if absent(&e) => {}
                Err(e) => {
                    return Err(listen_error(e, |e| {
                        format!("{flag} {addr}: cannot also listen on {other}, where clients that resolve localhost may connect first: {e}; stop what listens there, or choose another port")
                    }))
                }
            }
        }
        Ok(Sockets {
            listeners,
            unclaimed,
            conns: Vec::new(),
            cap: connection_cap(fd_limit()),
            accept_failures: AcceptFailures::new(),
            events,
            log,
        })
    }

    /// Listens on the other loopback address too, if it was missing at
    /// start and is there now (IPv6 enabled on `lo` after the
    /// start left `[::1]:PORT` to whoever took it first). Called at every
    /// refresh, so it costs no wake-up of its own. Says why when another
    /// process has it.
    fn claim_other_loopback(&mut self) -> Result<(), String> {
        let Some(other) = self.unclaimed else {
            return Ok(());
        };
        match listen(other) {
            Ok(listener) => {
                self.listeners.push(listener);
                self.unclaimed = None;
                Ok(())
            }
            Err(e) if absent(&e) => Ok(()),
            Err(e) => Err(format!(
                "cannot also listen on {other}, where clients that resolve localhost may connect first: {e}; stop what listens there"
            )),
        }
    }

    fn event(&self, what: &str) -> String {
        event(self.events, what)
    }
}

/// A log event's name: `serve_request`, `metrics_timeout`, ...
fn event(events: &str, what: &str) -> String {
    format!("{events}_{what}")
}
