//! The fault matrix: every way a credentials source can misbehave, against
//! `--once` and the daemon, for the web identity source, the container
//! source and the chained sts:AssumeRole hop. One row per fault; for each
//! row and each run: no panic, bounded time, the previous good file
//! untouched (bytes and inode), the cause named on stderr, no secret in the
//! output, and recovery as soon as the fault clears.
//!
//! Rows of one (mode, source) pair run concurrently: they mostly wait on
//! timeouts, so the matrix costs about as long as its slowest row.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::harness;
use crate::harness::fake::{self, Protocol};
use crate::harness::ini::{self, Profile};
use crate::harness::{wait_until, Answer, Fake, Harness, Invocation, Issued, Outcome, HOUR};

/// The chained role.
const CHAIN_ROLE: &str = "arn:aws:iam::123456789012:role/aws-credfile-chained";
/// The agent's authorization token: a secret the output must never hold.
const AGENT_TOKEN: &str = "FaultyAgentAuthorizationTokenZq0123456789";

/// A file with other people's profiles around ours.
const EXISTING: &str = "# hand-written, keep\n[dev]\n\
    aws_access_key_id = AKIADEVEXAMPLE000011\n\
    aws_secret_access_key = devSecretEXAMPLE0000/0000000000000000011\n\n\
    [default]\n\
    aws_access_key_id = AKIAOLDEXAMPLE000011\n\
    aws_secret_access_key = oldSecretEXAMPLE0000/0000000000000000011\n\
    aws_session_token = oldTokenEXAMPLE00000/000000000000000000000000000011\n\n\
    [prod]\naws_access_key_id = AKIAPRODEXAMPLE00011\n\
    aws_secret_access_key = prodSecretEXAMPLE000/0000000000000000011\n";

/// `--once-timeout` for failing runs, and the bound a failing `--once` must
/// keep (the budget plus one request's worth of cut-off and a margin).
const ONCE_TIMEOUT: &str = "3s";
const ONCE_WITHIN: Duration = Duration::from_secs(15);
/// A daemon must have reported the fault within this (a stalled request
/// takes the 20 s request timeout to give up).
const DAEMON_REPORTS_WITHIN: Duration = Duration::from_secs(40);
/// ... and hold fresh credentials this long after the fault clears.
const DAEMON_RECOVERS_WITHIN: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Src {
    WebIdentity,
    Container,
    /// The container source, then sts:AssumeRole; the fault hits the
    /// AssumeRole hop only.
    Chain,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Once,
    Daemon,
}

/// What one row does to the server under test.
#[derive(Clone, Copy)]
enum Fault {
    /// Nothing listens on the port.
    Refused,
    /// The server answers requests in this protocol with this.
    Answer(fn(Protocol) -> Answer),
}

/// How the binary must take a fault.
#[derive(Clone, Copy)]
enum Expect {
    /// Survivable slowness or skew: the credentials are written.
    Ok,
    /// A failure, with stderr naming one of these.
    Fails(&'static [&'static str]),
}

struct Row {
    name: &'static str,
    fault: Fault,
    expect: Expect,
}

const fn row(name: &'static str, fault: Fault, expect: Expect) -> Row {
    Row {
        name,
        fault,
        expect,
    }
}

/// An answer in each protocol's own error shape.
fn error_for(protocol: Protocol, status: u16, code: &str, message: &str) -> Answer {
    match protocol {
        Protocol::Container => Answer::json(
            status,
            &format!("{{\"code\":\"{code}\",\"message\":\"{message}\"}}"),
        ),
        _ => Answer::error(status, code, message),
    }
}

/// The fixed credentials in [`good_body`]: the key id, and the secret and
/// token the secret scan must know.
const BODY_KEY_ID: &str = "ASIAFLTBODY000000001";
const BODY_SECRET: &str = "FaultyBodySecretKeyZq/K7MDENG+bPxRfiCY";
const BODY_TOKEN: &str = "FaultyBodySessionTokenZq/FwoGZXIvYXdzEBYaDHqa0AP1==";

/// A complete, valid success body for `protocol`, for the faults that cut,
/// trickle or alter one.
fn good_body(protocol: Protocol) -> (&'static str, String) {
    let c = Issued {
        access_key_id: BODY_KEY_ID.into(),
        secret_access_key: BODY_SECRET.into(),
        session_token: BODY_TOKEN.into(),
        expiration: harness::time::rfc3339(std::time::SystemTime::now() + HOUR),
    };
    fake::success(protocol, &c)
}

/// [`good_body`] as a 200 answer.
fn good(protocol: Protocol) -> Answer {
    let (content_type, body) = good_body(protocol);
    Answer::raw(200, content_type, body)
}

/// A success answer with the secret key left out.
fn missing(protocol: Protocol) -> Answer {
    let (content_type, body) = good_body(protocol);
    let body = match protocol {
        Protocol::Container => body.replace("\"SecretAccessKey\"", "\"Unrelated\""),
        _ => body.replace("SecretAccessKey>", "Unrelated>"),
    };
    Answer::raw(200, content_type, body)
}

fn rows() -> Vec<Row> {
    use Expect::{Fails, Ok};
    use Fault::Answer as A;
    const NET: &[&str] = &["could not reach"];
    vec![
        row("connection_refused", Fault::Refused, Fails(NET)),
        row("reset_before_answer", A(|_| Answer::Reset), Fails(NET)),
        row(
            "reset_mid_body",
            A(|p| {
                let half = good_body(p).1.len() / 2;
                good(p).cut_off(half)
            }),
            Fails(&["no usable answer"]),
        ),
        row(
            "slow_headers",
            A(|p| good(p).after(Duration::from_secs(2))),
            Ok,
        ),
        row(
            "slow_body",
            A(|p| good(p).trickled(200, Duration::from_millis(150))),
            Ok,
        ),
        row(
            "stalled_headers",
            A(|_| Answer::Hang),
            Fails(&["timed out"]),
        ),
        row(
            "stalled_body",
            A(|p| good(p).trickled(1, Duration::from_secs(1))),
            Fails(&["timed out", "broke off"]),
        ),
        row(
            "http_500",
            A(|p| error_for(p, 500, "InternalFailure", "internal error")),
            Fails(&["500"]),
        ),
        row(
            "http_502_html",
            A(|_| {
                Answer::raw(
                    502,
                    "text/html",
                    "<html><body>502 Bad Gateway</body></html>",
                )
            }),
            Fails(&["502"]),
        ),
        row(
            "http_503",
            A(|p| error_for(p, 503, "ServiceUnavailable", "unavailable")),
            Fails(&["503"]),
        ),
        row(
            "throttling",
            A(|p| match p {
                Protocol::Container => error_for(p, 429, "ThrottlingException", "Rate exceeded"),
                _ => error_for(p, 400, "Throttling", "Rate exceeded"),
            }),
            Fails(&["Throttling"]),
        ),
        // Never followed; said to be a redirect, not "an empty body".
        row(
            "redirect_307",
            A(|_| Answer::raw(307, "text/plain", "")),
            Fails(&["redirect to nowhere, which aws-credfile does not follow"]),
        ),
        row(
            "http_429_plain",
            A(|_| Answer::raw(429, "text/plain", "Too Many Requests")),
            Fails(&["429"]),
        ),
        row(
            "html_200",
            A(|_| {
                Answer::raw(
                    200,
                    "text/html; charset=utf-8",
                    "<!DOCTYPE html><html><body><h1>Captive portal</h1></body></html>",
                )
            }),
            Fails(&["200"]),
        ),
        row(
            "truncated",
            A(|p| {
                let (content_type, mut body) = good_body(p);
                body.truncate(body.len() * 2 / 3);
                Answer::raw(200, content_type, body)
            }),
            Fails(&["200"]),
        ),
        row(
            "body_40_mib",
            A(|p| {
                let (content_type, _) = good_body(p);
                Answer::raw(200, content_type, vec![b' '; 40 << 20])
            }),
            Fails(&["larger than"]),
        ),
        row(
            "missing_secret",
            A(missing),
            Fails(&["SecretAccessKey", "200"]),
        ),
        row(
            "expiration_garbage",
            A(|_| Answer::issue_expiring("tomorrow-ish")),
            Fails(&["Expiration", "tomorrow"]),
        ),
        row(
            "expiration_long_past",
            A(|_| Answer::issue_expiring("2001-09-09T01:46:40Z")),
            Fails(&["clock", "expire"]),
        ),
        row(
            "expired_on_arrival",
            A(|_| Answer::issue_expired(Duration::from_secs(2))),
            Fails(&["clock", "expire"]),
        ),
        // The local clock an hour behind the issuer: credentials look valid
        // for 73 years; they must be written, not refused.
        row(
            "clock_behind_far_future",
            A(|_| Answer::issue_expiring("2099-01-01T00:00:00Z")),
            Ok,
        ),
        // The local clock 59.5 minutes ahead: one-hour credentials look
        // valid for 30 s; still usable, so written.
        row(
            "clock_ahead_nearly_expired",
            A(|_| Answer::issue(Duration::from_secs(30))),
            Ok,
        ),
        // Real-looking credentials with an error status: never used, and
        // never quoted (the secret scan would catch the key).
        row(
            "credentials_with_error_status",
            A(|p| {
                let (content_type, body) = good_body(p);
                Answer::raw(403, content_type, body)
            }),
            Fails(&["403"]),
        ),
    ]
}

/// One row's world: a harness whose fake STS or agent is the server under
/// test (the target), its scratch directory, identity token and secret
/// scan; for the chain the agent the first hop talks to is the harness's
/// too, and the target is its STS.
struct World {
    h: Harness,
    src: Src,
    /// Whether the target answers with the fault now.
    faulty: Arc<AtomicBool>,
    fault: Fault,
}

fn target_script(
    faulty: Arc<AtomicBool>,
    fault: Fault,
    src: Src,
) -> impl Fn(usize, &harness::Request) -> Answer + Send + Sync + 'static {
    move |_, req| {
        let protocol = req.protocol();
        let hit = src != Src::Chain || protocol == Protocol::AssumeRole;
        match fault {
            Fault::Answer(f) if hit && faulty.load(Ordering::SeqCst) => f(protocol),
            _ => Answer::issue(HOUR),
        }
    }
}

impl World {
    fn new(name: &str, src: Src, fault: Fault) -> World {
        let faulty = Arc::new(AtomicBool::new(false));
        let target = target_script(Arc::clone(&faulty), fault, src);
        let issue = |_: usize, _: &harness::Request| Answer::issue(HOUR);
        let h = match src {
            Src::WebIdentity => Harness::new(name, target),
            Src::Container => Harness::with_agent(name, issue, Fake::start(target)),
            Src::Chain => Harness::with_agent(name, target, Fake::start(issue)),
        };
        for secret in [AGENT_TOKEN, BODY_SECRET, BODY_TOKEN] {
            h.add_secret(secret);
        }
        World {
            h,
            src,
            faulty,
            fault,
        }
    }

    /// The server under test.
    fn target(&self) -> &Fake {
        match self.src {
            Src::Container => self.h.agent(),
            Src::WebIdentity | Src::Chain => &self.h.sts,
        }
    }

    /// The binary pointed at this world's servers.
    fn cmd(&self, args: &[&str]) -> Invocation<'_> {
        let inv = self.h.cmd(args);
        match self.src {
            Src::WebIdentity => inv,
            Src::Container => inv.env("AWS_CONTAINER_AUTHORIZATION_TOKEN", AGENT_TOKEN),
            Src::Chain => inv
                .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", AGENT_TOKEN)
                .arg("--role-arn")
                .arg(CHAIN_ROLE),
        }
    }

    fn set_fault(&self, on: bool) {
        self.faulty.store(on, Ordering::SeqCst);
        if let Fault::Refused = self.fault {
            if on {
                self.target().refuse_connections();
            } else {
                self.target().listen_again();
            }
        }
    }

    /// The last credentials the target issued.
    fn last_issued(&self) -> Option<Profile> {
        self.target().issued().last().map(Profile::from)
    }

    fn snapshot(&self) -> (Vec<u8>, u64) {
        let bytes = fs::read(&self.h.cred_file).expect("read the credentials file");
        let inode = fs::metadata(&self.h.cred_file).expect("stat").ino();
        (bytes, inode)
    }

    fn assert_untouched(&self, before: &(Vec<u8>, u64), ctx: &str) {
        let now = self.snapshot();
        assert!(
            now.0 == before.0,
            "the good file changed during the fault\n{ctx}\n--- before\n{}--- after\n{}",
            String::from_utf8_lossy(&before.0),
            String::from_utf8_lossy(&now.0)
        );
        assert_eq!(
            now.1, before.1,
            "the good file was replaced during the fault\n{ctx}"
        );
    }

    /// The file holds the other profiles intact and, as ours, the target's
    /// latest credentials or the fixed ones a trickled answer carried.
    fn holds_latest(&self) -> bool {
        let Ok(text) = fs::read_to_string(&self.h.cred_file) else {
            return false;
        };
        text.starts_with("# hand-written, keep\n[dev]\n")
            && text.ends_with(
                "[prod]\naws_access_key_id = AKIAPRODEXAMPLE00011\n\
                 aws_secret_access_key = prodSecretEXAMPLE000/0000000000000000011\n",
            )
            && ini::profile(&text, "default").is_ok_and(|p| {
                self.last_issued() == Some(p.clone()) || p.access_key_id == BODY_KEY_ID
            })
    }
}

/// Nothing a user should ever see: a panic, or an exit code outside the
/// documented ones.
fn assert_sane(out: &Outcome) {
    assert!(
        !out.stderr.contains("panicked"),
        "a panic\n{}",
        out.describe()
    );
    assert!(
        matches!(out.code(), Some(0..=2)),
        "exit code outside 0-2\n{}",
        out.describe()
    );
}

fn mentions_any(stderr: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| stderr.contains(n))
}

fn run_once(w: &World, row: &Row) {
    w.h.write_cred_file(EXISTING);
    let before = w.snapshot();
    w.set_fault(true);
    let out = w.cmd(&["--once", "--once-timeout", ONCE_TIMEOUT]).run();
    assert_sane(&out);
    match row.expect {
        Expect::Ok => {
            out.assert_code(0);
            assert!(w.holds_latest(), "not written\n{}", out.describe());
        }
        Expect::Fails(needles) => {
            out.assert_code(1);
            assert!(
                out.elapsed < ONCE_WITHIN,
                "took too long to give up\n{}",
                out.describe()
            );
            assert!(
                mentions_any(&out.stderr, needles),
                "stderr names none of {needles:?}\n{}",
                out.describe()
            );
            w.assert_untouched(&before, &out.describe());
            // The fault clears: the next run succeeds.
            w.set_fault(false);
            let again = w.cmd(&["--once"]).run();
            assert_sane(&again);
            again.assert_code(0);
            assert!(w.holds_latest(), "no recovery\n{}", again.describe());
        }
    }
}

fn run_daemon(w: &World, row: &Row) {
    w.h.write_cred_file(EXISTING);
    let mut d = w.cmd(&[]).spawn();
    let ok = wait_until(Duration::from_secs(15), || w.holds_latest());
    assert!(ok, "no first write\n{}", d.snapshot().describe());
    let before = w.snapshot();
    let stderr_len = d.stderr().len();
    w.set_fault(true);
    d.signal(libc::SIGHUP);
    match row.expect {
        Expect::Ok => {
            let ok = wait_until(DAEMON_RECOVERS_WITHIN, || {
                w.holds_latest() && w.snapshot().1 != before.1
            });
            assert!(
                ok,
                "the tolerable fault was not tolerated\n{}",
                d.snapshot().describe()
            );
        }
        Expect::Fails(needles) => {
            let reported = wait_until(DAEMON_REPORTS_WITHIN, || {
                mentions_any(&d.stderr()[stderr_len..], needles)
            });
            assert!(
                reported,
                "no stderr line names any of {needles:?}\n{}",
                d.snapshot().describe()
            );
            // Give a second attempt time to run too, then look.
            thread::sleep(Duration::from_millis(500));
            d.assert_running();
            w.assert_untouched(&before, &d.snapshot().describe());
            let cleared = Instant::now();
            w.set_fault(false);
            d.signal(libc::SIGHUP);
            let ok = wait_until(DAEMON_RECOVERS_WITHIN, || {
                w.holds_latest() && w.snapshot().1 != before.1
            });
            assert!(
                ok,
                "no recovery within {DAEMON_RECOVERS_WITHIN:?} of the fault clearing\n{}",
                d.snapshot().describe()
            );
            eprintln!(
                "{}: recovered {:?} after the fault cleared",
                row.name,
                cleared.elapsed()
            );
        }
    }
    let out = d.stop();
    assert_sane(&out);
    out.assert_code(0);
}

/// Runs the rows concurrently and fails with every failing row listed.
fn matrix(mode: Mode, src: Src) {
    let rows: Vec<Row> = rows().into_iter().collect();
    let failures: Vec<String> = thread::scope(|s| {
        let handles: Vec<_> = rows
            .iter()
            .map(|row| {
                let name = format!("{mode:?}_{src:?}_{}", row.name).to_lowercase();
                let handle = s.spawn(move || {
                    let w = World::new(&name, src, row.fault);
                    match mode {
                        Mode::Once => run_once(&w, row),
                        Mode::Daemon => run_daemon(&w, row),
                    }
                });
                (row.name, handle)
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|(name, h)| match h.join() {
                Ok(()) => None,
                Err(p) => Some(format!(
                    "{name}: {}",
                    p.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default()
                )),
            })
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} rows failed for {mode:?} {src:?}:\n\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n\n")
    );
}

#[test]
fn once_web_identity() {
    matrix(Mode::Once, Src::WebIdentity);
}

#[test]
fn once_container() {
    matrix(Mode::Once, Src::Container);
}

#[test]
fn once_chained() {
    matrix(Mode::Once, Src::Chain);
}

#[test]
fn daemon_web_identity() {
    matrix(Mode::Daemon, Src::WebIdentity);
}

#[test]
fn daemon_container() {
    matrix(Mode::Daemon, Src::Container);
}

#[test]
fn daemon_chained() {
    matrix(Mode::Daemon, Src::Chain);
}
