//! `--metrics`: the Prometheus listener beside the refresh loop. What a
//! scrape says before the first success (NaN, `/readyz` 503) and after it
//! (the expiry gauge is the expiry the file records), the failure counter
//! moving under the right `reason` for every kind of scripted failure,
//! `/readyz` going 503 as the expiry nears and back to 200 after a
//! recovery, the credentials endpoint's answers counted by status, what the
//! listener answers to anything else, the usage errors, that no credential
//! ever reaches it, and that it adds no wake-up while idle.
//!
//! The listener binds port 0 and the test reads the port from the
//! `metrics_listening` log line, so no port is ever raced for. Every wait
//! polls with a generous deadline; the only timing promise checked is the
//! one `/readyz` makes against `--min-valid`, with a window of seconds.

use std::collections::BTreeMap;
use std::fs;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::harness::client::{exchange, get, gets_under_idle_flood, Response};
use crate::harness::ini::EXPIRY_COMMENT;
use crate::harness::time::rfc3339;
use crate::harness::{wait_for_file_containing, wait_until, Answer, Daemon, Harness, HOUR};

/// Deadline for the listener to come up, the first refresh to happen, a
/// counter to move (generous; each takes milliseconds to a few seconds).
const UP: Duration = Duration::from_secs(30);

/// The content type of the text exposition format 0.0.4.
const EXPOSITION: &str = "text/plain; version=0.0.4; charset=utf-8";

const EXPIRY: &str = "aws_credfile_credentials_expiry_timestamp_seconds";
const LAST_SUCCESS: &str = "aws_credfile_last_refresh_success_timestamp_seconds";
const NEXT_REFRESH: &str = "aws_credfile_next_refresh_timestamp_seconds";
const REFRESHES: &str = "aws_credfile_refreshes_total";
const FAILURES: &str = "aws_credfile_refresh_failures_total";
const ENDPOINT: &str = "aws_credfile_endpoint_requests_total";

/// Every `reason` of the failure counter, each always exposed.
const REASONS: [&str; 10] = [
    "throttled",
    "denied",
    "server_error",
    "timeout",
    "network",
    "bad_response",
    "expired_on_arrival",
    "file",
    "config",
    "other",
];

/// Starts the daemon with `--metrics 127.0.0.1:0` and `args`; the address
/// the listener took, from its log line.
fn with_metrics<'h>(h: &'h Harness, args: &[&str]) -> (Daemon<'h>, SocketAddr) {
    let mut all = vec!["--metrics", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let mut d = h.cmd(&all).spawn();
    let addr = logged_addr(&mut d, "metrics_listening addr=");
    (d, addr)
}

/// Waits for a complete log line holding `prefix` and reads the address
/// that follows it (up to a space, a quote or a `/`).
fn logged_addr(d: &mut Daemon, prefix: &str) -> SocketAddr {
    let mut found = None;
    wait_until(UP, || {
        found = d.stderr().split_once(prefix).and_then(|(_, rest)| {
            let (line, _) = rest.split_once('\n')?;
            line.split([' ', '"', '/']).next()?.parse().ok()
        });
        found.is_some() || d.try_exit().is_some()
    });
    found.unwrap_or_else(|| {
        panic!(
            "no {prefix:?} in the log within {UP:?}\n{}",
            d.snapshot().describe()
        )
    })
}

/// One scrape: every series with its value, and each family's type.
struct Scrape {
    text: String,
    samples: BTreeMap<String, f64>,
    types: BTreeMap<String, String>,
}

impl Scrape {
    /// The value of one series, such as `name{label="x"}`; the series
    /// must be there.
    fn get(&self, series: &str) -> f64 {
        *self
            .samples
            .get(series)
            .unwrap_or_else(|| panic!("no series {series} in:\n{}", self.text))
    }

    fn failures(&self, reason: &str) -> f64 {
        self.get(&format!("{FAILURES}{{reason=\"{reason}\"}}"))
    }

    fn all_failures(&self) -> f64 {
        REASONS.iter().map(|r| self.failures(r)).sum()
    }

    fn endpoint(&self, code: u16) -> f64 {
        self.samples
            .get(&format!("{ENDPOINT}{{code=\"{code}\"}}"))
            .copied()
            .unwrap_or(0.0)
    }
}

/// Reads the text format strictly enough to catch a malformed exposition:
/// every sample's family has its `# TYPE` before it, no series twice, every
/// value a number (`NaN` included), and a final newline. The Python client's
/// parser (tests/e2e) and `promtool check metrics` (tests/packaging) judge
/// it too.
fn parse_exposition(text: &str) -> Scrape {
    assert!(text.ends_with('\n'), "no final newline:\n{text}");
    let mut samples = BTreeMap::new();
    let mut types = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(
                types.insert(name.to_string(), kind.to_string()).is_none(),
                "{name} typed twice:\n{text}"
            );
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("a sample line without a value: {line:?}"));
        let family = series.split('{').next().expect("split yields one piece");
        assert!(
            types.contains_key(family),
            "{family} has no # TYPE before its sample:\n{text}"
        );
        let value: f64 = value
            .parse()
            .unwrap_or_else(|e| panic!("{line:?}: the value is not a number ({e})"));
        assert!(
            samples.insert(series.to_string(), value).is_none(),
            "{series} exposed twice:\n{text}"
        );
    }
    Scrape {
        text: text.to_string(),
        samples,
        types,
    }
}

/// `GET /metrics`: 200, the 0.0.4 content type, a well-formed body.
fn scrape(addr: SocketAddr) -> Scrape {
    let r = get(addr, "/metrics", &[]).unwrap_or_else(|e| panic!("scrape {addr}: {e}"));
    assert_eq!(r.status, Some(200), "{r:?}");
    assert_eq!(r.header("Content-Type"), Some(EXPOSITION), "{r:?}");
    parse_exposition(&r.body)
}

/// Scrapes until `cond` holds; the last scrape. Fails the test at the
/// deadline, showing the last scrape and the log.
fn scrape_until(
    d: &Daemon,
    addr: SocketAddr,
    timeout: Duration,
    what: &str,
    mut cond: impl FnMut(&Scrape) -> bool,
) -> Scrape {
    let mut last = None;
    let ok = wait_until(timeout, || {
        let s = scrape(addr);
        let done = cond(&s);
        last = Some(s);
        done
    });
    let last = last.expect("scraped at least once");
    assert!(
        ok,
        "no scrape showed {what} within {timeout:?}; the last:\n{}\n{}",
        last.text,
        d.snapshot().describe()
    );
    last
}

/// Polls `path` until it answers `status`; that answer.
fn answer_until(d: &Daemon, addr: SocketAddr, path: &str, status: u16) -> Response {
    let mut last = None;
    let ok = wait_until(UP, || {
        last = get(addr, path, &[]).ok();
        last.as_ref().and_then(|r| r.status) == Some(status)
    });
    assert!(
        ok,
        "{path} never answered {status} within {UP:?}; the last: {last:?}\n{}",
        d.snapshot().describe()
    );
    last.expect("set when the wait succeeded")
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// A Unix time as the file and STS write it.
fn as_rfc3339(unix: f64) -> String {
    assert!(unix.is_finite() && unix > 0.0, "not a time: {unix}");
    rfc3339(UNIX_EPOCH + Duration::from_secs(unix as u64))
}

/// The expiry the file records for `[default]`, as written there.
fn recorded_expiry(text: &str) -> String {
    let marker = text
        .lines()
        .find_map(|l| l.strip_prefix(EXPIRY_COMMENT))
        .unwrap_or_else(|| panic!("no {EXPIRY_COMMENT} line in:\n{text}"));
    marker
        .trim()
        .strip_prefix("expires ")
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("no expiry in {marker:?}"))
        .to_string()
}

#[test]
fn before_the_first_success_nan_and_not_ready_after_it_what_the_file_records() {
    let allow = Arc::new(AtomicBool::new(false));
    let allowed = Arc::clone(&allow);
    let h = Harness::new("metrics_first_success", move |_, _| {
        if allowed.load(Ordering::SeqCst) {
            Answer::issue(HOUR)
        } else {
            Answer::access_denied()
        }
    });
    let started = now_unix().floor();
    let (mut d, addr) = with_metrics(&h, &[]);

    let before = scrape_until(&d, addr, UP, "a denied refresh", |s| {
        s.failures("denied") >= 1.0
    });
    for (family, kind) in [
        ("aws_credfile_build_info", "gauge"),
        (EXPIRY, "gauge"),
        (LAST_SUCCESS, "gauge"),
        (NEXT_REFRESH, "gauge"),
        (REFRESHES, "counter"),
        (FAILURES, "counter"),
    ] {
        assert_eq!(
            before.types.get(family).map(String::as_str),
            Some(kind),
            "{family}:\n{}",
            before.text
        );
    }
    assert!(
        !before.types.contains_key(ENDPOINT),
        "no endpoint counter without --serve:\n{}",
        before.text
    );
    let version = format!(
        "aws_credfile_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(before.get(&version), 1.0);
    assert!(before.get(EXPIRY).is_nan(), "{}", before.text);
    assert!(before.get(LAST_SUCCESS).is_nan(), "{}", before.text);
    // A retry is planned within the backoff cap (a minute).
    let next = before.get(NEXT_REFRESH);
    assert!(
        next >= started && next <= now_unix() + 61.0,
        "next refresh {next}:\n{}",
        before.text
    );
    assert_eq!(
        before.get(REFRESHES),
        before.all_failures(),
        "{}",
        before.text
    );
    for reason in REASONS.iter().filter(|r| **r != "denied") {
        assert_eq!(before.failures(reason), 0.0, "{reason}:\n{}", before.text);
    }
    let not_ready = get(addr, "/readyz", &[]).expect("an answer");
    assert_eq!(not_ready.status, Some(503), "{not_ready:?}");
    assert!(
        not_ready.body.starts_with(
            "not ready: no credentials written yet: every refresh so far has failed, the last for reason denied"
        ),
        "{not_ready:?}"
    );
    assert_eq!(not_ready.body.lines().count(), 1, "one line: {not_ready:?}");
    let alive = get(addr, "/healthz", &[]).expect("an answer");
    assert_eq!((alive.status, alive.body.as_str()), (Some(200), "ok\n"));

    allow.store(true, Ordering::SeqCst);
    d.signal(libc::SIGHUP);
    let text = wait_for_file_containing(&h.cred_file, EXPIRY_COMMENT, UP)
        .unwrap_or_else(|| panic!("no file\n{}", d.snapshot().describe()));
    // The status is updated on the loop's thread right after the write,
    // before the listener answers again, so this scrape sees the success.
    let after = scrape(addr);
    let expiry = after.get(EXPIRY);
    assert_eq!(as_rfc3339(expiry), recorded_expiry(&text), "{}", after.text);
    assert_eq!(as_rfc3339(expiry), h.sts.issued()[0].expiration);
    let success = after.get(LAST_SUCCESS);
    assert!(
        success >= started && success <= now_unix(),
        "last success {success}:\n{}",
        after.text
    );
    let next = after.get(NEXT_REFRESH);
    assert!(
        next > success && next < expiry,
        "the next refresh {next} comes before the expiry {expiry}:\n{}",
        after.text
    );
    let successes = after.get(REFRESHES) - after.all_failures();
    assert!(
        successes >= 1.0 && successes <= h.sts.issued().len() as f64,
        "{} refreshes, {} failures, {} issued:\n{}",
        after.get(REFRESHES),
        after.all_failures(),
        h.sts.issued().len(),
        after.text
    );
    assert!(after.failures("denied") >= before.failures("denied"));
    let ready = get(addr, "/readyz", &[]).expect("an answer");
    assert_eq!(ready.status, Some(200), "{ready:?}");
    d.stop().assert_code(0);
}

/// One kind of failure and the reason it must be counted under.
struct Failing {
    name: &'static str,
    reason: &'static str,
    answer: fn() -> Answer,
}

const FAILING: [Failing; 10] = [
    Failing {
        name: "denied",
        reason: "denied",
        answer: Answer::access_denied,
    },
    Failing {
        name: "invalid_token",
        reason: "denied",
        answer: || {
            Answer::error(
                400,
                "InvalidIdentityToken",
                "No OpenIDConnect provider found in your account",
            )
        },
    },
    Failing {
        name: "throttled",
        reason: "throttled",
        answer: Answer::throttling,
    },
    Failing {
        name: "throttled_429_html",
        reason: "throttled",
        answer: || {
            Answer::raw(
                429,
                "text/html",
                "<html><body>429 Too Many Requests</body></html>",
            )
        },
    },
    Failing {
        name: "internal_failure_500",
        reason: "server_error",
        answer: || Answer::error(500, "InternalFailure", "An internal error occurred"),
    },
    Failing {
        name: "bad_gateway_html",
        reason: "server_error",
        answer: || {
            Answer::raw(
                502,
                "text/html",
                "<html><body>502 Bad Gateway</body></html>",
            )
        },
    },
    Failing {
        name: "garbage",
        reason: "bad_response",
        answer: || {
            Answer::raw(
                200,
                "text/html",
                "<html><body>Welcome to nginx!</body></html>",
            )
        },
    },
    Failing {
        name: "truncated_xml",
        reason: "bad_response",
        answer: || Answer::raw(200, "text/xml", "<AssumeRoleWithWebIdentityResponse><Assu"),
    },
    Failing {
        name: "reset",
        reason: "network",
        answer: || Answer::Reset,
    },
    Failing {
        name: "expired",
        reason: "expired_on_arrival",
        answer: || Answer::issue_expired(Duration::from_secs(120)),
    },
];

/// For every scripted failure, and for a port that refuses connections and
/// a file that cannot be written: the counter of its reason moves (twice,
/// so it is counting, not set once), no other reason moves, every attempt
/// is counted, and nothing is ready. All daemons run at once.
/// A sidecar restarted during a source outage reported NaN and 503 while
/// the file its last run wrote, which the app reads, held keys valid for
/// an hour and `--check` passed: the HTTP readiness probe took the pod out
/// of its Services, and the expiry alert could never fire (round 41). The
/// file found at start is reported until the first refresh.
#[test]
fn a_restarted_sidecar_reports_the_file_it_finds() {
    let h = Harness::new("metrics_restarted", |n, _| match n {
        0 => Answer::issue(HOUR),
        _ => Answer::access_denied(),
    });
    h.cmd(&["--once"]).run().assert_code(0);
    let text = std::fs::read_to_string(&h.cred_file).expect("the file");
    let (mut d, addr) = with_metrics(&h, &[]);
    let s = scrape_until(&d, addr, UP, "a failed refresh", |s| {
        s.failures("denied") >= 1.0
    });
    assert_eq!(
        as_rfc3339(s.get(EXPIRY)),
        recorded_expiry(&text),
        "{}",
        s.text
    );
    assert!(s.get(LAST_SUCCESS).is_nan(), "{}", s.text);
    let ready = get(addr, "/readyz", &[]).expect("an answer");
    assert_eq!(ready.status, Some(200), "{ready:?}");
    h.cmd(&["--check"]).run().assert_code(0);

    // Rewritten to expire sooner (another writer, a hand), the file is
    // what the app has: reported after the next refresh, failed or not,
    // not the expiry found at start (round 41).
    let sooner = rfc3339(SystemTime::now() + Duration::from_secs(120));
    let rewritten = text.replace(&recorded_expiry(&text), &sooner);
    std::fs::write(&h.cred_file, &rewritten).expect("rewrite");
    d.signal(libc::SIGHUP);
    let s = scrape_until(&d, addr, UP, "a second failed refresh", |s| {
        s.failures("denied") >= 2.0
    });
    assert_eq!(as_rfc3339(s.get(EXPIRY)), sooner, "{}", s.text);
    let not_ready = get(addr, "/readyz", &[]).expect("an answer");
    assert_eq!(not_ready.status, Some(503), "{not_ready:?}");
    assert_eq!(d.stop().code(), Some(0));
}

#[test]
fn each_failure_moves_the_counter_of_its_reason() {
    let mut cases: Vec<(&str, &str, Harness)> = FAILING
        .iter()
        .map(|f| {
            let answer = f.answer;
            let h = Harness::new(&format!("metrics_failing_{}", f.name), move |_, _| answer());
            (f.name, f.reason, h)
        })
        .collect();
    let refused = Harness::new("metrics_failing_refused", |_, _| Answer::issue(HOUR));
    refused.sts.refuse_connections();
    cases.push(("refused", "network", refused));
    // The credentials file's directory turns into a regular file once the
    // daemon has started (one there at start is a configuration error):
    // every write fails, after a successful fetch.
    let dir: Arc<std::sync::OnceLock<std::path::PathBuf>> = Arc::default();
    let unwritable = Harness::new("metrics_failing_file", {
        let dir = Arc::clone(&dir);
        move |_, _| {
            let dir = dir.get().expect("the directory is named before the start");
            if dir.is_dir() {
                fs::remove_dir(dir).expect("remove the directory");
                fs::write(dir, "").expect("put a file in its place");
            }
            Answer::issue(HOUR)
        }
    });
    let not_a_dir = unwritable.scratch.join("not-a-dir");
    fs::create_dir(&not_a_dir).expect("make the directory");
    dir.set(not_a_dir).expect("set once");
    cases.push(("unwritable", "file", unwritable));

    let mut running: Vec<(&str, &str, &Harness, Daemon, SocketAddr)> = Vec::new();
    for (name, reason, h) in &cases {
        let run = if *name == "unwritable" {
            h.cmd(&["--metrics", "127.0.0.1:0"]).env(
                "AWS_SHARED_CREDENTIALS_FILE",
                h.scratch.join("not-a-dir/credentials"),
            )
        } else {
            h.cmd(&["--metrics", "127.0.0.1:0"])
        };
        let mut d = run.spawn();
        let addr = logged_addr(&mut d, "metrics_listening addr=");
        running.push((name, reason, h, d, addr));
    }
    for (name, reason, h, d, addr) in &mut running {
        let s = scrape_until(
            d,
            *addr,
            UP,
            &format!("two {reason} failures ({name})"),
            |s| s.failures(reason) >= 2.0,
        );
        for other in REASONS.iter().filter(|r| *r != reason) {
            assert_eq!(s.failures(other), 0.0, "{name}: {other}:\n{}", s.text);
        }
        assert!(s.get(EXPIRY).is_nan(), "{name}:\n{}", s.text);
        assert_eq!(s.get(REFRESHES), s.all_failures(), "{name}:\n{}", s.text);
        let not_ready = get(*addr, "/readyz", &[]).expect("an answer");
        assert_eq!(not_ready.status, Some(503), "{name}: {not_ready:?}");
        // Not "none obtained yet" beside an endpoint serving the fetched
        // ones, as it read when only the write failed (round 41).
        assert!(
            not_ready.body.contains(&format!(
                "every refresh so far has failed, the last for reason {reason}"
            )),
            "{name}: {not_ready:?}"
        );
        d.assert_running();
        let log = d.stderr();
        // The log line carries the same reason, for alerts on logs alone.
        assert!(
            log.contains("refresh_failed") && log.contains(&format!(" reason={reason} ")),
            "{name}:\n{log}"
        );
        match *name {
            "refused" => {}
            // The credentials it could not write are written again, not
            // fetched again.
            "unwritable" => assert_eq!(h.sts.request_count(), 1, "{name}"),
            _ => assert!(h.sts.request_count() >= 2, "{name}"),
        }
    }
    for (_, _, _, d, _) in running {
        d.stop().assert_code(0);
    }
}

/// A request that gets no answer in time is a `timeout`, whether nothing
/// came at all or the head came and the body stalled; a refusal or a reset
/// is `network`. Slow by nature: the daemon gives an exchange 20 seconds
/// (a body 5 once its head has come, so that one may fail more than once
/// while the other is waited for).
#[test]
fn an_answer_that_never_comes_is_a_timeout() {
    let hang = Harness::new("metrics_timeout_hang", |_, _| Answer::Hang);
    // The head at once, then nothing for longer than the exchange may take.
    let stall = Harness::new("metrics_timeout_body", |_, _| {
        Answer::issue(HOUR).trickled(4096, Duration::from_secs(60))
    });
    let mut running = Vec::new();
    for h in [&hang, &stall] {
        let (d, addr) = with_metrics(h, &[]);
        running.push((h, d, addr));
    }
    for (h, d, addr) in &running {
        let s = scrape_until(d, *addr, Duration::from_secs(90), "a timeout", |s| {
            s.all_failures() >= 1.0
        });
        assert_eq!(
            s.failures("timeout"),
            s.all_failures(),
            "{}\n{}",
            s.text,
            d.snapshot().describe()
        );
        assert!(s.get(EXPIRY).is_nan());
        assert!(h.sts.request_count() >= 1);
    }
    for (_, d, _) in running {
        d.stop().assert_code(0);
    }
}

/// Credentials living 40 s against `--min-valid 25s`, and an STS that
/// refuses every refresh: `/readyz` is 200 while they have 25 s left (a
/// window of 15 s for the test to look), 503 (saying so) from then on, and
/// 200 again once STS lets a refresh through.
#[test]
fn readyz_turns_503_as_the_expiry_nears_and_200_after_recovery() {
    const LIFETIME: Duration = Duration::from_secs(40);
    const MIN_VALID: f64 = 25.0;
    let allow = Arc::new(AtomicBool::new(false));
    let allowed = Arc::clone(&allow);
    let h = Harness::new("metrics_readyz_flips", move |n, _| {
        if n == 0 || allowed.load(Ordering::SeqCst) {
            Answer::issue(LIFETIME)
        } else {
            Answer::access_denied()
        }
    });
    let (mut d, addr) = with_metrics(&h, &["--min-valid", "25s"]);
    let text = wait_for_file_containing(&h.cred_file, EXPIRY_COMMENT, UP)
        .unwrap_or_else(|| panic!("no file\n{}", d.snapshot().describe()));
    let asked = now_unix();
    let ready = get(addr, "/readyz", &[]).expect("an answer");
    let expiry = scrape(addr).get(EXPIRY);
    assert_eq!(as_rfc3339(expiry), recorded_expiry(&text));
    assert!(
        asked < expiry - MIN_VALID,
        "the test came too late to see the credentials ready (under heavy load?)"
    );
    assert_eq!(ready.status, Some(200), "{ready:?}");
    assert_eq!(ready.body, "ready\n");

    let not_ready = answer_until(&d, addr, "/readyz", 503);
    let seen = now_unix();
    assert!(
        seen >= expiry - MIN_VALID - 1.0,
        "503 at {seen}, before the credentials (expiring at {expiry}) had less than 25 s left"
    );
    assert!(
        not_ready
            .body
            .starts_with("not ready: the credentials expire at")
            && not_ready.body.contains("less than --min-valid 25s")
            && not_ready.body.lines().count() == 1,
        "{not_ready:?}"
    );
    // Refreshing has been failing meanwhile, as denied.
    let s = scrape_until(&d, addr, UP, "a denied refresh", |s| {
        s.failures("denied") >= 1.0
    });
    assert_eq!(s.get(EXPIRY), expiry, "a failure keeps the last expiry");

    allow.store(true, Ordering::SeqCst);
    d.signal(libc::SIGHUP);
    answer_until(&d, addr, "/readyz", 200);
    let s = scrape(addr);
    assert!(s.get(EXPIRY) > expiry, "{}", s.text);
    assert_eq!(
        as_rfc3339(s.get(EXPIRY)),
        recorded_expiry(&h.read_cred_file())
    );
    d.stop().assert_code(0);
}

/// `/readyz` follows the rule of `--check` about what the app reads: once a
/// refresh finds a directory or a symbolic link put at the path (and fails,
/// counted as the file's trouble, not a setting's), it is 503 naming what
/// is there, however long the credentials last written have to live; once a
/// refresh writes the file again, 200.
#[test]
fn readyz_is_not_ready_once_a_refresh_finds_the_file_replaced() {
    let h = Harness::new("metrics_readyz_file_replaced", |_, _| Answer::issue(HOUR));
    let (mut d, addr) = with_metrics(&h, &[]);
    wait_for_file_containing(&h.cred_file, EXPIRY_COMMENT, UP)
        .unwrap_or_else(|| panic!("no file\n{}", d.snapshot().describe()));
    answer_until(&d, addr, "/readyz", 200);

    fs::remove_file(&h.cred_file).expect("remove the file");
    fs::create_dir(&h.cred_file).expect("a directory at the path");
    d.signal(libc::SIGHUP);
    let s = scrape_until(&d, addr, UP, "a failed write", |s| {
        s.failures("file") >= 1.0
    });
    assert_eq!(s.failures("config"), 0.0, "{}", s.text);
    let not_ready = answer_until(&d, addr, "/readyz", 503);
    assert!(
        not_ready.body.contains("is a directory") && not_ready.body.lines().count() == 1,
        "{not_ready:?}"
    );

    fs::remove_dir(&h.cred_file).expect("remove the directory");
    let elsewhere = h
        .scratch
        .write("elsewhere", "[default]\naws_access_key_id = AKIAOTHER\n");
    std::os::unix::fs::symlink(&elsewhere, &h.cred_file).expect("a link at the path");
    d.signal(libc::SIGHUP);
    scrape_until(&d, addr, UP, "a second failed write", |s| {
        s.failures("file") >= 2.0
    });
    let not_ready = answer_until(&d, addr, "/readyz", 503);
    assert!(not_ready.body.contains("symbolic link"), "{not_ready:?}");

    fs::remove_file(&h.cred_file).expect("remove the link");
    d.signal(libc::SIGHUP);
    answer_until(&d, addr, "/readyz", 200);
    d.stop().assert_code(0);
}

/// A write that succeeds keeps another profile's line that aws-sdk-go v1
/// fails the whole file at: `--check` failed on it while `/readyz` said
/// ready, and nothing was logged (round 35). Now every refresh reads the
/// file back as `--check` does: 503 with its reason, a `file_unfit`
/// warning, and 200 once the line is mended and a refresh ran.
#[test]
fn readyz_is_not_ready_while_the_file_written_holds_a_line_an_sdk_refuses() {
    let h = Harness::new("metrics_readyz_sdk_unfit", |_, _| Answer::issue(HOUR));
    h.write_cred_file("[other]\naws_access_key_id = -1\n");
    let (mut d, addr) = with_metrics(&h, &[]);
    wait_for_file_containing(&h.cred_file, EXPIRY_COMMENT, UP)
        .unwrap_or_else(|| panic!("no file\n{}", d.snapshot().describe()));
    let not_ready = answer_until(&d, addr, "/readyz", 503);
    assert!(not_ready.body.contains("aws-sdk-go v1"), "{not_ready:?}");
    d.assert_logs_within("file_unfit", UP, "the warning");
    let check = h.cmd(&["--check"]).run();
    check.assert_code(1).assert_stderr_contains("aws-sdk-go v1");

    let mended = h
        .read_cred_file()
        .replace("aws_access_key_id = -1", "region = eu-west-1");
    fs::write(&h.cred_file, mended).expect("mend the file");
    d.signal(libc::SIGHUP);
    answer_until(&d, addr, "/readyz", 200);
    d.stop().assert_code(0);
}

/// With `--serve`, every answer of the credentials endpoint is counted by
/// its status: 200, 401 (no or a wrong token), 403 (a foreign Host), 404,
/// 405; a 200 series is there before the first request.
#[test]
fn the_endpoint_answers_are_counted_by_status() {
    let h = Harness::new("metrics_endpoint_codes", |_, _| Answer::issue(HOUR));
    let token = "metrics-endpoint-token-0123456789abcdef";
    h.add_secret(token);
    let token_file = h.scratch.write("serve-token", token);
    let token_file = token_file.to_str().expect("a UTF-8 path");
    let (mut d, metrics) = with_metrics(
        &h,
        &["--serve", "127.0.0.1:0", "--serve-token-file", token_file],
    );
    let serve = logged_addr(&mut d, "endpoint=http://");
    let first = scrape_until(&d, metrics, UP, "the first success", |s| {
        !s.get(EXPIRY).is_nan()
    });
    assert_eq!(
        first.types.get(ENDPOINT).map(String::as_str),
        Some("counter")
    );
    assert_eq!(first.endpoint(200), 0.0, "{}", first.text);

    let auth = [("Authorization", token)];
    let path = "/v1/credentials";
    let expect = |r: std::io::Result<Response>, status: u16| {
        let r = r.expect("an answer");
        assert_eq!(r.status, Some(status), "{r:?}");
    };
    expect(get(serve, path, &auth), 200);
    expect(get(serve, path, &auth), 200);
    expect(get(serve, path, &[]), 401);
    expect(get(serve, path, &[("Authorization", "wrong")]), 401);
    let foreign_host = format!(
        "GET {path} HTTP/1.1\r\nHost: rebound.example:{}\r\nAuthorization: {token}\r\n\r\n",
        serve.port()
    );
    expect(exchange(serve, foreign_host.as_bytes()), 403);
    expect(get(serve, "/latest/meta-data/", &auth), 404);
    let post = format!("POST {path} HTTP/1.1\r\nHost: {serve}\r\nContent-Length: 0\r\n\r\n");
    expect(exchange(serve, post.as_bytes()), 405);
    expect(exchange(serve, b"NOT HTTP\r\n\r\n"), 400);

    let s = scrape(metrics);
    for (code, n) in [
        (200, 2.0),
        (401, 2.0),
        (403, 1.0),
        (404, 1.0),
        (405, 1.0),
        (400, 1.0),
    ] {
        assert_eq!(s.endpoint(code), n, "code {code}:\n{}", s.text);
    }
    let counted: f64 = s
        .samples
        .iter()
        .filter(|(k, _)| k.starts_with(ENDPOINT))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(counted, 8.0, "nothing else counted:\n{}", s.text);
    d.stop().assert_code(0);
}

/// The listener serves its three paths to GET only, answers any Host (a
/// scraper names the pod's address), and never a credential: not at the
/// endpoint's path, not in any body, not in the log.
#[test]
fn the_listener_answers_404_405_and_never_a_credential() {
    let h = Harness::new("metrics_listener", |_, _| Answer::issue(HOUR));
    let (d, addr) = with_metrics(&h, &["--serve", "127.0.0.1:0"]);
    scrape_until(&d, addr, UP, "the first success", |s| {
        !s.get(EXPIRY).is_nan()
    });
    let issued = h.sts.issued();
    let akid = issued[0].access_key_id.as_str();

    let mut bodies = Vec::new();
    for path in [
        "/v1/credentials",
        "/",
        "/metricsx",
        "/metrics/",
        "/../metrics",
    ] {
        let r = get(addr, path, &[]).expect("an answer");
        assert_eq!(r.status, Some(404), "{path}: {r:?}");
        let json = r.json();
        assert!(
            json.get("code").is_some() && json.get("message").is_some(),
            "{r:?}"
        );
        bodies.push(r.body);
    }
    for method in ["POST", "PUT", "DELETE", "HEAD"] {
        let req =
            format!("{method} /metrics HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n");
        let r = exchange(addr, req.as_bytes()).expect("an answer");
        assert_eq!(r.status, Some(405), "{method}: {r:?}");
        bodies.push(r.body);
    }
    let bad = exchange(addr, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03").expect("an answer");
    assert_eq!(bad.status, Some(400), "{bad:?}");
    // Prometheus names the address it scrapes; kubelet's probes the pod IP.
    for host in ["10.1.2.3:9912", "metrics.monitoring.svc", "[fd00::5]:9912"] {
        let req = format!("GET /metrics HTTP/1.1\r\nHost: {host}\r\n\r\n");
        let r = exchange(addr, req.as_bytes()).expect("an answer");
        assert_eq!(r.status, Some(200), "Host {host}: {r:?}");
        bodies.push(r.body);
    }
    for path in ["/metrics", "/healthz", "/readyz"] {
        bodies.push(get(addr, path, &[]).expect("an answer").body);
    }
    // Whatever the token and Authorization, the listener has no credentials
    // to give.
    let r = get(addr, "/v1/credentials", &[("Authorization", "anything")]).expect("an answer");
    assert_eq!(r.status, Some(404));
    bodies.push(r.body);
    for body in &bodies {
        h.assert_no_secrets("a metrics answer", body);
        assert!(
            !body.contains(akid),
            "the access key id in an answer:\n{body}"
        );
    }
    d.stop().assert_code(0);
}

/// Scrapers sometimes add URL parameters (`params:` in a scrape config);
/// the path decides, not the query.
#[test]
fn a_query_string_does_not_change_the_path() {
    let h = Harness::new("metrics_query", |_, _| Answer::issue(HOUR));
    let (d, addr) = with_metrics(&h, &[]);
    for path in ["/metrics?format=prometheus", "/healthz?verbose", "/readyz?"] {
        let r = get(addr, path, &[]).expect("an answer");
        assert_ne!(r.status, Some(404), "{path}: {r:?}");
    }
    assert_eq!(
        get(addr, "/v1/credentials?x=/metrics", &[])
            .expect("an answer")
            .status,
        Some(404)
    );
    d.stop().assert_code(0);
}

#[test]
fn metrics_with_a_one_shot_mode_or_a_bad_address_is_a_usage_error() {
    let h = Harness::new("metrics_usage", |_, _| Answer::issue(HOUR));
    let one_shot: [&[&str]; 3] = [&["--once"], &["--credential-process"], &["--print", "env"]];
    for mode in one_shot {
        let mut args = vec!["--metrics", "127.0.0.1:0"];
        args.extend_from_slice(mode);
        let out = h.cmd(&args).run();
        out.assert_code(2);
        assert_eq!(out.stderr_lines().len(), 1, "{}", out.describe());
        out.assert_stderr_contains("--metrics");
    }
    for bad in [
        "99999",
        "+9912",
        "localhost:9912",
        "127.0.0.1",
        "127.0.0.1:99999",
        "",
        ":9912",
        "http://0.0.0.0:9912",
    ] {
        let out = h.cmd(&["--metrics", bad]).run();
        out.assert_code(2);
        assert_eq!(out.stderr_lines().len(), 1, "{}", out.describe());
        out.assert_stderr_contains("--metrics");
    }
    let out = h.cmd(&["--metrics"]).run();
    out.assert_code(2);
    out.assert_stderr_contains("metrics");

    // A port already taken: a configuration error at start, naming it.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("bound").to_string();
    let out = h.cmd(&["--metrics", &port]).run();
    out.assert_code(2);
    out.assert_stderr_contains("--metrics");
    out.assert_stderr_contains(&port);

    assert_eq!(h.sts.request_count(), 0, "no request on a usage error");
    assert!(!h.cred_file.exists(), "no file on a usage error");
}

/// Any address may be asked for (the listener holds no secret): all
/// addresses here, and it says where it listens without a warning.
#[test]
fn any_address_is_allowed_and_logged() {
    let h = Harness::new("metrics_any_address", |_, _| Answer::issue(HOUR));
    let mut d = h.cmd(&["--metrics", "0.0.0.0:0"]).spawn();
    let bound = logged_addr(&mut d, "metrics_listening addr=");
    assert!(bound.ip().is_unspecified(), "{bound}");
    let addr = SocketAddr::from(([127, 0, 0, 1], bound.port()));
    scrape_until(&d, addr, UP, "the first success", |s| {
        !s.get(EXPIRY).is_nan()
    });
    let out = d.stop();
    out.assert_code(0);
    assert!(!out.stderr.contains("WARN"), "{}", out.describe());
}

/// Loopback by default: a port alone listens on 127.0.0.1 only.
#[test]
fn a_port_alone_listens_on_loopback() {
    let h = Harness::new("metrics_port_alone", |_, _| Answer::issue(HOUR));
    let mut d = h.cmd(&["--metrics", "0"]).spawn();
    let bound = logged_addr(&mut d, "metrics_listening addr=");
    assert_eq!(bound.ip(), std::net::Ipv4Addr::LOCALHOST, "{bound}");
    assert_ne!(bound.port(), 0, "{bound}");
    scrape_until(&d, bound, UP, "the first success", |s| {
        !s.get(EXPIRY).is_nan()
    });
    d.stop().assert_code(0);
}

/// `-- PROGRAM` keeps the listener for as long as the program runs.
#[test]
fn metrics_are_served_while_supervising_a_program() {
    let h = Harness::new("metrics_supervise", |_, _| Answer::issue(HOUR));
    let (mut d, addr) = with_metrics(&h, &["--", "/bin/sleep", "60"]);
    let s = scrape_until(&d, addr, UP, "the first success", |s| {
        !s.get(EXPIRY).is_nan()
    });
    assert_eq!(s.get(REFRESHES), 1.0, "{}", s.text);
    assert!(s.get(NEXT_REFRESH) > now_unix(), "{}", s.text);
    assert!(
        d.stderr().contains("program_started"),
        "{}",
        d.snapshot().describe()
    );
    assert_eq!(
        get(addr, "/readyz", &[]).expect("an answer").status,
        Some(200)
    );
    d.assert_running();
    // SIGTERM goes to the program; its end (killed by it) ends the run.
    let out = d.stop();
    assert!(out.status.is_some(), "{}", out.describe());
}

/// Context switches of every thread of `pid` so far.
fn context_switches(pid: u32) -> u64 {
    let mut total = 0;
    for task in fs::read_dir(format!("/proc/{pid}/task")).expect("the daemon's threads") {
        let status =
            fs::read_to_string(task.expect("a thread").path().join("status")).unwrap_or_default();
        total += status
            .lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .filter_map(|l| l.split(':').nth(1)?.trim().parse::<u64>().ok())
            .sum::<u64>();
    }
    total
}

/// The listener has no timer of its own: between scrapes the daemon
/// sleeps in one `poll`, with no wake-up at all (the benchmarks measure the
/// same over minutes).
#[test]
fn the_listener_adds_no_wake_up_while_idle() {
    let h = Harness::new("metrics_idle", |_, _| Answer::issue(HOUR));
    let (d, addr) = with_metrics(&h, &["--serve", "127.0.0.1:0"]);
    scrape_until(&d, addr, UP, "the first success", |s| {
        !s.get(EXPIRY).is_nan()
    });
    get(addr, "/readyz", &[]).expect("an answer");
    // Let the answered connections close and the fetch's thread end.
    thread::sleep(Duration::from_millis(500));
    let before = context_switches(d.pid());
    thread::sleep(Duration::from_secs(3));
    let after = context_switches(d.pid());
    assert_eq!(
        after - before,
        0,
        "the idle daemon woke up {} times in 3 s",
        after - before
    );
    let s = scrape(addr);
    assert_eq!(s.get(REFRESHES), 1.0, "{}", s.text);
    d.stop().assert_code(0);
}

/// The metrics listener took 16 connections at once, so
/// idle sockets opened faster than they could be evicted filled it, and
/// kubelet probes of `/healthz` timed out (on a port the README suggests
/// binding to the pod network). It now gets a quarter of the connections
/// the descriptor limit allows beside the endpoint, which keeps its own:
/// with idle sockets held against the metrics port, every probe is
/// answered, and so is the endpoint.
#[test]
fn idle_sockets_on_the_metrics_port_lock_no_probe_out() {
    const IDLE_PER_THREAD: usize = 75;
    const FLOOD_THREADS: usize = 4;
    const PROBES: usize = 40;
    // A kubelet probe not answered within its timeoutSeconds (2 s in the
    // manifests) has failed. The loopback answer takes milliseconds when
    // the listener has room; the build with 16 slots took up to 11 s.
    const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
    let h = Harness::new("metrics_idle_flood", |_, _| Answer::issue(HOUR));
    let (mut d, addr) = with_metrics(&h, &["--serve", "127.0.0.1:0"]);
    answer_until(&d, addr, "/healthz", 200);

    let run = gets_under_idle_flood(
        addr,
        "/healthz",
        (FLOOD_THREADS, IDLE_PER_THREAD),
        PROBES,
        PROBE_TIMEOUT,
        UP,
    );
    run.assert_all_answered("the metrics port", || d.snapshot().describe());
    d.assert_running();
    d.stop().assert_code(0);
}

/// With 127.0.0.1 taken off the loopback (an IPv6-only one), a
/// port alone (`--metrics 9912`, loopback) and the endpoint of `-- PROGRAM`
/// (`127.0.0.1:0`) could not listen at all (exit 2). The IPv6 loopback
/// serves alone then. Run in a private network namespace, as root.
#[test]
fn an_ipv6_only_loopback_is_listened_on() {
    if !crate::harness::process::is_root()
        || std::process::Command::new("ip").arg("-V").output().is_err()
    {
        crate::harness::skip("needs root and ip (iproute2) for a private network namespace");
        return;
    }
    let h = Harness::new("metrics_ipv6_only", |_, _| Answer::issue(HOUR));
    let ipv6_only = "ip link set lo up && ip addr del 127.0.0.1/8 dev lo && exec \"$0\" \"$@\"";
    // No STS can be reached in there: the refreshes fail, the listener is
    // what is looked at.
    let mut d = h
        .cmd(&["--metrics", "0"])
        .wrapped(&["unshare", "--net", "sh", "-c", ipv6_only])
        .spawn();
    let bound = logged_addr(&mut d, "metrics_listening addr=");
    assert_eq!(bound.ip(), std::net::Ipv6Addr::LOCALHOST, "{bound}");
    d.assert_running();
    assert_eq!(d.stop().code(), Some(0));
}
