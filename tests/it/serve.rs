//! `--serve`: the loopback container-credentials endpoint of the daemon,
//! driven by a hand-written client. What SDKs get (503 until credentials
//! exist, then the JSON, then newer credentials after a refresh), what
//! everything else gets (404, 405, 401), and that no client, silent,
//! slow, malformed or numerous, can stall the one thread for others.
//!
//! The only tight timing bound is the endpoint's promise of a single thread
//! that never waits on one client: a silent client delays another by well
//! under a second. Everything else waits with deadlines.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness;
use crate::harness::client::{
    self, exchange, exchange_within, free_port, get, gets_under_idle_flood, non_loopback_address,
    Response,
};
use crate::harness::ini::{self, Profile};
use crate::harness::process::{cpu_time, open_fds, rss_kib, set_fd_limit};
use crate::harness::{wait_until, Answer, Daemon, Harness, Invocation, Issued, HOUR};

const PATH: &str = "/v1/credentials";

/// Credentials that live seconds, so the daemon refreshes every few.
const SHORT: Duration = Duration::from_secs(4);

/// A silent client delays another by well under this.
const DELAY_BOUND: Duration = Duration::from_secs(1);

/// Deadline for the endpoint to come up and serve the first credentials
/// (generous; it takes milliseconds).
const FIRST_ANSWER: Duration = Duration::from_secs(15);

/// Starts the daemon with `--serve 127.0.0.1:PORT` on a port that was free
/// a moment ago, and waits until the port accepts connections. Retries once
/// with another port if the binary could not bind (someone took it).
pub(crate) fn serving<'h>(h: &'h Harness, args: &[&str]) -> (Daemon<'h>, SocketAddr) {
    serving_with(h, args, |run| run)
}

/// As [`serving`], with the run adjusted by `adjust` (a descriptor limit).
pub(crate) fn serving_with<'h>(
    h: &'h Harness,
    args: &[&str],
    adjust: impl Fn(Invocation<'h>) -> Invocation<'h>,
) -> (Daemon<'h>, SocketAddr) {
    serving_on(h, "127.0.0.1", args, adjust)
}

/// As [`serving_with`], listening on `ip` (`0.0.0.0`: every address, with
/// `--serve-any-address` in `args`); the address returned is loopback's.
fn serving_on<'h>(
    h: &'h Harness,
    ip: &str,
    args: &[&str],
    adjust: impl Fn(Invocation<'h>) -> Invocation<'h>,
) -> (Daemon<'h>, SocketAddr) {
    for attempt in 0..2 {
        let port = free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let serve = format!("{ip}:{port}");
        let mut all = vec!["--serve", serve.as_str()];
        all.extend_from_slice(args);
        let mut d = adjust(h.cmd(&all)).spawn();
        let up = wait_until(FIRST_ANSWER, || {
            d.try_exit().is_some()
                || TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
        });
        if d.try_exit().is_some() {
            let out = d.outcome();
            if attempt == 0 && out.stderr.contains("listen") {
                continue;
            }
            panic!("the daemon exited instead of serving\n{}", out.describe());
        }
        assert!(
            up,
            "{addr} never accepted a connection\n{}",
            d.snapshot().describe()
        );
        return (d, addr);
    }
    unreachable!("the loop returns or panics")
}

/// Polls GETs until one answers 200 (or the deadline fails the test).
pub(crate) fn wait_for_200(d: &Daemon, addr: SocketAddr, headers: &[(&str, &str)]) -> Response {
    let mut last = None;
    let ok = wait_until(FIRST_ANSWER, || {
        last = get(addr, PATH, headers).ok();
        last.as_ref().and_then(|r| r.status) == Some(200)
    });
    assert!(
        ok,
        "no 200 within {FIRST_ANSWER:?}; last answer {last:?}\n{}",
        d.snapshot().describe()
    );
    last.expect("set when the wait succeeded")
}

/// Asserts the served JSON is exactly one set the fake issued, and returns
/// which.
fn assert_serves_issued(reply: &Response, issued: &[Issued]) -> usize {
    let akid = reply.field("AccessKeyId").expect("an AccessKeyId");
    let index = issued
        .iter()
        .position(|i| i.access_key_id == akid)
        .unwrap_or_else(|| panic!("{akid} was never issued: {reply:?}"));
    let c = &issued[index];
    assert_eq!(
        reply.field("SecretAccessKey").as_deref(),
        Some(c.secret_access_key.as_str())
    );
    assert_eq!(
        reply.field("Token").as_deref(),
        Some(c.session_token.as_str())
    );
    assert_eq!(
        reply.field("Expiration").as_deref(),
        Some(c.expiration.as_str()),
        "Expiration in RFC 3339, as STS sent it"
    );
    assert!(
        reply
            .header("Content-Type")
            .is_some_and(|ct| ct.starts_with("application/json")),
        "{reply:?}"
    );
    index
}

/// An error answer: the status, and a JSON body with a code and message.
fn assert_json_error(reply: &Response, status: u16) {
    assert_eq!(reply.status, Some(status), "{reply:?}");
    let json = reply.json();
    assert!(
        json.get("code").and_then(|v| v.as_str()).is_some()
            && json.get("message").and_then(|v| v.as_str()).is_some(),
        "an error body with code and message: {reply:?}"
    );
    assert!(json.get("SecretAccessKey").is_none(), "{reply:?}");
}

#[test]
fn serves_the_json_and_new_credentials_after_a_refresh() {
    let h = Harness::new("serve_refresh", |_, _| Answer::issue(SHORT));
    let (mut d, addr) = serving(&h, &[]);
    let first = wait_for_200(&d, addr, &[]);
    let first_index = assert_serves_issued(&first, &h.sts.issued());
    let first_akid = first.field("AccessKeyId");

    let mut later = None;
    let changed = wait_until(Duration::from_secs(30), || {
        later = get(addr, PATH, &[]).ok();
        later
            .as_ref()
            .is_some_and(|r| r.status == Some(200) && r.field("AccessKeyId") != first_akid)
    });
    assert!(
        changed,
        "the served AccessKeyId never changed; last {later:?}\n{}",
        d.snapshot().describe()
    );
    let later = later.expect("set when the wait succeeded");
    let later_index = assert_serves_issued(&later, &h.sts.issued());
    assert!(later_index > first_index, "newer credentials, not older");
    d.assert_running();
    d.stop().assert_code(0);
}

#[test]
fn answers_503_json_while_there_are_no_credentials_yet() {
    // STS refuses until the test lets it succeed; the daemon keeps retrying.
    let allow = Arc::new(AtomicBool::new(false));
    let allowed = Arc::clone(&allow);
    let h = Harness::new("serve_503_refused", move |_, _| {
        if allowed.load(Ordering::SeqCst) {
            Answer::issue(HOUR)
        } else {
            Answer::access_denied()
        }
    });
    let (mut d, addr) = serving(&h, &[]);
    assert!(
        h.sts.wait_for_requests(1, FIRST_ANSWER),
        "{}",
        d.snapshot().describe()
    );
    let reply = get(addr, PATH, &[]).expect("an answer");
    assert_json_error(&reply, 503);
    assert!(reply
        .header("Content-Type")
        .is_some_and(|ct| ct.starts_with("application/json")));

    allow.store(true, Ordering::SeqCst);
    let ok = wait_for_200(&d, addr, &[]);
    assert_serves_issued(&ok, &h.sts.issued());
    d.assert_running();
    d.stop().assert_code(0);
}

/// The endpoint answers 503 with a JSON error until the first credentials
/// exist (README, "--serve"). While the first STS call is in flight there
/// are none, so a client must get the 503 then, not wait for STS.
#[test]
fn answers_503_while_the_first_fetch_is_in_flight() {
    let sts_delay = Duration::from_secs(6);
    let h = Harness::new("serve_503_slow_sts", move |n, _| {
        if n == 0 {
            Answer::issue(HOUR).after(sts_delay)
        } else {
            Answer::issue(HOUR)
        }
    });
    let (d, addr) = serving(&h, &[]);
    assert!(
        h.sts.wait_for_requests(1, FIRST_ANSWER),
        "{}",
        d.snapshot().describe()
    );
    let reply = get(addr, PATH, &[]).expect("an answer");
    assert!(
        reply.status == Some(503) && reply.elapsed < sts_delay / 2,
        "expected a 503 at once while STS takes {sts_delay:?}; got HTTP {:?} after {:?}\n{}",
        reply.status,
        reply.elapsed,
        d.snapshot().describe()
    );
    assert_json_error(&reply, 503);
    let ok = wait_for_200(&d, addr, &[]);
    assert_serves_issued(&ok, &h.sts.issued());
    d.stop().assert_code(0);
}

/// Same single thread, later refreshes: a slow STS during a refresh must
/// not stop the endpoint from serving the still valid credentials.
#[test]
fn serves_the_current_credentials_while_a_refresh_is_in_flight() {
    let sts_delay = Duration::from_secs(6);
    let h = Harness::new("serve_refresh_in_flight", move |n, _| {
        if n == 0 {
            Answer::issue(HOUR)
        } else {
            Answer::issue(HOUR).after(sts_delay)
        }
    });
    let (mut d, addr) = serving(&h, &[]);
    let before = wait_for_200(&d, addr, &[]);
    d.signal(libc::SIGHUP);
    assert!(
        h.sts.wait_for_requests(2, FIRST_ANSWER),
        "SIGHUP did not start a refresh\n{}",
        d.snapshot().describe()
    );
    let reply = get(addr, PATH, &[]).expect("an answer");
    assert!(
        reply.status == Some(200) && reply.elapsed < sts_delay / 2,
        "expected the current credentials at once while STS takes {sts_delay:?}; \
         got HTTP {:?} after {:?}\n{}",
        reply.status,
        reply.elapsed,
        d.snapshot().describe()
    );
    assert_eq!(reply.field("AccessKeyId"), before.field("AccessKeyId"));
    d.stop().assert_code(0);
}

#[test]
fn other_paths_get_404_and_other_methods_405() {
    let h = Harness::new("serve_404_405", |_, _| Answer::issue(HOUR));
    let (mut d, addr) = serving(&h, &[]);
    wait_for_200(&d, addr, &[]);
    for path in [
        "/",
        "/v1/credentials/",
        "/v2/credentials",
        "/v1/credentialsX",
        "/latest/meta-data/",
    ] {
        let reply = get(addr, path, &[]).expect("an answer");
        assert_json_error(&reply, 404);
        assert!(!reply.body.contains("ASIA"), "{path}: {reply:?}");
    }
    for method in ["POST", "PUT", "DELETE"] {
        let req =
            format!("{method} {PATH} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 2\r\n\r\n{{}}");
        let reply = exchange(addr, req.as_bytes()).expect("an answer");
        assert_json_error(&reply, 405);
        assert_eq!(reply.header("Allow"), Some("GET"), "{method}: {reply:?}");
    }
    // The query string is not part of the path.
    let reply = get(addr, "/v1/credentials?sdk=1", &[]).expect("an answer");
    assert_eq!(reply.status, Some(200), "{reply:?}");
    d.assert_running();
    d.stop().assert_code(0);
}

/// The endpoint requiring `token`, given in a `--serve-token-file` that
/// holds it followed by `end` (a newline an editor leaves, or nothing).
fn serving_with_token<'h>(h: &'h Harness, token: &str, end: &str) -> (Daemon<'h>, SocketAddr) {
    h.add_secret(token);
    let path = h.scratch.write("serve-token", format!("{token}{end}"));
    serving(h, &["--serve-token-file", &path.display().to_string()])
}

#[test]
fn serve_token_file_requires_the_authorization_header() {
    let h = Harness::new("serve_token", |_, _| Answer::issue(HOUR));
    let token = "c2VydmUtdG9rZW4tMDEyMzQ1Njc4OWFiY2RlZg";
    let (mut d, addr) = serving_with_token(&h, token, "\n");
    let ok = wait_for_200(&d, addr, &[("Authorization", token)]);
    assert_serves_issued(&ok, &h.sts.issued());

    let wrong = format!("{token}x");
    let prefix = &token[..token.len() - 1];
    for headers in [
        vec![],
        vec![("Authorization", "wrong")],
        vec![("Authorization", wrong.as_str())],
        vec![("Authorization", prefix)],
        vec![("Authorization", "")],
        vec![("X-Authorization", token)],
    ] {
        let reply = get(addr, PATH, &headers).expect("an answer");
        assert_json_error(&reply, 401);
        assert!(!reply.body.contains(token), "{reply:?}");
    }
    d.assert_running();
    let out = d.stop();
    out.assert_code(0);
    assert!(
        !out.stderr.contains("serve_without_token"),
        "{}",
        out.describe()
    );
}

/// HTTP pads a header value with spaces and tabs only. The endpoint trimmed
/// every Unicode blank, so a token or a Host with a no-break space, an em
/// space or a line separator around it passed as the real one. And a full
/// URL as the target was checked while the `Host` header beside it was
/// ignored and never logged; now the two must agree.
#[test]
fn a_near_miss_token_or_host_is_refused() {
    let h = Harness::new("serve_near_miss", |_, _| Answer::issue(HOUR));
    let token = "bmVhci1taXNzLXRva2VuLTAxMjM0NTY3ODk";
    let (mut d, addr) = serving_with_token(&h, token, "");
    wait_for_200(&d, addr, &[("Authorization", token)]);
    let port = addr.port();
    let ask = |target: &str, host: &str, auth: &str| {
        let req = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\n\r\n");
        let reply = exchange(addr, req.as_bytes()).expect("an answer");
        assert!(!reply.body.contains(token), "{reply:?}");
        reply.status
    };
    let host = format!("127.0.0.1:{port}");
    assert_eq!(ask(PATH, &host, &format!(" \t{token}\t ")), Some(200));
    for blank in ['\u{a0}', '\u{85}', '\u{2003}', '\u{2028}', '\u{3000}'] {
        for auth in [format!("{token}{blank}"), format!("{blank}{token}")] {
            assert_eq!(ask(PATH, &host, &auth), Some(401), "{blank:?}");
        }
        for named in [format!("{host}{blank}"), format!("{blank}localhost")] {
            assert_eq!(ask(PATH, &named, token), Some(403), "{blank:?}");
        }
    }
    let full = format!("http://{host}{PATH}");
    assert_eq!(ask(&full, &host, token), Some(200));
    assert_eq!(ask(&full, "attacker.example", token), Some(400));
    d.assert_running();
    d.stop().assert_code(0);
}

/// With port 0 (the system picks one), the start's warnings named
/// `addr=127.0.0.1:0`, an address no client can use, though the README sends
/// clients to the address logged at start. Now they name the port bound,
/// the endpoint's. And a descriptor limit that leaves too few connections
/// beside what a refresh needs is said at start, not found under load.
#[test]
fn the_start_names_the_port_bound_and_a_low_descriptor_limit() {
    let h = Harness::new("serve_port_0", |_, _| Answer::issue(HOUR));
    let d = h.cmd(&["--serve", "127.0.0.1:0"]).fd_limit(48).spawn();
    d.assert_logs_within("started endpoint=", FIRST_ANSWER, "the start");
    let stderr = d.stderr();
    let port = stderr
        .split("endpoint=http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse::<u16>().ok())
        .expect("the endpoint's port");
    assert_ne!(port, 0);
    let warning = stderr
        .lines()
        .find(|l| l.contains("serve_without_token"))
        .expect("the warning about the missing token");
    assert!(
        warning.contains(&format!("addr=127.0.0.1:{port} ")),
        "{warning}"
    );
    let low = stderr
        .lines()
        .find(|l| l.contains("descriptor_limit_low"))
        .unwrap_or_else(|| panic!("no warning about ulimit -n 48\n{stderr}"));
    assert!(
        low.contains("limit=48") && low.contains("raise ulimit -n"),
        "{low}"
    );
    d.stop().assert_code(0);
    // With room, no such warning.
    let d = h.cmd(&["--serve", "127.0.0.1:0"]).fd_limit(1024).spawn();
    d.assert_logs_within("started endpoint=", FIRST_ANSWER, "the start");
    let out = d.stop();
    assert!(
        !out.stderr.contains("descriptor_limit_low"),
        "{}",
        out.describe()
    );
}

/// `--serve` alone writes no file. Without a token, any local user reads
/// the credentials (the Host rule stops browsers only), and the
/// start says so.
#[test]
fn serve_alone_writes_no_file() {
    let h = Harness::new("serve_no_file", |_, _| Answer::issue(HOUR));
    let (d, addr) = serving(&h, &[]);
    assert!(
        wait_until(FIRST_ANSWER, || d.stderr().contains("serve_without_token")),
        "no warning about the missing token\n{}",
        d.snapshot().describe()
    );
    wait_for_200(&d, addr, &[]);
    assert!(
        !h.cred_file.exists(),
        "AWS_SHARED_CREDENTIALS_FILE was written with --serve alone"
    );
    assert!(!h.home.join(".aws/credentials").exists());
    d.stop().assert_code(0);
}

#[test]
fn serve_with_file_writes_both() {
    let h = Harness::new("serve_and_file", |_, _| Answer::issue(HOUR));
    let file = h.scratch.join("shared/credentials");
    let file_arg = file.display().to_string();
    let (d, addr) = serving(&h, &["--file", file_arg.as_str()]);
    let reply = wait_for_200(&d, addr, &[]);
    let index = assert_serves_issued(&reply, &h.sts.issued());
    let text =
        harness::wait_for_file_containing(&file, "[default]", FIRST_ANSWER).unwrap_or_else(|| {
            panic!(
                "{} never written\n{}",
                file.display(),
                d.snapshot().describe()
            )
        });
    assert_eq!(
        ini::profile(&text, "default"),
        Ok(Profile::from(&h.sts.issued()[index])),
        "the file and the endpoint hold the same credentials"
    );
    d.stop().assert_code(0);
}

/// With `--file` too, a refresh whose write failed (a full disk, a lock
/// another writer held, a link planted at the file) also kept the fresh
/// credentials from the endpoint, which answered 503 once the old ones
/// expired although STS answered. The endpoint serves what was fetched;
/// the refresh still counts as failed, and the file stays as it was.
#[test]
fn a_file_that_cannot_be_written_does_not_starve_the_endpoint() {
    let h = Harness::new("serve_file_fails", |_, _| Answer::issue(HOUR));
    let file = h.scratch.join("shared/credentials");
    let file_arg = file.display().to_string();
    let (mut d, addr) = serving(&h, &["--file", file_arg.as_str()]);
    let first = wait_for_200(&d, addr, &[]);
    assert_eq!(assert_serves_issued(&first, &h.sts.issued()), 0);
    harness::wait_for_file_containing(&file, "[default]", FIRST_ANSWER).expect("the first write");
    // A link at the file: every write is refused from now on.
    std::fs::remove_file(&file).expect("remove");
    std::os::unix::fs::symlink("/dev/null", &file).expect("plant a link");
    d.signal(libc::SIGHUP);
    let mut later = None;
    let served = wait_until(Duration::from_secs(15), || {
        later = get(addr, PATH, &[]).ok();
        later.as_ref().is_some_and(|r| {
            r.status == Some(200) && r.field("AccessKeyId") != first.field("AccessKeyId")
        })
    });
    assert!(
        served,
        "the endpoint kept the old credentials; last {later:?}\n{}",
        d.snapshot().describe()
    );
    let later = later.expect("set when the wait succeeded");
    assert_eq!(assert_serves_issued(&later, &h.sts.issued()), 1);
    assert!(
        std::fs::symlink_metadata(&file).is_ok_and(|m| m.file_type().is_symlink()),
        "the link was replaced"
    );
    d.assert_logs_within(
        "refresh_failed",
        Duration::from_secs(5),
        "the failed write was not reported",
    );
    d.stop().assert_code(0);
}

#[test]
fn non_loopback_addresses_and_once_are_refused() {
    let h = Harness::new("serve_refused", |_, _| Answer::issue(HOUR));
    let port = free_port().to_string();
    for (args, needle) in [
        (
            vec!["--serve".to_string(), format!("0.0.0.0:{port}")],
            "--serve-any-address",
        ),
        (
            vec!["--serve".to_string(), format!("[::]:{port}")],
            "--serve-any-address",
        ),
        (
            vec![
                "--serve".to_string(),
                format!("127.0.0.1:{port}"),
                "--once".to_string(),
            ],
            "--once",
        ),
        (
            vec!["--serve".to_string(), "localhost".to_string()],
            "--serve",
        ),
        (
            vec!["--serve-token-file".to_string(), "/nonexistent".to_string()],
            "--serve",
        ),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = h.cmd(&args).timeout(Duration::from_secs(30)).run();
        assert_eq!(out.code(), Some(2), "{}", out.describe());
        out.assert_stderr_contains(needle);
    }
    assert_eq!(h.sts.request_count(), 0, "refused before fetching anything");
}

/// `--serve 127.0.0.1:P` listened on IPv4 only, and a client
/// given `localhost` (botocore tries `::1` first) went to whoever listened
/// on `[::1]:P`: any local user, who got the token and fed it keys of their
/// own. Both loopback addresses are the endpoint's now (beside `0.0.0.0:P`,
/// `[::1]:P` too), and one taken before the start refuses it, naming it.
#[test]
fn localhost_reaches_the_endpoint_on_either_loopback_and_no_one_else() {
    let v6_loopback = SocketAddr::from((Ipv6Addr::LOCALHOST, 0));
    if TcpListener::bind(v6_loopback).is_err() {
        harness::skip_without("no IPv6 loopback here");
        return;
    }
    let h = Harness::new("serve_sibling", |_, _| Answer::issue(HOUR));
    let (d, addr) = serving(&h, &[]);
    wait_for_200(&d, addr, &[]);
    let sibling = SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port()));
    let reply = get(sibling, PATH, &[]).expect("[::1] answers");
    assert_eq!(reply.status, Some(200), "{reply:?}");
    assert!(
        TcpListener::bind(sibling).is_err(),
        "anyone could listen on {sibling}"
    );
    d.stop().assert_code(0);

    // The IPv4 wildcard left [::1]:P to anyone, and clients that resolve
    // localhost to it first with it.
    let (d, addr) = serving_on(&h, "0.0.0.0", &["--serve-any-address"], |run| run);
    wait_for_200(&d, addr, &[]);
    let sibling = SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port()));
    assert!(
        TcpListener::bind(sibling).is_err(),
        "anyone could listen on {sibling} beside 0.0.0.0"
    );
    d.stop().assert_code(0);

    let squatter = TcpListener::bind(v6_loopback).expect("listen on [::1]");
    let port = squatter.local_addr().expect("its port").port();
    let serve = format!("127.0.0.1:{port}");
    h.cmd(&["--serve", &serve])
        .run()
        .assert_code(2)
        .assert_stderr_contains(&format!("cannot also listen on [::1]:{port}"));
    assert_eq!(h.sts.request_count(), 2, "only the first two runs fetched");
}

/// Started while the loopback had no IPv6, the endpoint served
/// IPv4 alone and never looked again: once IPv6 was enabled, another user
/// took `[::1]:PORT` and the clients that resolve localhost to it first.
/// Each refresh claims it now. In a private network namespace, as root.
#[test]
fn a_loopback_that_appears_later_is_claimed_at_the_next_refresh() {
    let tools = ["ip", "nsenter", "python3"];
    if !harness::process::is_root()
        || tools.iter().any(|t| {
            std::process::Command::new(t)
                .arg("--version")
                .output()
                .is_err()
        })
    {
        harness::skip("needs root, ip, nsenter and python3 for a private network namespace");
        return;
    }
    let h = Harness::new("serve_ipv6_later", |_, _| Answer::issue(HOUR));
    let port = free_port().to_string();
    let serve = format!("127.0.0.1:{port}");
    let no_ipv6 = "ip link set lo up && echo 1 > /proc/sys/net/ipv6/conf/lo/disable_ipv6 && exec \"$0\" \"$@\"";
    // No STS is reachable in there: each refresh fails, and claims.
    let mut d = h
        .cmd(&["--serve", &serve])
        .wrapped(&["unshare", "--net", "sh", "-c", no_ipv6])
        .spawn();
    assert!(
        wait_until(FIRST_ANSWER, || d.stderr().contains("refresh_failed")),
        "{}",
        d.snapshot().describe()
    );
    let netns = format!("--net=/proc/{}/ns/net", d.pid());
    let inside = |script: &str| {
        std::process::Command::new("nsenter")
            .args([netns.as_str(), "sh", "-c", script])
            .status()
            .expect("nsenter")
            .success()
    };
    assert!(inside("echo 0 > /proc/sys/net/ipv6/conf/lo/disable_ipv6"));
    let anyone_can_take = format!(
        "python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind((\"::1\", {port}))' 2>/dev/null"
    );
    // A refresh (each failing retry is one; a SIGHUP asks for one) claims
    // it; the address may take a moment to be usable, so a few rounds.
    let claimed = (0..5).any(|_| {
        let failures = d.stderr().matches("refresh_failed").count();
        d.signal(libc::SIGHUP);
        wait_until(FIRST_ANSWER, || {
            d.stderr().matches("refresh_failed").count() > failures
        }) && !inside(&anyone_can_take)
    });
    assert!(
        claimed,
        "[::1]:{port} is still anyone's\n{}",
        d.snapshot().describe()
    );
    assert_eq!(d.stop().code(), Some(0));
}

/// A GET of the credentials with exactly these header lines (no Host
/// unless given), in the HTTP `version` asked for.
fn get_with(addr: SocketAddr, version: &str, headers: &[&str]) -> Response {
    let mut req = format!("GET {PATH} {version}\r\nUser-Agent: itest\r\n");
    for line in headers {
        req.push_str(line);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    exchange(addr, req.as_bytes()).unwrap_or_else(|e| panic!("{headers:?}: {e}"))
}

/// DNS rebinding: a page on attacker.example makes its own name resolve to
/// 127.0.0.1, and the browser sends it the endpoint's answer. The Host it
/// sends is the attacker's name, and that must get a 403 without a key,
/// while every Host an SDK sends (the URI's host) keeps getting 200.
#[test]
fn a_rebinding_host_gets_403_and_no_credentials() {
    let h = Harness::new("serve_rebinding", |_, _| Answer::issue(HOUR));
    let (mut d, addr) = serving(&h, &["--log-level", "debug"]);
    wait_for_200(&d, addr, &[]);
    let port = addr.port();
    let issued = h.sts.issued();

    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "127.0.0.1".to_string(),
        "LOCALHOST".to_string(),
    ] {
        let reply = get_with(addr, "HTTP/1.1", &[&format!("Host: {host}")]);
        assert_eq!(reply.status, Some(200), "Host: {host}: {reply:?}");
        assert_serves_issued(&reply, &issued);
    }
    // HTTP/1.0 may leave Host out; no SDK does, and then nothing says
    // which name the client used: refused like a wrong one.
    let reply = get_with(addr, "HTTP/1.0", &[]);
    assert_json_error(&reply, 403);
    assert_eq!(reply.field("code").as_deref(), Some("InvalidHost"));

    for host in [
        format!("attacker.example:{port}"),
        "attacker.example".to_string(),
        format!("localhost.attacker.example:{port}"),
        format!("127.0.0.1.nip.io:{port}"),
        format!("10.0.0.1:{port}"),
        String::new(),
    ] {
        for version in ["HTTP/1.1", "HTTP/1.0"] {
            let reply = get_with(addr, version, &[&format!("Host: {host}")]);
            assert_json_error(&reply, 403);
            assert_eq!(reply.field("code").as_deref(), Some("InvalidHost"));
            assert!(!reply.body.contains("ASIA"), "Host: {host}: {reply:?}");
            h.assert_no_secrets("the answer to a rebinding Host", &reply.body);
        }
    }
    // HTTP/1.1 requires exactly one Host (RFC 9112 section 3.2).
    assert_json_error(&get_with(addr, "HTTP/1.1", &[]), 400);
    let two = [
        format!("Host: 127.0.0.1:{port}"),
        format!("Host: attacker.example:{port}"),
    ];
    let two: Vec<&str> = two.iter().map(String::as_str).collect();
    assert_json_error(&get_with(addr, "HTTP/1.1", &two), 400);

    d.assert_running();
    let out = d.stop();
    out.assert_code(0);
    let refused: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("serve_host_refused"))
        .collect();
    assert_eq!(
        refused.len(),
        13,
        "one debug line per refused Host\n{}",
        out.describe()
    );
    assert!(
        refused.iter().all(|l| l.contains("DEBUG")),
        "{}",
        out.describe()
    );
}

/// With --serve-any-address, clients elsewhere name the endpoint by the IP
/// address they connect to, so that one is answered as well as the loopback
/// names; any other address, or a name, is not (a rebinding attack needs a
/// name). The daemon listens on every address and is reached at this
/// machine's own network address (the traffic never leaves the machine);
/// the rest of the rule is in the unit tests. Without a network address,
/// only the loopback half runs.
#[test]
fn serve_any_address_answers_the_address_connected_to_and_no_other() {
    let h = Harness::new("serve_any_address_hosts", |_, _| Answer::issue(HOUR));
    let (mut d, addr) = serving_on(&h, "0.0.0.0", &["--serve-any-address"], |run| run);
    wait_for_200(&d, addr, &[]);
    let port = addr.port();
    // Logged as a local client reaches it: `Host: 0.0.0.0` is refused.
    let logged = format!("endpoint=http://127.0.0.1:{port}/v1/credentials");
    assert!(d.stderr().contains(&logged), "{}", d.stderr());
    let at_loopback = |host: &str| get_with(addr, "HTTP/1.1", &[&format!("Host: {host}")]);
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        assert_eq!(at_loopback(&host).status, Some(200), "Host: {host}");
    }
    for host in [
        format!("10.1.2.3:{port}"),
        format!("[fd00:ec2::23]:{port}"),
        format!("attacker.example:{port}"),
        "pod.cluster.local".into(),
    ] {
        assert_json_error(&at_loopback(&host), 403);
    }
    match non_loopback_address() {
        None => eprintln!("only loopback checked: this machine has no non-loopback address"),
        Some(ip) => {
            let there = SocketAddr::new(ip, port);
            let named = SocketAddr::new(ip, port).to_string();
            let reply = get_with(there, "HTTP/1.1", &[&format!("Host: {named}")]);
            assert_eq!(
                reply.status,
                Some(200),
                "Host: {named} at {there}: {reply:?}"
            );
            // The same address named on a loopback connection is not the
            // address connected to.
            assert_json_error(&at_loopback(&named), 403);
            for host in [format!("10.1.2.3:{port}"), format!("localhost.:{port}")] {
                let reply = get_with(there, "HTTP/1.1", &[&format!("Host: {host}")]);
                assert_json_error(&reply, 403);
            }
        }
    }
    d.assert_running();
    d.stop().assert_code(0);
}

#[test]
fn a_silent_client_delays_others_well_under_a_second() {
    let h = Harness::new("serve_silent", |_, _| Answer::issue(HOUR));
    let (mut d, addr) = serving(&h, &[]);
    wait_for_200(&d, addr, &[]);
    let silent: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(addr).expect("connect a silent client"))
        .collect();
    // One that sends half a request line and then nothing.
    let mut half = TcpStream::connect(addr).expect("connect");
    half.write_all(b"GET /v1/cre").expect("write");
    thread::sleep(Duration::from_millis(100));

    let mut worst = Duration::ZERO;
    for _ in 0..5 {
        let reply = get(addr, PATH, &[]).expect("an answer");
        assert_eq!(reply.status, Some(200), "{reply:?}");
        worst = worst.max(reply.elapsed);
    }
    assert!(
        worst < DELAY_BOUND,
        "with silent clients connected, a request took {worst:?}"
    );

    // The silent ones are cut off by the connection deadline (~2 s).
    for mut s in silent.into_iter().chain([half]) {
        s.set_read_timeout(Some(Duration::from_secs(15)))
            .expect("set a read timeout");
        let started = Instant::now();
        let mut buf = [0u8; 256];
        let n = match s.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => 0,
            Err(e) => panic!("the server never closed a silent connection: {e}"),
        };
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a silent connection was held too long"
        );
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(
            !text.contains(" 200 "),
            "a silent client got credentials: {text}"
        );
    }
    d.assert_running();
    d.stop().assert_code(0);
}

#[test]
fn many_silent_clients_delay_others_only_until_their_deadline() {
    // Silent clients count towards the endpoint's cap; a request must get
    // through at once whether they are below it or being closed to make
    // room.
    let h = Harness::new("serve_many_silent", |_, _| Answer::issue(HOUR));
    let (mut d, addr) = serving(&h, &[]);
    wait_for_200(&d, addr, &[]);
    let silent: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(addr).expect("connect a silent client"))
        .collect();
    let reply = exchange_within(
        addr,
        format!("GET {PATH} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
        Duration::from_secs(15),
    )
    .expect("an answer while 100 silent clients are connected");
    eprintln!(
        "with 100 silent clients connected, a GET took {:?}",
        reply.elapsed
    );
    assert_eq!(reply.status, Some(200), "{reply:?}");
    drop(silent);
    d.assert_running();
    d.stop().assert_code(0);
}

/// An earlier endpoint reset 14-25% of the clients in bursts of 200 that
/// had connected and sent a whole GET, evicting them unread to make room
/// for the next. Every well-behaved client of a burst of several hundred must get
/// its answer. (The kernel's accept queue holds 128; a client that finds it
/// full connects a second or more later by SYN retry, which is fine.)
#[test]
fn a_burst_of_400_clients_is_answered_in_full() {
    const BURST: usize = 400;
    let h = Harness::new("serve_burst", |_, _| Answer::issue(HOUR));
    let (mut d, addr) = serving(&h, &[]);
    wait_for_200(&d, addr, &[]);
    let request = format!("GET {PATH} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: burst\r\n\r\n");
    let start = Arc::new(Barrier::new(BURST));
    let clients: Vec<_> = (0..BURST)
        .map(|_| {
            let start = Arc::clone(&start);
            let request = request.clone();
            thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    start.wait();
                    exchange_within(addr, request.as_bytes(), Duration::from_secs(60))
                })
                .expect("spawn a client thread")
        })
        .collect();
    let replies: Vec<_> = clients
        .into_iter()
        .map(|c| c.join().expect("a client thread"))
        .collect();

    let issued = h.sts.issued();
    let mut failed = Vec::new();
    let mut slowest = Duration::ZERO;
    for reply in &replies {
        match reply {
            Ok(r) if r.status == Some(200) => {
                assert_serves_issued(r, &issued);
                slowest = slowest.max(r.elapsed);
            }
            Ok(r) => failed.push(format!("HTTP {:?} after {:?}", r.status, r.elapsed)),
            Err(e) => failed.push(e.to_string()),
        }
    }
    eprintln!(
        "burst of {BURST}: {} answered 200, slowest {slowest:?}",
        BURST - failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} of {BURST} clients got no credentials, e.g. {:?}\n{}",
        failed.len(),
        &failed[..failed.len().min(5)],
        d.snapshot().describe()
    );
    d.assert_running();
    d.stop().assert_code(0);
}

/// A local process holding more idle sockets open than the endpoint keeps
/// (and opening new ones as the old are closed) must not lock legitimate
/// clients out: the idle ones are what gets dropped. The daemon runs under
/// a 128-descriptor limit, which caps it below that, so the flood needs
/// only a few hundred sockets.
#[test]
fn idle_sockets_beyond_the_cap_lock_no_one_out() {
    const IDLE_PER_THREAD: usize = 75;
    const FLOOD_THREADS: usize = 4;
    const REQUESTS: usize = 40;
    let h = Harness::new("serve_idle_flood", |_, _| Answer::issue(HOUR));
    let (mut d, addr) = serving_with(&h, &[], |run| run.fd_limit(128));
    wait_for_200(&d, addr, &[]);

    let run = gets_under_idle_flood(
        addr,
        PATH,
        (FLOOD_THREADS, IDLE_PER_THREAD),
        REQUESTS,
        Duration::from_secs(20),
        Duration::from_secs(30),
    );
    run.assert_all_answered("the endpoint", || d.snapshot().describe());
    d.assert_running();
    d.stop().assert_code(0);
}

/// Opens up to `count` idle connections to `addr` and holds them until
/// `stop`; returns how many it opened.
fn flood_idle(addr: SocketAddr, count: usize, stop: Arc<AtomicBool>) -> thread::JoinHandle<usize> {
    thread::spawn(move || {
        let mut held = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            if held.len() < count {
                held.extend(TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok());
            } else {
                thread::sleep(Duration::from_millis(20));
            }
        }
        held.len()
    })
}

/// The lines of a finished daemon's log that report failing accepts.
fn accept_failure_lines(out: &harness::Outcome) -> usize {
    out.stderr
        .lines()
        .filter(|l| l.contains("serve_accept_failed"))
        .count()
}

/// Out of descriptors, `accept` fails while the connection it could not
/// take stays queued. While idle connections hold every spare descriptor,
/// closing one frees a descriptor: a legitimate client arriving amid
/// hundreds of idle ones is still answered, without the daemon spinning.
#[test]
fn out_of_descriptors_idle_connections_make_room_for_clients() {
    let h = Harness::new("serve_fd_short", |_, _| Answer::issue(HOUR));
    let (mut d, addr) = serving(&h, &[]);
    wait_for_200(&d, addr, &[]);
    // Room for a handful of connections beyond what it holds open now.
    let in_use = open_fds(d.pid()).expect("the daemon's open descriptors");
    set_fd_limit(d.pid(), (in_use + 6) as u64);

    let stop = Arc::new(AtomicBool::new(false));
    let flood = flood_idle(addr, 300, Arc::clone(&stop));
    let cpu_before = cpu_time(d.pid()).expect("the daemon's CPU time");
    let measuring = Instant::now();
    // Once idle connections hold every spare descriptor, a client comes.
    thread::sleep(Duration::from_millis(200));
    let during = exchange_within(
        addr,
        format!("GET {PATH} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
        Duration::from_secs(20),
    );
    thread::sleep(Duration::from_secs(2).saturating_sub(measuring.elapsed()));
    let cpu = cpu_time(d.pid()).expect("the daemon's CPU time") - cpu_before;
    let wall = measuring.elapsed();
    stop.store(true, Ordering::SeqCst);
    let held = flood.join().expect("the flood thread");
    let share = cpu.as_secs_f64() / wall.as_secs_f64();
    let during = during.map(|r| (r.status, r.elapsed));
    eprintln!(
        "a few descriptors short, {held} idle connections: a GET got {during:?}; \
         {cpu:?} of CPU in {wall:?} ({:.1}% of a core)",
        share * 100.0
    );
    wait_for_200(&d, addr, &[]);
    d.assert_running();
    let out = d.stop();
    out.assert_code(0);
    let failures = accept_failure_lines(&out);
    assert!(
        matches!(during, Ok((Some(200), _))),
        "a client queued behind idle connections got {during:?} ({failures} log lines)"
    );
    assert!(
        share < 0.1,
        "the daemon used {:.0}% of a core ({failures} log lines)",
        share * 100.0
    );
    assert!(
        (1..=3).contains(&failures),
        "expected a rate-limited warning (1 to 3 lines), got {failures}"
    );
}

/// With no descriptor to spare at all, nothing can be closed to make room:
/// `poll` would report the queued connections again and again (an earlier
/// endpoint spun at 100% CPU, logging ~260k lines a second). Accepting must pause and
/// back off instead, say so in a bounded number of lines, and resume when
/// descriptors are back.
#[test]
fn with_no_descriptor_to_spare_accepting_backs_off_instead_of_spinning() {
    let h = Harness::new("serve_fd_none", |_, _| Answer::issue(HOUR));
    let (mut d, addr) = serving(&h, &[]);
    wait_for_200(&d, addr, &[]);
    let in_use = open_fds(d.pid()).expect("the daemon's open descriptors");
    set_fd_limit(d.pid(), in_use as u64);

    let stop = Arc::new(AtomicBool::new(false));
    let flood = flood_idle(addr, 300, Arc::clone(&stop));
    thread::sleep(Duration::from_millis(500));
    let cpu_before = cpu_time(d.pid()).expect("the daemon's CPU time");
    let measuring = Instant::now();
    thread::sleep(Duration::from_secs(3));
    let cpu = cpu_time(d.pid()).expect("the daemon's CPU time") - cpu_before;
    let wall = measuring.elapsed();
    let share = cpu.as_secs_f64() / wall.as_secs_f64();
    eprintln!(
        "no descriptor to spare, connections queued: {cpu:?} of CPU in {wall:?} ({:.1}% of a core)",
        share * 100.0
    );

    // Descriptors back and the flood gone: it answers again.
    set_fd_limit(d.pid(), (in_use + 64) as u64);
    stop.store(true, Ordering::SeqCst);
    let held = flood.join().expect("the flood thread");
    let reply = wait_for_200(&d, addr, &[]);
    assert_serves_issued(&reply, &h.sts.issued());
    d.assert_running();
    let out = d.stop();
    out.assert_code(0);
    let failures = accept_failure_lines(&out);
    eprintln!("{held} idle connections; {failures} serve_accept_failed lines");
    assert!(
        share < 0.1,
        "the daemon used {:.0}% of a core while out of descriptors ({failures} log lines)",
        share * 100.0
    );
    assert!(
        (1..=3).contains(&failures),
        "expected a rate-limited warning (1 to 3 lines), got {failures}\n{}",
        out.stderr.lines().take(20).collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn a_thousand_sequential_requests_with_flat_memory() {
    let h = Harness::new("serve_thousand", |_, _| Answer::issue(HOUR));
    let (mut d, addr) = serving(&h, &[]);
    wait_for_200(&d, addr, &[]);
    let mut rss_after_100 = 0;
    for i in 1..=1000 {
        let reply = get(addr, PATH, &[]).unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(reply.status, Some(200), "request {i}: {reply:?}");
        if i == 100 {
            rss_after_100 = rss_kib(d.pid()).expect("VmRSS of the daemon");
        }
    }
    let rss_after_1000 = rss_kib(d.pid()).expect("VmRSS of the daemon");
    eprintln!("VmRSS: {rss_after_100} KiB after 100 requests, {rss_after_1000} KiB after 1000");
    assert!(
        rss_after_1000 <= rss_after_100 + 1024,
        "memory grew from {rss_after_100} KiB after 100 requests to {rss_after_1000} KiB after 1000"
    );
    assert_eq!(h.sts.request_count(), 1, "serving never calls STS");
    d.assert_running();
    d.stop().assert_code(0);
}

/// Each malformed request, and what it must get: a status in 400..=499, or
/// (for the request cut off by the client) a closed connection.
#[test]
fn malformed_requests_get_4xx_and_never_stall_the_loop() {
    let h = Harness::new("serve_malformed", |_, _| Answer::issue(HOUR));
    let (mut d, addr) = serving(&h, &[]);
    wait_for_200(&d, addr, &[]);

    let mut huge_headers = format!("GET {PATH} HTTP/1.1\r\nHost: {addr}\r\n").into_bytes();
    for i in 0..1024 {
        huge_headers.extend_from_slice(format!("X-Pad-{i:04}: {}\r\n", "a".repeat(88)).as_bytes());
    }
    huge_headers.extend_from_slice(b"\r\n");
    assert!(huge_headers.len() >= 100 * 1024);
    let mut one_huge_line = format!("GET {PATH} HTTP/1.1\r\nX-Big: ").into_bytes();
    one_huge_line.extend(std::iter::repeat_n(b'b', 100 * 1024));
    one_huge_line.extend_from_slice(b"\r\n\r\n");
    let mut garbage: Vec<u8> = (0u8..=255).cycle().take(3000).collect();
    garbage.extend_from_slice(b"\r\n\r\n");

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage bytes", garbage),
        ("100 KiB of headers", huge_headers),
        ("one 100 KiB header line", one_huge_line),
        ("just CRLFs", b"\r\n\r\n".to_vec()),
        ("one CRLF", b"\r\n".to_vec()),
        (
            "headers without a request line",
            b"Host: x\r\nAccept: */*\r\n\r\n".to_vec(),
        ),
        ("HTTP/0.9", b"GET /v1/credentials\r\n".to_vec()),
        (
            "lowercase method",
            b"get /v1/credentials HTTP/1.1\r\n\r\n".to_vec(),
        ),
        (
            "wrong method",
            b"DELETE /v1/credentials HTTP/1.1\r\n\r\n".to_vec(),
        ),
        (
            "HTTP/2.0 version",
            b"GET /v1/credentials HTTP/2.0\r\n\r\n".to_vec(),
        ),
        (
            "HTTP/2 preface",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
        ),
        (
            "NUL in the target",
            b"GET /v1/cred\0entials HTTP/1.1\r\n\r\n".to_vec(),
        ),
        (
            "extra spaces",
            b"GET  /v1/credentials  HTTP/1.1\r\n\r\n".to_vec(),
        ),
        (
            "header without a colon",
            b"GET /v1/credentials HTTP/1.1\r\nNoColonHere\r\n\r\n".to_vec(),
        ),
        (
            "two Authorization headers",
            b"GET /v1/credentials HTTP/1.1\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n"
                .to_vec(),
        ),
        (
            "bare LF line ends",
            b"GET /v1/credentials HTTP/1.1\nHost: x\n\n\r\n\r\n".to_vec(),
        ),
    ];
    let mut failures = Vec::new();
    for (name, bytes) in &cases {
        match exchange_within(addr, bytes, Duration::from_secs(10)) {
            Ok(reply) => {
                let status = reply.status;
                let is_4xx = status.is_some_and(|s| (400..500).contains(&s));
                // 505 is the status RFC 9110 gives an unsupported version.
                let version_505 = name.contains("2.0") && status == Some(505);
                if !(is_4xx || version_505) {
                    failures.push(format!(
                        "{name}: got {status:?} after {:?}, expected a 4xx: {reply:?}",
                        reply.elapsed
                    ));
                } else if reply.elapsed >= client::EXCHANGE_TIMEOUT / 2 {
                    failures.push(format!("{name}: the 4xx took {:?}", reply.elapsed));
                }
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
        d.assert_running();
    }

    // Half a request, then the client closes its side.
    let mut half = TcpStream::connect(addr).expect("connect");
    half.write_all(format!("GET {PATH} HTTP/1.1\r\nHost: {addr}\r\n").as_bytes())
        .expect("write half a request");
    half.shutdown(Shutdown::Write).expect("half-close");
    half.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set a read timeout");
    let mut rest = Vec::new();
    match half.read_to_end(&mut rest) {
        Ok(_) => {
            let reply = client::parse_response(&rest, Duration::ZERO);
            if !(rest.is_empty() || reply.status.is_some_and(|s| (400..500).contains(&s))) {
                failures.push(format!("half a request: got {reply:?}"));
            }
        }
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => failures.push(format!("half a request: no close: {e}")),
    }

    d.assert_running();
    let reply = get(addr, PATH, &[]).expect("an answer after the malformed ones");
    assert_eq!(reply.status, Some(200), "{reply:?}");
    assert!(
        reply.elapsed < DELAY_BOUND,
        "a normal request after the malformed ones took {:?}",
        reply.elapsed
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    d.stop().assert_code(0);
}

/// What an SDK configured for https sends to an http port: a TLS
/// ClientHello, binary and without a line end. It can never become a valid
/// request, so it should get a 400 at once rather than silence until the
/// connection deadline.
#[test]
fn a_tls_client_hello_gets_400_at_once() {
    let h = Harness::new("serve_tls_hello", |_, _| Answer::issue(HOUR));
    let (mut d, addr) = serving(&h, &[]);
    wait_for_200(&d, addr, &[]);
    let mut hello = vec![
        0x16, 0x03, 0x01, 0x00, 0xc4, 0x01, 0x00, 0x00, 0xc0, 0x03, 0x03,
    ];
    hello.extend((0u8..32).map(|i| i.wrapping_mul(37)));
    hello.extend_from_slice(&[0x00, 0x02, 0x13, 0x01, 0x01, 0x00]);
    let reply = exchange_within(addr, &hello, Duration::from_secs(10)).expect("an answer or close");
    assert!(
        reply.status.is_some_and(|s| (400..500).contains(&s)),
        "a TLS ClientHello got {:?} after {:?} (expected a 400 at once)",
        reply.status,
        reply.elapsed
    );
    d.assert_running();
    d.stop().assert_code(0);
}

#[test]
fn a_slow_drip_client_is_cut_off_and_blocks_no_one() {
    let h = Harness::new("serve_drip", |_, _| Answer::issue(HOUR));
    let (mut d, addr) = serving(&h, &[]);
    wait_for_200(&d, addr, &[]);

    let request = format!("GET {PATH} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: drip\r\n\r\n");
    let drip = thread::spawn(move || -> (Option<Duration>, Vec<u8>) {
        let mut s = TcpStream::connect(addr).expect("connect the drip client");
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .expect("set a read timeout");
        let started = Instant::now();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        for byte in request.as_bytes() {
            if s.write_all(std::slice::from_ref(byte)).is_err() {
                return (Some(started.elapsed()), got);
            }
            // The read doubles as the 300 ms pause between bytes.
            match s.read(&mut buf) {
                Ok(0) => return (Some(started.elapsed()), got),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return (Some(started.elapsed()), got),
            }
        }
        (None, got)
    });

    // Meanwhile others are served as usual.
    let mut worst = Duration::ZERO;
    for _ in 0..10 {
        let reply = get(addr, PATH, &[]).expect("an answer during the drip");
        assert_eq!(reply.status, Some(200), "{reply:?}");
        worst = worst.max(reply.elapsed);
        thread::sleep(Duration::from_millis(250));
    }
    assert!(
        worst < DELAY_BOUND,
        "a request during the drip took {worst:?}"
    );

    let (cut_after, got) = drip.join().expect("the drip thread");
    let cut_after = cut_after.unwrap_or_else(|| {
        panic!(
            "the drip client sent its whole request ({} bytes over ~{:?}) without being cut off; got {:?}",
            got.len(),
            Duration::from_millis(300) * 50,
            String::from_utf8_lossy(&got)
        )
    });
    assert!(
        cut_after < Duration::from_secs(8),
        "cut off only after {cut_after:?} (deadline ~2 s)"
    );
    assert!(
        !String::from_utf8_lossy(&got).contains(" 200 "),
        "the drip client got credentials"
    );
    d.assert_running();
    d.stop().assert_code(0);
}

#[test]
fn served_answers_are_not_cached_and_close_the_connection() {
    let h = Harness::new("serve_headers", |_, _| Answer::issue(HOUR));
    let (mut d, addr) = serving(&h, &[]);
    let reply = wait_for_200(&d, addr, &[]);
    assert_eq!(reply.header("Cache-Control"), Some("no-store"), "{reply:?}");
    assert_eq!(reply.header("Connection"), Some("close"), "{reply:?}");
    assert_eq!(
        reply
            .header("Content-Length")
            .and_then(|l| l.parse::<usize>().ok()),
        Some(reply.body.len())
    );
    d.assert_running();
    // A stale file must not shadow the endpoint: nothing at the default path.
    assert!(fs::metadata(&h.cred_file).is_err());
    d.stop().assert_code(0);
}

/// Requests are logged at debug level only, and never with a secret: not
/// the credentials served, not the required token, not a wrong one.
#[test]
fn requests_are_logged_at_debug_level_only_and_without_secrets() {
    let h = Harness::new("serve_logs", |_, _| Answer::issue(HOUR));
    let token = "c2VydmUtbG9nLXRva2VuLTAxMjM0NTY3ODk";
    let wrong = "d3JvbmctdG9rZW4tZ3Vlc3NlZC0wMTIzNDU2Nzg5";
    h.add_secret(token);
    h.add_secret(wrong);
    let token_path = h.scratch.write("serve-token", token);
    let token_arg = token_path.display().to_string();
    for level in ["info", "debug"] {
        let (d, addr) = serving(
            &h,
            &[
                "--serve-token-file",
                token_arg.as_str(),
                "--log-level",
                level,
            ],
        );
        wait_for_200(&d, addr, &[("Authorization", token)]);
        let reply = get(addr, PATH, &[("Authorization", wrong)]).expect("an answer");
        assert_eq!(reply.status, Some(401));
        exchange(addr, b"GARBAGE\r\n\r\n").expect("an answer");
        // Stopping waits for the exit, so every log line is written.
        let out = d.stop();
        out.assert_code(0);
        let per_request = out
            .stderr
            .lines()
            .filter(|l| l.contains("serve_request"))
            .count();
        if level == "info" {
            assert_eq!(
                per_request,
                0,
                "requests logged at info:\n{}",
                out.describe()
            );
        } else {
            assert!(
                per_request >= 2,
                "requests not logged at debug:\n{}",
                out.describe()
            );
        }
    }
}

/// With stderr a pipe nobody reads (a stuck log driver),
/// the first line that did not fit blocked the daemon in write(2), and
/// refreshes, the endpoint and SIGTERM all stopped with it. A line stderr
/// cannot take within 100 ms is now dropped and counted, and no line is
/// longer than a pipe with any room takes at once: with the pipe full, the
/// endpoint still answers and SIGTERM still ends the daemon.
#[test]
fn a_log_pipe_nobody_reads_stops_nothing() {
    use std::os::unix::fs::OpenOptionsExt;
    let h = Harness::new("serve_stuck_log", |_, _| Answer::issue(HOUR));
    let fifo = h.scratch.join("stderr.fifo");
    crate::harness::mkfifo(&fifo);
    // The read end, held open and read only as below; the pipe filled up
    // from a write end of the test's own.
    let mut reader = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .expect("open the pipe's read end");
    let mut filler = fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .expect("open a write end");
    while filler.write(&[b'#'; 4096]).is_ok() {}
    let script = format!("exec \"$0\" \"$@\" 2>'{}'", fifo.display());
    let (mut d, addr) = serving_with(&h, &["--log-level", "debug"], |run| {
        run.wrapped(&["sh", "-c", &script])
    });
    wait_for_200(&d, addr, &[]);
    // Every SIGHUP is logged, and nothing fits.
    for _ in 0..50 {
        d.signal(libc::SIGHUP);
        thread::sleep(Duration::from_millis(2));
    }
    wait_for_200(&d, addr, &[]);
    // With room for one page (4 KiB), a longer line (a request
    // path near the 8 KiB head cap, logged at debug) passed the wait for
    // room and then blocked in write(2). Lines are now at most 4 KiB.
    let mut page = [0u8; 4096];
    reader.read_exact(&mut page).expect("free one page");
    let long = format!("/{}", "p".repeat(7900));
    for _ in 0..3 {
        let _ = exchange_within(
            addr,
            format!("GET {long} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
            Duration::from_secs(2),
        );
    }
    wait_for_200(&d, addr, &[]);
    // Each line still waited its 100 ms for room, so with debug
    // lines (one a request) any local client slowed the endpoint and the
    // probes to ten answers a second. Once a line is dropped, none waits
    // until one gets through: a run of requests costs one wait at most.
    const REQUESTS: u32 = 60;
    let started = Instant::now();
    for _ in 0..REQUESTS {
        let reply = get(addr, PATH, &[]).expect("an answer");
        assert_eq!(reply.status, Some(200), "{reply:?}");
    }
    let took = started.elapsed();
    // 100 ms each was 6 s; loopback answers take milliseconds.
    assert!(
        took < Duration::from_secs(3),
        "{REQUESTS} requests with the log pipe full took {took:?}"
    );
    d.signal(libc::SIGTERM);
    let status = d.wait_exit(Duration::from_secs(10));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "SIGTERM with the log pipe full\n{}",
        d.snapshot().describe()
    );
    d.outcome();
}
