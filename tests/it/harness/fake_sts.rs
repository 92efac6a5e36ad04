//! A fake STS: a hand-written HTTP/1.1 server on 127.0.0.1 that records every
//! request and answers each one from the test's script.
//!
//! Hand-written rather than a crate because the tests need misbehaviour no
//! well-mannered server offers: answers that hang, bodies cut off by a reset,
//! HTML where XML belongs. One thread accepts; each connection gets its own
//! thread so a hanging answer never blocks the next request.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use super::time::rfc3339;

/// Larger request bodies are refused: the binary's form is a few KiB at most.
const MAX_REQUEST_BODY: usize = 1 << 20;

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
}

/// What the fake does with one request.
pub enum Answer {
    /// A real-looking STS success with fresh, unique credentials that expire
    /// after this long (recorded in [`FakeSts::issued`]).
    Issue(Duration),
    /// Exactly this status, content type and body.
    Raw {
        status: u16,
        content_type: String,
        body: Vec<u8>,
    },
    /// Promise the whole body in `Content-Length`, send only `send` bytes of
    /// it, then reset the connection.
    ResetMidBody {
        status: u16,
        content_type: String,
        body: Vec<u8>,
        send: usize,
    },
    /// Read the request and never answer (until the fake is dropped).
    Hang,
    /// Wait, then answer.
    Delayed(Duration, Box<Answer>),
    /// A container credentials endpoint's success: JSON with fresh, unique
    /// credentials that expire after this long, the expiry written with
    /// nanoseconds as the EKS Pod Identity agent does (recorded in
    /// [`FakeSts::issued`] with the expiry truncated to whole seconds).
    IssueJson(Duration),
}

impl Answer {
    pub fn issue(lifetime: Duration) -> Answer {
        Answer::Issue(lifetime)
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

    pub fn issue_json(lifetime: Duration) -> Answer {
        Answer::IssueJson(lifetime)
    }

    /// A JSON answer, as a container credentials endpoint sends errors.
    pub fn json(status: u16, body: &str) -> Answer {
        Answer::raw(status, "application/json", body)
    }

    pub fn after(self, delay: Duration) -> Answer {
        Answer::Delayed(delay, Box::new(self))
    }
}

/// One set of credentials the fake handed out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issued {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// As sent in `<Expiration>`.
    pub expiration: String,
}

type Script = dyn Fn(usize, &Request) -> Answer + Send + Sync;

struct Shared {
    script: Box<Script>,
    requests: Mutex<Vec<Request>>,
    issued: Mutex<Vec<Issued>>,
    /// Connections accepted, whether or not a request followed.
    connections: AtomicUsize,
    stop: AtomicBool,
    /// Makes every value this fake issues unique among all fakes of the run.
    tag: String,
}

/// A running fake STS; dropping it stops the server.
pub struct FakeSts {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl FakeSts {
    /// Starts a server whose answers come from `script`, called with the
    /// zero-based index of the request and the request itself.
    pub fn start(script: impl Fn(usize, &Request) -> Answer + Send + Sync + 'static) -> FakeSts {
        FakeSts::start_on("127.0.0.1:0", script).expect("bind 127.0.0.1:0")
    }

    /// Like [`FakeSts::start`], on another loopback address such as
    /// `[::1]:0`; an error if it cannot be bound (no IPv6 here).
    pub fn start_on(
        bind: &str,
        script: impl Fn(usize, &Request) -> Answer + Send + Sync + 'static,
    ) -> io::Result<FakeSts> {
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
        let accept_shared = Arc::clone(&shared);
        let acceptor = thread::spawn(move || accept_loop(listener, accept_shared));
        Ok(FakeSts {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_STS`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
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

impl Drop for FakeSts {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // The acceptor is blocked in accept(); a connection wakes it to see
        // the stop flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Locks, ignoring poisoning: a panicking script must not hide the
/// requests that were recorded before it.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        shared.connections.fetch_add(1, Ordering::SeqCst);
        let shared = Arc::clone(&shared);
        thread::spawn(move || serve(&shared, stream));
    }
}

fn serve(shared: &Shared, mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(request) = read_request(&stream) else {
        return;
    };
    let index = {
        let mut requests = lock(&shared.requests);
        requests.push(request.clone());
        requests.len() - 1
    };
    let answer = (shared.script)(index, &request);
    let action = request
        .param("Action")
        .unwrap_or_else(|| "AssumeRoleWithWebIdentity".to_string());
    respond(shared, &mut stream, &action, answer);
}

/// `action` names the STS document a success is wrapped in.
fn respond(shared: &Shared, stream: &mut TcpStream, action: &str, answer: Answer) {
    match answer {
        Answer::Delayed(delay, inner) => {
            if sleep_unless_stopped(&shared.stop, delay) {
                respond(shared, stream, action, *inner);
            }
            return;
        }
        Answer::Hang => {
            sleep_unless_stopped(&shared.stop, Duration::from_secs(600));
            return;
        }
        Answer::Issue(lifetime) => {
            let issued = shared.issue(lifetime);
            let body = if action == "AssumeRole" {
                assume_role_xml(&issued)
            } else {
                success_xml(&issued)
            };
            write_head(stream, 200, "text/xml", body.len());
            let _ = stream.write_all(body.as_bytes());
        }
        Answer::IssueJson(lifetime) => {
            let body = container_json(&shared.issue(lifetime));
            write_head(stream, 200, "application/json", body.len());
            let _ = stream.write_all(body.as_bytes());
        }
        Answer::Raw {
            status,
            content_type,
            body,
        } => {
            write_head(stream, status, &content_type, body.len());
            let _ = stream.write_all(&body);
        }
        Answer::ResetMidBody {
            status,
            content_type,
            body,
            send,
        } => {
            write_head(stream, status, &content_type, body.len());
            let _ = stream.write_all(&body[..send.min(body.len())]);
            let _ = stream.flush();
            reset(stream);
            return;
        }
    }
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Both);
}

impl Shared {
    fn issue(&self, lifetime: Duration) -> Issued {
        let mut issued = lock(&self.issued);
        let n = issued.len();
        let tag = &self.tag;
        // Shaped like the real thing: 20-character ASIA key, a 40-ish
        // character secret with / and +, a long session token with / + =.
        let creds = Issued {
            access_key_id: format!("ASIA{}{:04}", &tag[..12], n % 10_000),
            secret_access_key: format!("wJalrXUt{tag}N{n:04}/K7MDENG+bPxRfiCYsEcReT"),
            session_token: format!(
                "IQoJb3JpZ2luX2VjE{tag}N{n:04}/SeSsIoNtOkEn+{}==",
                "FwoGZXIvYXdzEBYaDHqa0AP1/5HJQmRSTUFTokenPart+".repeat(6)
            ),
            expiration: rfc3339(SystemTime::now() + lifetime),
        };
        issued.push(creds.clone());
        creds
    }
}

/// Sleeps for `d` in small steps; false if the fake was stopped meanwhile.
/// Sleeps for `d` unless `stop` is raised first; false if it was.
pub fn sleep_unless_stopped(stop: &AtomicBool, d: Duration) -> bool {
    let deadline = Instant::now() + d;
    while Instant::now() < deadline {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        thread::sleep(Duration::from_millis(20).min(deadline - Instant::now()));
    }
    true
}

fn write_head(stream: &mut TcpStream, status: u16, content_type: &str, len: usize) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Whatever",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\n\
         x-amzn-RequestId: 4a1f8c2e-0000-4000-8000-000000000000\r\nConnection: close\r\n\r\n"
    );
    let _ = stream.write_all(head.as_bytes());
}

/// Closes with RST instead of FIN, as a crashing proxy would.
pub fn reset(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let len = libc::socklen_t::try_from(std::mem::size_of::<libc::linger>())
        .expect("struct linger fits socklen_t");
    // SAFETY: the descriptor belongs to `stream`, which is alive for the
    // call; the option value points to a live `linger` of the length passed.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::addr_of!(linger).cast(),
            len,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER: {}", io::Error::last_os_error());
    // The RST goes out when `stream` is closed by the caller's drop.
}

pub fn read_request(stream: &TcpStream) -> io::Result<Request> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(bad("connection closed before a request"));
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().ok_or_else(|| bad("no method"))?.to_string();
    let target = parts.next().ok_or_else(|| bad("no target"))?.to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(bad("connection closed inside the headers"));
        }
        let header = line.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            break;
        }
        if headers.len() > 200 {
            return Err(bad("too many headers"));
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _): &&(String, String)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size = line.trim().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size, 16).map_err(|_| bad("chunk size"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    line.clear();
                    if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            if body.len() + size > MAX_REQUEST_BODY {
                return Err(bad("request body too large"));
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            line.clear();
            reader.read_line(&mut line)?;
        }
    } else if let Some(len) = find("content-length") {
        let len: usize = len.parse().map_err(|_| bad("content-length"))?;
        if len > MAX_REQUEST_BODY {
            return Err(bad("request body too large"));
        }
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    }
    Ok(Request {
        method,
        target,
        headers,
        body,
        received: Instant::now(),
    })
}

/// Decodes `application/x-www-form-urlencoded`.
pub fn parse_form(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but unreserved characters, as a form encoder
/// would; used to look for secrets leaked in encoded form.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The success answer, in the element order real STS uses (Credentials
/// after AssumedRoleUser, AccessKeyId last), with the extra elements it sends.
pub fn success_xml(c: &Issued) -> String {
    format!(
        r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:default:itest</SubjectFromWebIdentityToken>
    <Audience>sts.amazonaws.com</Audience>
    <AssumedRoleUser>
      <AssumedRoleId>AROA3XFRBF535PLBIFPI4:itest</AssumedRoleId>
      <Arn>arn:aws:sts::123456789012:assumed-role/aws-credfile-test/itest</Arn>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>{token}</SessionToken>
      <SecretAccessKey>{secret}</SecretAccessKey>
      <Expiration>{expiration}</Expiration>
      <AccessKeyId>{akid}</AccessKeyId>
    </Credentials>
    <Provider>arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
    <RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>
"#,
        token = c.session_token,
        secret = c.secret_access_key,
        expiration = c.expiration,
        akid = c.access_key_id,
    )
}

/// The `AssumeRole` success, as real STS sends it for a chained role.
pub fn assume_role_xml(c: &Issued) -> String {
    format!(
        r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <SourceIdentity>itest</SourceIdentity>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::210987654321:assumed-role/chained/itest</Arn>
      <AssumedRoleId>AROA3XFRBF535CHAINED01:itest</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>{akid}</AccessKeyId>
      <SecretAccessKey>{secret}</SecretAccessKey>
      <SessionToken>{token}</SessionToken>
      <Expiration>{expiration}</Expiration>
    </Credentials>
    <PackedPolicySize>6</PackedPolicySize>
  </AssumeRoleResult>
  <ResponseMetadata>
    <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
  </ResponseMetadata>
</AssumeRoleResponse>
"#,
        token = c.session_token,
        secret = c.secret_access_key,
        expiration = c.expiration,
        akid = c.access_key_id,
    )
}

/// The EKS Pod Identity agent's answer: `Expiration` with nanoseconds,
/// `AccountId`, and a field no parser knows.
pub fn container_json(c: &Issued) -> String {
    let expiration = c
        .expiration
        .strip_suffix('Z')
        .map(|whole| format!("{whole}.123456789Z"))
        .unwrap_or_else(|| c.expiration.clone());
    format!(
        r#"{{"AccessKeyId":"{akid}","SecretAccessKey":"{secret}","Token":"{token}","AccountId":"123456789012","Expiration":"{expiration}","Unknown":{{"x":[1,2]}}}}"#,
        akid = c.access_key_id,
        secret = c.secret_access_key,
        token = c.session_token,
    )
}

pub fn error_xml(code: &str, message: &str) -> String {
    format!(
        r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>Sender</Type>
    <Code>{code}</Code>
    <Message>{message}</Message>
  </Error>
  <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
</ErrorResponse>
"#
    )
}
