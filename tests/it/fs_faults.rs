//! Filesystem faults: a read-only directory, a full disk, a directory where
//! the file belongs, symlinks planted at the target or the temporary path,
//! permissions changed under a running daemon. For each: a clear error,
//! nothing lost, nothing written through a symlink, recovery once fixed.
//!
//! Root ignores permission bits, so the permission cases run the binary as
//! `nobody` (a `setuid` before exec) and are skipped when the tests do not
//! run as root. The read-only and disk-full cases mount a small tmpfs and
//! are skipped, saying so, where mounting is not allowed.

use std::fs;
use std::os::unix::fs::{chown, symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::ini::{self, Profile};
use crate::harness::process::is_root;
use crate::harness::{
    dir_names, mode, wait_for_file_containing, wait_until, Answer, Harness, Outcome, HOUR,
    LOCK_FILE, NOBODY,
};

const EXISTING: &str = "[dev]\naws_access_key_id = AKIADEVEXAMPLE000031\n\
    aws_secret_access_key = devSecretEXAMPLE0000/0000000000000000031\n\n\
    [default]\naws_access_key_id = AKIAOLDEXAMPLE000031\n\
    aws_secret_access_key = oldSecretEXAMPLE0000/0000000000000000031\n";

fn harness(name: &str) -> Harness {
    Harness::new(name, |_, _| Answer::issue(HOUR))
}

fn assert_sane(out: &Outcome) {
    assert!(!out.stderr.contains("panicked"), "{}", out.describe());
    assert!(matches!(out.code(), Some(0..=2)), "{}", out.describe());
}

fn snapshot(path: &Path) -> (Vec<u8>, u64) {
    (
        fs::read(path).expect("read"),
        fs::metadata(path).expect("stat").ino(),
    )
}

/// The file holds the last issued credentials and the `[dev]` profile.
fn assert_fresh(h: &Harness, path: &Path) {
    let text = fs::read_to_string(path).expect("read the credentials file");
    let last = h.sts.issued().last().map(Profile::from);
    assert_eq!(ini::profile(&text, "default").ok(), last, "{text}");
    assert_eq!(
        ini::values(&text, "dev").expect("dev kept")["aws_access_key_id"],
        "AKIADEVEXAMPLE000031"
    );
}

/// A SIGHUP refresh of the running daemon `d` is refused, `why` logged;
/// the daemon goes on, and stops with 0.
fn refused_at_the_next_refresh(mut d: crate::harness::Daemon, why: &str) {
    d.signal(libc::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(15), || d.stderr().contains(why)),
        "the refusal is logged\n{}",
        d.snapshot().describe()
    );
    d.assert_running();
    assert_eq!(d.stop().code(), Some(0));
}

/// What the `--owner` user can do in its own directory `dir`: rename a
/// root-only (0600) file holding `content`, made there, to `to`.
fn rename_in_root_only(dir: &Path, to: &Path, content: &str) {
    let file = dir.join("roots-private");
    fs::write(&file, content).expect("plant");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).expect("chmod");
    fs::rename(&file, to).expect("rename it in");
}

/// A tmpfs mounted for one test, unmounted (lazily) when dropped.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, options: &str) -> Option<Mount> {
        fs::create_dir_all(at).expect("mount point");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Mount(at.to_path_buf()))
    }

    fn remount(&self, options: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remount {} {options}", self.0.display());
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn target_is_a_directory() {
    let h = harness("fs_isdir");
    fs::create_dir_all(h.cred_file.join("inside")).expect("make a directory at the target");
    let out = h.cmd(&["--once", "--once-timeout", "3s"]).run();
    assert_sane(&out);
    assert_ne!(out.code(), Some(0), "{}", out.describe());
    out.assert_stderr_contains("is a directory");
    out.assert_stderr_contains(&h.cred_file.display().to_string());
    assert!(h.cred_file.join("inside").is_dir(), "the directory is kept");
    // Refused before anything is fetched or locked: nothing created beside it.
    assert_eq!(
        dir_names(h.cred_file.parent().expect("dir")),
        ["credentials"],
        "no lock or temporary file is left behind"
    );
}

/// A file where a directory of `--file`'s path belongs (`/dev/null/creds`,
/// or `HOME=/dev/null`) was found only by the first write: the source was
/// asked first, then `--once` failed with exit 1 and the daemon retried
/// for ever. It is a configuration error like a directory at the target.
#[test]
fn a_file_on_the_way_to_the_target_is_refused_before_any_request() {
    let h = harness("fs_file_on_the_way");
    let plain = h.scratch.write("plain", "not a directory\n");
    for target in [plain.join("credentials"), plain.join("a/b/credentials")] {
        let target = target.display().to_string();
        for args in [&["--once"][..], &[]] {
            let out = h.cmd(&[args, &["--file", &target]].concat()).run();
            assert_sane(&out);
            out.assert_code(2);
            out.assert_stderr_contains("Not a directory");
            out.assert_stderr_contains(&plain.display().to_string());
            assert_eq!(out.stderr_lines().len(), 1, "{}", out.describe());
        }
    }
    assert_eq!(h.sts.request_count(), 0, "refused before any request");
    assert_eq!(fs::read_to_string(&plain).unwrap(), "not a directory\n");
}

/// Every regular file under `dir` but `except`, for "it never landed anywhere".
fn files_under(dir: &Path, except: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).expect("list").map(|e| e.expect("entry")) {
        let path = entry.path();
        let kind = entry.file_type().expect("type");
        if kind.is_dir() {
            out.extend(files_under(&path, except));
        } else if kind.is_file() && path != except {
            out.push(path);
        }
    }
    out
}

#[test]
fn symlink_at_the_target_is_refused() {
    let h = harness("fs_link_target");
    let victim = h.scratch.write("elsewhere/real-credentials", EXISTING);
    let dir = h.cred_file.parent().expect("dir");
    fs::create_dir_all(dir).expect("dir");
    symlink(&victim, &h.cred_file).expect("plant a symlink");
    let before = snapshot(&victim);
    let shown = h.cred_file.display().to_string();

    // At start-up: a configuration error, before any request.
    for args in [&["--once"][..], &[]] {
        let out = h.cmd(args).run();
        assert_sane(&out);
        out.assert_code(2);
        out.assert_stderr_contains(&format!("--file {shown} is a symbolic link"));
        assert_eq!(out.stderr_lines().len(), 1, "{}", out.describe());
    }
    assert_eq!(h.sts.request_count(), 0, "refused before any request");

    // --check refuses it as well: the probe fails.
    let out = h.cmd(&["--check"]).run();
    out.assert_code(1);
    out.assert_stderr_contains(&shown);
    out.assert_stderr_contains("is a symbolic link");

    assert_eq!(snapshot(&victim), before, "written through the symlink");
    assert_eq!(fs::read_link(&h.cred_file).expect("still a link"), victim);
    assert_eq!(dir_names(dir), ["credentials"], "nothing else created");
}

#[test]
fn symlink_to_a_secret_is_never_read() {
    let h = harness("fs_link_secret");
    let secret = "dbPassword-NEVERCOPY-4f9a2c71e0b35d86";
    h.add_secret(secret);
    let secret_file = h
        .scratch
        .write("private/app.env", format!("DB_PASSWORD={secret}\n"));
    let dir = h.cred_file.parent().expect("dir").to_path_buf();
    fs::create_dir_all(&dir).expect("dir");

    // Planted before start: refused by every mode.
    symlink(&secret_file, &h.cred_file).expect("plant a symlink");
    h.cmd(&["--once"]).run().assert_code(2);
    h.cmd(&["--check"]).run().assert_code(1);
    fs::remove_file(&h.cred_file).expect("remove the link");

    // Planted under a running daemon (atomically, as an attacker would):
    // that refresh fails, the daemon carries on, the link stays a link.
    let mut d = h.cmd(&[]).spawn();
    assert!(
        wait_for_file_containing(&h.cred_file, "[default]", Duration::from_secs(15)).is_some(),
        "no first write\n{}",
        d.snapshot().describe()
    );
    let staged = dir.join("staged-link");
    symlink(&secret_file, &staged).expect("stage a link");
    fs::rename(&staged, &h.cred_file).expect("swap the link in");
    d.signal(libc::SIGHUP);
    d.assert_logs_within(
        "is a symbolic link",
        Duration::from_secs(15),
        "the refusal is logged",
    );
    d.assert_running();
    d.signal(libc::SIGHUP);
    h.cmd(&["--check"]).run().assert_code(1);
    assert_eq!(d.stop().code(), Some(0));
    assert_eq!(
        fs::read_link(&h.cred_file).expect("still a link"),
        secret_file
    );

    // Not in any output (the harness checks those) nor in any file.
    for path in files_under(h.scratch.path(), &secret_file) {
        let text = String::from_utf8_lossy(&fs::read(&path).expect("read")).into_owned();
        assert!(
            !text.contains(secret),
            "{} holds the secret",
            path.display()
        );
    }
}

/// The size the reader accepts (MAX_FILE_SIZE).
const MAX_FILE_SIZE: usize = 1024 * 1024;

#[test]
fn a_merge_past_the_size_cap_is_refused() {
    let h = harness("fs_size_cap");
    // A file just under the cap that our new section would push over it.
    let line = "# padding that makes this file nearly as large as aws-credfile reads\n";
    let mut text = format!("{EXISTING}\n");
    while text.len() + line.len() < MAX_FILE_SIZE - 64 {
        text.push_str(line);
    }
    text.push_str("[big]\nx = 1\n");
    h.write_cred_file(&text);
    let before = snapshot(&h.cred_file);
    let out = h.cmd(&["--once", "--once-timeout", "3s"]).run();
    assert_sane(&out);
    out.assert_code(1);
    out.assert_stderr_contains(&h.cred_file.display().to_string());
    out.assert_stderr_contains("1 MiB");
    assert_eq!(out.stderr_lines().len(), 1, "{}", out.describe());
    assert_eq!(snapshot(&h.cred_file), before, "the old file is untouched");
    let dir = h.cred_file.parent().expect("dir");
    assert_eq!(
        dir_names(dir),
        [LOCK_FILE, "credentials"],
        "no temporary file left"
    );

    // With room made, the file is written and reads back.
    let cut = text.len() - 64 * line.len();
    let smaller = format!(
        "{}[big]\nx = 1\n",
        &text[..text[..cut].rfind('\n').expect("a line") + 1]
    );
    h.write_cred_file(&smaller);
    h.cmd(&["--once"]).run().assert_code(0);
    h.cmd(&["--check"]).run().assert_code(0);
    assert_fresh(&h, &h.cred_file);
}

#[test]
fn symlink_at_the_temp_path_is_not_followed() {
    for (case, target_is_dir) in [("file", false), ("dir", true)] {
        let h = harness(&format!("fs_link_temp_{case}"));
        h.write_cred_file(EXISTING);
        let victim = if target_is_dir {
            let d = h.scratch.join("victim-dir");
            fs::create_dir_all(&d).expect("dir");
            d
        } else {
            h.scratch.write("victim", "do not overwrite\n")
        };
        // The fixed name of versions before the lock: cleared as a leftover,
        // which must unlink the link, not follow it. (The name a process
        // writes under carries its pid; a unit test plants a link there.)
        let temp = h.cred_file.with_file_name(".credentials.aws-credfile.tmp");
        symlink(&victim, &temp).expect("plant a symlink at the temp path");
        let out = h.cmd(&["--once"]).run();
        assert_sane(&out);
        out.assert_code(0);
        if target_is_dir {
            assert!(dir_names(&victim).is_empty(), "written into the linked dir");
        } else {
            assert_eq!(
                fs::read_to_string(&victim).expect("victim"),
                "do not overwrite\n"
            );
        }
        assert!(
            fs::symlink_metadata(&temp).is_err(),
            "the planted link is gone"
        );
        assert_fresh(&h, &h.cred_file);
    }
}

#[test]
fn read_only_filesystem() {
    let h = harness("fs_readonly");
    let dir = h.scratch.join("ro");
    let Some(mount) = Mount::tmpfs(&dir, "size=256k,mode=0755") else {
        crate::harness::skip("cannot mount a tmpfs here (not root, or no CAP_SYS_ADMIN)");
        return;
    };
    let path = dir.join("credentials");
    fs::write(&path, EXISTING).expect("seed the file");
    mount.remount("ro");
    let before = snapshot(&path);
    let out = h
        .cmd(&["--once", "--once-timeout", "3s", "--file"])
        .arg(&path)
        .run();
    assert_sane(&out);
    out.assert_code(1);
    out.assert_stderr_contains("Read-only file system");
    assert_eq!(snapshot(&path), before);
    mount.remount("rw");
    h.cmd(&["--once", "--file"]).arg(&path).run().assert_code(0);
    assert_fresh(&h, &path);
    assert_eq!(dir_names(&dir), [LOCK_FILE, "credentials"]);
}

/// A daemon whose file cannot be written asked the source for new
/// credentials at every retry, up to one a minute from every pod of a
/// fleet, though it held good ones (round 32). It writes those again now,
/// and asks the source only when they run short.
#[test]
fn a_write_that_failed_is_retried_without_asking_the_source_again() {
    let h = harness("fs_unwritten_kept");
    let dir = h.scratch.join("ro-daemon");
    let Some(mount) = Mount::tmpfs(&dir, "size=256k,mode=0755") else {
        crate::harness::skip("cannot mount a tmpfs here (not root, or no CAP_SYS_ADMIN)");
        return;
    };
    let path = dir.join("credentials");
    mount.remount("ro");
    let mut d = h.cmd(&["--file"]).arg(&path).spawn();
    assert!(
        wait_until(Duration::from_secs(30), || {
            d.stderr().matches("Read-only file system").count() >= 3
        }),
        "three failed writes
{}",
        d.snapshot().describe()
    );
    assert_eq!(h.sts.request_count(), 1, "{}", d.snapshot().describe());
    mount.remount("rw");
    // The next retry, within its backoff (the fourth is at most 8 s away).
    assert!(
        wait_until(Duration::from_secs(20), || path.exists()),
        "written once the disk takes it\n{}",
        d.snapshot().describe()
    );
    assert_eq!(h.sts.request_count(), 1, "the same credentials written");
    let text = fs::read_to_string(&path).expect("read the credentials file");
    let issued = h.sts.issued().last().map(Profile::from);
    assert_eq!(ini::profile(&text, "default").ok(), issued, "{text}");
    // A SIGHUP asks the source, whatever is held.
    d.signal(libc::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(15), || h.sts.request_count() == 2),
        "SIGHUP fetched\n{}",
        d.snapshot().describe()
    );
    assert_eq!(d.stop().code(), Some(0));
}

#[test]
fn disk_full() {
    let h = harness("fs_full");
    let dir = h.scratch.join("full");
    let Some(_mount) = Mount::tmpfs(&dir, "size=64k,mode=0755") else {
        crate::harness::skip("cannot mount a tmpfs here (not root, or no CAP_SYS_ADMIN)");
        return;
    };
    let path = dir.join("credentials");
    fs::write(&path, EXISTING).expect("seed the file");
    // Fill the rest, a page at a time, until the filesystem refuses.
    let filler = dir.join("filler");
    {
        use std::io::Write;
        let mut f = fs::File::create(&filler).expect("filler");
        while f
            .write_all(&[b'x'; 4096])
            .and_then(|()| f.sync_all())
            .is_ok()
        {}
    }
    let before = snapshot(&path);
    let out = h
        .cmd(&["--once", "--once-timeout", "3s", "--file"])
        .arg(&path)
        .run();
    assert_sane(&out);
    out.assert_code(1);
    out.assert_stderr_contains("No space left");
    assert_eq!(
        snapshot(&path),
        before,
        "a full disk must not cost the old file"
    );
    assert_eq!(
        dir_names(&dir),
        [LOCK_FILE, "credentials", "filler"],
        "the partial temporary file is removed"
    );
    fs::remove_file(&filler).expect("free the space");
    h.cmd(&["--once", "--file"]).arg(&path).run().assert_code(0);
    assert_fresh(&h, &path);
}

#[test]
fn permissions_changed_under_a_running_daemon() {
    if !is_root() {
        crate::harness::skip("needs root to run the binary as another user");
        return;
    }
    let h = harness("fs_perms");
    h.write_cred_file(EXISTING);
    let dir = h.cred_file.parent().expect("dir").to_path_buf();
    for p in [&dir, &h.cred_file] {
        chown(p, Some(NOBODY), Some(NOBODY)).expect("chown to nobody");
    }
    let mut d = h.cmd(&[]).user(NOBODY, NOBODY).spawn();
    let h = &h;
    let fresh = |n: usize| {
        fs::read_to_string(&h.cred_file)
            .ok()
            .and_then(|t| ini::profile(&t, "default").ok())
            .is_some_and(|p| h.sts.issued().get(n).map(Profile::from) == Some(p))
    };
    assert!(
        wait_until(Duration::from_secs(15), || fresh(0)),
        "no first write as nobody: {}",
        d.stderr()
    );

    // The directory turns read-only under it.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o500)).expect("chmod");
    let before = snapshot(&h.cred_file);
    let issued = h.sts.issued().len();
    d.signal(libc::SIGHUP);
    d.assert_logs_within(
        "Permission denied",
        Duration::from_secs(15),
        "the refusal is reported",
    );
    d.assert_running();
    assert_eq!(snapshot(&h.cred_file), before, "nothing lost");

    // The file itself becomes unreadable: it cannot be merged, so it must
    // not be replaced (that would drop [dev]).
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("chmod");
    chown(&h.cred_file, Some(0), Some(0)).expect("chown to root");
    fs::set_permissions(&h.cred_file, fs::Permissions::from_mode(0o600)).expect("chmod");
    let seen = d.stderr().matches("Permission denied").count();
    d.signal(libc::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(15), || {
            d.stderr().matches("Permission denied").count() > seen
        }),
        "an unreadable file is reported: {}",
        d.stderr()
    );
    assert_eq!(
        snapshot(&h.cred_file),
        before,
        "an unreadable file is not replaced"
    );

    // Fixed: the next refresh writes.
    chown(&h.cred_file, Some(NOBODY), Some(NOBODY)).expect("chown back");
    d.signal(libc::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(20), || {
            let n = h.sts.issued().len();
            n > issued && fresh(n - 1)
        }),
        "no recovery: {}",
        d.stderr()
    );
    assert_fresh(h, &h.cred_file);
    let out = d.stop();
    out.assert_code(0);
    assert!(!out.stderr.contains("panicked"), "{}", out.describe());
}

/// `--owner` names a user the sidecar is not: the directories aws-credfile
/// creates on the way to the file must let that user reach it by path.
/// And the one it creates for the file was root's, 0711: that user's own
/// later writer (a sidecar after a root init container's `--once --owner`)
/// could make no temporary file there and failed every refresh, while
/// `--check` passed until the credentials expired. That directory is now
/// the owner's; those above it stay root's.
#[test]
fn owner_reaches_its_file_through_created_directories() {
    if !is_root() {
        crate::harness::skip("needs root to chown to another user and run as it");
        return;
    }
    const OWNER: u32 = 12345;
    let h = harness("fs_owner_dirs");
    // The way down to the new directories must be open to that user.
    fs::set_permissions(h.scratch.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = h.scratch.join("a/b/credentials");
    h.cmd(&["--once", "--owner", "12345:12345", "--file"])
        .arg(&path)
        .run()
        .assert_code(0);
    h.cmd(&["--check", "--file"])
        .arg(&path)
        .env_empty()
        .user(OWNER, OWNER)
        .run()
        .assert_code(0);
    for (dir, uid) in [(h.scratch.join("a"), 0), (h.scratch.join("a/b"), OWNER)] {
        let meta = fs::metadata(&dir).expect("created");
        assert_eq!(meta.mode() & 0o7777, 0o711, "{}", dir.display());
        assert_eq!(meta.uid(), uid, "{}", dir.display());
    }
    let meta = fs::metadata(&path).expect("written");
    assert_eq!((meta.uid(), meta.gid()), (OWNER, OWNER));
    assert_eq!(mode(h.scratch.path()), 0o755, "existing ones unchanged");
    // That user's own writer, after the root run.
    let before = fs::read_to_string(&path).expect("read");
    h.cmd(&["--once", "--file"])
        .arg(&path)
        .user(OWNER, OWNER)
        .run()
        .assert_code(0);
    assert_ne!(
        fs::read_to_string(&path).expect("read"),
        before,
        "not rewritten"
    );
}

/// In a user namespace, `--owner` a user outside it passed the start (the
/// process has CAP_CHOWN there), the credentials were fetched, and the
/// chown failed (EINVAL) after the lock was made: root's, for good, so
/// that user's own writer could never use it. Now refused at start
/// (exit 2), naming the namespace, with nothing made.
#[test]
fn owner_outside_the_user_namespace_is_refused_at_start() {
    let probe = std::process::Command::new("unshare")
        .args(["--user", "--map-root-user", "true"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        crate::harness::skip("unshare --user --map-root-user fails here");
        return;
    }
    let h = harness("fs_owner_userns");
    let out = h
        .cmd(&["--once", "--owner", "4321"])
        .wrapped(&["unshare", "--user", "--map-root-user"])
        .run();
    out.assert_code(2)
        .assert_stderr_contains("--owner: 4321 is outside this user namespace");
    assert_eq!(h.sts.request_count(), 0, "fetched before refusing");
    let dir = h.cred_file.parent().expect("dir");
    assert!(
        !dir.exists() || fs::read_dir(dir).expect("list").next().is_none(),
        "left something behind"
    );
}

/// In a Kubernetes fsGroup volume (set-group-ID), a directory aws-credfile
/// made lost the bit it inherited when its mode was set, so what was made
/// in it later no longer got the volume's group. It keeps it now.
#[test]
fn a_directory_made_in_an_fsgroup_volume_keeps_its_group_bit() {
    if !is_root() {
        crate::harness::skip("needs root to give a directory a group");
        return;
    }
    let h = harness("fs_setgid");
    let volume = h.scratch.join("volume");
    fs::create_dir_all(&volume).expect("the volume");
    chown(&volume, Some(0), Some(4242)).expect("chgrp");
    fs::set_permissions(&volume, fs::Permissions::from_mode(0o2777)).expect("chmod 2777");
    let path = volume.join(".aws/credentials");
    h.cmd(&["--once", "--file"]).arg(&path).run().assert_code(0);
    let made = fs::metadata(volume.join(".aws")).expect("made");
    assert_eq!((made.mode() & 0o7777, made.gid()), (0o2700, 4242));
    assert_eq!(fs::metadata(&path).expect("written").gid(), 4242);
}

/// The lock file took its mode from the umask, so under a umask
/// such as 0277 it was made 0400, and every write after the first failed
/// ("could not open the lock file: Permission denied") until the
/// credentials expired. Now the lock is opened read-only (enough for
/// flock) and made 0600 whatever the umask. As another user (root opens
/// anything), so needs root.
#[test]
fn a_narrow_umask_does_not_lock_later_writes_out() {
    if !is_root() {
        crate::harness::skip("needs root to run the binary as another user");
        return;
    }
    let h = harness("fs_umask");
    let dir = h.nobodys_file_directory();
    for umask in ["0277", "0222", "0077"] {
        let script = format!(r#"umask {umask}; exec "$0" "$@""#);
        for run in 0..2 {
            let out = h
                .cmd(&["--once"])
                .user(NOBODY, NOBODY)
                .wrapped(&["sh", "-c", &script])
                .run();
            assert_eq!(
                out.code(),
                Some(0),
                "umask {umask}, run {run}\n{}",
                out.describe()
            );
        }
        let lock = dir.join(crate::harness::LOCK_FILE);
        let mode = fs::metadata(&lock).expect("the lock file").mode() & 0o777;
        assert_eq!(mode, 0o200, "umask {umask}: the lock file is {mode:o}");
        fs::remove_file(&lock).expect("remove the lock for the next umask");
    }
}

/// A file another user made (in a shared, sticky directory, say)
/// was merged into this user's: a profile planted there, with a
/// `credential_process` of the planter's, ended up in root's file for
/// root's tools to run. A file group or others may write was merged into
/// as readily. And a second writer (a hand-run `--once` beside the sidecar)
/// reset the sidecar's `--owner` and `--mode`, locking the app out of its
/// own profile until the next refresh. Now a file that others may write,
/// or that belongs to neither this user nor `--owner`, is refused (exit 2,
/// naming the way out: `--owner`), and `--owner` without a group keeps the
/// file's group. Needs root (other users).
#[test]
fn only_this_users_or_the_owners_file_is_merged_into_and_it_keeps_its_mode() {
    if !is_root() {
        crate::harness::skip("needs root to give files to another user");
        return;
    }
    let h = harness("fs_foreign");
    let planted = "[other]\ncredential_process = /tmp/evil.sh\n";
    h.write_cred_file(planted);
    chown(&h.cred_file, Some(NOBODY), Some(NOBODY)).expect("chown");
    let before = fs::read(&h.cred_file).expect("the planted file");
    let out = h.cmd(&["--once"]).run();
    out.assert_code(2).assert_stderr_contains("--owner 65534");
    assert_eq!(fs::read(&h.cred_file).expect("read"), before, "merged into");

    // The file written for that user: --owner says so.
    h.cmd(&["--once", "--owner", "65534:65534", "--mode", "0640"])
        .run()
        .assert_code(0);
    // A second writer with the same --mode, and --owner without a group:
    // the group stays as the first writer set it.
    h.cmd(&[
        "--once",
        "--profile",
        "batch",
        "--owner",
        "65534",
        "--mode",
        "0640",
    ])
    .run()
    .assert_code(0);
    let meta = fs::metadata(&h.cred_file).expect("stat");
    assert_eq!(meta.mode() & 0o777, 0o640, "the mode was reset");
    assert_eq!(
        (meta.uid(), meta.gid()),
        (NOBODY, NOBODY),
        "the owner was reset"
    );
    let text = fs::read_to_string(&h.cred_file).expect("read");
    assert!(ini::profile(&text, "default").is_ok() && ini::profile(&text, "batch").is_ok());

    // Writable by others: refused, however it is owned.
    chown(&h.cred_file, Some(0), Some(0)).expect("chown back");
    for loose in [0o666, 0o620] {
        fs::set_permissions(&h.cred_file, fs::Permissions::from_mode(loose)).expect("chmod");
        let out = h.cmd(&["--once"]).run();
        out.assert_code(2)
            .assert_stderr_contains("writable by group or others");
    }
}

/// An administrator's `root:app 0640` file (no aws-credfile comment) could
/// not be refreshed by root without `--owner 0:GID`: the file would have
/// gone to root's group, so the start-up check refused it, quoting a
/// `--mode 0640` never given and advising a chgrp that would lock the app
/// out. A writer that may keep the file's group (a member of it, or root)
/// now keeps it, as editors do; the mode follows the documented rule.
#[test]
fn a_file_given_to_a_group_keeps_that_group() {
    if !is_root() {
        crate::harness::skip("needs root to give a file to another group");
        return;
    }
    const APP: u32 = 4242;
    let h = harness("fs_group");
    let administrators = || {
        h.write_cred_file("[x]\nk = v\n");
        chown(&h.cred_file, Some(0), Some(APP)).expect("chgrp");
        fs::set_permissions(&h.cred_file, fs::Permissions::from_mode(0o640)).expect("chmod");
    };
    let access = || {
        let meta = fs::metadata(&h.cred_file).expect("stat");
        (meta.uid(), meta.gid(), meta.mode() & 0o777)
    };
    // Readable by that group, as it was.
    administrators();
    h.cmd(&["--once", "--mode", "0640"]).run().assert_code(0);
    assert_eq!(access(), (0, APP, 0o640));
    // A hand-run --once beside it changes nothing of who may read it.
    h.cmd(&["--once", "--profile", "batch"])
        .run()
        .assert_code(0);
    assert_eq!(access(), (0, APP, 0o640));
    let text = fs::read_to_string(&h.cred_file).expect("read");
    assert!(text.contains("[x]\nk = v\n"), "{text}");
    assert!(ini::profile(&text, "default").is_ok() && ini::profile(&text, "batch").is_ok());
    // Without --mode, a file aws-credfile did not write is made 0600; its
    // group stays.
    administrators();
    h.cmd(&["--once"]).run().assert_code(0);
    assert_eq!(access(), (0, APP, 0o600));
}

/// A user that may not give files away was told to "give --owner 0" for
/// root's file in its directory, and following that failed: "--owner: giving
/// the file to 0 needs root". It is told what it can do instead.
#[test]
fn a_user_who_cannot_give_files_away_is_not_told_to_use_owner() {
    if !is_root() {
        crate::harness::skip("needs root to give files to another user");
        return;
    }
    let h = harness("fs_foreign_unprivileged");
    h.nobodys_file_directory();
    h.write_cred_file("[other]\naws_access_key_id = AKIAROOTS\n");
    let out = h.cmd(&["--once"]).user(NOBODY, NOBODY).run();
    out.assert_code(2)
        .assert_stderr_contains("belongs to uid 0")
        .assert_stderr_contains("run aws-credfile as uid 0")
        // What a root init container before this sidecar should have done.
        .assert_stderr_contains("as root, --owner 65534");
    assert!(
        !out.stderr.contains("--owner 0"),
        "a remedy it cannot follow: {}",
        out.stderr
    );
}

/// A process that could only read the directory (the app, the
/// same user as the sidecar, through a read-only mount) opened the lock
/// for reading and held `flock` on it: every refresh waited 10 s and
/// failed. The lock is write-only for its owner now, and an older
/// version's readable one is tightened on first use.
#[test]
fn no_one_who_may_only_read_can_hold_the_lock() {
    if !is_root() {
        crate::harness::skip("needs root to run as another user");
        return;
    }
    let h = harness("fs_lock_reader");
    let dir = h.nobodys_file_directory();
    let lock = dir.join(LOCK_FILE);
    let read_and_hold = || {
        use std::os::unix::process::CommandExt;
        Command::new("flock")
            .args(["--nonblock", "--shared"])
            .arg(&lock)
            .arg("true")
            .uid(NOBODY)
            .gid(NOBODY)
            .stderr(Stdio::null())
            .status()
            .expect("run flock")
    };
    for older in [None, Some(0o600)] {
        if let Some(older) = older {
            fs::set_permissions(&lock, fs::Permissions::from_mode(older)).expect("chmod");
            assert!(read_and_hold().success(), "the older lock was not readable");
        }
        h.cmd(&["--once"]).user(NOBODY, NOBODY).run().assert_code(0);
        assert_eq!(mode(&lock), 0o200, "{older:?}");
        assert!(
            !read_and_hold().success(),
            "{older:?}: it could be read and held"
        );
    }
}

/// A root run without `--owner` (an init container) leaves a root-only lock
/// in a directory the sidecar's user may write. That user's every write
/// then failed with EACCES, exit 1, and its daemon started and retried for
/// ever. Now refused at start, naming the lock and what to do.
#[test]
fn a_lock_this_user_may_not_open_is_refused_at_start() {
    if !is_root() {
        crate::harness::skip("needs root to run as another user");
        return;
    }
    let h = harness("fs_lock_roots");
    // Root's, and writable by nobody's group (a pod's fsGroup).
    let dir = h.cred_file.parent().expect("dir").to_path_buf();
    fs::create_dir_all(&dir).expect("the directory");
    chown(&dir, Some(0), Some(NOBODY)).expect("chown");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o770)).expect("chmod");
    h.cmd(&["--once"]).run().assert_code(0);
    let lock = dir.join(LOCK_FILE);
    assert_eq!(fs::metadata(&lock).expect("the lock").uid(), 0);
    // What the message about root's file says to do, done.
    chown(&h.cred_file, Some(NOBODY), Some(NOBODY)).expect("chown");
    let asked = h.sts.request_count();
    for args in [&["--once"][..], &[][..]] {
        let out = h.cmd(args).user(NOBODY, NOBODY).timeout(FIFTEEN_S).run();
        out.assert_code(2)
            .assert_stderr_contains(LOCK_FILE)
            .assert_stderr_contains("remove it");
    }
    assert_eq!(h.sts.request_count(), asked, "asked STS first");
    fs::remove_file(&lock).expect("remove the lock");
    h.cmd(&["--once"]).user(NOBODY, NOBODY).run().assert_code(0);
    // The user's own, made unwritable by hand: said as such, with the chmod
    // that mends it (it read "belongs to uid 65534 ... a run as root").
    fs::set_permissions(&lock, fs::Permissions::from_mode(0o400)).expect("chmod");
    h.cmd(&["--once"])
        .user(NOBODY, NOBODY)
        .run()
        .assert_code(2)
        .assert_stderr_contains("it is this user's")
        .assert_stderr_contains("chmod 0200 it");
    // `--owner`'s with a mode anyone may open, under a root writer: set to
    // 0200 like this user's own (it was left 0644, for anyone to hold).
    fs::set_permissions(&lock, fs::Permissions::from_mode(0o644)).expect("chmod");
    h.cmd(&["--once", "--owner", "65534"]).run().assert_code(0);
    assert_eq!(mode(&lock), 0o200);
}

const FIFTEEN_S: Duration = Duration::from_secs(15);

/// A directory any user may write without the sticky bit (a disk-backed
/// emptyDir) lets anyone replace the file, and one above it lets anyone
/// swap the file's directory: written without a word until round 35. Now
/// warned about at start, naming it; a sticky one is not.
#[test]
fn a_directory_anyone_may_write_is_warned_about_unless_sticky() {
    let h = harness("fs_open_dir");
    let dir = h.cred_file.parent().expect("dir").to_path_buf();
    fs::create_dir_all(&dir).expect("the directory");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).expect("chmod 777");
    let out = h.cmd(&["--once"]).run();
    out.assert_code(0)
        .assert_stderr_contains("file_directory_open")
        .assert_stderr_contains("chmod +t");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o1777)).expect("chmod 1777");
    let out = h.cmd(&["--once"]).run();
    out.assert_code(0);
    assert!(
        !out.stderr.contains("file_directory_open"),
        "{}",
        out.describe()
    );

    // One above lets anyone move the file's directory away and put their
    // own in its place (round 35): warned about too, by name.
    let above = dir.parent().expect("a directory above").to_path_buf();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("chmod 700");
    fs::set_permissions(&above, fs::Permissions::from_mode(0o777)).expect("chmod 777");
    let out = h.cmd(&["--once"]).run();
    fs::set_permissions(&above, fs::Permissions::from_mode(0o755)).expect("chmod 755");
    out.assert_code(0)
        .assert_stderr_contains("file_directory_open")
        .assert_stderr_contains(&format!("directory={}", above.display()));
}

/// A link, a directory or a hard link at the lock's name was found only by
/// the write, after an STS call, and exited 1 (round 35); the daemon
/// retried it for ever. Like a lock another user owns, it is refused at
/// start (exit 2) with nothing fetched.
#[test]
fn something_not_a_lock_at_the_locks_name_is_refused_at_start() {
    let h = harness("fs_unfit_lock");
    let dir = h.cred_file.parent().expect("dir").to_path_buf();
    fs::create_dir_all(&dir).expect("the directory");
    let lock = dir.join(LOCK_FILE);
    let elsewhere = h.scratch.write("elsewhere", "");
    let plant: [(&str, &dyn Fn()); 3] = [
        ("symbolic link", &|| {
            std::os::unix::fs::symlink(&elsewhere, &lock).expect("a link")
        }),
        ("not a regular file", &|| {
            fs::create_dir(&lock).expect("a directory")
        }),
        ("a file another name shares", &|| {
            fs::hard_link(&elsewhere, &lock).expect("a hard link")
        }),
    ];
    for (why, plant) in plant {
        plant();
        h.cmd(&["--once"])
            .run()
            .assert_code(2)
            .assert_stderr_contains(&format!("the lock file {}", lock.display()))
            .assert_stderr_contains(why);
        let _ = fs::remove_file(&lock).or_else(|_| fs::remove_dir(&lock));
    }
    assert_eq!(
        h.sts.request_count(),
        0,
        "nothing fetched for a write that cannot be made"
    );
    assert!(!h.cred_file.exists());
}

/// A lock file another user made first, in a shared, sticky
/// directory, was used without a word: that user held it, and every write
/// waited 10 s and failed, blamed on "another aws-credfile". Now a lock
/// that is neither this user's, root's nor `--owner`'s is refused: at start
/// (exit 2), or by the refresh that finds it (which leaves the file as it
/// was). The `--owner` user's own lock stays usable.
#[test]
fn a_lock_file_another_user_made_is_refused_by_name() {
    if !is_root() {
        crate::harness::skip("needs root to give files to another user");
        return;
    }
    let h = harness("fs_foreign_lock");
    let dir = h.cred_file.parent().expect("dir").to_path_buf();
    fs::create_dir_all(&dir).expect("the directory");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o1777)).expect("chmod 1777");
    let lock = dir.join(LOCK_FILE);
    fs::write(&lock, "").expect("plant the lock");
    chown(&lock, Some(NOBODY), Some(NOBODY)).expect("chown");
    h.cmd(&["--once"])
        .run()
        .assert_code(2)
        .assert_stderr_contains(&format!("the lock file {}", lock.display()))
        .assert_stderr_contains("belongs to uid 65534");
    assert!(!h.cred_file.exists(), "written beside a foreign lock");

    // Planted after the start: the refresh that finds it fails and says why.
    fs::remove_file(&lock).expect("remove");
    let mut daemon = h.cmd(&[]).spawn();
    let first = wait_for_file_containing(&h.cred_file, "aws_session_token", FIFTEEN_S)
        .expect("the first write");
    fs::remove_file(&lock).expect("remove ours");
    fs::write(&lock, "").expect("plant the lock");
    chown(&lock, Some(NOBODY), Some(NOBODY)).expect("chown");
    daemon.signal(libc::SIGHUP);
    daemon.assert_logs_within("belongs to uid 65534", FIFTEEN_S, "the foreign lock");
    daemon.assert_running();
    assert_eq!(fs::read_to_string(&h.cred_file).expect("read"), first);
    assert_eq!(daemon.stop().code(), Some(0));

    // Written for that user, its lock is fine.
    fs::remove_file(&h.cred_file).expect("remove root's file");
    h.cmd(&["--once", "--owner", "65534:65534"])
        .run()
        .assert_code(0);
}

/// A directory on the way that another user made first (`.aws` in a
/// shared, sticky directory) was written into without a word: that user
/// could then rename a file of their own over the credentials, and the app
/// ran on their keys, while every later refresh failed on it. Now a file
/// whose directory belongs to neither this user, root nor `--owner` is
/// refused: at start (exit 2), or by the refresh that finds it so (which
/// leaves the file as it was). Written for that user, it is theirs to own.
#[test]
fn a_directory_another_user_owns_is_refused() {
    if !is_root() {
        crate::harness::skip("needs root to give a directory to another user");
        return;
    }
    let h = harness("fs_foreign_dir");
    let dir = h.cred_file.parent().expect("dir").to_path_buf();
    fs::create_dir_all(&dir).expect("the directory");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).expect("chmod 0777");
    chown(&dir, Some(NOBODY), Some(NOBODY)).expect("chown");
    h.cmd(&["--once"])
        .run()
        .assert_code(2)
        .assert_stderr_contains("the directory it is in belongs to uid 65534")
        .assert_stderr_contains("--owner 65534");
    assert!(!h.cred_file.exists(), "written in a foreign directory");

    // Given away after the start: the refresh that finds it fails, says
    // why, and leaves the file as it was.
    chown(&dir, Some(0), Some(0)).expect("chown back");
    let mut daemon = h.cmd(&[]).spawn();
    let first = wait_for_file_containing(&h.cred_file, "aws_session_token", FIFTEEN_S)
        .expect("the first write");
    chown(&dir, Some(NOBODY), Some(NOBODY)).expect("chown");
    daemon.signal(libc::SIGHUP);
    daemon.assert_logs_within("belongs to uid 65534", FIFTEEN_S, "the foreign directory");
    daemon.assert_running();
    assert_eq!(fs::read_to_string(&h.cred_file).expect("read"), first);
    assert_eq!(daemon.stop().code(), Some(0));
    // The probe holds the directory to the same rule: it passed while the
    // writer refused the directory (round 41).
    h.cmd(&["--check"])
        .run()
        .assert_code(1)
        .assert_stderr_contains("the directory it is in belongs to uid 65534");

    // Written for that user, their directory is fine.
    fs::remove_file(&h.cred_file).expect("remove root's file");
    h.cmd(&["--once", "--owner", "65534:65534"])
        .run()
        .assert_code(0);

    // One above it: that user could move the file's directory away and
    // put their own in its place, which the app would read until the next
    // refresh. Refused too.
    let above = h.scratch.join("theirs");
    let path = above.join("aws/credentials");
    fs::create_dir_all(path.parent().expect("dir")).expect("the directories");
    chown(&above, Some(NOBODY), Some(NOBODY)).expect("chown");
    h.cmd(&["--once", "--file"])
        .arg(&path)
        .run()
        .assert_code(2)
        .assert_stderr_contains("a directory above it belongs to uid 65534");
    assert!(!path.exists(), "written under a foreign directory");
    // So is the same file named from inside that directory: walked from
    // `.`, a relative path's directories above it went unchecked, and the
    // file was written where its owner could swap it (round 41).
    let inside = path.parent().expect("dir").display().to_string();
    h.cmd(&["--once", "--file", "credentials"])
        .wrapped(&["env", "-C", &inside])
        .run()
        .assert_code(2)
        .assert_stderr_contains("a directory above it belongs to uid 65534");
    assert!(!path.exists(), "written under a foreign directory");
    // And a directory still to be made in theirs: found only by the first
    // write, after a fetch, with directories left made (round 41).
    let requests = h.sts.request_count();
    let deeper = above.join("new/aws/credentials");
    h.cmd(&["--once", "--file"])
        .arg(&deeper)
        .run()
        .assert_code(2)
        .assert_stderr_contains("a directory above it belongs to uid 65534");
    assert!(!above.join("new").exists(), "a directory made in theirs");
    assert_eq!(h.sts.request_count(), requests, "refused after a fetch");
    h.cmd(&["--once", "--owner", "65534:65534", "--file"])
        .arg(&path)
        .run()
        .assert_code(0);
}

/// A root run writing for `--owner` (an init container's
/// `--once --owner 65532`) left the lock file root's, 0600, and the user's
/// own sidecar started afterwards could never open it: every refresh failed
/// until the credentials expired. Now the lock is given to `--owner` too.
#[test]
fn a_root_run_for_owner_leaves_a_lock_the_owner_can_use() {
    if !is_root() {
        crate::harness::skip("needs root to give files to another user");
        return;
    }
    let h = harness("fs_root_lock");
    let dir = h.nobodys_file_directory();
    h.cmd(&["--once", "--owner", "65534:65534"])
        .run()
        .assert_code(0);
    let lock = fs::metadata(dir.join(LOCK_FILE)).expect("the lock file");
    assert_eq!((lock.uid(), lock.gid()), (NOBODY, NOBODY));
    let out = h.cmd(&["--once"]).user(NOBODY, NOBODY).run();
    assert_eq!(
        out.code(),
        Some(0),
        "the owner's own writer\n{}",
        out.describe()
    );
}

/// The file's path was walked by name at every
/// write, so an `--owner` user who can change a directory on the way (its
/// own home) swapped the next directory for a link, and a root run then
/// created a file that user owns in a root-only directory (or merged
/// root's credentials there into a file the user could read). A link is
/// now followed only in a directory nobody but root and the running user
/// can change, and each write works in the directory it opened: planted
/// before the start the link is refused (exit 2, naming it), swapped in
/// under a running daemon the next refresh fails the same way, and the
/// root-only directory stays empty.
#[test]
fn a_link_the_owner_can_swap_on_the_way_is_never_followed() {
    if !is_root() {
        crate::harness::skip("needs root to run for another user's home");
        return;
    }
    let h = harness("fs_owner_link");
    let home = h.scratch.join("home");
    fs::create_dir_all(&home).expect("the owner's home");
    chown(&home, Some(NOBODY), Some(NOBODY)).expect("give the home to nobody");
    let root_only = h.scratch.join("root-only");
    fs::create_dir(&root_only).expect("a root-only directory");
    fs::set_permissions(&root_only, fs::Permissions::from_mode(0o755)).expect("chmod");
    let aws = home.join(".aws");
    let file = aws.join("credentials");
    let file = file.to_str().expect("a UTF-8 path");
    let args = ["--owner", "65534:65534", "--file", file];

    symlink(&root_only, &aws).expect("plant the link");
    let out = h.cmd(&[&["--once"][..], &args].concat()).run();
    out.assert_code(2)
        .assert_stderr_contains("is a symbolic link in a directory owned by uid 65534");
    assert_eq!(dir_names(&root_only), Vec::<String>::new());

    fs::remove_file(&aws).expect("remove the link");
    let d = h.cmd(&args).spawn();
    assert!(
        wait_for_file_containing(Path::new(file), "[default]", Duration::from_secs(15)).is_some(),
        "no first write\n{}",
        d.snapshot().describe()
    );
    fs::rename(&aws, home.join(".aws-moved")).expect("move the directory aside");
    symlink(&root_only, &aws).expect("swap a link in");
    refused_at_the_next_refresh(d, "is a symbolic link in a directory owned by uid 65534");
    assert_eq!(dir_names(&root_only), Vec::<String>::new());
}

/// Under a file-size limit (`ulimit -f`), SIGXFSZ killed
/// the process halfway through the write (exit 153), leaving the temporary
/// file holding the keys. It is ignored now: the write fails (`EFBIG`), is
/// reported as any failed write is (exit 1, naming the temporary file),
/// and the temporary file is removed; the old file is untouched.
#[test]
fn a_file_size_limit_fails_the_write_and_leaves_no_keys_behind() {
    let h = harness("fs_fsize");
    h.write_cred_file(EXISTING);
    let before = snapshot(&h.cred_file);
    let out = h
        .cmd(&["--once"])
        .wrapped(&["prlimit", "--fsize=200"])
        .run();
    out.assert_code(1).assert_stderr_contains("File too large");
    assert_eq!(snapshot(&h.cred_file), before, "the old file is untouched");
    let dir = h.cred_file.parent().expect("dir");
    assert!(
        dir_names(dir).iter().all(|n| !n.ends_with(".tmp")),
        "a temporary file was left: {:?}",
        dir_names(dir)
    );
}

/// A signal aws-credfile does not catch (SIGUSR1, SIGQUIT,
/// SIGALRM: their default ends the process) arriving while the file was
/// being written killed it between the temporary file and the rename,
/// leaving the keys in the temporary file. Every signal is now held while
/// the file is written, so such a signal ends the process after the rename
/// (or before the write began). Over many runs, each ended by SIGUSR1 sent
/// at a different moment of a SIGHUP refresh: no temporary file is ever
/// left, and the file always parses with the last profile whole.
#[test]
fn a_signal_that_ends_the_daemon_never_lands_halfway_through_a_write() {
    const RUNS: u64 = 30;
    let h = harness("fs_usr1_write");
    let dir = h.cred_file.parent().expect("dir").to_path_buf();
    for run in 0..RUNS {
        let mut d = h.cmd(&[]).spawn();
        d.assert_logs_within(
            "credentials_refreshed",
            Duration::from_secs(15),
            "no first write",
        );
        // SIGHUP refreshes at most once a second: past that, at once.
        std::thread::sleep(Duration::from_millis(1050));
        d.signal(libc::SIGHUP);
        // Spread over the refresh: the fetch, the write and its two fsyncs.
        std::thread::sleep(Duration::from_micros(400 * run));
        d.signal(libc::SIGUSR1);
        let status = d.wait_exit(Duration::from_secs(15));
        let out = d.outcome();
        assert_eq!(
            status.and_then(|s| std::os::unix::process::ExitStatusExt::signal(&s)),
            Some(libc::SIGUSR1),
            "{}",
            out.describe()
        );
        let left: Vec<String> = dir_names(&dir)
            .into_iter()
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(
            left.is_empty(),
            "run {run}: a temporary file was left: {left:?}"
        );
        let text = fs::read_to_string(&h.cred_file).expect("the file");
        assert!(
            ini::profile(&text, "default").is_ok(),
            "run {run}: the file does not parse:\n{text}"
        );
    }
}

/// `..` in `--file` was walked as `openat(dir, "..")`,
/// so it climbed out of wherever the directory before it had been moved
/// meanwhile: swapping `home/sub` (in a directory the `--owner` user can
/// change) with a directory elsewhere sent a root write, and a merge of the
/// file found there, outside the intended directory. `..` now goes back to
/// the directory the walk came from. With the swap racing every run, the
/// file is only ever written where the path says.
#[test]
fn dot_dot_goes_back_the_way_the_walk_came() {
    const RUNS: usize = 60;
    let h = harness("fs_dotdot");
    let base = h.scratch.join("race");
    let here = base.join("A");
    for dir in [
        here.join("u/sub"),
        here.join("T"),
        base.join("B/sub2"),
        base.join("T"),
    ] {
        fs::create_dir_all(&dir).expect("the directories");
    }
    let file = here.join("u/sub/../../T/creds");
    let file = file.to_str().expect("a UTF-8 path");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let (stop, a, b) = (
            std::sync::Arc::clone(&stop),
            std::ffi::CString::new(here.join("u/sub").to_str().unwrap()).unwrap(),
            std::ffi::CString::new(base.join("B/sub2").to_str().unwrap()).unwrap(),
        );
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // SAFETY: renameat2(2) with two NUL-terminated paths.
                unsafe {
                    libc::renameat2(
                        libc::AT_FDCWD,
                        a.as_ptr(),
                        libc::AT_FDCWD,
                        b.as_ptr(),
                        libc::RENAME_EXCHANGE,
                    );
                }
            }
        })
    };
    for _ in 0..RUNS {
        h.cmd(&["--once", "--file", file]).run();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    swapper.join().expect("the swapper");
    assert_eq!(
        dir_names(&base.join("T")),
        Vec::<String>::new(),
        "written outside A"
    );
    assert_eq!(
        dir_names(&base.join("B")),
        vec!["sub2".to_string()],
        "written under B"
    );
    assert!(
        here.join("T/creds").exists(),
        "never written where the path says"
    );
}

/// A file owned by the running user, with one
/// link, was merged into whatever it held. So the `--owner` user renamed a
/// root-only file lying in its own home (anything: another credentials
/// file, a private key) onto its credentials path, and root's next write
/// handed the content over in a file that user owns; with `--mode 0644`
/// anyone able to rename into the directory published a root-only file to
/// every user. Now whoever may read the result must have been able to read
/// the file: refused at start (exit 2), and by a running daemon's next
/// refresh, with the file as it was.
#[test]
fn a_file_renamed_onto_the_path_hands_no_one_what_they_could_not_read() {
    if !is_root() {
        crate::harness::skip("needs root to run for another user");
        return;
    }
    let h = harness("fs_renamed_in");
    let home = h.nobodys_file_directory();
    let plant = || {
        rename_in_root_only(
            &home,
            &h.cred_file,
            "[root]\naws_secret_access_key = ROOTONLYSECRET\n",
        );
        snapshot(&h.cred_file)
    };

    let before = plant();
    let out = h.cmd(&["--once", "--owner", "65534:65534"]).run();
    out.assert_code(2)
        .assert_stderr_contains("would hand that user what it holds");
    assert_eq!(snapshot(&h.cred_file), before, "merged for the owner");
    // Not for that user, in their directory: refused for the directory
    // now (see `a_directory_another_user_owns_is_refused`) before the
    // file's readers are weighed.
    let out = h.cmd(&["--once", "--mode", "0644"]).run();
    out.assert_code(2)
        .assert_stderr_contains("the directory it is in belongs to uid 65534");
    assert_eq!(snapshot(&h.cred_file), before, "merged for everyone");

    fs::remove_file(&h.cred_file).expect("remove the planted file");
    let d = h.cmd(&["--owner", "65534:65534"]).spawn();
    assert!(
        wait_for_file_containing(&h.cred_file, "[default]", Duration::from_secs(15)).is_some(),
        "no first write\n{}",
        d.snapshot().describe()
    );
    let before = plant();
    refused_at_the_next_refresh(d, "would hand that user what it holds");
    assert_eq!(snapshot(&h.cred_file), before, "merged under the daemon");
    assert_eq!(fs::metadata(&h.cred_file).expect("stat").uid(), 0);
}

/// A missing directory on the way was made, then opened
/// by name and chmodded. Whoever can change the directory holding it (the
/// `--owner` user's home) swapped another directory in between: root then
/// opened up a root-only directory (0711) and wrote the owner's file and
/// lock into it, or narrowed another one (here 0755) to 0700. The
/// directory made is now checked to be the one made (ours, empty) before
/// anything is done to it. strace holds the process for a moment after its
/// mkdir, so the swap lands in that window every time: the run fails
/// (exit 1, saying so), and the other directory is as it was.
#[test]
fn a_directory_swapped_in_as_it_is_made_is_left_alone() {
    if !crate::harness::process::strace_usable() {
        return;
    }
    let h = harness("fs_mkdir_race");
    let base = h.scratch.join("race");
    let theirs = base.join("theirs");
    fs::create_dir_all(&theirs).expect("the directories");
    fs::write(theirs.join("MARKER"), "private").expect("a file in it");
    fs::set_permissions(&theirs, fs::Permissions::from_mode(0o755)).expect("chmod");
    let made = base.join("made");
    let file = made.join("credentials");
    let swapper = {
        let (made, theirs) = (made.clone(), theirs.clone());
        std::thread::spawn(move || {
            assert!(
                wait_until(Duration::from_secs(15), || made.exists()),
                "never made"
            );
            let (a, b) = (
                std::ffi::CString::new(made.to_str().unwrap()).unwrap(),
                std::ffi::CString::new(theirs.to_str().unwrap()).unwrap(),
            );
            // SAFETY: renameat2(2) with two NUL-terminated paths.
            let rc = unsafe {
                libc::renameat2(
                    libc::AT_FDCWD,
                    a.as_ptr(),
                    libc::AT_FDCWD,
                    b.as_ptr(),
                    libc::RENAME_EXCHANGE,
                )
            };
            assert_eq!(rc, 0, "swap: {}", std::io::Error::last_os_error());
        })
    };
    let out = h
        .cmd(&["--once", "--file", file.to_str().expect("a UTF-8 path")])
        .wrapped(&[
            "strace",
            "-qq",
            "-o",
            "/dev/null",
            "-e",
            "trace=mkdir,mkdirat",
            "-e",
            "inject=mkdir,mkdirat:delay_exit=500000",
        ])
        .run();
    swapper.join().expect("the swapper");
    // After the swap, `made` names their directory.
    assert_eq!(dir_names(&made), vec!["MARKER".to_string()], "written into");
    assert_eq!(mode(&made), 0o755, "their directory's mode changed");
    out.assert_code(1)
        .assert_stderr_contains("was replaced by another directory");
}

/// A file botocore reads as two profiles, both headers
/// indented, was merged into one where the second header, still indented,
/// followed the fresh section: Python read it and the rest as part of the
/// session token, so every call failed and the other profile vanished,
/// while `--check` passed. Such a file is now not merged, and stays as it
/// was. Found at start, as every file aws-credfile will not merge into is
/// (a byte-order mark, a key twice), it is a configuration error (exit 2,
/// naming the line) before any fetch; it was exit 1 after a useless call
/// to STS, and a daemon called STS and retried for good.
#[test]
fn a_file_with_indented_headers_is_not_merged_into() {
    let h = harness("fs_indented");
    let indented = "  [default]\n  aws_access_key_id = OLD\n  aws_secret_access_key = OLDSECRET\n  [other]\n  aws_access_key_id = OTHER\n  aws_secret_access_key = OTHERSECRET\n";
    for (text, says) in [
        (indented, "line 1 is an indented section header"),
        ("\u{feff}[other]\nk = v\n", "byte-order mark"),
        ("[other]\nk = v\nk = w\n", "line 3"),
    ] {
        h.write_cred_file(text);
        let before = snapshot(&h.cred_file);
        let asked = h.sts.request_count();
        for args in [&["--once"][..], &[]] {
            let out = h.cmd(args).run();
            out.assert_code(2).assert_stderr_contains(says);
            assert_eq!(snapshot(&h.cred_file), before, "merged");
        }
        assert_eq!(
            h.sts.request_count(),
            asked,
            "fetched for a file it refuses"
        );
    }
}

/// A POSIX ACL as the kernel stores it in `system.posix_acl_<kind>`: the
/// owner rw, `reader` r, the owning group and the mask r, others nothing.
fn set_acl(path: &Path, kind: &str, reader: u32) -> std::io::Result<()> {
    let mut blob = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in [
        (0x01u16, 6u16, u32::MAX),
        (0x02, 4, reader),
        (0x04, 4, u32::MAX),
        (0x10, 4, u32::MAX),
        (0x20, 0, u32::MAX),
    ] {
        blob.extend(tag.to_le_bytes());
        blob.extend(perm.to_le_bytes());
        blob.extend(id.to_le_bytes());
    }
    let path = std::ffi::CString::new(path.to_str().expect("UTF-8")).expect("no NUL");
    let name = std::ffi::CString::new(format!("system.posix_acl_{kind}")).expect("no NUL");
    // SAFETY: setxattr(2) with NUL-terminated strings and a live buffer.
    let rc = unsafe {
        libc::setxattr(
            path.as_ptr(),
            name.as_ptr(),
            blob.as_ptr().cast(),
            blob.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Whether `path` has an access ACL.
fn has_acl(path: &Path) -> bool {
    let path = std::ffi::CString::new(path.to_str().expect("UTF-8")).expect("no NUL");
    // SAFETY: getxattr(2) with NUL-terminated strings and no buffer.
    let size = unsafe {
        libc::getxattr(
            path.as_ptr(),
            c"system.posix_acl_access".as_ptr(),
            std::ptr::null_mut(),
            0,
        )
    };
    size > 0
}

/// The readers rule looked at mode bits only. The new
/// file inherited the directory's default ACL, so a user named there read
/// keys `--mode 0640` kept from it (and a root-only file renamed in along
/// with them); and an old file's ACL (a user denied, or let in) was not
/// read. The written file now has no ACL, its mode saying exactly who may
/// read it, and a file with one is not merged into (exit 1, saying so).
#[test]
fn acls_neither_widen_the_file_nor_hide_who_may_read_it() {
    let h = harness("fs_acl");
    let dir = h.cred_file.parent().expect("dir").to_path_buf();
    fs::create_dir_all(&dir).expect("the directory");
    if let Err(e) = set_acl(&dir, "default", NOBODY) {
        crate::harness::skip_without(&format!("no ACLs on this filesystem: {e}"));
        return;
    }
    h.cmd(&["--once", "--mode", "0640"]).run().assert_code(0);
    assert!(
        !has_acl(&h.cred_file),
        "the directory's default ACL was inherited"
    );
    assert_eq!(mode(&h.cred_file), 0o640);

    set_acl(&h.cred_file, "access", NOBODY).expect("an ACL on the file");
    let before = snapshot(&h.cred_file);
    // Found at start, as a file of another user's is; and the probe fails
    // on it, as the writer refuses it.
    let out = h.cmd(&["--once", "--mode", "0640"]).run();
    out.assert_code(2).assert_stderr_contains("it has an ACL");
    h.cmd(&["--check"])
        .run()
        .assert_code(1)
        .assert_stderr_contains("it has an ACL");
    assert_eq!(snapshot(&h.cred_file), before, "merged into");
}

/// An existing lock file of the running user's
/// was given to `--owner` whatever it held, so the `--owner` user renamed
/// a root-only file in as the lock and root's next write handed it over.
/// Only a lock this run makes changes hands.
#[test]
fn a_file_renamed_in_as_the_lock_is_not_given_away() {
    if !is_root() {
        crate::harness::skip("needs root to run for another user");
        return;
    }
    let h = harness("fs_lock_renamed_in");
    let home = h.nobodys_file_directory();
    // An empty 0600 file of root's (another writer's temporary
    // file, just made, its keys still to come) was given away too.
    for content in ["root-only secret\n", ""] {
        rename_in_root_only(&home, &home.join(LOCK_FILE), content);
        h.cmd(&["--once", "--owner", "65534:65534"]).run();
        let lock = fs::metadata(home.join(LOCK_FILE)).expect("the lock");
        assert_eq!(
            lock.uid(),
            0,
            "{content:?}: the file renamed in was given away"
        );
        assert_eq!(
            fs::read_to_string(home.join(LOCK_FILE)).expect("read"),
            content
        );
    }
}

/// As a user other than root, under umask 0777 a
/// directory made on the way came out 000 and could not be opened again to
/// set its mode (exit 1, and every later run failed on it); and in a 0300
/// directory (search and write, no read) the file was replaced but the run
/// failed on flushing the directory, so the daemon fetched again and again
/// for a file already fresh. Both now succeed.
#[test]
fn a_zero_umask_and_an_unreadable_directory_fail_nothing() {
    if !is_root() {
        crate::harness::skip("needs root to run the binary as another user");
        return;
    }
    let h = harness("fs_umask_0777");
    let home = h.nobodys_file_directory();
    let file = home.join("made/deeper/credentials");
    let file = file.to_str().expect("UTF-8");
    let out = h
        .cmd(&["--once", "--file", file])
        .user(NOBODY, NOBODY)
        .wrapped(&["sh", "-c", r#"umask 0777; exec "$0" "$@""#])
        .run();
    assert_eq!(out.code(), Some(0), "umask 0777\n{}", out.describe());
    assert_eq!(mode(&home.join("made")), 0o700);
    assert!(ini::profile(&fs::read_to_string(file).expect("read"), "default").is_ok());

    fs::set_permissions(&home, fs::Permissions::from_mode(0o300)).expect("chmod 0300");
    let out = h.cmd(&["--once"]).user(NOBODY, NOBODY).run();
    fs::set_permissions(&home, fs::Permissions::from_mode(0o755)).expect("chmod back");
    assert_eq!(out.code(), Some(0), "a 0300 directory\n{}", out.describe());
    assert_fresh_default(&h);
}

/// The file's `[default]` holds the last credentials issued.
fn assert_fresh_default(h: &Harness) {
    let text = fs::read_to_string(&h.cred_file).expect("read the credentials file");
    let last = h.sts.issued().last().map(Profile::from);
    assert_eq!(ini::profile(&text, "default").ok(), last, "{text}");
}
