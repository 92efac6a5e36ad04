//! Crash consistency: SIGKILL the daemon at random moments while it
//! rewrites short-lived credentials (and is prodded with SIGHUP to rewrite
//! faster), restart it, and after every kill check that the file parses,
//! holds exactly one complete credential set the fake issued, keeps the
//! other profiles byte for byte, and that besides the lock file at most the
//! killed process's temporary file exists, which the next successful write
//! clears.
//!
//! `crash_consistency_fast` (30 kills) runs in `make test`;
//! `crash_consistency_stress` (300 kills) runs in `make stress`.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::harness::ini::{self, Profile};
use crate::harness::{dir_names, wait_until, Answer, Harness, LOCK_FILE};

/// Credentials that live two seconds: the daemon rewrites every second on
/// its own, and on every SIGHUP.
const LIFETIME: Duration = Duration::from_secs(2);

const BEFORE: &str = "# hand-written, keep\n[dev]\n\
    aws_access_key_id = AKIADEVEXAMPLE000021\n\
    aws_secret_access_key = devSecretEXAMPLE0000/0000000000000000021\n\n";
const OLD: &str = "[default]\n\
    aws_access_key_id = AKIAOLDEXAMPLE000021\n\
    aws_secret_access_key = oldSecretEXAMPLE0000/0000000000000000021\n\
    aws_session_token = oldTokenEXAMPLE00000/000000000000000000000000000021\n\n";
const AFTER: &str = "[prod]\naws_access_key_id = AKIAPRODEXAMPLE00021\n\
    aws_secret_access_key = prodSecretEXAMPLE000/0000000000000000021\n";

/// `.credentials.aws-credfile.<pid>.tmp`: the temporary file of process `pid`.
fn is_temp(name: &str) -> bool {
    name.strip_prefix(".credentials.aws-credfile.")
        .and_then(|rest| rest.strip_suffix(".tmp"))
        .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// xorshift64*: reproducible kill moments from a printed seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

fn seed() -> u64 {
    std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("clock after 1970")
                .as_nanos() as u64
                | 1
        })
}

/// What one kill left behind, checked.
fn check_after_kill(h: &Harness, round: usize) {
    let text = fs::read_to_string(&h.cred_file)
        .unwrap_or_else(|e| panic!("round {round}: the file is gone after a kill: {e}"));
    assert!(
        text.starts_with(BEFORE) && text.ends_with(AFTER),
        "round {round}: other profiles damaged:\n{text}"
    );
    assert_eq!(
        ini::sections(&text).len(),
        3,
        "round {round}: exactly dev, default and prod:\n{text}"
    );
    let p = ini::profile(&text, "default")
        .unwrap_or_else(|e| panic!("round {round}: not one complete set: {e}"));
    let issued = h.sts.issued();
    assert!(
        issued.iter().any(|i| Profile::from(i) == p),
        "round {round}: keys that were never issued together:\n{text}"
    );
    let dir = h.cred_file.parent().expect("the file has a directory");
    let names = dir_names(dir);
    let temps: Vec<&String> = names.iter().filter(|n| is_temp(n)).collect();
    assert!(
        temps.len() <= 1 && names.len() == 2 + temps.len(),
        "round {round}: the file, the lock and at most one temporary file: {names:?}"
    );
    assert!(
        names.iter().any(|n| n == LOCK_FILE) && names.iter().any(|n| n == "credentials"),
        "round {round}: {names:?}"
    );
    if let Some(temp) = temps.first() {
        let meta = fs::symlink_metadata(dir.join(temp)).expect("stat the temp file");
        assert!(
            meta.is_file(),
            "round {round}: the leftover is a plain file"
        );
        assert_eq!(
            meta.mode() & 0o777,
            0o600,
            "round {round}: a leftover holds keys; it must be private"
        );
    }
}

/// The file holds a set issued at index `since` or later: this run wrote.
fn written_since(h: &Harness, since: usize) -> bool {
    let Some(p) = fs::read_to_string(&h.cred_file)
        .ok()
        .and_then(|t| ini::profile(&t, "default").ok())
    else {
        return false;
    };
    h.sts
        .issued()
        .iter()
        .skip(since)
        .any(|i| Profile::from(i) == p)
}

fn crash_loop(name: &str, rounds: usize) {
    let seed = seed();
    eprintln!("{name}: CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let h = Harness::new(name, |_, _| Answer::issue(LIFETIME));
    h.write_cred_file(&format!("{BEFORE}{OLD}{AFTER}"));
    let mut leftovers = 0;
    let started = Instant::now();
    for round in 0..rounds {
        let issued_before = h.sts.issued().len();
        let mut d = h.cmd(&[]).spawn();
        // The first write of this run: whatever the last kill left, a
        // successful write must have replaced the file and cleared the temp.
        let wrote = wait_until(Duration::from_secs(15), || written_since(&h, issued_before));
        assert!(
            wrote,
            "round {round}: no write after restart\n{}",
            d.snapshot().describe()
        );
        // Kill somewhere in the next 0-400 ms of SIGHUP-driven rewrites
        // (each takes a few ms, so kills land before, inside and after
        // writes).
        let kill_at = Instant::now() + Duration::from_millis(rng.below(400));
        while Instant::now() < kill_at {
            d.signal(libc::SIGHUP);
            thread::sleep(Duration::from_micros(500 + rng.below(3000)));
        }
        d.signal(libc::SIGKILL);
        let status = d.wait_exit(Duration::from_secs(10));
        assert!(status.is_some(), "round {round}: SIGKILL did not end it");
        assert!(
            !d.stderr().contains("panicked"),
            "round {round}\n{}",
            d.snapshot().describe()
        );
        check_after_kill(&h, round);
        if dir_names(h.cred_file.parent().expect("dir")).len() == 3 {
            leftovers += 1;
        }
        drop(d);
    }
    // A clean stop after a write leaves no temporary file at all.
    let n = h.sts.issued().len();
    let d = h.cmd(&[]).spawn();
    assert!(wait_until(Duration::from_secs(15), || written_since(&h, n)));
    assert_eq!(d.stop().code(), Some(0));
    check_after_kill(&h, rounds);
    assert_eq!(
        dir_names(h.cred_file.parent().expect("dir")),
        [LOCK_FILE, "credentials"],
        "the temporary file is gone after a successful write and a clean stop"
    );
    eprintln!(
        "{name}: {rounds} kills in {:.1?}, {} sets issued, a temp file was left by {leftovers} kills (each cleared by the next write)",
        started.elapsed(),
        h.sts.issued().len()
    );
}

#[test]
fn crash_consistency_fast() {
    crash_loop("crash_fast", 30);
}

#[test]
#[ignore = "stress: run by `make stress`"]
fn crash_consistency_stress() {
    crash_loop("crash_stress", 300);
}
