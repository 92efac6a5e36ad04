//! A deliberately badly behaved credentials server for the fault tests: it
//! plays STS (either action, XML) and the container agent (JSON) at once,
//! mints unique credentials it records, and on cue misbehaves at the byte
//! level: trickled headers or body, resets mid-answer, 40 MiB bodies,
//! answers that never come.
//!
//! Separate from [`super::fake_sts`] (whose request reader, locking and reset
//! it shares) because that fake cannot trickle bytes or mix protocols per
//! request; this one serves the fault matrix, the crash loop and the fleet run.

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime};

use super::fake_sts::{self, lock, parse_form, reset, sleep_unless_stopped};
use super::time::rfc3339;
use super::Issued;

/// What the server was asked, as far as the tests care.
#[derive(Clone, Debug)]
pub struct Req {
    /// `Action` of an STS form post; `None` for the agent's GET.
    pub action: Option<String>,
}

/// Which protocol an answer belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// STS `AssumeRoleWithWebIdentity`.
    WebIdentity,
    /// STS `AssumeRole` (the chained hop).
    AssumeRole,
    /// The container credentials agent (JSON).
    Container,
}

impl Proto {
    /// The protocol a request speaks.
    pub fn of(req: &Req) -> Proto {
        match req.action.as_deref() {
            Some("AssumeRole") => Proto::AssumeRole,
            Some(_) => Proto::WebIdentity,
            None => Proto::Container,
        }
    }
}

/// What to do with one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Fresh credentials in the request's protocol, expiring `expires_in`
    /// from now (negative: already expired).
    Issue { expires_in: i64 },
    /// Credentials with exactly this `Expiration` text.
    IssueExpiring(String),
    /// A status line, headers and body, each written in pieces of
    /// `chunk` bytes with `pause` between them (slow headers / slow body).
    Bytes {
        status: u16,
        content_type: String,
        body: Vec<u8>,
        /// Sleep this long before the first byte of the status line.
        head_delay: Duration,
        /// Trickle the body: bytes per write and pause after each write.
        chunk: usize,
        pause: Duration,
        /// Send only this many body bytes, then reset the connection.
        reset_after: Option<usize>,
    },
    /// Read the request, answer nothing, close with RST.
    ResetAtOnce,
    /// Read the request and never answer.
    Hang,
}

impl Reply {
    pub fn raw(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply::Bytes {
            status,
            content_type: content_type.to_string(),
            body: body.into(),
            head_delay: Duration::ZERO,
            chunk: usize::MAX,
            pause: Duration::ZERO,
            reset_after: None,
        }
    }
}

type Script = dyn Fn(usize, &Req) -> Reply + Send + Sync;

struct Shared {
    script: Box<Script>,
    requests: Mutex<Vec<Req>>,
    issued: Mutex<Vec<Issued>>,
    stop: AtomicBool,
    tag: String,
}

/// The running server; dropping it stops it.
pub struct Faulty {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

/// Every secret this kind of server mints starts with this, so one entry in
/// the harness's secret list catches a leak of any of them.
pub const SECRET_PREFIX: &str = "FaultySecretKeyZq";
/// Every session token minted starts with this.
pub const TOKEN_PREFIX: &str = "FaultySessionTokenZq";

impl Faulty {
    pub fn start(script: impl Fn(usize, &Req) -> Reply + Send + Sync + 'static) -> Faulty {
        Faulty::start_at("127.0.0.1:0".parse().expect("an address"), script)
    }

    /// Listens on this address: a test that dropped a server (so that
    /// connections are refused) brings it back on the same port.
    pub fn start_at(
        at: SocketAddr,
        script: impl Fn(usize, &Req) -> Reply + Send + Sync + 'static,
    ) -> Faulty {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let listener = TcpListener::bind(at).unwrap_or_else(|e| panic!("bind {at}: {e}"));
        let addr = listener.local_addr().expect("bound address");
        let tag = format!(
            "{:05}{:04}{:04}",
            addr.port(),
            std::process::id() % 10_000,
            NEXT.fetch_add(1, Ordering::Relaxed) % 10_000
        );
        let shared = Arc::new(Shared {
            script: Box::new(script),
            requests: Mutex::new(Vec::new()),
            issued: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            tag,
        });
        let s = Arc::clone(&shared);
        let acceptor = thread::spawn(move || {
            for stream in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let s = Arc::clone(&s);
                thread::spawn(move || serve(&s, stream));
            }
        });
        Faulty {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The agent URL, for `AWS_CONTAINER_CREDENTIALS_FULL_URI`.
    pub fn agent_url(&self) -> String {
        format!("http://{}/v1/credentials", self.addr)
    }

    pub fn issued(&self) -> Vec<Issued> {
        lock(&self.shared.issued).clone()
    }
}

impl Drop for Faulty {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
    }
}

fn serve(shared: &Shared, mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(req) = read_request(&stream) else {
        return;
    };
    let index = {
        let mut requests = lock(&shared.requests);
        requests.push(req.clone());
        requests.len() - 1
    };
    let reply = (shared.script)(index, &req);
    let proto = Proto::of(&req);
    match reply {
        Reply::Issue { expires_in } => {
            let at = if expires_in >= 0 {
                SystemTime::now() + Duration::from_secs(expires_in.unsigned_abs())
            } else {
                SystemTime::now() - Duration::from_secs(expires_in.unsigned_abs())
            };
            let (ct, body) = shared.issue(proto, rfc3339(at));
            write_all(
                shared,
                &mut stream,
                200,
                ct,
                body.as_bytes(),
                Duration::ZERO,
            );
        }
        Reply::IssueExpiring(exp) => {
            let (ct, body) = shared.issue(proto, exp);
            write_all(
                shared,
                &mut stream,
                200,
                ct,
                body.as_bytes(),
                Duration::ZERO,
            );
        }
        Reply::Bytes {
            status,
            content_type,
            body,
            head_delay,
            chunk,
            pause,
            reset_after,
        } => {
            if !sleep_unless_stopped(&shared.stop, head_delay) {
                return;
            }
            let head = head(status, &content_type, body.len());
            // Slow headers trickle too when a pause is set.
            let body = match reset_after {
                Some(n) => &body[..n.min(body.len())],
                None => &body[..],
            };
            for piece in [head.as_bytes(), body] {
                for part in piece.chunks(chunk.max(1)) {
                    if stream.write_all(part).is_err() {
                        return;
                    }
                    let _ = stream.flush();
                    if !pause.is_zero() && !sleep_unless_stopped(&shared.stop, pause) {
                        return;
                    }
                }
            }
            if reset_after.is_some() {
                reset(&stream);
                return;
            }
            let _ = stream.shutdown(Shutdown::Both);
        }
        Reply::ResetAtOnce => reset(&stream),
        Reply::Hang => {
            sleep_unless_stopped(&shared.stop, Duration::from_secs(600));
        }
    }
}

fn write_all(
    shared: &Shared,
    stream: &mut TcpStream,
    status: u16,
    ct: &str,
    body: &[u8],
    delay: Duration,
) {
    if !sleep_unless_stopped(&shared.stop, delay) {
        return;
    }
    let _ = stream.write_all(head(status, ct, body.len()).as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Both);
}

impl Shared {
    fn issue(&self, proto: Proto, expiration: String) -> (&'static str, String) {
        let mut issued = lock(&self.issued);
        let n = issued.len();
        let tag = &self.tag;
        let c = Issued {
            access_key_id: format!("ASIAFLT{}{:04}", &tag[..9], n % 10_000),
            secret_access_key: format!("{SECRET_PREFIX}{tag}N{n:05}/K7MDENG+bPxRfiCY"),
            session_token: format!(
                "{TOKEN_PREFIX}{tag}N{n:05}/{}==",
                "FwoGZXIvYXdzEBYaDHqa0AP1/5HJQmRSTUFTokenPart+".repeat(4)
            ),
            expiration,
        };
        issued.push(c.clone());
        match proto {
            Proto::Container => ("application/json", container_json(&c)),
            Proto::WebIdentity => ("text/xml", sts_xml("AssumeRoleWithWebIdentity", &c)),
            Proto::AssumeRole => ("text/xml", sts_xml("AssumeRole", &c)),
        }
    }
}

pub fn sts_xml(action: &str, c: &Issued) -> String {
    format!(
        "<{action}Response xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
         <{action}Result><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn>\
         <AssumedRoleId>AROAEXAMPLE:s</AssumedRoleId></AssumedRoleUser><Credentials>\
         <AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey>\
         <SessionToken>{}</SessionToken><Expiration>{}</Expiration></Credentials>\
         </{action}Result><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>\
         </{action}Response>",
        c.access_key_id, c.secret_access_key, c.session_token, c.expiration
    )
}

pub fn container_json(c: &Issued) -> String {
    format!(
        "{{\"AccessKeyId\":\"{}\",\"SecretAccessKey\":\"{}\",\"Token\":\"{}\",\
         \"AccountId\":\"123456789012\",\"Expiration\":\"{}\"}}",
        c.access_key_id, c.secret_access_key, c.session_token, c.expiration
    )
}

fn head(status: u16, content_type: &str, len: usize) -> String {
    format!(
        "HTTP/1.1 {status} Whatever\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\n\
         Connection: close\r\n\r\n"
    )
}

/// Reads a request with the STS fake's reader, keeping what the fault
/// tests look at.
fn read_request(stream: &TcpStream) -> io::Result<Req> {
    let req = fake_sts::read_request(stream)?;
    let action = parse_form(&String::from_utf8_lossy(&req.body))
        .into_iter()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v);
    Ok(Req { action })
}
