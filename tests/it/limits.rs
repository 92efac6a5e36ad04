//! Limits the kernel imposes in the middle of a run. A refresh starts a
//! thread (the fetch's worker, and the HTTP client's name lookup); when the
//! kernel refuses one (a pod's pids limit reached for a moment by the app,
//! `RLIMIT_NPROC`, `ulimit -v`), Rust's `thread::spawn` panics, and in a
//! `panic = "abort"` program that killed aws-credfile (exit 134) and, under
//! `-- PROGRAM`, the program with it. Now a refused thread costs only the
//! thread: the attempt is retried after a backoff (a fetch on the
//! loop's own thread held up the endpoint, the probes and SIGTERM for as
//! long as the call took), and after three refusals in a row the fetch runs
//! on the calling thread instead.
//!
//! The address-space limit (RLIMIT_AS) is the refusal a test can set on a
//! running process without root or a cgroup: the process's own size plus
//! 1 MiB leaves no room for a thread's 2 MiB stack, and room enough for a
//! refresh.

use std::time::Duration;

use crate::harness::process::{set_as_limit, vm_size};
use crate::harness::{wait_for_file_containing, wait_until, Answer, Harness, HOUR, NOBODY};
use crate::serve::{serving_with, wait_for_200};

const MIB: u64 = 1024 * 1024;

/// How long a refresh may take here; far more than it needs.
const REFRESH: Duration = Duration::from_secs(15);

#[test]
fn a_thread_the_kernel_refuses_costs_no_refresh() {
    let h = Harness::new("limits_threads", |_, _| Answer::issue(HOUR));
    let mut d = h.cmd(&[]).spawn();
    let first = wait_until(REFRESH, || !h.sts.issued().is_empty())
        .then(|| h.sts.issued()[0].access_key_id.clone())
        .expect("a first issue");
    wait_for_file_containing(&h.cred_file, &first, REFRESH).expect("the first write");
    // The worker is gone once the write is logged; then the size is the
    // idle daemon's.
    assert!(wait_until(REFRESH, || d
        .snapshot()
        .stderr
        .contains("credentials_refreshed")));
    std::thread::sleep(Duration::from_millis(200));
    let size = vm_size(d.pid()).expect("VmSize");
    set_as_limit(d.pid(), size + MIB);

    d.signal(libc::SIGHUP);
    let second = wait_until(REFRESH, || h.sts.issued().len() >= 2)
        .then(|| h.sts.issued()[1].access_key_id.clone());
    let written = second
        .as_deref()
        .and_then(|key| wait_for_file_containing(&h.cred_file, key, REFRESH));
    assert!(
        written.is_some(),
        "no refresh under an address-space limit of {} KiB\n{}",
        (size + MIB) / 1024,
        d.snapshot().describe()
    );
    d.assert_running();
    let out = d.stop();
    out.assert_code(0);
    assert!(!out.stderr.contains("panicked"), "{}", out.describe());

    // The same for a one-shot run started under that limit.
    let limit = format!("--as={}", size + MIB);
    let out = h.cmd(&["--once"]).wrapped(&["prlimit", &limit, "--"]).run();
    out.assert_code(0);
    assert!(!out.stderr.contains("panicked"), "{}", out.describe());
}

/// With no thread to be had, the fetch ran on the loop's
/// own thread at once, so for as long as the upstream took (up to 20 s)
/// the endpoint did not answer and SIGTERM waited. Now each attempt fails
/// at once, saying why, and is retried after a backoff; only the fourth in
/// a row fetches on the loop's thread. Under a process limit (as `nobody`,
/// whom `RLIMIT_NPROC` binds; as a pod's pids limit does), the first
/// credentials still come, and after a SIGHUP, with an upstream that now
/// never answers, the endpoint answers and SIGTERM ends the daemon
/// promptly while the attempts are retried.
#[test]
fn a_refused_thread_holds_up_neither_the_endpoint_nor_a_stop() {
    const REFUSED: &str = "could not start a thread for the fetch";
    if !crate::harness::process::is_root() {
        crate::harness::skip("needs root to run the binary as another user");
        return;
    }
    let h = Harness::new("limits_no_thread", |n, _| {
        if n == 0 {
            Answer::issue(HOUR)
        } else {
            Answer::Hang
        }
    });
    h.nobodys_file_directory();
    let (mut d, addr) = serving_with(&h, &[], |run| {
        run.user(NOBODY, NOBODY)
            .wrapped(&["prlimit", "--nproc=1", "--"])
    });
    wait_for_200(&d, addr, &[]);
    let refused = d.stderr().matches(REFUSED).count();
    assert!(refused >= 1, "{}", d.snapshot().describe());
    d.signal(libc::SIGHUP);
    assert!(
        wait_until(REFRESH, || d.stderr().matches(REFUSED).count() > refused),
        "the refused thread is not reported\n{}",
        d.snapshot().describe()
    );
    let answered = std::time::Instant::now();
    wait_for_200(&d, addr, &[]);
    assert!(
        answered.elapsed() < Duration::from_secs(2),
        "the endpoint waited {:?}",
        answered.elapsed()
    );
    let stopping = std::time::Instant::now();
    d.signal(libc::SIGTERM);
    let status = d.wait_exit(Duration::from_secs(30));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "{}",
        d.snapshot().describe()
    );
    assert!(
        stopping.elapsed() < Duration::from_secs(2),
        "SIGTERM waited {:?}",
        stopping.elapsed()
    );
    d.outcome();
}

/// A crash, an abort or a Ctrl-\ wrote a core file holding the
/// secret key, the session token and the identity token, and any process of
/// the same user, the supervised program among them, could read
/// aws-credfile's `/proc/PID/environ`, where a token given as a variable
/// sits. Now aws-credfile is not dumpable and its core limit is 0, while the
/// program gets the core limit it would have had. Run as another user (root
/// may read anything), so needs root.
#[test]
fn no_core_file_and_no_reading_by_the_same_user() {
    if !crate::harness::process::is_root() {
        crate::harness::skip("needs root to run the binary as another user");
        return;
    }
    let h = Harness::new("limits_dumpable", |_, _| Answer::issue(HOUR));
    let dir = h.nobodys_file_directory();
    let program = r#"cd "$OUT" || exit 9
grep 'core file' /proc/self/limits > limits
if cat "/proc/$PPID/environ" > /dev/null 2>&1; then echo readable; else echo refused; fi > verdict
exec sleep 60"#;
    let mut d = h
        .cmd(&["--", "sh", "-c", program])
        .env("OUT", &dir)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .user(NOBODY, NOBODY)
        .wrapped(&["prlimit", "--core=4096:unlimited", "--"])
        .spawn();
    let verdict = wait_for_file_containing(&dir.join("verdict"), "e", REFRESH)
        .unwrap_or_else(|| panic!("the program never ran\n{}", d.snapshot().describe()));
    assert_eq!(
        verdict.trim(),
        "refused",
        "the program read aws-credfile's environment"
    );
    let own = std::fs::read_to_string(format!("/proc/{}/limits", d.pid())).expect("limits");
    let core = |limits: &str| {
        limits
            .lines()
            .find(|l| l.starts_with("Max core file size"))
            .and_then(|l| l.split_whitespace().nth(4))
            .map(str::to_string)
    };
    assert_eq!(
        core(&own).as_deref(),
        Some("0"),
        "aws-credfile's own:\n{own}"
    );
    let theirs = std::fs::read_to_string(dir.join("limits")).expect("the program's limits");
    assert_eq!(
        core(&theirs).as_deref(),
        Some("4096"),
        "the program's:\n{theirs}"
    );
    let environ = std::fs::metadata(format!("/proc/{}/environ", d.pid())).expect("stat");
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&environ),
        0,
        "aws-credfile is dumpable: its /proc files belong to its user"
    );
    d.signal(libc::SIGTERM);
    d.stop();
}

/// Run out of descriptors at start, aws-credfile said
/// "could not install signal handlers" or "AWS_CA_BUNDLE ... cannot read
/// it" with exit 2, a configuration error, though nothing in the
/// configuration is wrong; "--serve-token-file ...: cannot read it" too.
/// And out of them for the fetch's socket, it said "could not reach" the
/// server and blamed the network. Under every descriptor limit from 3 up,
/// a one-shot run now succeeds or fails with exit 1, naming the limit to
/// raise.
#[test]
fn running_out_of_descriptors_at_start_is_not_a_configuration_error() {
    // The container source reads no token file at start, so the listener
    // of -- PROGRAM's endpoint is the first descriptor it opens for long.
    let h = Harness::with_agent(
        "limits_nofile",
        |_, _| Answer::issue(HOUR),
        crate::harness::Fake::start(|_, _| Answer::issue(HOUR)),
    );
    let token = h
        .scratch
        .write("serve-token", "0123456789abcdef0123456789abcdef");
    let token = token.to_str().expect("a UTF-8 path");
    let serving = [
        "--serve",
        "127.0.0.1:0",
        "--serve-token-file",
        token,
        "--once-timeout",
        "2s",
        "--",
        "true",
    ];
    let (mut failed, mut connecting) = (0, 0);
    // The listening socket of -- PROGRAM's endpoint too.
    for (n, args) in (3..=16).flat_map(|n| {
        [
            (n, &["--credential-process", "--once-timeout", "2s"][..]),
            (n, &["--once-timeout", "2s", "--", "true"]),
            (n, &serving[..]),
        ]
    }) {
        let limit = format!("--nofile={n}");
        let out = h
            .cmd(args)
            .env_remove("AWS_CA_BUNDLE")
            .wrapped(&["prlimit", &limit, "--"])
            .secrets_on_stdout()
            .run();
        match out.code() {
            // Never started with so few: prlimit could not exec it, or
            // the loader of a dynamic (debug) build could not open a
            // library. Not aws-credfile's code.
            _ if out.stderr.starts_with("prlimit:")
                || out.stderr.contains("error while loading shared libraries") => {}
            Some(0) => {}
            // Named: the limit, and that it is to be raised.
            Some(1) => {
                failed += 1;
                connecting += usize::from(out.stderr.contains("open a connection"));
                assert!(
                    out.stderr.contains("ulimit") && out.stderr.contains("raise"),
                    "--nofile={n}\n{}",
                    out.describe()
                );
            }
            _ => panic!("--nofile={n}\n{}", out.describe()),
        }
    }
    assert!(failed > 0, "no limit was low enough to fail");
    assert!(connecting > 0, "no limit left the fetch without its socket");
}
