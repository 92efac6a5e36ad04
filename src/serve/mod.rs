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

pub mod answer;
mod conn;
pub mod http1;
mod limits;
#[cfg(test)]
mod tests;

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::log::Logger;
use crate::poll::Interest;
use crate::time::Timestamp;
use crate::token;
use crate::wait::{Fds, Part, Wake};

use self::answer::{Endpoint, Hosts};
use self::conn::{silent_for, Conn};
use self::http1::{Answer, Request};
use self::limits::{connection_cap, fd_limit, shared_caps, AcceptFailures};

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
            let token =
                token::read_header_token(path, "--serve-token-file").map_err(Error::Config)?;
            // The client sends it in a request head of at most
            // http1::MAX_REQUEST bytes; a longer one could never be answered.
            if token.expose().len() > MAX_TOKEN {
                return Err(Error::Config(format!(
                    "--serve-token-file {}: the token is longer than {MAX_TOKEN} bytes, more than a request to this endpoint may carry; use a shorter one",
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
    // Round 15: the Host rule keeps browsers out, not other local users.
    if token.is_none() {
        log.warn(
            "serve_without_token",
            &[
                ("addr", &cfg.addr),
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
                ("addr", &cfg.addr),
                ("risk", &"the credentials are reachable from the network"),
            ],
        );
    }
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
    Server::bind(cfg.addr, "--serve", "serve", endpoint, log)
}

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

/// At most this many connections are accepted per wake-up, so that a flood
/// of new ones cannot keep the loop from signals and from the connections
/// already open.
const ACCEPT_BATCH: usize = 64;

/// An HTTP server in the one wait: its listeners (the address asked for,
/// and its loopback sibling, see [`loopback_sibling`]) and the connections
/// in flight.
pub struct Server<H> {
    listeners: Vec<TcpListener>,
    /// The other loopback address, missing when the server started.
    unclaimed: Option<SocketAddr>,
    conns: Vec<Conn>,
    /// At most this many in `conns`; see [`connection_cap`].
    cap: usize,
    accept_failures: AcceptFailures,
    handler: H,
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
        let cannot = |e| listen_error(e, |e| format!("{flag} {addr}: cannot listen there: {e}"));
        let other = other_loopback(addr);
        // Both loopbacks are ours, for clients that resolve localhost (see
        // `other_loopback`); not with a port of our own choosing (0), which
        // is handed out as an address.
        let (mut listeners, mut unclaimed) = match (listen(addr), other) {
            (Ok(listener), other) => (vec![listener], other.filter(|_| addr.port() != 0)),
            // That loopback is missing here (an IPv6-only one, round 15):
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
        Ok(Server {
            listeners,
            unclaimed,
            conns: Vec::new(),
            cap: connection_cap(fd_limit()),
            accept_failures: AcceptFailures::new(),
            handler,
            events,
            log,
        })
    }

    /// Shares the connections the descriptor limit allows with the metrics
    /// listener (see [`shared_caps`]).
    pub fn share_connections<M: Handler>(&mut self, metrics: &mut Server<M>) {
        (self.cap, metrics.cap) = shared_caps(fd_limit());
    }

    /// Listens on the other loopback address too, if it was missing at
    /// start and is there now (round 16: IPv6 enabled on `lo` after the
    /// start left `[::1]:PORT` to whoever took it first). Called at every
    /// refresh, so it costs no wake-up of its own. Says why when another
    /// process has it.
    pub fn claim_other_loopback(&mut self) -> Result<(), String> {
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

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listeners.first()?.local_addr().ok()
    }

    /// What answers; the refresh loop updates it.
    pub fn handler_mut(&mut self) -> &mut H {
        &mut self.handler
    }

    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// Whether new connections are taken now: not while accepting is paused,
    /// and not at the cap with no connection that could make room (new
    /// clients then wait in the kernel's accept queue until one finishes or
    /// expires, rather than the listener being reported ready again and
    /// again).
    fn accepting(&self, now: Instant) -> bool {
        self.accept_failures.paused(now).is_none() && self.has_room(now)
    }

    /// Below the cap, or at it with an idle connection that can go.
    fn has_room(&self, now: Instant) -> bool {
        self.conns.len() < self.cap || self.conns.iter().any(|c| c.idle(now))
    }

    fn event(&self, what: &str) -> String {
        event(self.events, what)
    }

    /// Takes new connections, answering each one whose request is already
    /// there at once, so a burst of well-behaved clients is served as it
    /// arrives without filling the connection set. Past the cap, the
    /// connection that has waited longest for its request makes room.
    fn accept(&mut self, listener: usize) {
        // Whether the last failure closed a connection to free a descriptor.
        let mut freed = false;
        for _ in 0..ACCEPT_BATCH {
            if !self.has_room(Instant::now()) {
                // No one could make room: the rest wait in the kernel's
                // accept queue.
                return;
            }
            match self.listeners[listener].accept() {
                Ok((stream, peer)) => {
                    freed = false;
                    self.accept_failures.succeeded();
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    let now = Instant::now();
                    self.conns.push(Conn {
                        stream,
                        peer,
                        deadline: now + CONNECTION_DEADLINE,
                        connected: now,
                        inbox: Vec::new(),
                        outbox: Vec::new(),
                        written: 0,
                    });
                    // A client sends its request as soon as it is
                    // connected, so it is usually there already.
                    let last = self.conns.len() - 1;
                    self.service(last);
                    // Still waiting for it: how long it has, counting its
                    // silence in the accept queue.
                    if let Some(conn) = self.conns.get_mut(last).filter(|c| c.reading()) {
                        if let Some(silent) = silent_for(&conn.stream) {
                            conn.connected = now.checked_sub(silent).unwrap_or(now);
                        }
                    }
                    if self.conns.len() > self.cap {
                        self.make_room();
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                // A signal, or a client that gave up while queued: go on.
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::Interrupted | ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) => {
                    // EMFILE, ENFILE, ENOBUFS, ENOMEM. Closing an idle
                    // connection frees a descriptor, so the queued client
                    // can be taken at once; when there is none to close, or
                    // that did not help (memory, the system's file table),
                    // accepting pauses.
                    let now = Instant::now();
                    let report = self.accept_failures.failed(now);
                    freed = !freed && self.make_room();
                    let pause = if freed {
                        Duration::ZERO
                    } else {
                        self.accept_failures.pause(now)
                    };
                    if let Some(failures) = report {
                        self.log.warn(
                            &self.event("accept_failed"),
                            &[
                                ("error", &e),
                                ("failures", &failures),
                                ("accepting_again_in", &format!("{}ms", pause.as_millis())),
                            ],
                        );
                    }
                    if !freed {
                        return;
                    }
                }
            }
        }
    }

    /// Frees a slot by closing the connection that has waited longest
    /// without sending a whole request, once it is idle (see
    /// [`conn::IDLE_AFTER`]): a real SDK request is complete in milliseconds, so
    /// that one is idle or slow. It is read once more
    /// first, and answered instead if its request has arrived meanwhile
    /// (then the next one is considered, unless answering freed the slot). A
    /// connection writing its answer is never closed. False when no
    /// connection could go.
    fn make_room(&mut self) -> bool {
        let open = self.conns.len();
        let now = Instant::now();
        loop {
            let Some(oldest) = (0..self.conns.len())
                .filter(|&i| self.conns[i].idle(now))
                .min_by_key(|&i| self.conns[i].connected)
            else {
                return false;
            };
            self.service(oldest);
            if self.conns.len() < open {
                return true;
            }
            if self.conns[oldest].reading() {
                let gone = self.conns.swap_remove(oldest);
                self.log
                    .debug(&self.event("evicted"), &[("peer", &gone.peer)]);
                return true;
            }
        }
    }

    /// Drops connections past their deadline (a `408` is not worth a write
    /// to a client that is not reading).
    fn expire(&mut self, now: Instant) {
        let (log, event) = (self.log, self.event("timeout"));
        self.conns.retain(|c| {
            let alive = c.deadline > now;
            if !alive {
                log.debug(&event, &[("peer", &c.peer)]);
            }
            alive
        });
    }
}

/// A listening socket at `addr`, not blocking, with an accept queue of
/// [`BACKLOG`].
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use std::os::fd::AsRawFd;
    let listener = TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    // SAFETY: listen(2) on the socket just bound and listening, to size
    // its queue again; it takes no pointers.
    #[allow(unsafe_code)]
    let _ = unsafe { libc::listen(listener.as_raw_fd(), BACKLOG) };
    Ok(listener)
}

/// 1024 connections may wait to be accepted (the kernel caps this at
/// `net.core.somaxconn`, 4096 by default), not the 128 the standard library
/// asks for: when the queue is full, a client's SYN is dropped and it
/// tries again only a second later, a kubelet probe's whole timeout
/// (round 14: a flood of idle sockets kept 128 full). Sockets that wait
/// there silently are closed as soon as they are taken.
const BACKLOG: libc::c_int = 1024;

/// That address does not exist here: a loopback the machine lacks.
fn absent(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EADDRNOTAVAIL | libc::EAFNOSUPPORT)
    )
}

/// Out of descriptors is this process's limit, not the address's fault
/// (round 13: exit 2, blaming a --serve never given); anything else is the
/// address's, told by `describe`.
fn listen_error(e: std::io::Error, describe: impl FnOnce(&std::io::Error) -> String) -> Error {
    if crate::error::is_out_of_resources(&e) {
        return Error::OutOfResources {
            doing: "open the listening socket",
            source: e,
        };
    }
    Error::Config(describe(&e))
}

/// The other loopback address on the same port, for `127.0.0.1:PORT` and
/// `[::1]:PORT`: clients given `localhost` resolve it to both, most SDKs
/// trying `::1` first, so whoever listened on the other one would get
/// their requests, tokens and all (round 14: any local user could).
fn other_loopback(addr: SocketAddr) -> Option<SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr};
    let ip: std::net::IpAddr = match addr.ip() {
        ip if ip == Ipv4Addr::LOCALHOST => Ipv6Addr::LOCALHOST.into(),
        ip if ip == Ipv6Addr::LOCALHOST => Ipv4Addr::LOCALHOST.into(),
        _ => return None,
    };
    Some(SocketAddr::new(ip, addr.port()))
}

/// A log event's name: `serve_request`, `metrics_timeout`, ...
fn event(events: &str, what: &str) -> String {
    format!("{events}_{what}")
}

impl<H: Handler> Part for Server<H> {
    /// Each connection (for reading its request or writing its answer),
    /// then the listener while accepting; until the nearest connection
    /// deadline or the end of a pause in accepting. No timer of its own
    /// while idle: both exist only while there is work.
    fn watch<'a>(&'a self, fds: &mut Fds<'a>) -> Option<Instant> {
        let now = Instant::now();
        for c in &self.conns {
            let interest = if c.writing() {
                Interest::Write
            } else {
                Interest::Read
            };
            fds.push((c.stream.as_fd(), interest));
        }
        if self.accepting(now) {
            for listener in &self.listeners {
                fds.push((listener.as_fd(), Interest::Read));
            }
        }
        // At the cap, also when the oldest waiting connection turns idle
        // and can make room for a client in the accept queue.
        let turns_idle = (self.conns.len() >= self.cap)
            .then(|| {
                self.conns
                    .iter()
                    .filter(|c| c.reading())
                    .map(Conn::idle_from)
                    // Already idle: the listener is watched; no timer.
                    .filter(|at| *at > now)
                    .min()
            })
            .flatten();
        self.conns
            .iter()
            .map(|c| c.deadline)
            .chain(self.accept_failures.paused(now))
            .chain(turns_idle)
            .min()
    }

    /// Serves what is ready (connections first, in reverse so that
    /// swap_remove only moves ones already handled, then new ones) and
    /// drops connections past their deadline. Never ends the wait.
    fn ready(&mut self, ready: &[bool], now: Instant) -> Option<Wake> {
        // `watch` added one flag per connection, then the listeners' if it
        // was accepting; nothing changed the connections since.
        let open = self.conns.len();
        for i in (0..open).rev() {
            if ready[i] {
                self.service(i);
            }
        }
        for listener in 0..self.listeners.len() {
            if ready.get(open + listener).copied().unwrap_or(false) {
                self.accept(listener);
            }
        }
        self.expire(now);
        None
    }
}
