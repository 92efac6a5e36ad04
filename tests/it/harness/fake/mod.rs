//! The one fake server: STS (both actions, XML) and the container
//! credentials agent (JSON) on a loopback port, answering each request from
//! the test's script, recording every request and every set of credentials
//! it mints.
//!
//! Hand-written rather than a crate because the tests need misbehaviour no
//! well-mannered server offers: answers that hang, come late, trickle in a
//! byte at a time, are cut off by a reset, or are HTML where XML belongs;
//! and a port that refuses connections for a while. One thread accepts;
//! each connection gets its own thread so a hanging answer never blocks the
//! next request.

mod documents;
mod wire;

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use super::time::rfc3339;

pub use documents::{error_xml, success};
pub use wire::{parse_form, percent_encode};

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// The request target, such as `/`.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub received: Instant,
}

impl Request {
    /// The first header of that name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body decoded as `application/x-www-form-urlencoded`.
    pub fn form(&self) -> Vec<(String, String)> {
        parse_form(&String::from_utf8_lossy(&self.body))
    }

    /// One decoded form parameter.
    pub fn param(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// Which service the request is for: a GET is the container agent's,
    /// a POST is STS's, the action named by its `Action` parameter.
    pub fn protocol(&self) -> Protocol {
        if self.method == "GET" {
            Protocol::Container
        } else if self.param("Action").as_deref() == Some("AssumeRole") {
            Protocol::AssumeRole
        } else {
            Protocol::WebIdentity
        }
    }
}

/// The services the fake plays; a success is sent in the request's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// STS `AssumeRoleWithWebIdentity` (XML).
    WebIdentity,
    /// STS `AssumeRole`, the chained hop (XML).
    AssumeRole,
    /// The container credentials agent (JSON).
    Container,
}

/// When minted credentials expire.
#[derive(Clone, Debug)]
pub enum Expiry {
    /// This long after they are minted.
    In(Duration),
    /// Already this long ago when they are minted.
    Ago(Duration),
    /// Whatever this text says, sent as the `Expiration`.
    Text(String),
}

/// What the fake does with one request.
#[derive(Clone, Debug)]
pub enum Answer {
    /// Fresh, unique credentials in the request's protocol, recorded in
    /// [`Fake::issued`] (the expiry as STS writes it, whole seconds).
    Issue(Expiry),
    /// Exactly this status, content type and body.
    Raw {
        status: u16,
        content_type: String,
        body: Vec<u8>,
    },
    /// Wait (sending nothing), then answer.
    After(Duration, Box<Answer>),
    /// Send the answer's head and body `chunk` bytes at a time, pausing
    /// after each: slow (or stalled) headers and body.
    Trickle {
        chunk: usize,
        pause: Duration,
        answer: Box<Answer>,
    },
    /// Promise the whole body in `Content-Length`, send only its first
    /// `send` bytes, then reset the connection.
    CutOff { send: usize, answer: Box<Answer> },
    /// Read the request, answer nothing, close with a reset.
    Reset,
    /// Read the request and never answer (until the fake stops).
    Hang,
}

impl Answer {
    /// Credentials that expire after `lifetime`.
    pub fn issue(lifetime: Duration) -> Answer {
        Answer::Issue(Expiry::In(lifetime))
    }

    /// Credentials that expired `ago` before they arrive.
    pub fn issue_expired(ago: Duration) -> Answer {
        Answer::Issue(Expiry::Ago(ago))
    }

    /// Credentials whose `Expiration` is this text.
    pub fn issue_expiring(expiration: &str) -> Answer {
        Answer::Issue(Expiry::Text(expiration.to_string()))
    }

    /// An STS `ErrorResponse` with this status and code.
    pub fn error(status: u16, code: &str, message: &str) -> Answer {
        Answer::raw(status, "text/xml", error_xml(code, message))
    }

    pub fn throttling() -> Answer {
        Answer::error(400, "Throttling", "Rate exceeded")
    }

    pub fn access_denied() -> Answer {
        Answer::error(
            403,
            "AccessDenied",
            "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        )
    }

    pub fn raw(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Answer {
        Answer::Raw {
            status,
            content_type: content_type.to_string(),
            body: body.into(),
        }
    }

    /// A JSON answer, as the container agent sends its errors.
    pub fn json(status: u16, body: &str) -> Answer {
        Answer::raw(status, "application/json", body)
    }

    pub fn after(self, delay: Duration) -> Answer {
        Answer::After(delay, Box::new(self))
    }

    pub fn trickled(self, chunk: usize, pause: Duration) -> Answer {
        Answer::Trickle {
            chunk,
            pause,
            answer: Box::new(self),
        }
    }

    pub fn cut_off(self, send: usize) -> Answer {
        Answer::CutOff {
            send,
            answer: Box::new(self),
        }
    }
}

/// One set of credentials the fake handed out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issued {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// As sent in STS's `<Expiration>`.
    pub expiration: String,
}

type Script = dyn Fn(usize, &Request) -> Answer + Send + Sync;

struct Shared {
    script: Box<Script>,
    requests: Mutex<Vec<Request>>,
    issued: Mutex<Vec<Issued>>,
    /// Connections accepted, whether or not a request followed.
    connections: AtomicUsize,
    /// Raised when the fake is dropped: answers still waiting give up.
    stop: AtomicBool,
    /// Makes every value this fake mints unique among all fakes of the run.
    tag: String,
}

/// A running fake; dropping it stops the server.
pub struct Fake {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// The thread accepting connections; none while the port refuses them.
    acceptor: Mutex<Option<Acceptor>>,
}

struct Acceptor {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Fake {
    /// Starts a fake on 127.0.0.1 whose answers come from `script`, called
    /// with the zero-based index of the request and the request itself.
    pub fn start(script: impl Fn(usize, &Request) -> Answer + Send + Sync + 'static) -> Fake {
        Fake::start_on("127.0.0.1:0", script).expect("bind 127.0.0.1:0")
    }

    /// Like [`Fake::start`], on another loopback address such as `[::1]:0`;
    /// an error if it cannot be bound (no IPv6 here).
    pub fn start_on(
        bind: &str,
        script: impl Fn(usize, &Request) -> Answer + Send + Sync + 'static,
    ) -> io::Result<Fake> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let listener = TcpListener::bind(bind)?;
        let addr = listener
            .local_addr()
            .expect("local address of a bound socket");
        let tag = format!(
            "{:05}{:03}{:04}",
            addr.port(),
            std::process::id() % 1000,
            NEXT.fetch_add(1, Ordering::Relaxed) % 10_000
        );
        let shared = Arc::new(Shared {
            script: Box::new(script),
            requests: Mutex::new(Vec::new()),
            issued: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            tag,
        });
        let acceptor = Acceptor::start(listener, Arc::clone(&shared));
        Ok(Fake {
            addr,
            shared,
            acceptor: Mutex::new(Some(acceptor)),
        })
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_STS`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops listening: connections to the port are refused until
    /// [`Fake::listen_again`]. Requests and credentials stay recorded.
    pub fn refuse_connections(&self) {
        if let Some(acceptor) = lock(&self.acceptor).take() {
            acceptor.stop(self.addr);
        }
    }

    /// Listens on the same port again after [`Fake::refuse_connections`].
    pub fn listen_again(&self) {
        let mut slot = lock(&self.acceptor);
        if slot.is_none() {
            let listener =
                TcpListener::bind(self.addr).unwrap_or_else(|e| panic!("bind {}: {e}", self.addr));
            *slot = Some(Acceptor::start(listener, Arc::clone(&self.shared)));
        }
    }

    /// Connections accepted so far, including any that sent no request.
    pub fn connection_count(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared.requests).clone()
    }

    pub fn request_count(&self) -> usize {
        lock(&self.shared.requests).len()
    }

    pub fn issued(&self) -> Vec<Issued> {
        lock(&self.shared.issued).clone()
    }

    /// Waits until at least `n` requests arrived; false at the deadline.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        super::wait_until(timeout, || self.request_count() >= n)
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.refuse_connections();
    }
}

impl Acceptor {
    fn start(listener: TcpListener, shared: Arc<Shared>) -> Acceptor {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let shared = Arc::clone(&shared);
                thread::spawn(move || serve(&shared, stream));
            }
        });
        Acceptor { stop, thread }
    }

    /// Stops accepting and closes the listener.
    fn stop(self, addr: SocketAddr) {
        self.stop.store(true, Ordering::SeqCst);
        // The thread is blocked in accept(); a connection wakes it to see
        // the flag.
        let _ = TcpStream::connect(addr);
        let _ = self.thread.join();
    }
}

/// Locks, ignoring poisoning: a panicking script must not hide the
/// requests that were recorded before it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn serve(shared: &Shared, mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(request) = wire::read_request(&stream) else {
        return;
    };
    let index = {
        let mut requests = lock(&shared.requests);
        requests.push(request.clone());
        requests.len() - 1
    };
    let answer = (shared.script)(index, &request);
    respond(
        shared,
        &mut stream,
        request.protocol(),
        answer,
        Delivery::AT_ONCE,
    );
}

/// How an answer's bytes go out.
#[derive(Clone, Copy)]
struct Delivery {
    /// Bytes per write, with `pause` after each.
    chunk: usize,
    pause: Duration,
    /// Send only this many body bytes, then reset.
    cut_off: Option<usize>,
}

impl Delivery {
    const AT_ONCE: Delivery = Delivery {
        chunk: usize::MAX,
        pause: Duration::ZERO,
        cut_off: None,
    };
}

fn respond(
    shared: &Shared,
    stream: &mut TcpStream,
    protocol: Protocol,
    answer: Answer,
    delivery: Delivery,
) {
    match answer {
        Answer::Issue(expiry) => {
            let issued = shared.mint(expiry);
            let (content_type, body) = success(protocol, &issued);
            send(shared, stream, 200, content_type, body.as_bytes(), delivery);
        }
        Answer::Raw {
            status,
            content_type,
            body,
        } => send(shared, stream, status, &content_type, &body, delivery),
        Answer::After(delay, answer) => {
            if sleep_unless_stopped(&shared.stop, delay) {
                respond(shared, stream, protocol, *answer, delivery);
            }
        }
        Answer::Trickle {
            chunk,
            pause,
            answer,
        } => {
            let delivery = Delivery {
                chunk,
                pause,
                ..delivery
            };
            respond(shared, stream, protocol, *answer, delivery);
        }
        Answer::CutOff { send, answer } => {
            let delivery = Delivery {
                cut_off: Some(send),
                ..delivery
            };
            respond(shared, stream, protocol, *answer, delivery);
        }
        Answer::Reset => wire::reset_on_close(stream),
        Answer::Hang => {
            sleep_unless_stopped(&shared.stop, Duration::from_secs(600));
        }
    }
}

/// Writes the head and body as `delivery` says, then closes (with a reset
/// when the body was cut off).
fn send(
    shared: &Shared,
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
    delivery: Delivery,
) {
    let head = wire::head(status, content_type, body.len());
    let body = match delivery.cut_off {
        Some(n) => &body[..n.min(body.len())],
        None => body,
    };
    for piece in [head.as_bytes(), body] {
        for part in piece.chunks(delivery.chunk.max(1)) {
            if stream.write_all(part).is_err() {
                return;
            }
            let _ = stream.flush();
            if !delivery.pause.is_zero() && !sleep_unless_stopped(&shared.stop, delivery.pause) {
                return;
            }
        }
    }
    if delivery.cut_off.is_some() {
        wire::reset_on_close(stream);
    } else {
        let _ = stream.shutdown(Shutdown::Both);
    }
}

impl Shared {
    fn mint(&self, expiry: Expiry) -> Issued {
        let expiration = match expiry {
            Expiry::In(lifetime) => rfc3339(SystemTime::now() + lifetime),
            Expiry::Ago(ago) => rfc3339(SystemTime::now() - ago),
            Expiry::Text(text) => text,
        };
        let mut issued = lock(&self.issued);
        let creds = documents::mint(&self.tag, issued.len(), expiration);
        issued.push(creds.clone());
        creds
    }
}

/// Sleeps for `d` unless the fake is stopped first; false if it was.
fn sleep_unless_stopped(stop: &AtomicBool, d: Duration) -> bool {
    let deadline = Instant::now() + d;
    while Instant::now() < deadline {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        thread::sleep(Duration::from_millis(20).min(deadline - Instant::now()));
    }
    true
}
