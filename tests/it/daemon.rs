//! The daemon against a fake STS: it refreshes short-lived credentials
//! over and over, re-reads the token file, answers SIGHUP/SIGTERM/SIGINT,
//! survives failures without touching the file, and never lets a reader see
//! half a file.
//!
//! No test here measures time tightly: each waits for what it expects with a
//! generous deadline and polls.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::harness;
use crate::harness::ini::{self, Profile};
use crate::harness::process::{armed_timers, threads};
use crate::harness::{dir_names, mode, wait_until, Answer, Daemon, Harness, HOUR, LOCK_FILE};

/// Credentials that live only seconds: the daemon must refresh them every
/// second or three, without spinning.
const SHORT: Duration = Duration::from_secs(4);

/// Deadline for the first write after start (generous; it should take
/// milliseconds).
const FIRST_WRITE: Duration = Duration::from_secs(15);

/// How long SIGTERM/SIGINT may take to end the daemon (the contract says
/// about a second).
const EXIT_WITHIN: Duration = Duration::from_secs(5);

const OTHERS_BEFORE: &str = "# hand-written, keep\n[dev]\n\
    aws_access_key_id = AKIADEVEXAMPLE000009\n\
    aws_secret_access_key = devSecretEXAMPLE0000/0000000000000000009\n\n";
/// Our profile sits between the others, so a rewrite must keep both sides.
const OLD_DEFAULT: &str = "[default]\n\
    aws_access_key_id = AKIAOLDEXAMPLE000009\n\
    aws_secret_access_key = oldSecretEXAMPLE0000/0000000000000000009\n\
    aws_session_token = oldTokenEXAMPLE00000/000000000000000000000000000009\n\n";
const OTHERS_AFTER: &str = "[prod]\naws_access_key_id = AKIAPRODEXAMPLE00009\n\
    aws_secret_access_key = prodSecretEXAMPLE000/0000000000000000009\n";

/// The profile in the file now, if the file holds a complete one.
fn current(h: &Harness) -> Option<Profile> {
    let text = fs::read_to_string(&h.cred_file).ok()?;
    ini::profile(&text, "default").ok()
}

/// Waits for the file to hold the credentials the fake issued
/// `issued_index`-th (zero-based).
fn wait_for_issued(h: &Harness, d: &mut Daemon, issued_index: usize, timeout: Duration) {
    let ok = wait_until(timeout, || {
        let issued = h.sts.issued();
        issued.len() > issued_index && current(h) == Some(Profile::from(&issued[issued_index]))
    });
    if !ok {
        panic!(
            "the file never held credentials #{issued_index} within {timeout:?} \
             ({} requests, {} issued)\nfile: {:?}\n{}",
            h.sts.request_count(),
            h.sts.issued().len(),
            fs::read_to_string(&h.cred_file).ok(),
            d.snapshot().describe()
        );
    }
}

fn assert_exits_0_within(d: &mut Daemon, timeout: Duration, after: &str) {
    let asked = Instant::now();
    match d.wait_exit(timeout) {
        Some(status) => assert_eq!(
            status.code(),
            Some(0),
            "exit status after {after}\n{}",
            d.snapshot().describe()
        ),
        None => panic!(
            "still running {:?} after {after}\n{}",
            asked.elapsed(),
            d.snapshot().describe()
        ),
    }
    d.outcome();
}

#[test]
fn daemon_refreshes_short_lived_credentials_repeatedly() {
    let h = Harness::new("daemon_refreshes", |_, _| Answer::issue(SHORT));
    let started = Instant::now();
    let mut d = h.cmd(&[]).spawn();

    let mut seen = BTreeSet::new();
    let ok = wait_until(Duration::from_secs(20), || {
        if let Some(p) = current(&h) {
            seen.insert(p.access_key_id);
        }
        seen.len() >= 3
    });
    d.assert_running();
    assert!(
        ok,
        "only {} distinct keys in 20 s ({} requests)\n{}",
        seen.len(),
        h.sts.request_count(),
        d.snapshot().describe()
    );
    let issued: BTreeSet<String> = h
        .sts
        .issued()
        .into_iter()
        .map(|i| i.access_key_id)
        .collect();
    assert!(seen.is_subset(&issued), "only issued keys are written");

    // Spinning would be hundreds of requests a second; a sane floor is
    // well under a few.
    let secs = started.elapsed().as_secs_f64();
    let requests = h.sts.request_count();
    assert!(
        (requests as f64) < 5.0 * secs + 5.0,
        "{requests} requests in {secs:.1} s: the daemon spins"
    );
    assert_eq!(d.stop().code(), Some(0));
    assert_eq!(mode(&h.cred_file), 0o600);
}

#[test]
fn daemon_reads_the_token_file_fresh_at_each_refresh() {
    let h = Harness::new("daemon_token_rotation", |_, _| Answer::issue(SHORT));
    let old = h.token();
    let mut d = h.cmd(&[]).spawn();
    wait_for_issued(&h, &mut d, 0, FIRST_WRITE);

    let new = format!("{old}Rotated7Q");
    h.set_token(&new);
    let carried_new = |r: &harness::Request| r.param("WebIdentityToken").as_deref() == Some(&new);
    let ok = wait_until(Duration::from_secs(20), || {
        h.sts.requests().iter().any(carried_new)
    });
    assert!(
        ok,
        "no request carried the rotated token\n{}",
        d.snapshot().describe()
    );
    let requests = h.sts.requests();
    let first_new = requests
        .iter()
        .position(carried_new)
        .expect("found just now");
    assert_eq!(
        requests[0].param("WebIdentityToken").as_deref(),
        Some(old.as_str())
    );
    for r in &requests[first_new..] {
        assert!(
            carried_new(r),
            "after the rotation every request carries the new token"
        );
    }
    wait_for_issued(&h, &mut d, first_new, Duration::from_secs(10));
    assert_eq!(d.stop().code(), Some(0));
}

#[test]
fn daemon_refreshes_at_once_on_sighup() {
    let h = Harness::new("daemon_sighup", |_, _| Answer::issue(HOUR));
    let mut d = h.cmd(&[]).spawn();
    wait_for_issued(&h, &mut d, 0, FIRST_WRITE);

    for n in 1..=2 {
        d.signal(libc::SIGHUP);
        wait_for_issued(&h, &mut d, n, Duration::from_secs(10));
        d.assert_running();
    }
    // Hour-long credentials: nothing else should happen for a while.
    thread::sleep(Duration::from_secs(2));
    assert_eq!(
        h.sts.request_count(),
        3,
        "an idle daemon stays idle\n{}",
        d.snapshot().describe()
    );
    assert_eq!(d.stop().code(), Some(0));
}

#[test]
fn daemon_exits_0_on_sigterm() {
    let h = Harness::new("daemon_sigterm", |_, _| Answer::issue(HOUR));
    let mut d = h.cmd(&[]).spawn();
    wait_for_issued(&h, &mut d, 0, FIRST_WRITE);
    d.signal(libc::SIGTERM);
    assert_exits_0_within(&mut d, EXIT_WITHIN, "SIGTERM");
    assert!(current(&h).is_some(), "the file stays");
}

#[test]
fn daemon_exits_0_on_sigint() {
    let h = Harness::new("daemon_sigint", |_, _| Answer::issue(HOUR));
    let mut d = h.cmd(&[]).spawn();
    wait_for_issued(&h, &mut d, 0, FIRST_WRITE);
    d.signal(libc::SIGINT);
    assert_exits_0_within(&mut d, EXIT_WITHIN, "SIGINT");
}

#[test]
fn daemon_exits_0_on_sigterm_while_retrying() {
    let h = Harness::new("daemon_sigterm_backoff", |_, _| {
        Answer::error(503, "ServiceUnavailable", "Service is unavailable")
    });
    let mut d = h.cmd(&[]).spawn();
    assert!(
        h.sts.wait_for_requests(2, Duration::from_secs(20)),
        "the daemon retries a failing STS\n{}",
        d.snapshot().describe()
    );
    d.signal(libc::SIGTERM);
    assert_exits_0_within(&mut d, EXIT_WITHIN, "SIGTERM during backoff");
}

#[test]
fn daemon_exits_0_on_sigterm_while_sts_hangs() {
    let h = Harness::new("daemon_sigterm_hang", |_, _| Answer::Hang);
    let mut d = h.cmd(&[]).spawn();
    assert!(
        h.sts.wait_for_requests(1, FIRST_WRITE),
        "the daemon asks STS\n{}",
        d.snapshot().describe()
    );
    thread::sleep(Duration::from_millis(300));
    d.signal(libc::SIGTERM);
    assert_exits_0_within(&mut d, EXIT_WITHIN, "SIGTERM while a request hangs");
}

#[test]
fn daemon_keeps_the_file_through_failures_and_recovers() {
    let failing = Arc::new(AtomicBool::new(false));
    let script_failing = Arc::clone(&failing);
    let h = Harness::new("daemon_failures", move |_, _| {
        if script_failing.load(Ordering::SeqCst) {
            Answer::error(503, "ServiceUnavailable", "Service is unavailable")
        } else {
            Answer::issue(SHORT)
        }
    });
    h.write_cred_file(&format!("{OTHERS_BEFORE}{OLD_DEFAULT}{OTHERS_AFTER}"));
    let mut d = h.cmd(&[]).spawn();
    wait_for_issued(&h, &mut d, 0, FIRST_WRITE);

    failing.store(true, Ordering::SeqCst);
    let failed_from = h.sts.request_count();
    assert!(
        h.sts
            .wait_for_requests(failed_from + 2, Duration::from_secs(20)),
        "the daemon keeps trying\n{}",
        d.snapshot().describe()
    );
    // Whatever was written last before the failures stays, byte for byte.
    let text = h.read_cred_file();
    let inode = fs::metadata(&h.cred_file).expect("stat").ino();
    let last = h
        .sts
        .issued()
        .last()
        .cloned()
        .expect("issued at least once");
    assert_eq!(ini::profile(&text, "default"), Ok(Profile::from(&last)));
    let quiet_from = h.sts.request_count();
    thread::sleep(Duration::from_secs(3));
    d.assert_running();
    assert_eq!(
        h.read_cred_file(),
        text,
        "a failure must not touch the file"
    );
    assert_eq!(fs::metadata(&h.cred_file).expect("stat").ino(), inode);
    let retries = h.sts.request_count() - quiet_from;
    assert!(retries < 20, "{retries} retries in 3 s: no backoff");
    assert!(
        d.stderr().contains("ServiceUnavailable"),
        "each failure is logged with the STS code\n{}",
        d.snapshot().describe()
    );

    failing.store(false, Ordering::SeqCst);
    let issued_before = h.sts.issued().len();
    d.signal(libc::SIGHUP);
    wait_for_issued(&h, &mut d, issued_before, Duration::from_secs(20));
    let text = h.read_cred_file();
    assert!(
        text.starts_with(OTHERS_BEFORE) && text.ends_with(OTHERS_AFTER),
        "{text}"
    );
    assert_eq!(d.stop().code(), Some(0));
}

#[test]
fn daemon_survives_an_empty_token_file_and_recovers() {
    let h = Harness::new("daemon_empty_token", |_, _| Answer::issue(HOUR));
    let mut d = h.cmd(&[]).spawn();
    wait_for_issued(&h, &mut d, 0, FIRST_WRITE);
    let written = h.read_cred_file();

    h.set_token_file_contents(" \n", "");
    d.signal(libc::SIGHUP);
    let token_path = h.token_file.display().to_string();
    assert!(
        wait_until(Duration::from_secs(10), || d.stderr().contains(&token_path)),
        "the failed refresh is logged naming the token file\n{}",
        d.snapshot().describe()
    );
    d.assert_running();
    assert_eq!(h.sts.request_count(), 1, "an empty token is never sent");
    assert_eq!(h.read_cred_file(), written, "the file is kept");

    let token = format!("{}Renewed3K", h.token().len());
    let token = format!("eyJhbGciOiJSUzI1NiJ9.{token}AfterEmptyFile.c2ln");
    h.set_token(&token);
    d.signal(libc::SIGHUP);
    wait_for_issued(&h, &mut d, 1, Duration::from_secs(30));
    let requests = h.sts.requests();
    assert_eq!(
        requests
            .last()
            .and_then(|r| r.param("WebIdentityToken"))
            .as_deref(),
        Some(token.as_str())
    );
    assert_eq!(d.stop().code(), Some(0));
}

#[test]
fn readers_never_see_a_partial_file() {
    let h = Harness::new("daemon_readers", |_, _| Answer::issue(SHORT));
    h.write_cred_file(&format!("{OTHERS_BEFORE}{OLD_DEFAULT}{OTHERS_AFTER}"));
    let mut d = h.cmd(&[]).spawn();
    wait_for_issued(&h, &mut d, 0, FIRST_WRITE);

    let stop = AtomicBool::new(false);
    let (reads, seen) = thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut reads = 0u64;
            let mut seen = BTreeSet::new();
            while !stop.load(Ordering::SeqCst) {
                let bytes = fs::read(&h.cred_file)
                    .unwrap_or_else(|e| panic!("the file vanished during a rewrite: {e}"));
                let text = String::from_utf8(bytes).expect("the file is text");
                assert!(
                    text.starts_with(OTHERS_BEFORE) && text.ends_with(OTHERS_AFTER),
                    "read {reads}: other profiles damaged:\n{text}"
                );
                let p = ini::profile(&text, "default")
                    .unwrap_or_else(|e| panic!("read {reads}: partial file: {e}"));
                let issued = h.sts.issued();
                assert!(
                    issued.iter().any(|i| Profile::from(i) == p),
                    "read {reads}: keys that were never issued together:\n{text}"
                );
                let m = mode(&h.cred_file);
                assert_eq!(m, 0o600, "read {reads}: mode {m:o}");
                seen.insert(p.access_key_id);
                reads += 1;
            }
            (reads, seen)
        });
        // Rewrite as fast as the daemon lets us: SIGHUP on top of the
        // short lifetime.
        let deadline = Instant::now() + Duration::from_secs(20);
        while h.sts.issued().len() < 12 && Instant::now() < deadline && !reader.is_finished() {
            d.signal(libc::SIGHUP);
            thread::sleep(Duration::from_millis(100));
        }
        stop.store(true, Ordering::SeqCst);
        reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    });
    d.assert_running();
    let issued = h.sts.issued().len();
    assert!(
        issued >= 5,
        "only {issued} rewrites\n{}",
        d.snapshot().describe()
    );
    assert!(seen.len() >= 2, "the reader saw {} versions", seen.len());
    assert!(reads >= 100, "only {reads} reads");
    assert_eq!(d.stop().code(), Some(0));
    let dir = h.cred_file.parent().expect("the file has a directory");
    assert_eq!(
        dir_names(dir),
        [LOCK_FILE, "credentials"],
        "no temporary files pile up"
    );
}

/// Whether `pid` has a temporary file of ours open right now (it is between
/// creating the temporary file and renaming it over the target).
fn writing_temp_file(pid: u32) -> bool {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.flatten().any(|fd| {
                fs::read_link(fd.path())
                    .map(|target| target.to_string_lossy().ends_with(".tmp"))
                    .unwrap_or(false)
            })
        })
        .unwrap_or(false)
}

/// Stops arriving in the middle of a file write: the daemon is caught with
/// its temporary file open (frozen with SIGSTOP so the moment is certain),
/// handed SIGTERM and SIGINT together, and resumed. It must finish the write,
/// exit 0, and leave no temporary file; the target stays whole.
#[test]
fn stops_during_a_file_write_exit_0_without_a_temporary_file() {
    let h = Harness::new("daemon_stop_mid_write", |_, _| Answer::issue(HOUR));
    // Other profiles worth ~900 KB make each write take long enough to catch.
    let mut others = String::new();
    for i in 0..6_000 {
        others.push_str(&format!(
            "[other{i}]\naws_access_key_id = AKIAOTHER{i:011}\naws_secret_access_key = {}\n\n",
            "s".repeat(60)
        ));
    }
    // Written directly: these are not secrets the output check should know.
    fs::create_dir_all(h.cred_file.parent().expect("a directory")).expect("create it");
    fs::write(&h.cred_file, &others).expect("write the other profiles");
    let mut caught = 0;
    for attempt in 0..40 {
        // Counted before the start: a fast first fetch may be issued
        // before the line after the spawn runs.
        let first = h.sts.issued().len();
        let mut d = h.cmd(&[]).spawn();
        wait_for_issued(&h, &mut d, first, FIRST_WRITE);
        let pid = d.pid();
        // Rewrite again and again until a write is caught in the act.
        let mut in_write = false;
        let give_up = Instant::now() + Duration::from_secs(5);
        while !in_write && Instant::now() < give_up {
            d.signal(libc::SIGHUP);
            let asked = h.sts.request_count();
            let wrote_by = Instant::now() + Duration::from_secs(2);
            while Instant::now() < wrote_by && h.sts.request_count() == asked {
                std::hint::spin_loop();
            }
            while Instant::now() < wrote_by {
                if writing_temp_file(pid) {
                    d.signal(libc::SIGSTOP);
                    if writing_temp_file(pid) {
                        in_write = true;
                        break;
                    }
                    d.signal(libc::SIGCONT);
                }
            }
        }
        if !in_write {
            assert_eq!(d.stop().code(), Some(0));
            continue;
        }
        caught += 1;
        // Both stops land while it is frozen mid-write, then it resumes.
        d.signal(libc::SIGTERM);
        d.signal(libc::SIGINT);
        d.signal(libc::SIGCONT);
        assert_exits_0_within(
            &mut d,
            EXIT_WITHIN,
            &format!("SIGTERM+SIGINT mid-write (attempt {attempt})"),
        );
        let dir = h.cred_file.parent().expect("the file has a directory");
        let left: Vec<String> = dir_names(dir)
            .into_iter()
            .filter(|n| n.contains(".tmp"))
            .collect();
        assert!(left.is_empty(), "temporary files left behind: {left:?}");
        let text = fs::read_to_string(&h.cred_file).expect("the file is there");
        assert!(
            ini::profile(&text, "default").is_ok(),
            "the target is whole"
        );
        assert!(text.contains("[other5999]"), "the other profiles are kept");
        if caught == 3 {
            break;
        }
    }
    assert!(
        caught > 0,
        "never caught the daemon in the middle of a write"
    );
}

/// A SIGHUP while a refresh is already under way (here: STS answering slowly,
/// with the endpoint serving meanwhile) causes one more refresh after it; it
/// is never swallowed.
#[test]
fn sighup_during_a_refresh_in_flight_causes_another() {
    let h = Harness::new("daemon_sighup_in_flight", |n, _| {
        if n == 0 {
            Answer::issue(HOUR)
        } else {
            Answer::issue(HOUR).after(Duration::from_millis(1500))
        }
    });
    let port = harness::client::free_port();
    let addr = format!("127.0.0.1:{port}");
    let file = h.cred_file.display().to_string();
    let mut d = h.cmd(&["--serve", &addr, "--file", &file]).spawn();
    wait_for_issued(&h, &mut d, 0, FIRST_WRITE);
    d.signal(libc::SIGHUP);
    assert!(
        h.sts.wait_for_requests(2, Duration::from_secs(10)),
        "SIGHUP starts a refresh\n{}",
        d.snapshot().describe()
    );
    // The second refresh is waiting for its slow answer; ask again now.
    d.signal(libc::SIGHUP);
    assert!(
        h.sts.wait_for_requests(3, Duration::from_secs(15)),
        "the SIGHUP sent during the refresh was dropped\n{}",
        d.snapshot().describe()
    );
    wait_for_issued(&h, &mut d, 2, Duration::from_secs(15));
    thread::sleep(Duration::from_secs(2));
    assert_eq!(h.sts.request_count(), 3, "one SIGHUP, one more refresh");
    assert_eq!(d.stop().code(), Some(0));
}

/// A storm of SIGHUPs made at most one refresh a second, but logged
/// `refresh_requested` at info for every one of them: 300 lines for 6
/// refreshes, which any process that may signal it (the program under
/// `--`, which the README invites to) could use to flood the log, and which
/// read as hundreds of refreshes. Now a SIGHUP that joins a refresh already
/// asked for says so at debug level only: one info line per refresh.
#[test]
fn a_sighup_storm_logs_one_request_per_refresh() {
    let h = Harness::new("daemon_sighup_storm", |_, _| Answer::issue(HOUR));
    let mut d = h.cmd(&[]).spawn();
    wait_for_issued(&h, &mut d, 0, FIRST_WRITE);
    for _ in 0..60 {
        d.signal(libc::SIGHUP);
        thread::sleep(Duration::from_millis(25));
    }
    assert!(
        h.sts.wait_for_requests(2, Duration::from_secs(15)),
        "no refresh for the storm\n{}",
        d.snapshot().describe()
    );
    // The last refresh asked for comes within a second of the storm's end.
    thread::sleep(Duration::from_secs(3));
    let refreshes = h.sts.request_count() - 1;
    let out = d.stop();
    out.assert_code(0);
    let asked = out
        .stderr
        .lines()
        .filter(|l| l.contains("INFO  refresh_requested"))
        .count();
    assert!(
        (1..=4).contains(&refreshes) && asked <= refreshes,
        "{asked} requests logged for {refreshes} refreshes\n{}",
        out.describe()
    );
}

/// The idle daemon waits for its next refresh on the boot clock
/// (CLOCK_BOOTTIME, id 7), which keeps counting while a VM or laptop is
/// suspended, so a refresh that fell due meanwhile happens at once on
/// resume; poll's own timeout (CLOCK_MONOTONIC) stops during a suspend and
/// would come late by the whole sleep. Hour-long credentials are refreshed
/// at about half-life: 27 to 30 minutes from now. Both ways of waiting: plain,
/// and serving the endpoint.
#[test]
fn the_next_refresh_is_timed_on_the_boot_clock() {
    const CLOCK_BOOTTIME: u32 = 7;
    let h = Harness::new("daemon_boottime", |_, _| Answer::issue(HOUR));
    let port = harness::client::free_port().to_string();
    let file = h.cred_file.display().to_string();
    let addr = format!("127.0.0.1:{port}");
    for args in [vec![], vec!["--serve", &addr, "--file", &file]] {
        // Counted before the start: a fast first fetch may be issued
        // before the line after the spawn runs.
        let first = h.sts.issued().len();
        let mut d = h.cmd(&args).spawn();
        wait_for_issued(&h, &mut d, first, FIRST_WRITE);
        let mut timers = Vec::new();
        let found = wait_until(Duration::from_secs(10), || {
            timers = armed_timers(d.pid());
            timers
                .iter()
                .any(|&(secs, clock)| clock == CLOCK_BOOTTIME && (1_600..=1_800).contains(&secs))
        });
        assert!(
            found,
            "{args:?}: no boot-clock timer due in ~30 min; armed timers (secs, clock): {timers:?}\n{}",
            d.snapshot().describe()
        );
        assert_eq!(d.stop().code(), Some(0));
    }
}

/// Waits up to 10 s for the daemon's `credentials_shorter_than_min_valid`
/// warning.
fn assert_warned_too_short(d: &Daemon) {
    d.assert_logs_within(
        "credentials_shorter_than_min_valid",
        Duration::from_secs(10),
        "no warning",
    );
}

/// The refresh was planned 10 minutes before expiry
/// whatever `--min-valid` a probe used, so `/readyz` (and a `--check`
/// probe) with `--min-valid 11m` failed before every refresh. Given the
/// same `--min-valid`, the daemon now refreshes a minute before less is
/// left: 15-minute credentials kept valid for 11 minutes are refreshed
/// within 3 minutes, not 5; and credentials that cannot last that long are
/// warned about.
#[test]
fn the_daemon_keeps_the_credentials_valid_for_min_valid() {
    const CLOCK_BOOTTIME: u32 = 7;
    let h = Harness::new("daemon_min_valid", |_, _| {
        Answer::issue(Duration::from_secs(900))
    });
    let mut d = h.cmd(&["--min-valid", "11m"]).spawn();
    wait_for_issued(&h, &mut d, 0, FIRST_WRITE);
    let mut timers = Vec::new();
    let found = wait_until(Duration::from_secs(10), || {
        timers = armed_timers(d.pid());
        timers
            .iter()
            .any(|&(secs, clock)| clock == CLOCK_BOOTTIME && (150..=180).contains(&secs))
    });
    assert!(
        found,
        "no boot-clock timer due within 3 min; armed timers (secs, clock): {timers:?}\n{}",
        d.snapshot().describe()
    );
    assert!(!d.stderr().contains("credentials_shorter_than_min_valid"));
    assert_eq!(d.stop().code(), Some(0));

    let mut d = h.cmd(&["--min-valid", "14m30s"]).spawn();
    wait_for_issued(&h, &mut d, 1, FIRST_WRITE);
    assert_warned_too_short(&d);
    assert_eq!(d.stop().code(), Some(0));
}

/// A `--min-valid` just short of the lifetime (15-minute
/// credentials, 13m58s kept) made the refresh due a second or two after
/// each one: STS was called about once a second, forever, without a word.
/// The refresh is never due sooner than an eighth of the lifetime, and the
/// shortfall that leaves is warned about, with how long probes fail.
#[test]
fn a_min_valid_near_the_lifetime_never_makes_the_daemon_call_sts_over_and_over() {
    let h = Harness::new("daemon_min_valid_storm", |_, _| {
        Answer::issue(Duration::from_secs(900))
    });
    let mut d = h.cmd(&["--min-valid", "13m58s"]).spawn();
    wait_for_issued(&h, &mut d, 0, FIRST_WRITE);
    assert_warned_too_short(&d);
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        h.sts.request_count(),
        1,
        "STS called again within seconds\n{}",
        d.snapshot().describe()
    );
    assert!(d.stderr().contains("failing_for="), "{}", d.stderr());
    assert_eq!(d.stop().code(), Some(0));

    // Credentials that outlast --min-valid by more than a refresh's wait
    // are not warned about (30-second ones, 5 s kept, were).
    let h = Harness::new("daemon_min_valid_fine", |_, _| {
        Answer::issue(Duration::from_secs(30))
    });
    let mut d = h.cmd(&["--min-valid", "5s"]).spawn();
    wait_for_issued(&h, &mut d, 0, FIRST_WRITE);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !d.stderr().contains("credentials_shorter_than_min_valid"),
        "{}",
        d.stderr()
    );
    assert_eq!(d.stop().code(), Some(0));
}

/// A source answering credentials that expire within a second or two (a
/// source gone wrong, a clock far ahead) was asked once a second for good,
/// without a word at the default log level. After ten such answers in a
/// row the refreshes are spaced out, doubling to a minute apart, and each
/// is warned about. (Over 20 s: 20 requests before, at most 13 now.)
#[test]
fn a_source_answering_only_short_lived_credentials_is_not_asked_every_second() {
    let h = Harness::new("daemon_short_lived", |_, _| {
        Answer::issue(Duration::from_secs(1))
    });
    let mut d = h.cmd(&[]).spawn();
    wait_for_issued(&h, &mut d, 0, FIRST_WRITE);
    std::thread::sleep(Duration::from_secs(20));
    let asked = h.sts.request_count();
    let out = d.stop();
    assert_eq!(out.code(), Some(0));
    assert!(
        (10..=14).contains(&asked),
        "STS asked {asked} times in 20 s\n{}",
        out.describe()
    );
    out.assert_stderr_contains("credentials_short_lived")
        .assert_stderr_contains("in_a_row=10");
}

/// One thread while idle, in every long-running mode: a fetch runs on a
/// short-lived worker that has ended by the time the first write is done,
/// and nothing else ever starts one (the endpoint, the metrics and the
/// supervised program are all in the one `poll`). Sampled over a second.
#[test]
fn one_thread_while_idle_in_every_mode() {
    let h = Harness::new("daemon_one_thread", |_, _| Answer::issue(HOUR));
    let serve = format!("127.0.0.1:{}", harness::client::free_port());
    let metrics = format!("127.0.0.1:{}", harness::client::free_port());
    let file = h.cred_file.display().to_string();
    let modes: [&[&str]; 3] = [
        &[],
        &["--serve", &serve, "--metrics", &metrics, "--file", &file],
        &["--file", &file, "--", "/bin/sleep", "600"],
    ];
    for args in modes {
        // Counted before the start: a fast first fetch may be issued
        // before the line after the spawn runs.
        let first = h.sts.issued().len();
        let mut d = h.cmd(args).spawn();
        wait_for_issued(&h, &mut d, first, FIRST_WRITE);
        // The worker has handed its result over; let it finish ending.
        let single = wait_until(Duration::from_secs(5), || threads(d.pid()) == Some(1));
        assert!(
            single,
            "{args:?}: {:?} threads after the first write\n{}",
            threads(d.pid()),
            d.snapshot().describe()
        );
        for _ in 0..10 {
            thread::sleep(Duration::from_millis(100));
            assert_eq!(threads(d.pid()), Some(1), "{args:?}: a thread while idle");
        }
        d.stop();
    }
}

/// The fake's serial number for the keys `p` holds: their place among all
/// it issued, `None` if it never issued them together.
fn serial(issued: &[harness::Issued], p: &Profile) -> Option<usize> {
    issued.iter().position(|i| Profile::from(i) == *p)
}

/// A thread's result, its panic passed on.
fn joined<T>(t: thread::ScopedJoinHandle<'_, T>) -> T {
    t.join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Two daemons on two profiles rewriting as fast as SIGHUP drives them, and
/// `--once` runs one after another on a third, all on one file: no write
/// fails, every read finds all three profiles complete, and no profile ever
/// goes back to an older key.
#[test]
fn concurrent_writers_share_one_file() {
    const PROFILES: [&str; 3] = ["alpha", "beta", "gamma"];
    let h = Harness::new("daemon_writers", |_, _| Answer::issue(SHORT));
    h.write_cred_file(OTHERS_BEFORE);
    let mut daemons = [
        h.cmd(&["--profile", "alpha"]).spawn(),
        h.cmd(&["--profile", "beta"]).spawn(),
    ];
    h.cmd(&["--once", "--profile", "gamma"])
        .run()
        .assert_code(0);
    let complete = |text: &str| PROFILES.iter().all(|p| ini::profile(text, p).is_ok());
    assert!(
        wait_until(FIRST_WRITE, || fs::read_to_string(&h.cred_file)
            .is_ok_and(|t| complete(&t))),
        "the three profiles never appeared together:\n{}",
        fs::read_to_string(&h.cred_file).unwrap_or_default()
    );

    let stop = AtomicBool::new(false);
    let (reads, onces) = thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut last = [0usize; PROFILES.len()];
            let mut reads = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let text = fs::read_to_string(&h.cred_file)
                    .unwrap_or_else(|e| panic!("read {reads}: the file vanished: {e}"));
                assert!(
                    text.starts_with(OTHERS_BEFORE),
                    "read {reads}: the hand-written profile is damaged:\n{text}"
                );
                let issued = h.sts.issued();
                for (last, name) in last.iter_mut().zip(PROFILES) {
                    let p = ini::profile(&text, name)
                        .unwrap_or_else(|e| panic!("read {reads}: [{name}] incomplete: {e}"));
                    let n = serial(&issued, &p).unwrap_or_else(|| {
                        panic!("read {reads}: [{name}] holds keys never issued together:\n{text}")
                    });
                    assert!(
                        n >= *last,
                        "read {reads}: [{name}] went back from key #{last} to #{n}:\n{text}"
                    );
                    *last = n;
                }
                reads += 1;
            }
            reads
        });
        let onces = s.spawn(|| {
            let mut runs = 0u32;
            while !stop.load(Ordering::SeqCst) {
                let out = h.cmd(&["--once", "--profile", "gamma"]).run();
                assert_eq!(out.code(), Some(0), "--once run {runs}\n{}", out.describe());
                runs += 1;
            }
            runs
        });
        // SIGHUP refreshes are at most one a second per daemon, so each
        // writes about once a second however often this asks. (Not faster
        // anyway: checking every issued secret against the output at the end
        // grows with the square of the number of writes.)
        let deadline = Instant::now() + Duration::from_secs(6);
        while Instant::now() < deadline && !reader.is_finished() && !onces.is_finished() {
            for d in &mut daemons {
                d.signal(libc::SIGHUP);
            }
            thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, Ordering::SeqCst);
        (joined(reader), joined(onces))
    });

    let mut writes = Vec::new();
    for d in daemons {
        let out = d.stop();
        assert_eq!(out.code(), Some(0), "{}", out.describe());
        assert!(!out.stderr.contains("refresh_failed"), "{}", out.describe());
        let written = out.stderr.matches("credentials_refreshed").count();
        assert!(written >= 3, "only {written} writes\n{}", out.describe());
        writes.push(written);
    }
    eprintln!("daemon writes {writes:?}, {onces} --once runs, {reads} reads");
    assert!(onces >= 3, "only {onces} --once runs");
    assert!(reads >= 100, "only {reads} reads");
    let dir = h.cred_file.parent().expect("the file has a directory");
    assert_eq!(
        dir_names(dir),
        [LOCK_FILE, "credentials"],
        "no temporary files left"
    );
}

/// A signal ignored when aws-credfile started (a script's `cmd &`
/// ignores SIGINT; `trap '' INT`) was kept ignored under `-- PROGRAM`, but
/// stopped the daemon and `--once`. Now it stays ignored in every mode;
/// SIGTERM, not ignored, stops as ever.
#[test]
fn a_signal_ignored_at_start_stays_ignored_in_every_mode() {
    let h = Harness::new("daemon_ignored", |_, _| Answer::issue(HOUR));
    let wrapper = ["sh", "-c", r#"trap '' INT; exec "$0" "$@""#];
    let mut d = h.cmd(&[]).wrapped(&wrapper).spawn();
    wait_for_issued(&h, &mut d, 0, FIRST_WRITE);
    d.signal(libc::SIGINT);
    thread::sleep(Duration::from_millis(500));
    d.assert_running();
    assert_eq!(d.stop().code(), Some(0), "SIGTERM still stops it");

    // --once, stopped while it fetches: SIGINT does nothing, SIGTERM ends
    // it unfinished.
    let h = Harness::new("once_ignored", |_, _| {
        Answer::issue(HOUR).after(Duration::from_millis(1500))
    });
    let mut once = h.cmd(&["--once"]).wrapped(&wrapper).spawn();
    assert!(h.sts.wait_for_requests(1, FIRST_WRITE), "no fetch");
    once.signal(libc::SIGINT);
    once.wait_exit(Duration::from_secs(10));
    assert_eq!(once.outcome().code(), Some(0), "SIGINT stopped --once");
}

/// Started with SIGTERM, SIGINT and SIGHUP blocked (a parent's
/// mask is inherited across exec), aws-credfile handled them but never
/// received them: SIGHUP refreshed nothing and SIGTERM did not stop it.
/// The mask is lifted at start; a supervised program gets it back, as exec
/// would have passed it on.
#[test]
fn a_mask_inherited_at_start_is_lifted_and_handed_back() {
    let h = Harness::new("daemon_masked", |_, _| Answer::issue(HOUR));
    let wrapper = [
        "perl",
        "-MPOSIX",
        "-e",
        "sigprocmask(SIG_BLOCK, POSIX::SigSet->new(SIGHUP, SIGINT, SIGTERM)) or die; exec @ARGV or die",
    ];
    let mut d = h.cmd(&[]).wrapped(&wrapper).spawn();
    wait_for_issued(&h, &mut d, 0, FIRST_WRITE);
    thread::sleep(Duration::from_millis(1100));
    d.signal(libc::SIGHUP);
    wait_for_issued(&h, &mut d, 1, FIRST_WRITE);
    assert_eq!(d.stop().code(), Some(0), "SIGTERM stops it");

    // Read by grep itself: a shell would clear the mask it starts with.
    let out = h
        .cmd(&["--", "grep", "SigBlk", "/proc/self/status"])
        .wrapped(&wrapper)
        .run();
    out.assert_code(0);
    let mask = out.stdout.clone();
    let bits = u64::from_str_radix(mask.trim().trim_start_matches("SigBlk:").trim(), 16)
        .expect("a hex mask");
    let want = [libc::SIGHUP, libc::SIGINT, libc::SIGTERM]
        .iter()
        .fold(0u64, |set, &sig| set | 1 << (sig - 1));
    assert_eq!(bits, want, "the program's mask: {mask}");
}
