//! `--serve`: the loopback credentials endpoint for SDKs that read the
//! shared file once and never again. `GET /v1/credentials` answers the
//! container-credentials JSON from memory; the SDKs call it again before
//! expiry by themselves.
//!
//! One thread serves: the listener, every open connection and the signal
//! pipe are polled together, and each connection has a deadline and a size
//! cap, so a silent or slow client can delay no one. A new connection is
//! read as soon as it is accepted, so a well-behaved client is answered at
//! once and hardly holds a slot; at the cap, only a connection still
//! waiting for its request is ever closed to make room. Running out of
//! descriptors pauses accepting rather than spinning. (While a refresh's
//! network call is in flight, it runs on a short-lived worker so the
//! endpoint keeps answering; see `daemon`.) The HTTP/1.1 handling
//! is deliberately minimal and strict: one GET per connection, then close,
//! and only for a `Host` that names this machine (see [`Hosts`]).

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

use crate::credentials::{Credentials, Secret};
use crate::error::Error;
use crate::log::Logger;
use crate::poll::{poll, Interest};
use crate::signals::{Signals, Wake};
use crate::source::container::MAX_TOKEN_BYTES;
use crate::source::{read_token_text, TokenFileError};
use crate::time::Timestamp;

/// The path the SDKs are pointed at.
pub const CREDENTIALS_PATH: &str = "/v1/credentials";
/// Defaults to 8 KiB for the request line and headers; an SDK sends a few
/// hundred bytes.
pub const MAX_REQUEST: usize = 8 * 1024;
/// Defaults to 2 seconds for a client to send its request and take the
/// answer; a slower one is cut off.
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(2);
/// Defaults to 512 connections open at once, fewer under a low
/// RLIMIT_NOFILE (see `connection_cap`). A well-behaved client is answered
/// as soon as it is accepted, so only the idle and the slow add up towards
/// this; at the cap, the one that has waited longest for its request is
/// closed to make room (see `Server::make_room`), and when none can be,
/// new clients wait in the kernel's accept queue.
pub const MAX_CONNECTIONS: usize = 512;
/// Descriptors kept out of the connection cap for everything else the
/// daemon opens: stdio, the signal pipe, the listener, a refresh's
/// connection to STS or the agent and its worker's pipe, the credentials
/// file and its temporary file.
const RESERVED_FDS: u64 = 32;
/// At most this many connections are accepted per wake-up, so that a flood
/// of new ones cannot keep the loop from signals and from the connections
/// already open.
const ACCEPT_BATCH: usize = 64;
/// The first pause in accepting after `accept` failed for want of
/// descriptors or memory and closing an idle connection did not help; it
/// doubles with each such failure up to [`ACCEPT_PAUSE_MAX`], and is back
/// to this after a connection is accepted.
const ACCEPT_PAUSE_MIN: Duration = Duration::from_millis(50);
const ACCEPT_PAUSE_MAX: Duration = Duration::from_secs(1);
/// At most one warning per this period while accepting fails; each says how
/// many failures there were since the last.
const ACCEPT_WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// Binds the endpoint `--serve` asked for, reading the required token.
pub fn start(cfg: &crate::config::Serve, log: Logger) -> Result<Server, Error> {
    let token = match &cfg.token_file {
        None => None,
        Some(path) => {
            let invalid = |why: String| {
                Error::Config(format!("--serve-token-file {}: {why}", path.display()))
            };
            let text = read_token_text(path, MAX_TOKEN_BYTES).map_err(|e| match e {
                TokenFileError::Io(e) => invalid(format!("cannot read it: {e}")),
                TokenFileError::TooLarge => invalid("larger than 16 KiB, which no token is".into()),
                TokenFileError::NotText => invalid("cannot read it: not UTF-8 text".into()),
            })?;
            let token = Secret::new(text);
            crate::config::validate_container_token(&token).map_err(invalid)?;
            Some(token)
        }
    };
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
        Hosts::AnyIp
    } else {
        Hosts::Loopback
    };
    Server::bind(cfg.addr, token, hosts, log)
}

/// No method is longer (`OPTIONS`, `CONNECT`, with room to spare).
const MAX_METHOD: usize = 16;

/// A parsed request: only what routing needs.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// The `Host` header, trimmed; absent only in HTTP/1.0, where it is
    /// optional.
    pub host: Option<String>,
    /// The `Authorization` header; compared, never logged.
    pub authorization: Option<Secret>,
}

/// The result of looking at the bytes received so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// The headers have not ended yet.
    Incomplete,
    Request(Request),
    /// A malformed request, with the status to answer and why.
    Bad(u16, &'static str),
}

/// Parses a request head strictly: `METHOD SP target SP HTTP/1.x CRLF`,
/// header lines with a colon, an empty line. Anything else is a 4xx.
pub fn parse_request(buf: &[u8]) -> Parsed {
    // Refuse at the first byte that cannot begin a request (a TLS
    // ClientHello, binary noise) instead of waiting for a line end that
    // may never come.
    let method_len = buf.iter().position(|&b| b == b' ').unwrap_or(buf.len());
    if method_len > MAX_METHOD || !buf[..method_len].iter().all(u8::is_ascii_uppercase) {
        return Parsed::Bad(400, "not an HTTP request");
    }
    let Some(end) = find(buf, b"\r\n\r\n") else {
        if buf.len() >= MAX_REQUEST {
            return Parsed::Bad(431, "request headers too large");
        }
        // A request line without a version (HTTP/0.9) ends at the first
        // line break; refuse it then rather than wait for headers.
        if let Some(line_end) = find(buf, b"\r\n") {
            if let Err(bad) = parse_request_line(&buf[..line_end]) {
                return bad;
            }
        }
        return Parsed::Incomplete;
    };
    if end + 4 > MAX_REQUEST {
        return Parsed::Bad(431, "request headers too large");
    }
    let Ok(head) = std::str::from_utf8(&buf[..end]) else {
        return Parsed::Bad(400, "request head is not UTF-8");
    };
    let mut lines = head.split("\r\n");
    let (method, path, version) = match parse_request_line(lines.next().unwrap_or("").as_bytes()) {
        Ok(v) => v,
        Err(p) => return p,
    };
    let mut host = None;
    let mut authorization = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Parsed::Bad(400, "header line without a colon");
        };
        if name.is_empty() || name.bytes().any(|b| !b.is_ascii_graphic()) {
            return Parsed::Bad(400, "malformed header name");
        }
        if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Parsed::Bad(400, "control character in a header value");
        }
        if name.eq_ignore_ascii_case("authorization") {
            if authorization.is_some() {
                return Parsed::Bad(400, "more than one Authorization header");
            }
            authorization = Some(Secret::new(value.trim()));
        } else if name.eq_ignore_ascii_case("host") {
            // RFC 9112 section 3.2: more than one is a 400, as is none in
            // HTTP/1.1 (below).
            if host.is_some() {
                return Parsed::Bad(400, "more than one Host header");
            }
            host = Some(value.trim().to_string());
        }
    }
    if host.is_none() && version == HttpVersion::Http11 {
        return Parsed::Bad(400, "HTTP/1.1 requires a Host header");
    }
    Parsed::Request(Request {
        method,
        path,
        host,
        authorization,
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HttpVersion {
    Http10,
    Http11,
}

fn parse_request_line(line: &[u8]) -> Result<(String, String, HttpVersion), Parsed> {
    let line =
        std::str::from_utf8(line).map_err(|_| Parsed::Bad(400, "request line is not UTF-8"))?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Parsed::Bad(400, "malformed request line"));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Parsed::Bad(400, "malformed method"));
    }
    if !target.starts_with('/') || target.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err(Parsed::Bad(400, "malformed request target"));
    }
    let version = match version {
        "HTTP/1.1" => HttpVersion::Http11,
        "HTTP/1.0" => HttpVersion::Http10,
        _ => return Err(Parsed::Bad(505, "only HTTP/1.0 and HTTP/1.1 are served")),
    };
    let path = target.split(['?', '#']).next().unwrap_or(target);
    Ok((method.to_string(), path.to_string(), version))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Which `Host` values are answered. This is the defence against DNS
/// rebinding: a web page on `attacker.example` makes its own name resolve to
/// 127.0.0.1, and the browser on this machine then sends the page's
/// requests here, with `Host: attacker.example`, and lets the page read the
/// answers. A rebinding attack always uses a DNS name the attacker controls,
/// never an IP literal or `localhost`; the SDKs send the host of the URI
/// they were given, which names this endpoint as one of those.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hosts {
    /// `localhost` (any case) and loopback literals (`127.0.0.0/8`,
    /// `[::1]`), with any port or none. The default.
    Loopback,
    /// Also any other IP literal, for `--serve-any-address`: clients on
    /// other machines name the address they connect to.
    AnyIp,
}

/// Whether a request with `Host: value` is answered under `hosts`.
pub fn host_allowed(value: &str, hosts: Hosts) -> bool {
    match parse_host(value) {
        Some(Host::Name(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ip(ip)) => ip.is_loopback() || hosts == Hosts::AnyIp,
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

/// An answer: status and JSON body.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
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
    if let Some(host) = &req.host {
        if !host_allowed(host, hosts) {
            let message = match hosts {
                Hosts::Loopback => "the Host must be localhost or a loopback address",
                Hosts::AnyIp => "the Host must be localhost or an IP address",
            };
            return error_answer(403, "InvalidHost", message);
        }
    }
    if req.path != CREDENTIALS_PATH {
        return error_answer(
            404,
            "NotFound",
            "the credentials are served at /v1/credentials",
        );
    }
    if req.method != "GET" {
        return error_answer(405, "MethodNotAllowed", "only GET is served");
    }
    if let Some(required) = token {
        let given = req.authorization.as_ref().map(Secret::expose).unwrap_or("");
        if !constant_time_eq(given.as_bytes(), required.expose().as_bytes()) {
            return error_answer(401, "Unauthorized", "missing or wrong Authorization header");
        }
    }
    match creds {
        None => error_answer(
            503,
            "CredentialsNotReady",
            "no credentials obtained yet; retry shortly",
        ),
        Some(c) if c.expiration <= now => error_answer(
            503,
            "CredentialsExpired",
            "the last credentials expired and refreshing is failing; see aws-credfile's log",
        ),
        Some(c) => Answer {
            status: 200,
            body: credentials_json(c),
        },
    }
}

/// The container-credentials JSON the SDKs parse.
pub fn credentials_json(c: &Credentials) -> String {
    let mut map = serde_json::Map::new();
    map.insert("AccessKeyId".into(), c.access_key_id.clone().into());
    map.insert(
        "SecretAccessKey".into(),
        c.secret_access_key.expose().into(),
    );
    // Always present: botocore fails with a KeyError when `Token` is
    // missing, and treats an empty one as "no session token".
    let token = c.session_token.as_ref().map(Secret::expose).unwrap_or("");
    map.insert("Token".into(), token.into());
    map.insert("Expiration".into(), c.expiration.to_rfc3339().into());
    if let Some(account) = &c.account_id {
        map.insert("AccountId".into(), account.clone().into());
    }
    if let Some(arn) = &c.role_arn {
        map.insert("RoleArn".into(), arn.clone().into());
    }
    serde_json::Value::Object(map).to_string()
}

fn error_answer(status: u16, code: &str, message: &str) -> Answer {
    Answer {
        status,
        body: serde_json::json!({ "code": code, "message": message }).to_string(),
    }
}

/// Compares without stopping at the first difference, so response time
/// does not reveal how much of a guessed token was right (only whether its
/// length was).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// The bytes on the wire for an answer.
pub fn render(a: &Answer) -> Vec<u8> {
    let allow = if a.status == 405 {
        "Allow: GET\r\n"
    } else {
        ""
    };
    format!(
        "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nCache-Control: no-store\r\n{allow}Connection: close\r\n\r\n{}",
        a.status,
        reason(a.status),
        a.body.len(),
        a.body
    )
    .into_bytes()
}

/// One client connection, reading its request or writing its answer.
struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    /// Accepted plus [`CONNECTION_DEADLINE`], so also the order in which
    /// connections came.
    deadline: Instant,
    inbox: Vec<u8>,
    outbox: Vec<u8>,
    written: usize,
}

impl Conn {
    fn writing(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// Still waiting for (the rest of) its request: the only kind that is
    /// ever closed to make room.
    fn reading(&self) -> bool {
        !self.writing()
    }
}

/// How many connections may be open at once under a descriptor limit of
/// `fd_limit` (None: no limit): [`MAX_CONNECTIONS`], or fewer so that
/// [`RESERVED_FDS`] stay free for the refresh.
fn connection_cap(fd_limit: Option<u64>) -> usize {
    let Some(limit) = fd_limit else {
        return MAX_CONNECTIONS;
    };
    usize::try_from(limit.saturating_sub(RESERVED_FDS))
        .unwrap_or(MAX_CONNECTIONS)
        .clamp(1, MAX_CONNECTIONS)
}

/// This process's soft RLIMIT_NOFILE, or None when it is unlimited.
fn fd_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) writes one rlimit into the struct passed by
    // exclusive reference, which lives across the call.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (rc == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

/// `accept` failing for want of descriptors or memory: the connection it
/// could not take stays queued, so the listener stays readable, and
/// polling it again at once would spin. Accepting pauses instead, longer
/// while failures continue, and a warning goes out at most once per
/// [`ACCEPT_WARNING_INTERVAL`].
#[derive(Debug)]
struct AcceptFailures {
    /// The listener is left out of `poll` until then.
    paused_until: Option<Instant>,
    /// The pause the next failure starts.
    next_pause: Duration,
    /// Failures since the last warning.
    unreported: u64,
    last_warning: Option<Instant>,
}

impl AcceptFailures {
    fn new() -> Self {
        AcceptFailures {
            paused_until: None,
            next_pause: ACCEPT_PAUSE_MIN,
            unreported: 0,
            last_warning: None,
        }
    }

    /// Counts a failure at `now`; returns the number of failures to report
    /// when a warning is due.
    fn failed(&mut self, now: Instant) -> Option<u64> {
        self.unreported += 1;
        let due = self
            .last_warning
            .is_none_or(|at| now.duration_since(at) >= ACCEPT_WARNING_INTERVAL);
        if !due {
            return None;
        }
        self.last_warning = Some(now);
        Some(std::mem::take(&mut self.unreported))
    }

    /// Pauses accepting from `now`; returns for how long.
    fn pause(&mut self, now: Instant) -> Duration {
        let pause = self.next_pause;
        self.paused_until = Some(now + pause);
        self.next_pause = (pause * 2).min(ACCEPT_PAUSE_MAX);
        pause
    }

    /// A connection was accepted: the next pause is short again.
    fn succeeded(&mut self) {
        self.next_pause = ACCEPT_PAUSE_MIN;
    }

    /// When accepting resumes, if it is paused at `now`.
    fn paused(&self, now: Instant) -> Option<Instant> {
        self.paused_until.filter(|&until| until > now)
    }
}

/// The endpoint: a listener and the connections in flight.
pub struct Server {
    listener: TcpListener,
    conns: Vec<Conn>,
    /// At most this many in `conns`; see [`connection_cap`].
    cap: usize,
    accept_failures: AcceptFailures,
    token: Option<Secret>,
    hosts: Hosts,
    log: Logger,
}

impl Server {
    /// Binds `addr`. `token`, when set, is the `Authorization` value every
    /// request must carry; `hosts` says which `Host` values are answered.
    pub fn bind(
        addr: SocketAddr,
        token: Option<Secret>,
        hosts: Hosts,
        log: Logger,
    ) -> Result<Server, Error> {
        let listener = TcpListener::bind(addr)
            .map_err(|e| Error::Config(format!("--serve {addr}: cannot listen there: {e}")))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::Config(format!("--serve {addr}: {e}")))?;
        Ok(Server {
            listener,
            conns: Vec::new(),
            cap: connection_cap(fd_limit()),
            accept_failures: AcceptFailures::new(),
            token,
            hosts,
            log,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves clients until a signal arrives or `timeout` passes; the
    /// caller's replacement for `Signals::wait`.
    pub fn wait(
        &mut self,
        signals: &Signals,
        timeout: Duration,
        creds: Option<&Credentials>,
    ) -> Wake {
        self.wait_or(signals, None, timeout, creds)
    }

    /// As [`Server::wait`], but also returns (as `Wake::Timeout`) as soon as
    /// `extra` becomes readable.
    pub fn wait_or(
        &mut self,
        signals: &Signals,
        extra: Option<BorrowedFd<'_>>,
        timeout: Duration,
        creds: Option<&Credentials>,
    ) -> Wake {
        let deadline = signals.start_timeout(timeout);
        loop {
            if let Some(wake) = signals.pending() {
                return wake;
            }
            let now = Instant::now();
            if now >= deadline || signals.timed_out() {
                return Wake::Timeout;
            }
            self.expire(now);
            let paused_until = self.accept_failures.paused(now);
            // At the cap with no connection that could make room, new
            // clients wait in the kernel's accept queue until one finishes
            // or expires: the listener is left out rather than reported
            // ready again and again.
            let accepting = paused_until.is_none()
                && (self.conns.len() < self.cap || self.conns.iter().any(Conn::reading));
            // No timer of its own while idle: only connection deadlines and
            // a pause in accepting, which exist only while there is work.
            let until = self
                .conns
                .iter()
                .map(|c| c.deadline)
                .chain(paused_until)
                .fold(deadline, Instant::min);
            // The signal pipe, the caller's extra fd (if any), the wait's
            // timer (checked above, not by slot), the listener (if
            // accepting); then one per connection.
            let mut fds = vec![(signals.fd(), Interest::Read)];
            let extra_slot = extra.map(|fd| {
                fds.push((fd, Interest::Read));
                fds.len() - 1
            });
            fds.extend(signals.timer_fd().map(|fd| (fd, Interest::Read)));
            let listener_slot = accepting.then(|| {
                fds.push((self.listener.as_fd(), Interest::Read));
                fds.len() - 1
            });
            let first_conn = fds.len();
            for c in &self.conns {
                let interest = if c.writing() {
                    Interest::Write
                } else {
                    Interest::Read
                };
                fds.push((c.stream.as_fd(), interest));
            }
            let ready = poll(&fds, until.saturating_duration_since(now));
            drop(fds);
            if ready[0] {
                signals.drain();
            }
            // Connections first, in reverse so that swap_remove only moves
            // ones already handled, then new ones.
            for i in (0..ready.len() - first_conn).rev() {
                if ready[first_conn + i] {
                    self.service(i, creds);
                }
            }
            if listener_slot.is_some_and(|slot| ready[slot]) {
                self.accept(creds);
            }
            if extra_slot.is_some_and(|slot| ready[slot]) {
                return Wake::Timeout;
            }
        }
    }

    /// Takes new connections, answering each one whose request is already
    /// there at once, so a burst of well-behaved clients is served as it
    /// arrives without filling the connection set. Past the cap, the
    /// connection that has waited longest for its request makes room.
    fn accept(&mut self, creds: Option<&Credentials>) {
        // Whether the last failure closed a connection to free a descriptor.
        let mut freed = false;
        for _ in 0..ACCEPT_BATCH {
            if self.conns.len() >= self.cap && !self.conns.iter().any(Conn::reading) {
                // No one could make room: the rest wait in the kernel's
                // accept queue.
                return;
            }
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    freed = false;
                    self.accept_failures.succeeded();
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    self.conns.push(Conn {
                        stream,
                        peer,
                        deadline: Instant::now() + CONNECTION_DEADLINE,
                        inbox: Vec::new(),
                        outbox: Vec::new(),
                        written: 0,
                    });
                    // A client sends its request as soon as it is
                    // connected, so it is usually there already.
                    self.service(self.conns.len() - 1, creds);
                    if self.conns.len() > self.cap {
                        self.make_room(creds);
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
                    freed = !freed && self.make_room(creds);
                    let pause = if freed {
                        Duration::ZERO
                    } else {
                        self.accept_failures.pause(now)
                    };
                    if let Some(failures) = report {
                        self.log.warn(
                            "serve_accept_failed",
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
    /// without sending a whole request: a real SDK request is complete in
    /// milliseconds, so that one is idle or slow. It is read once more
    /// first, and answered instead if its request has arrived meanwhile
    /// (then the next one is considered, unless answering freed the slot). A
    /// connection writing its answer is never closed. False when no
    /// connection could go.
    fn make_room(&mut self, creds: Option<&Credentials>) -> bool {
        let open = self.conns.len();
        loop {
            let Some(oldest) = (0..self.conns.len())
                .filter(|&i| self.conns[i].reading())
                .min_by_key(|&i| self.conns[i].deadline)
            else {
                return false;
            };
            self.service(oldest, creds);
            if self.conns.len() < open {
                return true;
            }
            if self.conns[oldest].reading() {
                let gone = self.conns.swap_remove(oldest);
                self.log.debug("serve_evicted", &[("peer", &gone.peer)]);
                return true;
            }
        }
    }

    /// Drops connections past their deadline (a `408` is not worth a write
    /// to a client that is not reading).
    fn expire(&mut self, now: Instant) {
        let log = self.log;
        self.conns.retain(|c| {
            let alive = c.deadline > now;
            if !alive {
                log.debug("serve_timeout", &[("peer", &c.peer)]);
            }
            alive
        });
    }

    /// Moves connection `i` along (reads or writes what it can), and
    /// removes it when it is finished.
    fn service(&mut self, i: usize, creds: Option<&Credentials>) {
        let done = if self.conns[i].writing() {
            self.write_some(i)
        } else {
            self.read_some(i, creds)
        };
        if done {
            self.conns.swap_remove(i);
        }
    }

    /// Reads what is there; returns true when the connection is finished.
    fn read_some(&mut self, i: usize, creds: Option<&Credentials>) -> bool {
        let conn = &mut self.conns[i];
        let mut buf = [0u8; 2048];
        // Until the request is complete or the socket is empty, so that a
        // request is never taken for incomplete while its end sits unread.
        let answer = loop {
            let room = MAX_REQUEST + 1 - conn.inbox.len().min(MAX_REQUEST);
            let want = room.min(buf.len());
            match conn.stream.read(&mut buf[..want]) {
                Ok(0) => return true,
                Ok(n) => conn.inbox.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return true,
            }
            match parse_request(&conn.inbox) {
                Parsed::Incomplete => {}
                Parsed::Bad(status, why) => {
                    self.log.debug(
                        "serve_bad_request",
                        &[("peer", &conn.peer), ("status", &status), ("why", &why)],
                    );
                    break error_answer(status, "BadRequest", why);
                }
                Parsed::Request(req) => {
                    let a = answer(
                        &req,
                        creds,
                        self.token.as_ref(),
                        self.hosts,
                        Timestamp::now(),
                    );
                    // A refused Host is worth its own event: it is what a
                    // rebinding attempt looks like. The Host is no secret.
                    let event = if a.status == 403 {
                        "serve_host_refused"
                    } else {
                        "serve_request"
                    };
                    let host = req.host.as_deref().unwrap_or("");
                    self.log.debug(
                        event,
                        &[
                            ("peer", &conn.peer),
                            ("host", &host),
                            ("method", &req.method),
                            ("path", &req.path),
                            ("status", &a.status),
                        ],
                    );
                    break a;
                }
            }
        };
        conn.outbox = render(&answer);
        conn.inbox = Vec::new();
        self.write_some(i)
    }

    /// Writes what the socket takes; returns true when done or broken.
    fn write_some(&mut self, i: usize) -> bool {
        let conn = &mut self.conns[i];
        while conn.written < conn.outbox.len() {
            match conn.stream.write(&conn.outbox[conn.written..]) {
                Ok(0) => return true,
                Ok(n) => conn.written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
        // Half-close so the client sees the end before the reset a close
        // with unread input could cause.
        let _ = conn.stream.shutdown(std::net::Shutdown::Write);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &str, auth: Option<&str>) -> Request {
        Request {
            method: method.into(),
            path: path.into(),
            host: Some("127.0.0.1:9911".into()),
            authorization: auth.map(Secret::new),
        }
    }

    fn with_host(host: Option<&str>) -> Request {
        Request {
            host: host.map(str::to_string),
            ..req("GET", "/v1/credentials", None)
        }
    }

    fn creds() -> Credentials {
        Credentials {
            access_key_id: "ASIASERVE".into(),
            secret_access_key: Secret::new("serve-secret"),
            session_token: Some(Secret::new("serve-token")),
            expiration: Timestamp::from_unix(2_000_000_000),
            account_id: Some("123456789012".into()),
            role_arn: Some("arn:aws:sts::123456789012:assumed-role/r/s".into()),
        }
    }

    #[test]
    fn parses_sdk_requests() {
        let r = b"GET /v1/credentials HTTP/1.1\r\nHost: 127.0.0.1:9911\r\nAuthorization: tok\r\nUser-Agent: aws-sdk-go/1.44\r\n\r\n";
        assert_eq!(
            parse_request(r),
            Parsed::Request(req("GET", "/v1/credentials", Some("tok")))
        );
        assert_eq!(parse_request(b"GE"), Parsed::Incomplete);
        assert_eq!(
            parse_request(b"\x16\x03\x01\x02\x00"),
            Parsed::Bad(400, "not an HTTP request")
        );
        let q = b"GET /v1/credentials?x=1 HTTP/1.0\r\n\r\n";
        assert_eq!(parse_request(q), Parsed::Request(with_host(None)));
        let h = b"GET /v1/credentials HTTP/1.1\r\nhOST:  [::1]:9911 \r\n\r\n";
        assert_eq!(
            parse_request(h),
            Parsed::Request(with_host(Some("[::1]:9911")))
        );
        assert_eq!(
            parse_request(b"GET /v1/credentials HTTP/1.1\r\nHost: x\r\n"),
            Parsed::Incomplete
        );
        assert_eq!(parse_request(b""), Parsed::Incomplete);
    }

    #[test]
    fn refuses_malformed_requests() {
        let cases: [&[u8]; 13] = [
            b"GET /v1/credentials\r\n",
            b"GET /v1/credentials HTTP/2.0\r\n\r\n",
            b"get /v1/credentials HTTP/1.1\r\n\r\n",
            b"GET v1/credentials HTTP/1.1\r\n\r\n",
            b"GET  /v1/credentials HTTP/1.1\r\n\r\n",
            b"GET /v1/credentials HTTP/1.1\r\nNoColon\r\n\r\n",
            b"GET /v1/credentials HTTP/1.1\r\nA: 1\r\nAuthorization: a\r\nauthorization: b\r\n\r\n",
            b"\r\n\r\n",
            b"\xff\xfe / HTTP/1.1\r\n\r\n",
            b"GET /v1/credentials HTTP/1.1\r\nX: a\x01b\r\n\r\n",
            b"GET /v1/credentials HTTP/1.1\r\nBad Name: x\r\n\r\n",
            b"GET /v1/credentials HTTP/1.1\r\nUser-Agent: no-host\r\n\r\n",
            b"GET /v1/credentials HTTP/1.1\r\nHost: localhost\r\nHost: evil\r\n\r\n",
        ];
        for c in cases {
            match parse_request(c) {
                Parsed::Bad(status, _) => assert!((400..506).contains(&status), "{c:?}"),
                other => panic!("{c:?} gave {other:?}"),
            }
        }
        let huge = [
            b"GET /v1/credentials HTTP/1.1\r\nX: ".as_slice(),
            &vec![b'a'; MAX_REQUEST],
        ]
        .concat();
        assert_eq!(
            parse_request(&huge),
            Parsed::Bad(431, "request headers too large")
        );
    }

    #[test]
    fn routes_and_authorizes() {
        let now = Timestamp::from_unix(1_000);
        let c = creds();
        let ok = answer(
            &req("GET", "/v1/credentials", None),
            Some(&c),
            None,
            Hosts::Loopback,
            now,
        );
        assert_eq!(ok.status, 200);
        let v: serde_json::Value = serde_json::from_str(&ok.body).unwrap();
        assert_eq!(v["AccessKeyId"], "ASIASERVE");
        assert_eq!(v["SecretAccessKey"], "serve-secret");
        assert_eq!(v["Token"], "serve-token");
        assert_eq!(v["Expiration"], "2033-05-18T03:33:20Z");
        assert_eq!(v["AccountId"], "123456789012");
        assert_eq!(
            answer(&req("GET", "/", None), Some(&c), None, Hosts::Loopback, now).status,
            404
        );
        assert_eq!(
            answer(
                &req("POST", "/v1/credentials", None),
                Some(&c),
                None,
                Hosts::Loopback,
                now
            )
            .status,
            405
        );
        assert_eq!(
            answer(
                &req("GET", "/v1/credentials", None),
                None,
                None,
                Hosts::Loopback,
                now
            )
            .status,
            503
        );
        let late = Timestamp::from_unix(2_000_000_000);
        assert_eq!(
            answer(
                &req("GET", "/v1/credentials", None),
                Some(&c),
                None,
                Hosts::Loopback,
                late
            )
            .status,
            503
        );
        let tok = Secret::new("sekrit");
        assert_eq!(
            answer(
                &req("GET", "/v1/credentials", None),
                Some(&c),
                Some(&tok),
                Hosts::Loopback,
                now
            )
            .status,
            401
        );
        assert_eq!(
            answer(
                &req("GET", "/v1/credentials", Some("sekri")),
                Some(&c),
                Some(&tok),
                Hosts::Loopback,
                now
            )
            .status,
            401
        );
        assert_eq!(
            answer(
                &req("GET", "/v1/credentials", Some("sekrit")),
                Some(&c),
                Some(&tok),
                Hosts::Loopback,
                now
            )
            .status,
            200
        );
        let denied = answer(
            &req("GET", "/v1/credentials", Some("x")),
            Some(&c),
            Some(&tok),
            Hosts::Loopback,
            now,
        );
        assert!(!denied.body.contains("serve-secret") && !denied.body.contains("sekrit"));
    }

    #[test]
    fn answers_only_hosts_that_name_this_machine() {
        let sdk_hosts = [
            "127.0.0.1:9911",
            "127.0.0.1",
            "127.8.9.10:80",
            "localhost:9911",
            "localhost",
            "LocalHost:9911",
            "[::1]:9911",
            "[::1]",
            "[0:0:0:0:0:0:0:1]:9911",
        ];
        for host in sdk_hosts {
            for hosts in [Hosts::Loopback, Hosts::AnyIp] {
                assert!(host_allowed(host, hosts), "{host} under {hosts:?}");
            }
        }
        // What DNS rebinding sends (a name the attacker controls), names
        // made to look local, and what is not a host at all.
        let never = [
            "attacker.example:9911",
            "attacker.example",
            "localhost.attacker.example",
            "127.0.0.1.nip.io:9911",
            "localhost.",
            "localhost:9911:1",
            "127.0.0.1:99a",
            "127.0.0.1:123456",
            "127.1",
            "::1",
            "[::1",
            "[::1]9911",
            "[::1]:x",
            "[localhost]:9911",
            "",
            ":9911",
        ];
        for host in never {
            for hosts in [Hosts::Loopback, Hosts::AnyIp] {
                assert!(!host_allowed(host, hosts), "{host:?} under {hosts:?}");
            }
        }
        // Other IP literals only with --serve-any-address.
        for host in [
            "10.1.2.3:9911",
            "169.254.170.2",
            "[fd00:ec2::23]:80",
            "[::2]",
            "0.0.0.0",
        ] {
            assert!(!host_allowed(host, Hosts::Loopback), "{host}");
            assert!(host_allowed(host, Hosts::AnyIp), "{host}");
        }
    }

    #[test]
    fn a_refused_host_gets_403_before_anything_else() {
        let now = Timestamp::from_unix(1_000);
        let c = creds();
        let tok = Secret::new("sekrit");
        let evil = Request {
            method: "POST".into(),
            path: "/nowhere".into(),
            ..with_host(Some("attacker.example:9911"))
        };
        let refused = answer(&evil, Some(&c), Some(&tok), Hosts::Loopback, now);
        assert_eq!(refused.status, 403);
        let v: serde_json::Value = serde_json::from_str(&refused.body).unwrap();
        assert_eq!(v["code"], "InvalidHost");
        assert!(!refused.body.contains("serve-secret") && !refused.body.contains("ASIA"));
        assert_eq!(
            answer(
                &with_host(Some("10.0.0.5")),
                Some(&c),
                None,
                Hosts::Loopback,
                now
            )
            .status,
            403
        );
        assert_eq!(
            answer(
                &with_host(Some("10.0.0.5")),
                Some(&c),
                None,
                Hosts::AnyIp,
                now
            )
            .status,
            200
        );
        // HTTP/1.0 may leave Host out (no browser does).
        assert_eq!(
            answer(&with_host(None), Some(&c), None, Hosts::Loopback, now).status,
            200
        );
        assert!(render(&refused).starts_with(b"HTTP/1.1 403 Forbidden\r\n"));
    }

    #[test]
    fn the_connection_cap_leaves_descriptors_for_the_rest() {
        assert_eq!(connection_cap(None), MAX_CONNECTIONS);
        assert_eq!(connection_cap(Some(1 << 20)), MAX_CONNECTIONS);
        assert_eq!(connection_cap(Some(1024)), MAX_CONNECTIONS);
        assert_eq!(connection_cap(Some(128)), 128 - RESERVED_FDS as usize);
        assert_eq!(connection_cap(Some(RESERVED_FDS)), 1);
        assert_eq!(connection_cap(Some(0)), 1);
    }

    #[test]
    fn accept_failures_pause_longer_and_longer_and_warn_once_per_interval() {
        let ms = Duration::from_millis;
        let t0 = Instant::now();
        let mut f = AcceptFailures::new();
        assert_eq!(f.paused(t0), None, "no pause before a failure");
        assert_eq!(f.failed(t0), Some(1), "the first one is reported");
        assert_eq!(f.pause(t0), ms(50));
        assert_eq!(f.paused(t0), Some(t0 + ms(50)));
        assert_eq!(f.paused(t0 + ms(50)), None, "the pause ends by itself");
        let mut pauses = Vec::new();
        for i in 1..=6 {
            let at = t0 + Duration::from_secs(i);
            assert_eq!(f.failed(at), None, "within 10 s of the last warning");
            pauses.push(f.pause(at).as_millis());
        }
        assert_eq!(pauses, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(
            f.failed(t0 + ACCEPT_WARNING_INTERVAL),
            Some(7),
            "the next warning counts every failure since the last"
        );
        f.succeeded();
        assert_eq!(f.pause(t0 + Duration::from_secs(11)), ms(50));
    }

    /// Connects to `server` and waits until the connection is queued.
    fn connect(server: &Server) -> TcpStream {
        let addr = server.local_addr().expect("bound");
        let client = TcpStream::connect(addr).expect("connect");
        assert!(readable(server.listener.as_fd()), "never queued");
        client
    }

    fn readable(fd: BorrowedFd<'_>) -> bool {
        poll(&[(fd, Interest::Read)], Duration::from_secs(10))[0]
    }

    /// What a client received before the server closed the connection.
    fn received(mut client: TcpStream) -> String {
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("set a timeout");
        let mut got = Vec::new();
        match client.read_to_end(&mut got) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Err(e) => panic!("the server never closed the connection: {e}"),
        }
        String::from_utf8_lossy(&got).into_owned()
    }

    #[test]
    fn past_the_cap_a_complete_request_is_answered_and_the_oldest_idle_one_goes() {
        let c = creds();
        let quiet = Logger::new(crate::log::Format::Text, crate::log::Level::Error);
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut server = Server::bind(loopback, None, Hosts::Loopback, quiet).expect("bind");
        server.cap = 2;
        let request = b"GET /v1/credentials HTTP/1.1\r\nHost: localhost\r\n\r\n";

        // Two idle connections fill the set; no one is waiting, so no one
        // is closed.
        let mut first = connect(&server);
        server.accept(Some(&c));
        let second = connect(&server);
        server.accept(Some(&c));
        assert_eq!(server.conns.len(), 2);

        // The oldest has sent its request by the time a third client needs
        // its slot: it is answered, not closed.
        first.write_all(request).expect("send");
        assert!(readable(server.conns[0].stream.as_fd()));
        let third = connect(&server);
        server.accept(Some(&c));
        assert!(received(first).starts_with("HTTP/1.1 200 OK\r\n"));
        assert_eq!(server.conns.len(), 2, "the second and third stay");

        // A fourth, with everyone else idle: the oldest idle one goes.
        let fourth = connect(&server);
        server.accept(Some(&c));
        assert_eq!(
            received(second),
            "",
            "the oldest idle connection was closed"
        );
        assert_eq!(server.conns.len(), 2, "the third and fourth stay");
        drop((third, fourth));
    }

    #[test]
    fn renders_http() {
        let wire =
            String::from_utf8(render(&error_answer(405, "MethodNotAllowed", "only GET"))).unwrap();
        assert!(wire.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
        assert!(wire.contains("Allow: GET\r\n"));
        assert!(wire.contains("Connection: close\r\n"));
        let body = wire.split("\r\n\r\n").nth(1).unwrap();
        assert!(wire.contains(&format!("Content-Length: {}\r\n", body.len())));
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }
}
