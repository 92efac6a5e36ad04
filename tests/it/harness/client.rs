//! A hand-written HTTP client for the binary's `--serve` endpoint: well
//! formed GETs for the happy paths, and raw bytes for everything an SDK
//! would never send; a free loopback port to serve on; and idle sockets
//! held against a listener.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How long one exchange may take before the client gives up: a stalled
/// server fails the test instead of hanging it.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// An answer as it came off the wire.
#[derive(Clone, Debug)]
pub struct Response {
    /// None when the connection closed before a status line.
    pub status: Option<u16>,
    /// The header lines, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// From the first byte sent to the end of the answer.
    pub elapsed: Duration,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; fails the test when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("the body is not JSON ({e}):\n{self:?}"))
    }

    /// A string field of the JSON body.
    pub fn field(&self, name: &str) -> Option<String> {
        self.json()
            .get(name)
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    }
}

/// A free port on 127.0.0.1: bound, noted, released. Another process may
/// take it meanwhile; callers retry once when the bind fails.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// This machine's own non-loopback address (the one a route out would
/// use; a connected UDP socket sends nothing), for tests that listen and
/// connect there, never leaving the machine. `None` without one.
pub fn non_loopback_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("198.51.100.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// Sends `request` as is, then reads the answer to the end of the
/// connection (the endpoint closes after one answer).
pub fn exchange(addr: SocketAddr, request: &[u8]) -> io::Result<Response> {
    exchange_within(addr, request, EXCHANGE_TIMEOUT)
}

pub fn exchange_within(
    addr: SocketAddr,
    request: &[u8],
    timeout: Duration,
) -> io::Result<Response> {
    let started = Instant::now();
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    // The server may answer (and close) before it has read everything, as
    // it does for oversized headers; a failed write is not the answer.
    let _ = stream.write_all(request);
    let raw = read_to_end(&mut stream)?;
    Ok(parse_response(&raw, started.elapsed()))
}

/// Reads until EOF; a reset after some bytes counts as the end, since the
/// server may close with unread input.
fn read_to_end(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(raw),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset && !raw.is_empty() => {
                return Ok(raw)
            }
            Err(e) => return Err(e),
        }
    }
}

/// A GET as an SDK sends it, with extra headers.
pub fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> io::Result<Response> {
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: itest\r\nAccept: application/json\r\n"
    );
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str("\r\n");
    exchange(addr, req.as_bytes())
}

/// Splits an answer into status, headers and body; a status of None if it
/// does not start with a status line.
pub fn parse_response(raw: &[u8], elapsed: Duration) -> Response {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|line| {
        let mut parts = line.split(' ');
        match (parts.next(), parts.next()) {
            (Some(v), Some(code)) if v.starts_with("HTTP/") => code.parse().ok(),
            _ => None,
        }
    });
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_string(),
        elapsed,
    }
}

/// Keeps `count` idle connections to `addr` open until `stop`, replacing
/// each one the server closes; counts every connection made in `opened`.
pub fn hold_idle_sockets(addr: SocketAddr, count: usize, stop: &AtomicBool, opened: &AtomicUsize) {
    let mut held: Vec<Option<TcpStream>> = (0..count).map(|_| None).collect();
    while !stop.load(Ordering::SeqCst) {
        for slot in &mut held {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let open = slot.as_mut().is_some_and(
                |s| matches!(s.read(&mut [0u8; 1]), Err(e) if e.kind() == ErrorKind::WouldBlock),
            );
            if !open {
                *slot = TcpStream::connect_timeout(&addr, Duration::from_millis(500))
                    .ok()
                    .filter(|s| s.set_nonblocking(true).is_ok());
                if slot.is_some() {
                    opened.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// What [`gets_under_idle_flood`] saw.
pub struct FloodRun {
    /// Whether the flood replaced its sockets once (it got going).
    pub pushed: bool,
    /// Idle connections opened in all.
    pub opened: usize,
    /// The GETs not answered 200 in time, each said in a line.
    pub failed: Vec<String>,
    /// The slowest 200.
    pub slowest: Duration,
}

impl FloodRun {
    /// Says what happened, then fails unless the flood got going and every
    /// GET was answered; `daemon` describes the server for the failure.
    pub fn assert_all_answered(&self, what: &str, daemon: impl FnOnce() -> String) {
        eprintln!(
            "{what}: idle sockets held ({} opened in all): {} GETs failed, slowest 200 {:?}",
            self.opened,
            self.failed.len(),
            self.slowest
        );
        assert!(
            self.pushed,
            "{what}: the flood never got going: {} sockets opened",
            self.opened
        );
        assert!(
            self.failed.is_empty(),
            "{what}: GETs failed while idle sockets were held:\n{}\n{}",
            self.failed.join("\n"),
            daemon()
        );
    }
}

/// Holds `threads` × `per_thread` idle connections against `addr` (see
/// [`hold_idle_sockets`]) and, once the flood has replaced them all once
/// (or `ready_within` passed), sends `count` GETs of `path`, 20 ms apart,
/// each given `timeout`.
pub fn gets_under_idle_flood(
    addr: SocketAddr,
    path: &str,
    (threads, per_thread): (usize, usize),
    count: usize,
    timeout: Duration,
    ready_within: Duration,
) -> FloodRun {
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let opened = std::sync::Arc::new(AtomicUsize::new(0));
    let flood: Vec<_> = (0..threads)
        .map(|_| {
            let (stop, opened) = (std::sync::Arc::clone(&stop), std::sync::Arc::clone(&opened));
            thread::spawn(move || hold_idle_sockets(addr, per_thread, &stop, &opened))
        })
        .collect();
    let pushed = super::wait_until(ready_within, || {
        opened.load(Ordering::SeqCst) >= 2 * threads * per_thread
    });
    let mut failed = Vec::new();
    let mut slowest = Duration::ZERO;
    for i in 0..count {
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        match exchange_within(addr, request.as_bytes(), timeout) {
            Ok(r) if r.status == Some(200) => slowest = slowest.max(r.elapsed),
            Ok(r) => failed.push(format!(
                "GET {i}: HTTP {:?} after {:?}",
                r.status, r.elapsed
            )),
            Err(e) => failed.push(format!("GET {i}: {e}")),
        }
        thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    for thread in flood {
        thread.join().expect("a flood thread");
    }
    FloodRun {
        pushed,
        opened: opened.load(Ordering::SeqCst),
        failed,
        slowest,
    }
}
