//! `--check`, the exec probe: exit 0 iff the file holds the profile with
//! credentials valid for at least `--min-valid`, from the file alone.

use std::time::Duration;

use crate::harness;
use crate::harness::{Answer, Harness, HOUR};

#[test]
fn check_passes_on_fresh_credentials_and_fails_past_min_valid() {
    let h = Harness::new("check_fresh", |_, _| Answer::issue(HOUR));
    h.cmd(&["--once"]).run().assert_code(0);
    let requests = h.sts.request_count();

    h.cmd(&["--check"]).run().assert_code(0);
    h.cmd(&["--check", "--min-valid", "30m"])
        .run()
        .assert_code(0);
    h.cmd(&["--check", "--min-valid", "2h"])
        .run()
        .assert_code(1);
    h.cmd(&["--check", "--min-valid", "1h1m"])
        .run()
        .assert_code(1);
    assert_eq!(
        h.sts.request_count(),
        requests,
        "--check reads only the file"
    );
}

#[test]
fn check_fails_on_nearly_expired_credentials() {
    let h = Harness::new("check_nearly_expired", |_, _| {
        Answer::issue(Duration::from_secs(120))
    });
    h.cmd(&["--once"]).run().assert_code(0);
    h.cmd(&["--check"]).run().assert_code(1);
    h.cmd(&["--check", "--min-valid", "30"])
        .run()
        .assert_code(0);
}

#[test]
fn check_fails_on_a_missing_file() {
    let h = Harness::new("check_missing_file", |_, _| Answer::issue(HOUR));
    h.cmd(&["--check"]).run().assert_code(1);
    assert_eq!(h.sts.request_count(), 0, "--check never calls STS");
    assert!(!h.cred_file.exists(), "--check never writes");
}

/// Whatever stands where the file should, the probe says the file is not
/// fit: exit 1. A directory or a pipe at the path, or a link on the way in
/// a directory others may write, gave exit 2 ("a bad flag or value") while
/// a link at the file itself gave 1 (round 41).
#[test]
fn check_fails_with_1_on_anything_but_the_file_at_the_path() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let h = Harness::new("check_not_a_file", |_, _| Answer::issue(HOUR));
    let dir = h.scratch.join("dir");
    std::fs::create_dir(&dir).unwrap();
    let fifo = h.scratch.join("fifo");
    harness::mkfifo(&fifo);
    let shared = h.scratch.join("shared");
    std::fs::create_dir_all(shared.join("real")).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    symlink("real", shared.join("link")).unwrap();
    let socket = h.scratch.join("socket");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    for path in [dir, fifo, socket, shared.join("link/credentials")] {
        let out = h
            .cmd(&["--check", "--file", &path.display().to_string()])
            .run();
        out.assert_code(1);
        out.assert_stderr_contains("--file");
        assert_eq!(out.stderr_lines().len(), 1, "{}", out.describe());
    }
}

#[test]
fn check_fails_when_the_profile_is_missing() {
    let h = Harness::new("check_missing_profile", |_, _| Answer::issue(HOUR));
    h.write_cred_file(
        "[dev]\naws_access_key_id = AKIADEVEXAMPLE000005\n\
         aws_secret_access_key = devSecretEXAMPLE0000/0000000000000000005\n",
    );
    h.cmd(&["--check"]).run().assert_code(1);
    assert_eq!(h.sts.request_count(), 0);
}

#[test]
fn check_fails_on_a_profile_without_a_recorded_expiry() {
    // Hand-written keys: nothing says how long they stay valid.
    let h = Harness::new("check_no_expiry", |_, _| Answer::issue(HOUR));
    h.write_cred_file(
        "[default]\naws_access_key_id = AKIADEVEXAMPLE000006\n\
         aws_secret_access_key = devSecretEXAMPLE0000/0000000000000000006\n\
         aws_session_token = devTokenEXAMPLE00000/0000000000000000000006\n",
    );
    h.cmd(&["--check"]).run().assert_code(1);
}

#[test]
fn check_uses_the_file_and_profile_flags() {
    let h = Harness::new("check_flags", |_, _| Answer::issue(HOUR));
    let path = h.scratch.join("other/creds");
    let file = path.display().to_string();
    h.cmd(&["--once", "--file", &file, "--profile", "app"])
        .run()
        .assert_code(0);
    h.cmd(&["--check", "--file", &file, "--profile", "app"])
        .run()
        .assert_code(0);
    h.cmd(&["--check", "--file", &file]).run().assert_code(1);
    h.cmd(&["--check", "--profile", "app"]).run().assert_code(1);
}

#[test]
fn check_follows_a_daemon_written_file() {
    let h = Harness::new("check_daemon", |_, _| Answer::issue(HOUR));
    let d = h.cmd(&[]).spawn();
    assert!(
        harness::wait_for_file_containing(&h.cred_file, "[default]", Duration::from_secs(15))
            .is_some(),
        "the daemon writes the file\n{}",
        d.snapshot().describe()
    );
    h.cmd(&["--check"]).run().assert_code(0);
    assert_eq!(d.stop().code(), Some(0));
    h.cmd(&["--check"]).run().assert_code(0);
}

/// `--check` takes the sidecar's flags (an exec probe
/// reusing its command line), but refused `--serve` and `--metrics`: a
/// probe built from a serving sidecar's command line never passed. They are
/// now checked and left unused; nothing listens. (A sidecar that serves
/// and writes no file, without `--file`, has no file to probe: refused,
/// see `bad_input`.)
#[test]
fn check_takes_a_serving_sidecars_whole_command_line() {
    let h = Harness::new("check_sidecar_flags", |_, _| Answer::issue(HOUR));
    let token = h
        .scratch
        .write("serve-token", "c2lkZWNhci1wcm9iZS10b2tlbi0wMTIzNDU2");
    let token = token.to_str().expect("a UTF-8 path");
    let file = h.cred_file.to_str().expect("a UTF-8 path");
    let sidecar = [
        "--file",
        file,
        "--serve",
        "127.0.0.1:9",
        "--serve-token-file",
        token,
        "--metrics",
        "0.0.0.0:10",
        "--min-valid",
        "10m",
    ];
    h.cmd(&[&["--check"][..], &sidecar].concat())
        .run()
        .assert_code(1)
        .assert_stderr_contains("does not exist yet");
    h.cmd(&["--once"]).run().assert_code(0);
    h.cmd(&[&["--check"][..], &sidecar].concat())
        .run()
        .assert_code(0);
}

/// In a directory others may write (a disk-backed emptyDir is
/// 0777), another user renamed its own file over the credentials, keys of
/// its choosing in a section that looked like ours. The daemon refused it
/// at every refresh, while `--check` passed it and the app used those
/// keys. `--check` now holds the file to the writer's rules: this user's
/// or `--owner`'s, and not writable by group or others.
#[test]
fn check_passes_no_file_the_writer_would_not_merge_into() {
    use std::os::unix::fs::{chown, PermissionsExt};
    if !crate::harness::process::is_root() {
        harness::skip("needs root to give the file to another user");
        return;
    }
    let h = Harness::new("check_foreign", |_, _| Answer::issue(HOUR));
    h.cmd(&["--once"]).run().assert_code(0);
    chown(&h.cred_file, Some(harness::NOBODY), Some(harness::NOBODY)).expect("chown");
    h.cmd(&["--check"])
        .run()
        .assert_code(1)
        .assert_stderr_contains("belongs to uid 65534");
    h.cmd(&["--check", "--owner", "65534"]).run().assert_code(0);

    chown(&h.cred_file, Some(0), Some(0)).expect("chown back");
    std::fs::set_permissions(&h.cred_file, std::fs::Permissions::from_mode(0o620)).expect("chmod");
    h.cmd(&["--check"])
        .run()
        .assert_code(1)
        .assert_stderr_contains("writable by group or others");

    // Written for `--owner`, the file is that user's: root's passed
    // `--check --owner 65534`, though the writer refuses to give it away
    // and that user cannot read it (round 41).
    std::fs::set_permissions(&h.cred_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    h.cmd(&["--check"]).run().assert_code(0);
    h.cmd(&["--check", "--owner", "65534"])
        .run()
        .assert_code(1)
        .assert_stderr_contains("belongs to uid 0, not to --owner 65534");
}

/// A lone CR or a byte that is not UTF-8 in a 1 MiB file was refused
/// without saying where, though the README promises the line; both the
/// writer and `--check` now name it, and the file is left as it was.
#[test]
fn a_file_that_cannot_be_merged_is_refused_naming_the_line() {
    let h = Harness::new("check_line_named", |_, _| Answer::issue(HOUR));
    let cases: [(&[u8], &str); 2] = [
        (
            b"[other]\r\nx = 1\r\ny = 2\r[default]\r\n",
            "line 3 ends in a lone CR",
        ),
        (b"[other]\nx = 1\n\n# caf\xe9\n", "line 4 is not UTF-8"),
    ];
    let dir = h.cred_file.parent().expect("a directory");
    std::fs::create_dir_all(dir).expect("mkdir");
    for (content, named) in cases {
        std::fs::write(&h.cred_file, content).expect("seed");
        h.cmd(&["--once"])
            .run()
            .assert_code(2)
            .assert_stderr_contains(named);
        h.cmd(&["--check"])
            .run()
            .assert_code(1)
            .assert_stderr_contains(named);
        assert_eq!(std::fs::read(&h.cred_file).expect("read"), content);
    }
}
