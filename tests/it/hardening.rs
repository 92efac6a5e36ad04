//! What an outside attack on the binary broke, one test per finding, each a
//! class of attack rather than the one input that found it: another
//! writer's lock, named pipes and endless files as inputs, servers quoting
//! the secrets they were sent, a `localhost` that is not loopback, far-future
//! expiries and stamps, paths that are not UTF-8, settings checked too late,
//! a descriptor limit, hard links, and SIGHUP storms.
//!
//! Each test failed on the code before its fix (run them against an older
//! build with `AWS_CREDFILE_TEST_BIN`, see `main.rs`), so each bound below is
//! one the old code missed by far: seconds where the fix takes milliseconds,
//! hundreds of requests where the fix makes a handful. Tests that need root
//! (another user, a private `/etc/hosts`) say why they skip without it.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crate::harness::client::{exchange_within, free_port, non_loopback_address, parse_response};
use crate::harness::fake::{success, Protocol};
use crate::harness::ini::{self, Profile, EXPIRY_COMMENT};
use crate::harness::process::{armed_timers, is_root, rss_kib};
use crate::harness::time::rfc3339;
use crate::harness::{
    base64, dir_names, mkfifo, private_hosts_unsupported, wait_for_file_containing, wait_until,
    Answer, Daemon, Fake, Harness, Invocation, Issued, HOUR, LOCK_FILE, NOBODY,
};
use crate::serve::{serving, wait_for_200};

const PATH: &str = "/v1/credentials";

/// Deadline for a first write, an expected log line, a recovery: generous,
/// as each takes milliseconds.
const SOON: Duration = Duration::from_secs(15);

/// How long a stop or a refusal may take. The old code took the whole lock
/// wait (10 s) or for ever; the fixed one takes milliseconds.
const PROMPTLY: Duration = Duration::from_secs(5);

/// Backstop for runs that used to hang: far below the harness's default,
/// so a regression fails in seconds, not minutes.
const HANG_GUARD: Duration = Duration::from_secs(20);

/// The file's bytes and inode: "untouched" means both are the same.
fn snapshot(path: &Path) -> (Vec<u8>, u64) {
    (
        fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())),
        fs::metadata(path).expect("stat").ino(),
    )
}

/// Whether the file's `[default]` holds the credentials the fake issued
/// `n`-th (zero-based).
fn holds_issued(h: &Harness, n: usize) -> bool {
    let issued = h.sts.issued();
    issued.len() > n
        && fs::read_to_string(&h.cred_file)
            .ok()
            .and_then(|t| ini::profile(&t, "default").ok())
            == Some(Profile::from(&issued[n]))
}

fn wait_for_issued(h: &Harness, d: &Daemon, n: usize) {
    assert!(
        wait_until(SOON, || holds_issued(h, n)),
        "the file never held credentials #{n} ({} requests)\n{}",
        h.sts.request_count(),
        d.snapshot().describe()
    );
}

/// Waits until the file holds credentials the fake issued after the first
/// `issued` (the next refresh's).
fn wait_for_new_write(h: &Harness, d: &Daemon, issued: usize) {
    assert!(
        wait_until(SOON, || {
            let now = h.sts.issued().len();
            now > issued && holds_issued(h, now - 1)
        }),
        "no write of new credentials ({} requests)\n{}",
        h.sts.request_count(),
        d.snapshot().describe()
    );
}

/// Waits until the daemon's log holds `needle` at least `times` times.
fn wait_for_log(d: &Daemon, needle: &str, times: usize) {
    assert!(
        wait_until(SOON, || d.stderr().matches(needle).count() >= times),
        "{needle:?} was not logged {times} time(s)\n{}",
        d.snapshot().describe()
    );
}

/// SIGTERM, then the exit: 0, within [`PROMPTLY`].
fn assert_stops_promptly(d: &mut Daemon, during: &str) {
    assert_stops_promptly_with(d, during, 0);
}

/// SIGTERM, then the exit with `code`, within [`PROMPTLY`].
fn assert_stops_promptly_with(d: &mut Daemon, during: &str, code: i32) {
    d.signal(libc::SIGTERM);
    let asked = Instant::now();
    let status = d.wait_exit(HANG_GUARD);
    let took = asked.elapsed();
    let out = d.outcome();
    assert!(
        status.is_some() && took < PROMPTLY,
        "SIGTERM {during}: no exit within {PROMPTLY:?} (took {took:?})\n{}",
        out.describe()
    );
    assert_eq!(
        out.code(),
        Some(code),
        "SIGTERM {during}\n{}",
        out.describe()
    );
}

/// Takes the `flock` another aws-credfile writer would hold on the lock
/// file beside `h.cred_file`; released when the file is dropped.
fn hold_lock(h: &Harness) -> File {
    let lock = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(h.cred_file.with_file_name(LOCK_FILE))
        .expect("open the lock file");
    lock.lock().expect("take the lock");
    lock
}

/// One part of a test, run by [`every_case`].
type Part<'a> = Box<dyn Fn() + 'a>;

fn part<'a>(name: &str, f: impl Fn() + 'a) -> (String, Part<'a>) {
    (name.to_string(), Box::new(f))
}

/// Runs `check` on every case, so that one failing case hides none of the
/// others (each failure's message is printed as it happens), then fails
/// naming every case that failed.
fn every_case<T>(cases: impl IntoIterator<Item = (String, T)>, check: impl Fn(T)) {
    let failed: Vec<String> = cases
        .into_iter()
        .filter_map(|(name, case)| {
            panic::catch_unwind(AssertUnwindSafe(|| check(case)))
                .is_err()
                .then_some(name)
        })
        .collect();
    assert!(failed.is_empty(), "failed cases: {failed:?}");
}

/// Every file under `dir` (recursively) but those sharing `except`'s inode.
fn files_under(dir: &Path, except: &Path) -> Vec<PathBuf> {
    let skip = fs::metadata(except).expect("stat").ino();
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).expect("list").flatten() {
        let path = entry.path();
        let meta = fs::symlink_metadata(&path).expect("stat");
        if meta.is_dir() {
            out.extend(files_under(&path, except));
        } else if meta.is_file() && meta.ino() != skip {
            out.push(path);
        }
    }
    out
}

/// Finding: waiting for another writer's lock froze the whole loop for the
/// lock wait (10 s): the endpoint stopped answering, SIGTERM took those
/// seconds, and `--once` stopped during the wait exited 1. Now the lock is
/// tried between short waits: the endpoint answers, a stop ends it at once
/// with the file untouched, and the write goes ahead as soon as the lock is
/// free.
#[test]
fn a_held_lock_stalls_neither_the_endpoint_nor_a_stop() {
    let h = Harness::new("hard_lock_wait", |_, _| Answer::issue(HOUR));
    let file = h.cred_file.display().to_string();
    let h = &h;
    // Once a refresh begun with the lock held (by SIGHUP, or a --once
    // starting) has fetched, it is waiting for the lock.
    let waiting_for_lock = |requests_before: usize| {
        assert!(
            h.sts.wait_for_requests(requests_before + 1, SOON),
            "no fetch"
        );
        thread::sleep(Duration::from_millis(300));
    };
    let parts: Vec<(String, Part)> = vec![
        part("the endpoint while waiting, the write after", || {
            let (mut d, addr) = serving(h, &["--file", &file]);
            wait_for_200(&d, addr, &[]);
            wait_for_new_write(h, &d, 0);
            let lock = hold_lock(h);
            let before = snapshot(&h.cred_file);
            let (requests, issued) = (h.sts.request_count(), h.sts.issued().len());
            d.signal(libc::SIGHUP);
            waiting_for_lock(requests);
            let request = format!("GET {PATH} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
            for i in 0..3 {
                let reply = exchange_within(addr, request.as_bytes(), PROMPTLY);
                assert!(
                    matches!(&reply, Ok(r) if r.status == Some(200)),
                    "GET {i} while the lock is held: {reply:?}\n{}",
                    d.snapshot().describe()
                );
            }
            assert_eq!(
                snapshot(&h.cred_file),
                before,
                "written under another's lock"
            );
            drop(lock);
            wait_for_new_write(h, &d, issued);
            assert_stops_promptly(&mut d, "after the write");
        }),
        part("a stop of the daemon while waiting", || {
            let issued = h.sts.issued().len();
            let mut d = h.cmd(&[]).spawn();
            wait_for_new_write(h, &d, issued);
            let _lock = hold_lock(h);
            let before = snapshot(&h.cred_file);
            let requests = h.sts.request_count();
            d.signal(libc::SIGHUP);
            waiting_for_lock(requests);
            assert_stops_promptly(&mut d, "to a daemon waiting for the lock");
            assert_eq!(snapshot(&h.cred_file), before, "written on the way out");
        }),
        part("a stop of --once while waiting", || {
            let _lock = hold_lock(h);
            let before = snapshot(&h.cred_file);
            let requests = h.sts.request_count();
            let mut once = h.cmd(&["--once"]).spawn();
            waiting_for_lock(requests);
            // Stopped before it wrote: 143 (128 + SIGTERM), so a script's
            // `--once && next` does not go on.
            assert_stops_promptly_with(&mut once, "to --once waiting for the lock", 143);
            assert_eq!(snapshot(&h.cred_file), before, "written on the way out");
        }),
    ];
    every_case(parts, |part| part());
}

/// Finding: a named pipe as a token file, the endpoint's token file or
/// `AWS_CA_BUNDLE` hung `open()` for ever (stops included), and a token
/// path turned into one under a running daemon wedged its refreshes. Now
/// each is refused at start (exit 2, naming it, at once), and under the
/// daemon that refresh fails, is logged, and the next one after the pipe is
/// gone succeeds.
#[test]
fn named_pipes_as_inputs_are_refused_not_waited_on() {
    let h = Harness::new("hard_fifo", |_, _| Answer::issue(HOUR));
    let pipe = h.scratch.join("in/pipe");
    fs::create_dir_all(pipe.parent().expect("dir")).expect("dir");
    mkfifo(&pipe);
    let shown = pipe.display().to_string();
    let serve = format!("127.0.0.1:{}", free_port());
    let agent_url = format!("{}{PATH}", h.sts.url());
    let h = &h;
    let at_start = |culprit: &str, args: &[&str], env: &[(&str, &str)]| {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let culprit = culprit.to_string();
        part(&format!("{culprit} at start"), move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut run = h.cmd(&args).timeout(HANG_GUARD);
            for (k, v) in &env {
                run = run.env(k, v);
            }
            let requests = h.sts.request_count();
            let out = run.run();
            out.assert_code(2)
                .assert_stderr_contains(&culprit)
                .assert_stderr_contains("named pipe");
            assert!(out.elapsed < PROMPTLY, "slow\n{}", out.describe());
            assert_eq!(h.sts.request_count(), requests, "a request was made");
        })
    };
    let token_file = "AWS_WEB_IDENTITY_TOKEN_FILE";
    let agent_token_file = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";
    let parts = vec![
        at_start(token_file, &["--once"], &[(token_file, &shown)]),
        at_start(
            agent_token_file,
            &["--once", "--source", "container"],
            &[
                ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &agent_url),
                (agent_token_file, &shown),
            ],
        ),
        at_start(
            "--serve-token-file",
            &["--serve", &serve, "--serve-token-file", &shown],
            &[],
        ),
        at_start("AWS_CA_BUNDLE", &["--once"], &[("AWS_CA_BUNDLE", &shown)]),
        part("a token turned into a pipe under the daemon", || {
            let issued = h.sts.issued().len();
            let mut d = h.cmd(&[]).spawn();
            wait_for_new_write(h, &d, issued);
            let staged = h.scratch.join("token/.pipe");
            mkfifo(&staged);
            fs::rename(&staged, &h.token_file).expect("swap the pipe in");
            d.signal(libc::SIGHUP);
            wait_for_log(&d, "named pipe", 1);
            d.assert_running();
            // A regular file again: the daemon carries on with it.
            let issued = h.sts.issued().len();
            h.set_token("eyJhbGciOiJSUzI1NiJ9.eyJhZnRlci1waXBlIjoxfQ.c2lnYWZ0ZXJwaXBlMDAwMQ");
            d.signal(libc::SIGHUP);
            wait_for_new_write(h, &d, issued);
            let last = h.sts.requests().pop().expect("a request");
            assert_eq!(last.param("WebIdentityToken"), Some(h.token()));
            assert_stops_promptly(&mut d, "after recovering");
        }),
    ];
    every_case(parts, |part| part());
}

/// The embedded Mozilla roots as a PEM bundle, `copies` times over: a real
/// bundle, only larger than any real one.
fn pem_bundle(copies: usize) -> String {
    let mut one = String::new();
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        one.push_str("-----BEGIN CERTIFICATE-----\n");
        let b64 = base64(cert.as_ref());
        for line in b64.as_bytes().chunks(64) {
            one.push_str(std::str::from_utf8(line).expect("ascii"));
            one.push('\n');
        }
        one.push_str("-----END CERTIFICATE-----\n");
    }
    one.repeat(copies)
}

/// Finding: `AWS_CA_BUNDLE` was read whole, so `/dev/zero` filled memory
/// (without end but the machine's), and a bundle of any size was taken.
/// Now it is capped at 4 MiB: both are a configuration error at once, and
/// the binary's resident memory, sampled while it runs, stays small. (An
/// address-space limit of 256 MiB keeps an old build from taking the
/// machine's memory; it fails the test by its size long before.)
#[test]
fn an_endless_or_huge_ca_bundle_is_refused_in_bounded_memory() {
    const FOUR_MIB: usize = 4 * 1024 * 1024;
    const RSS_BOUND_KIB: u64 = 64 * 1024;
    let h = Harness::new("hard_ca_bundle", |_, _| Answer::issue(HOUR));
    // Valid PEM throughout, so size is the only thing wrong with it.
    let one = pem_bundle(1).len();
    let huge = h
        .scratch
        .write("in/huge-bundle.pem", pem_bundle(FOUR_MIB / one + 2));
    let cases = [PathBuf::from("/dev/zero"), huge].map(|b| (b.display().to_string(), b));
    every_case(cases, |bundle| {
        let mut run = h
            .cmd(&["--once"])
            .env("AWS_CA_BUNDLE", &bundle)
            .memory_limit(256 * 1024 * 1024)
            .spawn();
        let mut peak_kib = 0;
        let exited = wait_until(HANG_GUARD, || {
            peak_kib = peak_kib.max(rss_kib(run.pid()).unwrap_or(0));
            run.try_exit().is_some()
        });
        let out = run.outcome();
        assert!(exited, "no exit within {HANG_GUARD:?}\n{}", out.describe());
        out.assert_code(2).assert_stderr_contains("AWS_CA_BUNDLE");
        assert!(
            peak_kib < RSS_BOUND_KIB,
            "{}: {peak_kib} KiB resident\n{}",
            bundle.display(),
            out.describe()
        );
        assert!(out.elapsed < PROMPTLY, "slow\n{}", out.describe());
    });
    assert_eq!(h.sts.request_count(), 0, "refused before any request");
    assert!(!h.cred_file.exists(), "a file was written");
}

/// A server that quotes what it was sent: its harness, the arguments and
/// variables that make the binary ask it, and what of its error must show.
#[derive(Clone, Copy)]
struct Echoing<'a> {
    h: &'a Harness,
    args: &'a [&'a str],
    env: &'a [(&'a str, &'a str)],
    shown: &'a str,
}

/// Finding: STS, a proxy or the agent quoting the request in an error (the
/// identity token, the source keys of a chained call, the agent token)
/// reached the log verbatim; later, a quote cut to a length or taken from
/// an offset did too, and one the XML encoded (character references,
/// CDATA), since only the raw answer was searched. For each source, in both log formats, for `--once`
/// and the daemon, the server quotes every secret it was sent, whole and in
/// pieces (the agent, the URI's query too); the error still shows (its code), and the harness's secret scan,
/// which knows each value and looks for any 16 bytes of it, finds none.
#[test]
fn secrets_a_server_echoes_never_reach_the_log() {
    // The chained hop's source credentials, known here so the fake can
    // quote the secret key, which a signed request never carries.
    let source = Issued {
        access_key_id: "ASIAECHOSOURCE000077".into(),
        secret_access_key: "echoSourceSecretKey0077/K7MDENG+bPxRfiCYzz".into(),
        session_token: "IQoJb3JpZ2luX2VjEchoSourceSessionToken0077/SeSsIoN+tOkEn==".into(),
        expiration: rfc3339(SystemTime::now() + HOUR),
    };
    let agent_token = "eyJhbGciOiJSUzI1NiJ9.eyJlY2hvLWFnZW50IjoxfQ.ZWNob2FnZW50c2lnMDA3Nw";

    let web_identity = Harness::new("hard_echo_irsa", |_, req| {
        let token = req.param("WebIdentityToken").unwrap_or_default();
        Answer::error(
            400,
            "InvalidIdentityToken",
            &format!(
                "Couldn't verify the token {token}; it was sent as {token}; it begins {} and \
                 ends {}; as character references {}; in CDATA <![CDATA[{token}]]>; \
                 percent-encoded {}; upper-cased {}; spaced out {}",
                &token[..24],
                &token[token.len() - 24..],
                token.bytes().map(|b| format!("&#{b};")).collect::<String>(),
                token
                    .bytes()
                    .map(|b| format!("%{b:02X}"))
                    .collect::<String>(),
                token.to_uppercase(),
                token
                    .chars()
                    .map(|c| format!("{c}&#x200b;"))
                    .collect::<String>()
            ),
        )
    });
    let echoed = source.clone();
    let chained = Harness::new("hard_echo_chain", move |_, req| match req.protocol() {
        Protocol::AssumeRole => Answer::error(
            403,
            "AccessDenied",
            &format!(
                "The key {} with secret {} ({}...) and token {} may not assume {}",
                echoed.access_key_id,
                echoed.secret_access_key,
                &echoed.secret_access_key[4..28],
                req.header("X-Amz-Security-Token").unwrap_or_default(),
                req.param("RoleArn").unwrap_or_default()
            ),
        ),
        _ => Answer::raw(200, "text/xml", success(Protocol::WebIdentity, &echoed).1),
    });
    chained.add_secret(&source.secret_access_key);
    chained.add_secret(&source.session_token);
    let container = Harness::with_agent(
        "hard_echo_agent",
        |_, _| Answer::issue(HOUR),
        Fake::start(|_, req| {
            let sent = req.header("Authorization").unwrap_or_default();
            Answer::json(
                401,
                &format!(
                    r#"{{"code":"Unauthorized","message":"the token {sent} ({}...) is not valid for GET {}"}}"#,
                    &sent[..sent.len().min(20)],
                    req.target
                ),
            )
        }),
    );
    container.add_secret(agent_token);
    // A query the URI carries is never shown (`?…`), so neither is it when
    // the agent echoes the request.
    let signature = "echoQuerySignature0077abcdefXYZ";
    let signed_uri = format!("{}/v1/credentials?sig={signature}", container.agent().url());
    container.add_secret(signature);

    let cases = [
        Echoing {
            h: &web_identity,
            args: &[],
            env: &[],
            shown: "InvalidIdentityToken",
        },
        Echoing {
            h: &chained,
            args: &["--role-arn", "arn:aws:iam::210987654321:role/partner"],
            env: &[],
            shown: "AccessDenied",
        },
        Echoing {
            h: &container,
            args: &[],
            env: &[
                ("AWS_CONTAINER_AUTHORIZATION_TOKEN", agent_token),
                ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &signed_uri),
            ],
            shown: "401",
        },
    ];
    let runs = cases.into_iter().flat_map(|case| {
        [
            ("text", true),
            ("json", true),
            ("text", false),
            ("json", false),
        ]
        .map(|(format, once)| {
            let mode = if once { "--once" } else { "daemon" };
            (
                format!("{} {format} {mode}", case.shown),
                (case, format, once),
            )
        })
    });
    // The harness scans every run's output for every secret.
    every_case(runs, |(case, format, once)| {
        let mut args = vec!["--log-format", format, "--log-level", "debug"];
        args.extend_from_slice(case.args);
        let stderr = if once {
            args.extend(["--once", "--once-timeout", "2s"]);
            let out = with_env(case.h.cmd(&args), case.env).run();
            out.assert_code(1).assert_stderr_contains(case.shown);
            out.stderr
        } else {
            let d = with_env(case.h.cmd(&args), case.env).spawn();
            wait_for_log(&d, case.shown, 2);
            let out = d.stop();
            out.assert_code(0);
            out.stderr
        };
        assert_spells_no_secret(&stderr, &case.h.secrets());
    });
    assert!(chained.sts.request_count() >= 8, "the chained hop was made");
    assert!(
        container.agent().request_count() >= 4,
        "the agent was asked"
    );
}

/// The container URI's query, hidden from messages, was printed whole when
/// the agent answered a redirect (its `Location` quoted the query and the
/// authorization token), and when an agent echoed the query percent-decoded
/// (`S3CR%2FET` as `S3CR/ET`). Neither reaches the log now.
#[test]
fn the_uris_query_stays_hidden_in_redirects_and_decoded_echoes() {
    let query_value = "S3CR%2FETquery%2BSignature0099XYZ";
    let decoded = "S3CR/ETquery+Signature0099XYZ";
    // A token with a `?` in it lost its tail to the hidden query, and the
    // rest was shown.
    for (name, redirect, agent_token) in [
        ("redirect", true, "redirectAgentToken0099abcdefghij"),
        (
            "redirect to the token",
            true,
            "leakyTok?en0099abcdefghijklmnop",
        ),
        ("decoded echo", false, "redirectAgentToken0099abcdefghij"),
    ] {
        let h = Harness::with_agent(
            "hard_query_hidden",
            |_, _| Answer::issue(HOUR),
            Fake::start(move |_, req| match redirect {
                // The fake writes its content type into the head as it is:
                // a second header rides along.
                true => Answer::raw(
                    302,
                    &format!(
                        "text/plain\r\nLocation: /{0}/v1/credentials?token={decoded}&auth={0}",
                        req.header("Authorization").unwrap_or_default()
                    ),
                    "",
                ),
                false => Answer::json(
                    401,
                    &format!(
                        r#"{{"code":"Bad","message":"got {decoded} for {}"}}"#,
                        req.target
                    ),
                ),
            }),
        );
        h.add_secret(agent_token);
        h.add_secret(decoded);
        h.add_secret(query_value);
        let uri = format!("{}/v1/credentials?token={query_value}", h.agent().url());
        let out = h
            .cmd(&["--once", "--once-timeout", "2s", "--log-level", "debug"])
            .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", &uri)
            .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", agent_token)
            .run();
        // The harness scans the output for every secret.
        out.assert_code(1);
        if redirect {
            out.assert_stderr_contains("a redirect to /** redacted **");
        }
        // Shorter than the pieces the harness looks for.
        assert!(!out.stderr.contains("leakyTok"), "{name}: {}", out.stderr);
        assert!(
            h.agent().request_count() >= 1,
            "{name}: the agent was not asked"
        );
    }
}

/// An upstream quoting the credentials it issued last
/// time (still in the file, and served) had them logged whole: only what a
/// request sent was taken out of error text. The credentials held are now
/// taken out of every later error too, in every mode that holds them.
#[test]
fn the_credentials_held_never_reach_the_log_when_an_upstream_quotes_them() {
    let held = Issued {
        access_key_id: "ASIAHELDEXAMPLE00011".into(),
        secret_access_key: "heldSecretKeyEXAMPLE0011/K7MDENG+bPxRfiCY".into(),
        session_token: "IQoJb3JpZ2luX2VjHeldSessionToken0011/SeSsIoN+tOkEn==".into(),
        expiration: rfc3339(SystemTime::now() + HOUR),
    };
    for (run, args) in [&[][..], &["--serve", "127.0.0.1:0"][..]]
        .into_iter()
        .enumerate()
    {
        let quoted = held.clone();
        let h = Harness::new(&format!("hard_echo_held{run}"), move |n, _| {
            if n == 0 {
                return Answer::raw(200, "text/xml", success(Protocol::WebIdentity, &quoted).1);
            }
            Answer::error(
                500,
                "InternalFailure",
                &format!(
                    "could not renew {} (secret {}, token {})",
                    quoted.access_key_id, quoted.secret_access_key, quoted.session_token
                ),
            )
        });
        h.add_secret(&held.secret_access_key);
        h.add_secret(&held.session_token);
        let mut d = h.cmd(args).spawn();
        wait_for_log(&d, "credentials_refreshed", 1);
        // SIGHUP refreshes at most once a second.
        thread::sleep(Duration::from_millis(1050));
        d.signal(libc::SIGHUP);
        wait_for_log(&d, "refresh_failed", 1);
        let out = d.stop();
        out.assert_code(0)
            .assert_stderr_contains("InternalFailure")
            .assert_stderr_contains("** redacted **");
        assert_spells_no_secret(&out.stderr, &h.secrets());
    }
}

/// The identity token the first hop sent was taken out
/// of that hop's errors only; the same STS quoting it in the chained
/// `AssumeRole`'s error had it logged whole. Each hop now also hides what
/// the source sent.
#[test]
fn the_identity_token_is_hidden_from_the_chained_hops_errors_too() {
    let seen = Arc::new(std::sync::Mutex::new(String::new()));
    let remembered = Arc::clone(&seen);
    let h = Harness::new("hard_echo_hop2", move |_, req| match req.protocol() {
        Protocol::AssumeRole => Answer::error(
            403,
            "AccessDenied",
            &format!(
                "the session of web identity {} may not assume {}",
                remembered.lock().expect("lock"),
                req.param("RoleArn").unwrap_or_default()
            ),
        ),
        _ => {
            *remembered.lock().expect("lock") = req.param("WebIdentityToken").unwrap_or_default();
            Answer::issue(HOUR)
        }
    });
    let out = h
        .cmd(&[
            "--once",
            "--once-timeout",
            "2s",
            "--role-arn",
            "arn:aws:iam::210987654321:role/partner",
        ])
        .run();
    out.assert_code(1)
        .assert_stderr_contains("AccessDenied")
        .assert_stderr_contains("** redacted **");
    assert!(!seen.lock().expect("lock").is_empty(), "the token was sent");
    assert_spells_no_secret(&out.stderr, &h.secrets());
}

/// Fails if `text`, read as a person would (`?` and whitespace, which the
/// log puts for invisible characters, skipped; `%XX` decoded; case
/// ignored), holds 16 characters in a row of any of `secrets`.
fn assert_spells_no_secret(text: &str, secrets: &[String]) {
    let mut spelled = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            let hex: String = chars.clone().take(2).collect();
            if let Ok(b) = u8::from_str_radix(&hex, 16) {
                chars.next();
                chars.next();
                spelled.push(char::from(b).to_ascii_lowercase());
                continue;
            }
        }
        if c != '?' && !c.is_whitespace() {
            spelled.push(c.to_ascii_lowercase());
        }
    }
    for secret in secrets {
        let secret = secret.to_ascii_lowercase();
        let bytes = secret.as_bytes();
        for window in bytes.windows(16.min(bytes.len())) {
            let window = String::from_utf8_lossy(window);
            assert!(
                !spelled.contains(window.as_ref()),
                "the output spells out {window:?}, part of a secret:\n{text}"
            );
        }
    }
}

fn with_env<'h>(mut run: Invocation<'h>, env: &[(&str, &str)]) -> Invocation<'h> {
    for (k, v) in env {
        run = run.env(k, v);
    }
    run
}

/// What the `/etc/hosts` tests need: a private hosts file (root, a mount
/// namespace) and a non-loopback address of this machine to point names
/// at. `None`, saying why the test skips, without them.
fn private_hosts_and_an_address(h: &Harness) -> Option<std::net::IpAddr> {
    if let Some(why) = private_hosts_unsupported(h.scratch.path()) {
        crate::harness::skip(&why);
        return None;
    }
    let ip = non_loopback_address();
    if ip.is_none() {
        crate::harness::skip_without("this machine has no non-loopback address");
    }
    ip
}

/// `--once` from the container endpoint at `url`, with `hosts` as the
/// run's `/etc/hosts` and IRSA's variables removed.
fn container_once<'h>(
    h: &'h Harness,
    url: String,
    hosts: &Path,
    once_timeout: &str,
) -> Invocation<'h> {
    h.cmd(&["--once", "--once-timeout", once_timeout])
        .env_remove("AWS_ROLE_ARN")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", url)
        .hosts_file(hosts)
        .timeout(HANG_GUARD)
}

/// Finding: plain http to `localhost` trusted the name, so an `/etc/hosts`
/// (or a DNS search domain) pointing it elsewhere got the agent token in
/// the clear. It went further: with no `localhost` line the name went
/// to DNS, off the machine. Now `localhost` is never looked up (RFC 6761):
/// with it pointing at this machine's network address, the fake agent
/// listening there never hears from it, and the run fails connecting to
/// loopback, where nothing listens. Needs root and a mount namespace (for
/// a private `/etc/hosts`); skipped, saying why, without them.
#[test]
fn a_localhost_that_resolves_elsewhere_gets_no_token() {
    let h = Harness::new("hard_localhost", |_, _| Answer::issue(HOUR));
    let Some(ip) = private_hosts_and_an_address(&h) else {
        return;
    };
    let agent = Fake::start_on(&SocketAddr::new(ip, 0).to_string(), |_, _| {
        Answer::issue(HOUR)
    })
    .expect("listen on the network address");
    let port = agent.url().rsplit(':').next().expect("a port").to_string();
    let hosts = h.scratch.write("hosts", format!("{ip} localhost\n"));
    let token = "eyJhbGciOiJSUzI1NiJ9.eyJyZWJvdW5kIjoxfQ.cmVib3VuZHNpZzAwNzc";
    h.add_secret(token);
    let out = container_once(&h, format!("http://localhost:{port}{PATH}"), &hosts, "2s")
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", token)
        .run();
    let received = agent.requests();
    assert!(
        received.is_empty() && agent.connection_count() == 0,
        "the agent at {ip} was contacted ({} requests, token sent: {})\n{}",
        received.len(),
        received
            .iter()
            .any(|r| r.header("Authorization") == Some(token)),
        out.describe()
    );
    out.assert_code(1)
        .assert_stderr_contains(&format!("http://localhost:{port}"));
    assert!(!h.cred_file.exists(), "a file was written");
}

/// The loopback check resolved the lowercased name while
/// the connection looked up the name as written, so `LOCALHOST` (which an
/// `/etc/hosts` or DNS may answer differently from `localhost`) passed the
/// check and the token went to another address. Now the connection goes to
/// the very address that was checked, carrying the URL's `Host`: with
/// `localhost` at 127.0.0.1 and `LOCALHOST` at this machine's network
/// address, on the same port, only the loopback agent hears from it. (The
/// static musl build shows the difference: `AWS_CREDFILE_TEST_BIN`.)
#[test]
fn the_checked_address_is_the_one_connected_to() {
    let h = Harness::new("hard_localhost_case", |_, _| Answer::issue(HOUR));
    let Some(ip) = private_hosts_and_an_address(&h) else {
        return;
    };
    let loopback = Fake::start(|_, _| Answer::issue(HOUR));
    let port = loopback
        .url()
        .rsplit(':')
        .next()
        .expect("a port")
        .to_string();
    let elsewhere = Fake::start_on(&format!("{ip}:{port}"), |_, _| Answer::issue(HOUR))
        .expect("listen on the network address, same port");
    let hosts = h.scratch.write(
        "hosts",
        format!("127.0.0.1 localhost\n{ip} LOCALHOST LocalHost\n"),
    );
    let token = "eyJhbGciOiJSUzI1NiJ9.eyJjYXNlIjoxfQ.Y2FzZXNpZ25hdHVyZTAwNzc";
    h.add_secret(token);
    for written in ["LOCALHOST", "LocalHost"] {
        let out = container_once(&h, format!("http://{written}:{port}{PATH}"), &hosts, "2s")
            .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", token)
            .run();
        assert_eq!(
            elsewhere.connection_count(),
            0,
            "{written}: the agent at {ip} was contacted\n{}",
            out.describe()
        );
        out.assert_code(0);
        let heard = loopback.requests();
        let last = heard.last().expect("the loopback agent was asked");
        assert_eq!(last.header("Authorization"), Some(token));
        assert_eq!(
            last.header("Host"),
            Some(format!("{}:{port}", written.to_ascii_lowercase()).as_str()),
            "the request carries the URL's host"
        );
    }
}

/// The container endpoint never looked `localhost` up,
/// but an STS endpoint override did: `AWS_ENDPOINT_URL_STS` with
/// `localhost` went to `/etc/hosts` (which a scratch image lacks, and which
/// matched `LOCALHOST` only as written), then to DNS with the search
/// domains (`localhost.<namespace>.svc…`, a name anyone able to make a
/// Service answers), and the identity token went to whatever came back.
/// Now `localhost`, in any case, is loopback for every connection: with
/// the name pointing at this machine's network address, only the fake STS
/// on loopback hears from it. Needs root and a mount namespace.
#[test]
fn an_sts_endpoint_at_localhost_is_never_looked_up() {
    let h = Harness::new("hard_sts_localhost", |_, _| Answer::issue(HOUR));
    let Some(ip) = private_hosts_and_an_address(&h) else {
        return;
    };
    let port = h.sts.url().rsplit(':').next().expect("a port").to_string();
    let elsewhere = Fake::start_on(&format!("{ip}:{port}"), |_, _| Answer::issue(HOUR))
        .expect("listen on the network address, same port");
    let hosts = h.scratch.write(
        "hosts",
        format!("{ip} localhost LOCALHOST LocalHost localhost. sts.localhost\n"),
    );
    // `localhost.` and names under `.localhost` were looked up.
    for written in [
        "localhost",
        "LOCALHOST",
        "LocalHost",
        "localhost.",
        "sts.localhost",
    ] {
        let before = h.sts.request_count();
        let out = h
            .cmd(&["--once", "--once-timeout", "5s"])
            .env("AWS_ENDPOINT_URL_STS", format!("http://{written}:{port}"))
            .hosts_file(&hosts)
            .timeout(HANG_GUARD)
            .run();
        assert_eq!(
            elsewhere.connection_count(),
            0,
            "{written}: the STS at {ip} was contacted\n{}",
            out.describe()
        );
        out.assert_code(0);
        assert_eq!(
            h.sts.request_count(),
            before + 1,
            "{written}: loopback's STS"
        );
    }
}

/// Finding: an answer expiring in 9999 planned the next refresh thousands
/// of years ahead, so it never came. Now no refresh is planned more than
/// 6 hours ahead: the daemon's armed boot-clock timer says so.
#[test]
fn a_far_future_expiry_is_refreshed_within_six_hours() {
    const CLOCK_BOOTTIME: u32 = 7;
    const SIX_HOURS: u64 = 6 * 3600;
    let h = Harness::new("hard_far_future", |_, _| {
        Answer::issue_expiring("9999-12-31T23:59:59Z")
    });
    let d = h.cmd(&[]).spawn();
    wait_for_issued(&h, &d, 0);
    let mut timers = Vec::new();
    let planned = wait_until(Duration::from_secs(10), || {
        timers = armed_timers(d.pid());
        timers
            .iter()
            .any(|&(secs, clock)| clock == CLOCK_BOOTTIME && (60..=SIX_HOURS).contains(&secs))
    });
    let logged: Vec<String> = d
        .stderr()
        .lines()
        .filter(|l| l.contains("next_refresh_in"))
        .map(str::to_string)
        .collect();
    assert!(
        planned,
        "no refresh planned within 6 h; armed timers (secs, clock): {timers:?}; logged: {logged:?}\n{}",
        d.snapshot().describe()
    );
    d.stop().assert_code(0);
}

/// Finding: a section stamped `refreshed` in the future (a writer whose
/// clock ran ahead, or a hand edit) counted as written after our fetch
/// began, so its keys were kept as newer, for good. A stamp from the
/// future is never newer: the section is replaced.
#[test]
fn a_section_stamped_in_the_future_is_replaced() {
    let h = Harness::new("hard_future_stamp", |_, _| Answer::issue(HOUR));
    let tomorrow = rfc3339(SystemTime::now() + 24 * HOUR);
    h.write_cred_file(&format!(
        "[default]\n{EXPIRY_COMMENT} expires 2099-01-01T00:00:00Z, refreshed {tomorrow}; \
         edits to this section are overwritten\n\
         aws_access_key_id = ASIAFUTUREEXAMPLE077\n\
         aws_secret_access_key = futureSecretEXAMPLE0/0000000000000000077\n\
         aws_session_token = futureTokenEXAMPLE00/000000000000000000000000000077\n"
    ));
    let out = h.cmd(&["--once"]).run();
    out.assert_code(0);
    assert!(
        !out.stderr.contains("newer_credentials_kept"),
        "{}",
        out.describe()
    );
    assert!(
        holds_issued(&h, 0),
        "the future-stamped section was kept:\n{}",
        h.read_cred_file()
    );
}

/// Finding: a byte that is not UTF-8 in a path variable was replaced, so
/// the file written (and the one `--check` passed on) was another than the
/// one the SDK opens, and a token was read from another file. Now any such
/// variable is a configuration error naming it; nothing is written, nor
/// read from the mangled name.
#[test]
fn a_path_variable_that_is_not_utf8_is_refused() {
    let h = Harness::new("hard_not_utf8", |_, _| Answer::issue(HOUR));
    let raw = |p: &Path, tail: &[u8]| {
        let mut bytes = p.as_os_str().as_bytes().to_vec();
        bytes.extend_from_slice(tail);
        PathBuf::from(OsStr::from_bytes(&bytes))
    };
    let dir = h.scratch.join("aws");
    let cred_file = raw(&dir.join("cred"), b"\xffentials");
    // A valid token at the name the old code made of the raw one.
    let token_dir = h.token_file.parent().expect("dir");
    let token_file = raw(&token_dir.join("tok"), b"\xffen");
    let mangled = token_dir.join("tok\u{fffd}en");
    let token = h.token();
    fs::write(&mangled, &token).expect("write the mangled token file");
    let cases = [
        ("AWS_SHARED_CREDENTIALS_FILE", &cred_file),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", &token_file),
    ];
    every_case(cases.map(|c| (c.0.to_string(), c)), |(var, value)| {
        let out = h.cmd(&["--once"]).env(var, value).run();
        out.assert_code(2).assert_stderr_contains(var);
        assert_eq!(out.stderr_lines().len(), 1, "{}", out.describe());
    });
    assert_eq!(h.sts.request_count(), 0, "refused before any request");
    assert!(
        !dir.exists(),
        "written under some name: {:?}",
        dir_names(&dir)
    );
}

/// Finding: settings found wrong only late or never: `--sts-endpoint ''`
/// chose the public endpoint; `--file dir/sub/` fetched before failing;
/// `--owner 4294967295` (chown's -1) did nothing; `--owner` without the
/// right to chown failed after every fetch; `--check` ignored bad values of
/// flags it does not use. Each is now exit 2, naming the flag, before any
/// request. (A dead proxy keeps an old build from reaching the real STS.)
#[test]
fn settings_are_checked_before_any_request() {
    let h = Harness::new("hard_settings", |_, _| Answer::issue(HOUR));
    let dir = h.scratch.join("dir");
    fs::create_dir_all(&dir).expect("dir");
    let sub = format!("{}/sub/", dir.display());
    // Someone without CAP_CHOWN, writing to a directory of its own.
    let own = h.scratch.join("nobody");
    let own_file = own.join("credentials").display().to_string();
    let as_nobody = is_root();
    if as_nobody {
        for p in [h.scratch.path(), h.token_file.parent().expect("dir")] {
            fs::set_permissions(p, fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        fs::set_permissions(&h.token_file, fs::Permissions::from_mode(0o644)).expect("chmod");
        fs::create_dir_all(&own).expect("dir");
        chown(&own, Some(NOBODY), Some(NOBODY)).expect("chown");
    } else {
        crate::harness::skip(&format!(
            "--owner 0 as another user: needs root to run as {NOBODY}"
        ));
    }
    let mut cases: Vec<(Vec<&str>, &str, bool)> = vec![
        (
            vec!["--once", "--sts-endpoint", ""],
            "--sts-endpoint",
            false,
        ),
        (vec!["--once", "--file", &sub], "--file", false),
        (vec!["--once", "--owner", "4294967295"], "--owner", false),
        (vec!["--check", "--duration", "10"], "--duration", false),
    ];
    if as_nobody {
        let args = vec!["--once", "--owner", "0", "--file", &own_file];
        cases.push((args, "--owner", true));
    }
    let cases = cases.into_iter().map(|c| (c.0.join(" "), c));
    every_case(cases, |(args, culprit, as_nobody)| {
        let before = h.sts.request_count();
        let mut run = h
            .cmd(&args)
            .arg("--once-timeout")
            .arg("2s")
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .timeout(HANG_GUARD);
        if as_nobody {
            run = run.user(NOBODY, NOBODY);
        }
        let out = run.run();
        assert_eq!(
            h.sts.request_count(),
            before,
            "{args:?}: a request was made\n{}",
            out.describe()
        );
        out.assert_code(2).assert_stderr_contains(culprit);
    });
    assert_eq!(dir_names(&dir), Vec::<String>::new(), "created in dir/");
    assert!(!h.cred_file.exists(), "a file was written");
    assert!(!Path::new(&own_file).exists(), "a file was written");
}

/// A proxy answering CONNECT with 407 (it wants credentials) or 403 was
/// asked again and again until the `--once` budget ran out, and the error
/// read `CONNECT proxy failed: proxy server responded 407/407`. What no
/// retry can mend now fails `--once` at the first answer, saying what to
/// do; a proxy whose upstream is down (503) is still retried.
#[test]
fn a_proxy_that_refuses_fails_once_at_the_first_answer() {
    let h = Harness::new("hard_proxy_refuses", |_, _| Answer::issue(HOUR));
    for (status, retried, says) in [
        (407, false, "the proxy asks for credentials (HTTP 407)"),
        (403, false, "the proxy answered HTTP 403 to CONNECT"),
        (503, true, "the proxy could not connect there (HTTP 503)"),
    ] {
        let proxy = Fake::start(move |_, req| match req.method.as_str() {
            "CONNECT" => Answer::raw(status, "text/plain", "no"),
            _ => Answer::raw(400, "text/plain", "CONNECT only"),
        });
        // Reached only through the proxy, which never connects: `.invalid`
        // names nothing, and a proxied name is never looked up here.
        let out = h
            .cmd(&["--once", "--once-timeout", "4s"])
            .arg("--sts-endpoint")
            .arg("https://sts.invalid")
            .env("HTTPS_PROXY", proxy.url())
            .timeout(HANG_GUARD)
            .run();
        out.assert_code(1)
            .assert_stderr_contains(says)
            .assert_stderr_contains("check the proxy");
        assert!(
            !out.stderr.contains(&format!("{status}/{status}")),
            "{}",
            out.stderr
        );
        // The advice says what to write, in words the password redaction
        // leaves alone (it turned `user:password@` into `***@`).
        if status == 407 {
            out.assert_stderr_contains("give the right user and password in HTTPS_PROXY");
        }
        let asked = proxy.request_count();
        assert_eq!(
            asked > 1,
            retried,
            "HTTP {status}: the proxy was asked {asked} times"
        );
    }
    assert_eq!(h.sts.request_count(), 0);
}

/// One well-behaved client: connects, sends its whole GET in one write
/// `after` connecting (an SDK takes a millisecond or so; the endpoint
/// promises to wait far longer for it), reads the answer to the end. Its
/// status, or why there was none.
fn well_behaved_get(addr: SocketAddr, request: &[u8], after: Duration) -> Result<u16, String> {
    let started = Instant::now();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(30))
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("set a read timeout");
    thread::sleep(after);
    stream
        .write_all(request)
        .map_err(|e| format!("closed before the request was sent: {e}"))?;
    let mut raw = Vec::new();
    let read = stream.read_to_end(&mut raw);
    let reply = parse_response(&raw, started.elapsed());
    match (reply.status, read) {
        (Some(status), _) => Ok(status),
        (None, Ok(_)) => Err(format!(
            "closed without an answer after {:?}",
            reply.elapsed
        )),
        (None, Err(e)) => Err(format!("no answer after {:?}: {e}", reply.elapsed)),
    }
}

/// Finding: with few descriptors, a client accepted before its request
/// arrived could be closed at once to make room for the next connection.
/// Under a 33-descriptor limit (room for one connection), with idle
/// connections pressing for room all the while, a few hundred well-behaved
/// clients (sending their whole GET within 0 to 2 ms of connecting) are
/// each answered, none closed without an answer: only a connection idle
/// for a while is closed to make room.
#[test]
fn with_few_descriptors_no_well_behaved_client_is_dropped() {
    const CLIENTS: usize = 8;
    const REQUESTS_EACH: usize = 40;
    const IDLE: usize = 3;
    let h = Harness::new("hard_fd_young", |_, _| Answer::issue(HOUR));
    let (mut d, addr) = crate::serve::serving_with(&h, &[], |run| run.fd_limit(33));
    wait_for_200(&d, addr, &[]);

    let stop = Arc::new(AtomicBool::new(false));
    let opened = Arc::new(AtomicUsize::new(0));
    let flood = {
        let (stop, opened) = (Arc::clone(&stop), Arc::clone(&opened));
        thread::spawn(move || crate::harness::client::hold_idle_sockets(addr, IDLE, &stop, &opened))
    };
    // Idle connections are being closed and replaced: room is contested.
    let pressing = wait_until(SOON, || opened.load(Ordering::SeqCst) > 2 * IDLE);
    let request = format!("GET {PATH} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let failed: Vec<String> = thread::scope(|s| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let request = &request;
                s.spawn(move || {
                    (0..REQUESTS_EACH)
                        .filter_map(|i| {
                            let after = Duration::from_millis((i % 3) as u64);
                            match well_behaved_get(addr, request.as_bytes(), after) {
                                Ok(200) => None,
                                Ok(status) => Some(format!("client {c} request {i}: {status}")),
                                Err(why) => Some(format!("client {c} request {i}: {why}")),
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        clients
            .into_iter()
            .flat_map(|t| t.join().expect("a client thread"))
            .collect()
    });
    stop.store(true, Ordering::SeqCst);
    flood.join().expect("the flood thread");
    let opened = opened.load(Ordering::SeqCst);
    eprintln!(
        "{} of {} well-behaved requests answered amid {opened} idle connections",
        CLIENTS * REQUESTS_EACH - failed.len(),
        CLIENTS * REQUESTS_EACH
    );
    assert!(pressing, "the idle connections never pressed for room");
    assert!(
        failed.is_empty(),
        "{} of {} well-behaved requests failed:\n{}\n{}",
        failed.len(),
        CLIENTS * REQUESTS_EACH,
        failed
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n"),
        d.snapshot().describe()
    );
    d.assert_running();
    d.stop().assert_code(0);
}

/// Finding: a hard link at `--file` (another name for some other file's
/// content) was read and merged, copying that file into credentials the app
/// can read, the exposure refusing symbolic links exists to prevent. Now a
/// file with more than one link is refused: at start, exit 2 before any
/// fetch; one that appears under the daemon is logged and retried; nothing
/// of the other file is copied.
#[test]
fn a_hard_link_at_the_file_is_refused() {
    let h = Harness::new("hard_link", |_, _| Answer::issue(HOUR));
    let secret = "otherAppSecretNEVERCOPY0077/4f9a2c71e0b35d86";
    h.add_secret(secret);
    let other = h.scratch.write(
        "elsewhere/other-app.ini",
        format!(
            "[other]\naws_access_key_id = AKIAOTHEREXAMPLE0077\naws_secret_access_key = {secret}\n"
        ),
    );
    let dir = h.cred_file.parent().expect("dir");
    fs::create_dir_all(dir).expect("dir");
    let before = snapshot(&other);
    let h = &h;
    let linked = || {
        let _ = fs::remove_file(&h.cred_file);
        fs::hard_link(&other, &h.cred_file).expect("link");
    };
    let nothing_copied = || {
        assert_eq!(snapshot(&other), before, "the other file changed");
        assert_eq!(snapshot(&h.cred_file), before, "the link was replaced");
        for path in files_under(h.scratch.path(), &other) {
            let text = String::from_utf8_lossy(&fs::read(&path).expect("read")).into_owned();
            assert!(
                !text.contains(secret),
                "{} holds the other file's secret",
                path.display()
            );
        }
        assert!(
            dir_names(dir)
                .iter()
                .all(|n| n == "credentials" || n == LOCK_FILE),
            "left behind: {:?}",
            dir_names(dir)
        );
    };
    let parts = vec![
        part("--once", || {
            linked();
            let asked = h.sts.request_count();
            let out = h.cmd(&["--once"]).run();
            out.assert_code(2).assert_stderr_contains("hard link");
            assert_eq!(
                h.sts.request_count(),
                asked,
                "fetched for a file it refuses"
            );
            nothing_copied();
        }),
        part("the daemon", || {
            let _ = fs::remove_file(&h.cred_file);
            let issued = h.sts.issued().len();
            let mut d = h.cmd(&[]).spawn();
            wait_for_new_write(h, &d, issued);
            linked();
            d.signal(libc::SIGHUP);
            // Logged, and retried (after a backoff of well under a second).
            wait_for_log(&d, "hard link", 2);
            d.assert_running();
            d.stop().assert_code(0);
            nothing_copied();
        }),
    ];
    every_case(parts, |part| part());
}

/// Finding: every SIGHUP started a refresh, so a SIGHUP storm became an STS
/// storm (hundreds of calls in seconds). Now SIGHUP refreshes are at least
/// a second apart, and none is lost: a refresh still follows the last one.
#[test]
fn a_sighup_storm_is_no_sts_storm() {
    const STORM: Duration = Duration::from_secs(3);
    let h = Harness::new("hard_sighup_storm", |_, _| Answer::issue(HOUR));
    let mut d = h.cmd(&[]).spawn();
    wait_for_issued(&h, &d, 0);
    let began = Instant::now();
    let mut sent = 0u32;
    while began.elapsed() < STORM {
        for _ in 0..10 {
            d.signal(libc::SIGHUP);
            sent += 1;
        }
        thread::sleep(Duration::from_millis(5));
    }
    let last_sighup = Instant::now();
    let storm = last_sighup - began;
    // One refresh follows the last SIGHUP.
    let followed = wait_until(SOON, || {
        h.sts.requests().iter().any(|r| r.received > last_sighup)
    });
    thread::sleep(Duration::from_secs(2));
    let calls = h
        .sts
        .requests()
        .iter()
        .filter(|r| r.received >= began)
        .count();
    let bound = storm.as_secs() as usize + 3;
    eprintln!("{sent} SIGHUPs in {storm:?}: {calls} STS calls");
    d.assert_running();
    let out = d.stop();
    out.assert_code(0);
    assert!(
        calls <= bound,
        "{calls} STS calls for {sent} SIGHUPs in {storm:?} (at most {bound})"
    );
    assert!(
        followed,
        "no refresh after the last SIGHUP\n{}",
        out.describe()
    );
}

/// The STS error code went raw onto the last
/// `aws-credfile: error:` line, so a hostile code with a line feed forged a
/// second log line, escape sequences reached the terminal, and a 100 kB code
/// made a 100 kB line (the message beside it was already one short line).
/// Now whatever a server sends, the error is one line of printable text,
/// the code at most 64 bytes of it.
#[test]
fn a_hostile_error_code_stays_on_one_short_line() {
    let forged = "AccessDenied\n2026-11-26T00:00:00Z INFO  credentials_refreshed access_key_id=FORGED\u{1b}[2J\u{7}";
    let long = "X".repeat(100_000);
    for (name, code) in [("forged", forged.to_string()), ("long", long)] {
        let code_for_fake = code.clone();
        let h = Harness::new(&format!("hard_code_{name}"), move |_, _| {
            Answer::error(403, &code_for_fake, "denied")
        });
        let out = h.cmd(&["--once"]).timeout(HANG_GUARD).run();
        out.assert_code(1);
        let stderr = &out.stderr;
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("aws-credfile: error: STS refused AssumeRoleWithWebIdentity: "),
            "{name}: {}",
            out.describe()
        );
        assert!(
            stderr
                .lines()
                .all(|l| !l.starts_with("2026-11-26T00:00:00Z")),
            "{name}: a forged line\n{}",
            out.describe()
        );
        assert!(
            !last.chars().any(char::is_control) && last.len() < 1000,
            "{name}: the error line is {} bytes with control characters: {}",
            last.len(),
            last.chars().any(char::is_control)
        );
    }
}

/// After the check, only the first address `localhost`
/// resolved to was tried, so with `127.0.0.1 localhost` and `::1 localhost`
/// an agent listening only on `[::1]` was never reached. Each checked
/// address is tried in turn now, and no other.
#[test]
fn every_checked_loopback_address_is_tried() {
    let h = Harness::new("hard_localhost_v6", |_, _| Answer::issue(HOUR));
    if let Some(why) = private_hosts_unsupported(h.scratch.path()) {
        crate::harness::skip(&why);
        return;
    }
    let Ok(agent) = Fake::start_on("[::1]:0", |_, _| Answer::issue(HOUR)) else {
        crate::harness::skip_without("no IPv6 loopback here");
        return;
    };
    let port = agent.url().rsplit(':').next().expect("a port").to_string();
    let hosts = h
        .scratch
        .write("hosts", "127.0.0.1 localhost\n::1 localhost\n");
    let out = container_once(&h, format!("http://localhost:{port}{PATH}"), &hosts, "5s").run();
    out.assert_code(0);
    assert_eq!(agent.requests().len(), 1, "{}", out.describe());

    // With no `localhost` line at all (a scratch image), the name
    // is still 127.0.0.1 then ::1, without a lookup (it went to DNS).
    let empty = h.scratch.write("empty-hosts", "");
    let out = container_once(&h, format!("http://LocalHost:{port}{PATH}"), &empty, "5s").run();
    out.assert_code(0);
    assert_eq!(agent.requests().len(), 2, "{}", out.describe());
}

/// A SIGHUP that came while aws-credfile was starting, before
/// its handlers were in place, killed it (129) instead of asking for a
/// refresh. Signals are held from the start of `main` now, and let through
/// once the handlers are there. strace holds the start (its prctl) for a
/// second, and the SIGHUP lands in it every time. (One that lands during
/// the exec itself, before any code of ours runs, still takes its default
/// action: nothing in the process can hold it.)
#[test]
fn a_sighup_during_start_up_waits_for_its_handler() {
    if !crate::harness::process::strace_usable() {
        return;
    }
    let h = Harness::new("hard_early_sighup", |_, _| Answer::issue(HOUR));
    let mut run = h
        .cmd(&["--once"])
        .wrapped(&[
            "strace",
            "-qq",
            "-o",
            "/dev/null",
            "-e",
            "trace=prctl",
            "-e",
            "inject=prctl:delay_exit=1000000",
        ])
        .spawn();
    // strace's child that runs aws-credfile (strace forks short-lived
    // probes of its own first).
    let children = format!("/proc/{0}/task/{0}/children", run.pid());
    let mut traced_pid = None;
    assert!(
        wait_until(Duration::from_secs(10), || {
            traced_pid = fs::read_to_string(&children).ok().and_then(|c| {
                c.split_whitespace()
                    .filter_map(|pid| pid.parse::<u32>().ok())
                    .find(|pid| {
                        fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmd| {
                            cmd.split(|&b| b == 0)
                                .next()
                                .is_some_and(|argv0| argv0.ends_with(b"aws-credfile"))
                        })
                    })
            });
            traced_pid.is_some()
        }),
        "strace never ran aws-credfile\n{}",
        run.snapshot().describe()
    );
    // Well inside the second strace holds its first prctl.
    thread::sleep(Duration::from_millis(300));
    crate::harness::process::send_signal(traced_pid.expect("found"), libc::SIGHUP);
    let status = run.wait_exit(Duration::from_secs(30));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "{}",
        run.snapshot().describe()
    );
    assert!(ini::profile(&h.read_cred_file(), "default").is_ok());
}

/// A 1 MiB error message from the agent or STS cost about 24 bytes of
/// memory per byte while aws-credfile looked in it for its secrets: one
/// 24 MiB allocation, ~32 MB peak, and an abort with a backtrace under a
/// memory limit (the shipped manifest's is 32Mi). Only the ends of a quoted
/// text are looked at now, as only they are shown (round 32).
#[test]
fn a_huge_error_message_costs_no_more_memory_than_a_refresh() {
    // The old code needed over 32 MB; the new one passes under 12 MB.
    const LIMIT: u64 = 28 * 1024 * 1024;
    let huge = "M".repeat(1024 * 1024 - 64);
    let agent_body = serde_json::json!({"code": "AccessDenied", "message": huge}).to_string();
    let agent = Harness::with_agent(
        "hard_huge_message_agent",
        |_, _| Answer::issue(HOUR),
        Fake::start(move |_, _| Answer::json(400, &agent_body)),
    );
    let sts = Harness::new("hard_huge_message_sts", move |_, _| {
        Answer::error(403, "AccessDenied", &"M".repeat(1024 * 1024 - 512))
    });
    for h in [&agent, &sts] {
        let out = h
            .cmd(&["--once", "--once-timeout", "1s"])
            .memory_limit(LIMIT)
            .run();
        out.assert_code(1).assert_stderr_contains("AccessDenied");
        assert_eq!(out.stderr_lines().len(), 1, "{}", out.describe());
        assert!(!h.cred_file.exists(), "a file was written");
    }
}

/// A server may quote credentials aws-credfile never had (another
/// client's, the answer it meant to give) in its error message: they were
/// shown whole, though a body that merely mentions a secret is never
/// quoted. Words shaped like a secret key or a session token are hidden
/// now, whoever's they are; the code and the rest of the message stay
/// (round 32).
#[test]
fn credentials_a_server_quotes_are_hidden_even_ones_never_seen() {
    // A secret access key and a session token as AWS shapes them.
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY";
    let token =
        "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDyY2Gx4M5Kf0sH0DkXl6sYtq1Vw8nYq9vR";
    let message = format!("key ASIAQUOTED0000000001 secret {secret} token {token} refused");
    let agent_body = serde_json::json!({"code": "AccessDenied", "message": message}).to_string();
    let agent = Harness::with_agent(
        "hard_quoted_unknown_agent",
        |_, _| Answer::issue(HOUR),
        Fake::start(move |_, _| Answer::json(400, &agent_body)),
    );
    let sts = Harness::new("hard_quoted_unknown_sts", move |_, _| {
        Answer::error(403, "AccessDenied", &message)
    });
    for h in [&agent, &sts] {
        let out = h.cmd(&["--once", "--once-timeout", "1s"]).run();
        out.assert_code(1)
            .assert_stderr_contains("AccessDenied")
            .assert_stderr_contains("refused");
        for leaked in [secret, token, &token[..40]] {
            assert!(!out.stderr.contains(leaked), "{}", out.describe());
        }
    }
}

/// The trailers of a chunked body are skipped by the HTTP library without
/// a cap: an agent sending them without end after a good body kept a core
/// busy for the whole 20 s request timeout, every attempt. The body now
/// has 5 s once the head has come (round 32).
#[test]
fn endless_chunked_trailers_are_cut_off_soon() {
    let issued = Issued {
        access_key_id: "ASIATRAILERS00000001".into(),
        secret_access_key: "trailersSecretKey0000000000000000000000".into(),
        session_token: "trailersSessionToken".into(),
        expiration: rfc3339(SystemTime::now() + HOUR),
    };
    let body = success(Protocol::Container, &issued).1;
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n",
        body.len()
    );
    let trailer = format!("X-T: {}\r\n", "a".repeat(8000));
    let server = RawServer::start(move |mut conn, stopping| {
        if conn.write_all(head.as_bytes()).is_ok() {
            while !stopping.load(Ordering::Relaxed) && conn.write_all(trailer.as_bytes()).is_ok() {}
        }
    });
    let addr = server.addr;
    let h = Harness::new("hard_endless_trailers", |_, _| Answer::issue(HOUR));
    let d = h
        .cmd(&["--log-level", "debug"])
        .env_remove("AWS_ROLE_ARN")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("http://{addr}{PATH}"),
        )
        .spawn();
    // The old code gave up after 20 s; well under that now.
    d.assert_logs_within(
        "timed out reading the answer's body",
        Duration::from_secs(12),
        "the first attempt's failure",
    );
    drop(server);
    let out = d.stop();
    assert!(!h.cred_file.exists(), "{}", out.describe());
}

/// A source's error message quoting the endpoint's own token showed it:
/// only the agent's token and the held credentials were taken out of what
/// a source says (round 32).
#[test]
fn the_endpoints_token_is_never_quoted_back_from_a_source() {
    let token = "endpointTokenQuoted0123456789abcdef";
    let message = format!("z {token} w");
    let agent_body = serde_json::json!({"code": "InvalidToken", "message": message}).to_string();
    let h = Harness::with_agent(
        "hard_serve_token_quoted",
        |_, _| Answer::issue(HOUR),
        Fake::start(move |_, _| Answer::json(400, &agent_body)),
    );
    let file = h.scratch.write("serve-token", token);
    let file = file.to_str().expect("a UTF-8 path");
    let out = h
        .cmd(&[
            "--serve",
            "127.0.0.1:0",
            "--serve-token-file",
            file,
            "--once-timeout",
            "1s",
            "--",
            "true",
        ])
        .run();
    out.assert_code(1).assert_stderr_contains("InvalidToken");
    assert!(!out.stderr.contains(token), "{}", out.describe());
    assert!(!out.stderr.contains(&token[..16]), "{}", out.describe());
}

/// A proxy answering CONNECT a byte at a time held a fetch for ever: ureq
/// times that answer per read only, so neither the 20 s of a request nor
/// the `--once-timeout` budget ended it, and a daemon never logged or
/// counted a failure. Every connection's I/O now ends when its request's
/// time is up, 20 s or what is left of the `--once-timeout` budget (rounds
/// 33 and 34).
#[test]
fn a_proxy_trickling_its_connect_answer_is_cut_off() {
    let server = RawServer::start(|mut conn, stopping| {
        let mut ok = conn
            .write_all(b"HTTP/1.1 200 Connection established\r\nX: ")
            .is_ok();
        while ok && !stopping.load(Ordering::Relaxed) {
            thread::sleep(Duration::from_millis(300));
            ok = conn.write_all(b"a").is_ok();
        }
    });
    let proxy = server.addr;
    let h = Harness::new("hard_proxy_trickles", |_, _| Answer::issue(HOUR));
    let out = h
        .cmd(&["--once", "--once-timeout", "4s"])
        .arg("--sts-endpoint")
        .arg("https://sts.invalid")
        .env("HTTPS_PROXY", format!("http://{proxy}"))
        .timeout(Duration::from_secs(90))
        .run();
    drop(server);
    out.assert_code(1);
    assert!(
        out.elapsed < Duration::from_secs(12),
        "took {:?} of a 4 s budget\n{}",
        out.elapsed,
        out.describe()
    );
    assert_eq!(out.stderr_lines().len(), 1, "{}", out.describe());
}

/// A TCP server on loopback for answers the fake's vocabulary has no word
/// for (endless trailers, a trickled proxy answer): each connection is
/// handed to `answer`, its request read, on a thread of its own, with the
/// flag that says when to stop. Stopped and joined when dropped.
struct RawServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl RawServer {
    fn start(answer: impl Fn(TcpStream, &AtomicBool) + Send + Sync + 'static) -> RawServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let answer = Arc::new(answer);
        let thread = thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                let Ok((mut conn, _)) = listener.accept() else {
                    thread::sleep(Duration::from_millis(20));
                    continue;
                };
                let (stopping, answer) = (Arc::clone(&stopping), Arc::clone(&answer));
                thread::spawn(move || {
                    conn.set_nonblocking(false).expect("blocking");
                    let _ = conn.read(&mut [0u8; 4096]);
                    answer(conn, &stopping);
                });
            }
        });
        RawServer {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Credentials checked for expiry when they arrived, then held while
/// another writer had the file's lock, were written once they had run out,
/// over valid ones, and counted a success. Now each try at the lock checks
/// them again: the file keeps the valid keys and the refresh fails.
#[test]
fn credentials_that_run_out_waiting_for_the_lock_are_never_written() {
    let h = Harness::new("hard_expired_in_lock_wait", |n, _| match n {
        0 => Answer::issue(HOUR),
        _ => Answer::issue(Duration::from_secs(2)),
    });
    let mut d = h.cmd(&[]).spawn();
    wait_for_issued(&h, &d, 0);
    let before = snapshot(&h.cred_file);
    let lock = hold_lock(&h);
    d.signal(libc::SIGHUP);
    assert!(h.sts.wait_for_requests(2, SOON), "no second fetch");
    thread::sleep(Duration::from_secs(4));
    drop(lock);
    wait_for_log(&d, "refresh_failed", 1);
    assert_eq!(
        snapshot(&h.cred_file),
        before,
        "expired credentials were written\n{}",
        d.snapshot().describe()
    );
    assert_eq!(
        d.stderr().matches("credentials_refreshed").count(),
        1,
        "{}",
        d.snapshot().describe()
    );
    assert_stops_promptly(&mut d, "after the refused write");
}

/// The first credentials were served only once written: while another
/// writer held the file's lock (up to 10 s), the endpoint answered 503 "no
/// credentials obtained yet" with the keys in hand (round 41).
#[test]
fn credentials_are_served_while_their_write_waits_for_the_lock() {
    let h = Harness::new("hard_serve_in_lock_wait", |_, _| Answer::issue(HOUR));
    fs::create_dir_all(h.cred_file.parent().expect("dir")).expect("the directory");
    let lock = hold_lock(&h);
    let file = h.cred_file.display().to_string();
    let (mut d, addr) = serving(&h, &["--file", &file]);
    wait_for_200(&d, addr, &[]);
    assert!(
        !d.stderr().contains("refresh_failed") && !h.cred_file.exists(),
        "served only after the write gave up or was done\n{}",
        d.snapshot().describe()
    );
    drop(lock);
    assert!(
        wait_for_file_containing(&h.cred_file, "aws_session_token", SOON).is_some(),
        "written once the lock was free\n{}",
        d.snapshot().describe()
    );
    assert_stops_promptly(&mut d, "after the write");
}

/// A refresh asked for by SIGHUP whose fetch began in the second of the
/// daemon's own last write took that write for another writer's, "newer"
/// when its expiry was later, and dropped the keys just fetched: the
/// endpoint served them and the file kept the old ones. The daemon's own
/// last stamp is never another writer's.
#[test]
fn the_daemons_own_write_is_never_taken_for_another_writers() {
    let h = Harness::new("hard_own_write", |n, _| {
        // Each answer expires a little sooner than the one before, and
        // takes most of a second, so the second fetch begins in the
        // second of the first write.
        Answer::issue(HOUR - Duration::from_secs(10 * n as u64)).after(Duration::from_millis(900))
    });
    let mut d = h.cmd(&[]).spawn();
    wait_for_issued(&h, &d, 0);
    for n in 1..4 {
        d.signal(libc::SIGHUP);
        wait_for_issued(&h, &d, n);
    }
    assert!(
        !d.stderr().contains("newer_credentials_kept"),
        "{}",
        d.snapshot().describe()
    );
    assert_stops_promptly(&mut d, "after the refreshes");
}
