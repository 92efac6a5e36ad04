//! The shared credentials file as a sink: one profile's section written
//! into it, keeping every other byte, and read back for `--check`. The text
//! work is `ini`'s, the crash-safe I/O `atomic`'s and `lock`'s, which file
//! `path`'s, what may go in `values`'s, `--check` `check`'s; this module
//! decides.
//!
//! Several aws-credfile processes may write one file (two sidecars with
//! different profiles, a hand-run `--once` beside the sidecar). Each
//! read-merge-rename holds an advisory lock (`flock`) on a sibling lock file,
//! `.<name>.aws-credfile.lock`, so no writer merges into a file another is
//! about to replace. The lock file is never deleted: a writer still holding
//! or waiting on the deleted one and a newcomer creating a new one would
//! each hold "the" lock at once. Temporary files carry the process id,
//! and whatever temporary files are present while the lock is held are crash
//! leftovers, removed. A section another process wrote while our credentials
//! were being fetched, with a later expiry than ours, is kept, so no profile
//! ever goes back to older keys.
//!
//! A symbolic link at the file itself is refused, never read, written
//! through or replaced: reading through it would copy whatever it points at
//! into a file the app (or `--owner`) can read. Directories above the file
//! may be links (Kubernetes mounts are).
//!
//! Reads and writes share one size cap, [`MAX_FILE_SIZE`]: a merge that
//! would exceed it is refused, since the next read would refuse the result.

mod atomic;
mod check;
mod dir;
mod ini;
mod lock;
mod path;
mod permissions;
#[cfg(test)]
mod tests;
mod values;

use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::credentials::{Credentials, LONGEST_SESSION};
use crate::error::Error;
use crate::time::Timestamp;

use self::atomic::*;
pub use self::check::check;
use self::dir::{effective_ids, Dir};
use self::ini::*;
pub use self::ini::{merge, render_section};
pub use self::lock::LOCK_WAIT;
use self::lock::{lock, lock_timeout, unfit_lock};
pub use self::path::{path, ENV_HOME, ENV_SHARED_CREDENTIALS_FILE};
use self::permissions::{
    may_chown, may_keep_group, no_new_readers, trusted, trusted_above, trusted_dir, Access,
};
pub use self::permissions::{parse_mode, parse_owner, Owner, DEFAULT_MODE};
use self::values::validate;
pub use self::values::validate_profile;

/// The largest file we are willing to read, and so to write. A real
/// credentials file is a few KiB; anything near this is not one, and reading
/// it whole into memory on every refresh would be a mistake.
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;

/// [`MAX_FILE_SIZE`] in words, for messages.
pub(super) const MAX_FILE_SIZE_SHOWN: &str = "1 MiB";

/// What to do about a symbolic link at the target, after "is a symbolic
/// link; ".
pub(super) const LINK_ADVICE: &str = "aws-credfile never reads or writes through one: point --file at the real file or remove the link";

/// Where and how to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSink {
    /// The credentials file. A symbolic link here is refused (see
    /// [`FileSink::write`]); its directories may be links.
    pub path: PathBuf,
    /// The section to own, `[profile]` (no `profile ` prefix: this is the
    /// credentials file, not the config file).
    pub profile: String,
    /// Permission bits of the written file (`--mode`). `None`: a file
    /// aws-credfile wrote before keeps who may read it, as its writer's
    /// `--mode` set it (a hand-run `--once` beside a sidecar with
    /// `--mode 0640` made the file 0600, which locked the app's group out,
    /// and the sidecar could never widen it again); any other file, and a
    /// new one, gets [`DEFAULT_MODE`], so a file someone made readable to
    /// all (`touch` under umask 022) is tightened.
    pub mode: Option<u32>,
    /// Set with fchown before the file appears; `None` keeps our own uid.
    pub owner: Option<Owner>,
}

/// What [`FileSink::write`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    /// The profile's section now holds the new credentials.
    Replaced,
    /// While the new credentials were being fetched, another aws-credfile
    /// process wrote this section with credentials expiring at `expires`,
    /// later than the new ones; the file was left exactly as it was.
    KeptNewer { expires: Timestamp },
}

impl FileSink {
    /// A sink with the default mode and no owner change.
    pub fn new(path: impl Into<PathBuf>, profile: impl Into<String>) -> Self {
        FileSink {
            path: path.into(),
            profile: profile.into(),
            mode: None,
            owner: None,
        }
    }

    /// Start-up checks that need no network: a symbolic link at the target,
    /// a file another user may have made or that cannot be merged into, are
    /// configuration mistakes, refused before anything is fetched. What the
    /// system refuses is left to the first write, which reports it.
    pub fn preflight(&self) -> Result<(), Error> {
        // No SDK could open a longer path, nor could this be done in one go.
        if self.path.as_os_str().len() >= libc::PATH_MAX as usize {
            return Err(Error::Config(format!(
                "--file is {} bytes long, more than a path may be ({}); give a shorter path",
                self.path.as_os_str().len(),
                libc::PATH_MAX - 1
            )));
        }
        if self.path.file_name().is_some_and(is_ours_for_another) {
            return Err(Error::Config(format!(
                "--file {} is named as aws-credfile names the lock and temporary files beside a credentials file, so another run would lock or remove it; give it another name",
                self.path.display()
            )));
        }
        if is_symlink(&self.path) {
            return Err(Error::Config(format!(
                "--file {} is a symbolic link; {LINK_ADVICE}",
                self.path.display()
            )));
        }
        // A link on the way that someone else could swap (see `dir`): found
        // now. A directory that is missing is made by the first write, and
        // other trouble is reported by it.
        // A file or device where a directory belongs is as much a mistake.
        let dir = match Dir::walk(parent_dir(&self.path), None) {
            Err(e @ Error::Config(_)) => return Err(e),
            Err(e) if matches!(&e, Error::Io { source, .. } if source.raw_os_error() == Some(libc::ENOTDIR)) => {
                return Err(Error::Config(e.to_string()))
            }
            walked => walked.ok(),
        };
        match &dir {
            Some(dir) => self.dir_trusted(dir)?,
            None => self.nearest_trusted()?,
        }
        // A pipe, a device or a directory there is as much a mistake, and
        // found now rather than after a fetch.
        if let Ok(meta) = std::fs::symlink_metadata(&self.path) {
            if std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()) {
                return Err(Error::Config(format!(
                    "--file {} is a socket, not a regular file; point --file at a regular file",
                    self.path.display()
                )));
            }
            if !meta.is_file() {
                return read_text(&self.path).map(drop);
            }
            let refused = |why| Error::Config(format!("--file {}: {why}", self.path.display()));
            trusted(meta.uid(), meta.mode(), self.owner).map_err(refused)?;
            // Judged as the write will judge it, before any fetch: what
            // aws-credfile refuses to merge into (hard links, its size, its
            // text) stays so until someone changes the file. What the
            // system refused (permissions, no descriptor left) is left to
            // the write to report.
            match read_file(&self.path) {
                Ok(Some(file)) => {
                    if let Some(dir) = &dir {
                        self.access_over(dir, &file).map_err(refused)?;
                    }
                    self.mergeable(&file.text).map_err(refused)?;
                }
                Err(Error::Io { source, .. })
                    if source.raw_os_error().is_none()
                        && matches!(
                            source.kind(),
                            io::ErrorKind::Other | io::ErrorKind::InvalidData
                        ) =>
                {
                    return Err(refused(source.to_string()));
                }
                _ => {}
            }
        }
        if let Some(file_name) = self.path.file_name() {
            let lock = self.beside(&our_name(file_name, ".lock"));
            if let Ok(meta) = std::fs::symlink_metadata(&lock) {
                let unfit =
                    |why: String| Error::Config(format!("the lock file {}: {why}", lock.display()));
                unfit_lock(&meta, self.owner).map_err(unfit)?;
                // Every write opens it for writing: one this user may not
                // open (root's, left by a root run without --owner) would
                // fail each, and the daemon would retry for ever.
                let opened = std::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                    .open(&lock);
                if opened.is_err_and(|e| e.kind() == io::ErrorKind::PermissionDenied) {
                    return Err(unfit(match meta.uid() == dir::our_euid() {
                        true => "it is this user's, but its mode does not let this user write it, as every write must; chmod 0200 it, or remove it".into(),
                        false => format!(
                            "it belongs to uid {}, and this user may not open it, as every write must; remove it (a run as root without --owner, or for another --owner, leaves one like it)",
                            meta.uid()
                        ),
                    }));
                }
            }
        }
        if let Some(owner) = self.owner {
            may_chown(owner).map_err(|why| Error::Config(format!("--owner: {why}")))?;
        }
        Ok(())
    }

    /// Refuses a directory another user owns, or one above it (see
    /// [`trusted_dir`], [`trusted_above`]).
    fn dir_trusted(&self, dir: &Dir) -> Result<(), Error> {
        let uid = dir
            .owner()
            .map_err(|e| Error::io("open the directory of", &self.path, e))?;
        trusted_dir(uid, self.owner)
            .and_then(|()| trusted_above(dir.owners_above(), self.owner))
            .map_err(|why| Error::Config(format!("--file {}: {why}", self.path.display())))
    }

    /// For a file whose directory is still to be made: the nearest one
    /// that exists, and those above it, will be above the file, and are
    /// held to that rule now rather than after a fetch (round 41).
    fn nearest_trusted(&self) -> Result<(), Error> {
        for up in parent_dir(&self.path).ancestors().skip(1) {
            match Dir::walk(up, None) {
                Ok(dir) => {
                    let mut uids = dir.owners_above().to_vec();
                    uids.extend(dir.owner().ok());
                    return trusted_above(&uids, self.owner).map_err(|why| {
                        Error::Config(format!("--file {}: {why}", self.path.display()))
                    });
                }
                Err(e @ Error::Config(_)) => return Err(e),
                Err(_) => {}
            }
        }
        Ok(())
    }

    /// Replace `profile`'s section in the file with `creds`, atomically,
    /// keeping every other byte; or keep the file as it is when, while these
    /// credentials were being fetched (from `fetch_began` on), another writer
    /// put credentials there that expire later (see [`Written`]).
    ///
    /// Missing parent directories are created, 0700 (0711 with an owner).
    /// The whole read-merge-rename holds the file's lock, waited for at most
    /// [`LOCK_WAIT`] (a caller with other work to do uses
    /// [`FileSink::try_write`] instead). A symbolic link at the target is
    /// refused: it is opened with `O_NOFOLLOW`, so there is no window between
    /// a check and the open.
    pub fn write(
        &self,
        creds: &Credentials,
        now: Timestamp,
        fetch_began: Timestamp,
    ) -> Result<Written, Error> {
        self.write_waiting(creds, now, fetch_began, LOCK_WAIT)?
            .ok_or_else(|| self.lock_timeout(LOCK_WAIT))
    }

    /// [`FileSink::write`] if the lock is free now; `None`, with nothing
    /// done, while another writer holds it.
    pub fn try_write(
        &self,
        creds: &Credentials,
        now: Timestamp,
        fetch_began: Timestamp,
    ) -> Result<Option<Written>, Error> {
        self.write_waiting(creds, now, fetch_began, Duration::ZERO)
    }

    /// A directory that lets anyone replace the file: its own, or one
    /// above it (which lets anyone move the file's directory away), writable
    /// by others and not sticky (a disk-backed emptyDir is 0777); read on
    /// the real path, links resolved. Not refused, as a directory of another
    /// owner's is, since the pod's own volume is often such; warned about at
    /// start.
    pub fn replaceable_by_anyone(&self) -> Option<PathBuf> {
        // The directory may not be there yet: the first write makes it.
        let real = parent_dir(&self.path)
            .ancestors()
            .find_map(|d| std::fs::canonicalize(d).ok())?;
        real.ancestors()
            .find(|d| std::fs::metadata(d).is_ok_and(|m| m.mode() & 0o1002 == 0o002))
            .map(Path::to_path_buf)
    }

    /// The error after waiting `waited` for another writer's lock in vain.
    pub fn lock_timeout(&self, waited: Duration) -> Error {
        let name = self.path.file_name().unwrap_or_default();
        lock_timeout(&self.beside(&our_name(name, ".lock")), waited)
    }

    /// Who may read the file once it is written over `file`, if it may be
    /// merged into and rewritten at all (see [`trusted`],
    /// [`no_new_readers`]): `--owner` (its group, or the file's), else this
    /// process, with the group the file has where this process may give it
    /// (a member of it, or root), else the one a new file in `dir` gets;
    /// with the mode [`FileSink::mode_over`] gives. So a hand-run `--once`
    /// beside a sidecar changes nothing of who may read the file.
    fn access_over(&self, dir: &Dir, file: &Existing) -> Result<Access, String> {
        trusted(file.uid, file.mode, self.owner)?;
        if file.acl {
            // Its mode bits do not say who may read it, so whether the
            // result hands anyone more cannot be told.
            return Err("it has an ACL (setfacl), so who may read it is not in its mode; remove the ACL (setfacl -b) or the file".to_string());
        }
        let (uid, gid) = match self.owner {
            Some(o) => (o.uid, o.gid.unwrap_or(file.gid)),
            None => {
                let (uid, gid) = effective_ids(dir);
                (
                    uid,
                    if may_keep_group(file.gid) {
                        file.gid
                    } else {
                        gid
                    },
                )
            }
        };
        let after = Access {
            uid,
            gid,
            mode: self.mode_over(has_marker(&file.text).then_some(file.mode)),
        };
        let old = Access {
            uid: file.uid,
            gid: file.gid,
            mode: file.mode,
        };
        no_new_readers(old, after, self.mode.is_some())?;
        Ok(after)
    }

    /// `existing` with the profile's section replaced by `section`, unless
    /// Python's SDKs would refuse the result: a file they refuse gives them
    /// no profile at all, so better no refresh, with the line named, than
    /// keys no one can read. The existing text is the one to name lines in;
    /// problems inside our own section are gone from the merge, which is
    /// what counts.
    fn merged(&self, existing: &str, section: &str) -> Result<String, String> {
        // The profile's own are replaced; `[DEFAULT]`'s would join the
        // keys written (round 28: its stale `aws_security_token` was sent
        // with fresh keys, and `--check` passed).
        if let Some((n, key, _)) = foreign_key(existing, &self.profile, false) {
            return Err(format!(
                "line {n} sets {key} in [DEFAULT], which Python's SDKs give every profile, [{}] included, beside the keys aws-credfile writes (botocore may take it over them); move it to a profile of its own",
                self.profile
            ));
        }
        let merged = merge(existing, &self.profile, section);
        match python_refuses(&merged) {
            Some(why) => Err(python_refuses(existing).unwrap_or(why)),
            None => Ok(merged),
        }
    }

    /// Whether a write could merge into `existing` (see [`ambiguity`] and
    /// [`FileSink::merged`]), checked at start with an empty section.
    fn mergeable(&self, existing: &str) -> Result<(), String> {
        if let Some(why) = ambiguity(existing) {
            return Err(why);
        }
        self.merged(existing, &format!("[{}]\n", self.profile))
            .map(drop)
    }

    /// The mode the file gets: `--mode`; else, over a file aws-credfile
    /// wrote (`kept`, its mode), the group and others read bits it has,
    /// the owner reading and writing; else [`DEFAULT_MODE`].
    fn mode_over(&self, kept: Option<u32>) -> u32 {
        self.mode
            .or(kept.map(|old| DEFAULT_MODE | (old & 0o044)))
            .unwrap_or(DEFAULT_MODE)
    }

    /// The path of `name` in the file's directory, for messages.
    fn beside(&self, name: &std::ffi::OsStr) -> PathBuf {
        parent_dir(&self.path).join(name)
    }

    fn write_waiting(
        &self,
        creds: &Credentials,
        now: Timestamp,
        fetch_began: Timestamp,
        wait: Duration,
    ) -> Result<Option<Written>, Error> {
        validate_profile(&self.profile)?;
        validate(creds)?;
        let file_name = self.path.file_name().ok_or_else(|| {
            Error::Config(format!(
                "--file {} does not name a file; give a path such as /home/app/.aws/credentials",
                self.path.display()
            ))
        })?;
        // Whoever the file is for must reach it by path: `--owner`, and the
        // group or others a `--mode` lets read it (a pod's fsGroup).
        let readable_by_others = self.mode.is_some_and(|m| m & 0o044 != 0);
        let dir_mode = match self.owner.is_some() || readable_by_others {
            true => DIR_MODE_FOR_OWNER,
            false => DIR_MODE,
        };
        // Everything below is done in this directory as opened now, whatever
        // its path comes to name meanwhile.
        let dir = Dir::walk(parent_dir(&self.path), Some(dir_mode))?;
        if let Some(owner) = self.owner {
            dir.give_made(owner.uid, owner.gid).map_err(|e| {
                Error::io("give the directory to --owner:", parent_dir(&self.path), e)
            })?;
        }
        self.dir_trusted(&dir)?;
        let lock_name = our_name(file_name, ".lock");
        let lock_path = self.beside(&lock_name);
        // Held until this function returns: closing it releases the lock.
        let Some(_lock) = lock(&dir, &lock_name, &lock_path, wait, self.owner)? else {
            return Ok(None);
        };
        remove_leftovers(&dir, file_name);
        for _ in 0..MERGE_TRIES {
            if let Some(written) = self.merge_into(&dir, file_name, creds, now, fetch_began)? {
                return Ok(Some(written));
            }
        }
        Err(Error::io(
            "merge into",
            &self.path,
            io::Error::other("it changed each time aws-credfile was about to replace it: another program rewrites it without aws-credfile's lock (aws configure set?); keep other writers off it, or give aws-credfile a --file of its own"),
        ))
    }

    /// One read-merge-rename, holding the lock: what was written, or
    /// `None` when the file changed before it could be replaced (see
    /// [`replace`]), and nothing was.
    fn merge_into(
        &self,
        dir: &Dir,
        file_name: &std::ffi::OsStr,
        creds: &Credentials,
        now: Timestamp,
        fetch_began: Timestamp,
    ) -> Result<Option<Written>, Error> {
        let file = read_existing(dir, file_name, &self.path)?;
        let read = file.as_ref().map(|f| f.stamp);
        let (mode, owner) = match &file {
            Some(file) => {
                let after = self
                    .access_over(dir, file)
                    .map_err(|why| Error::io("merge into", &self.path, io::Error::other(why)))?;
                let given = self.owner.is_some() || after.gid != effective_ids(dir).1;
                let owner = given.then_some(Owner {
                    uid: after.uid,
                    gid: Some(after.gid),
                });
                (after.mode, owner)
            }
            None => (self.mode_over(None), self.owner),
        };
        let existing = file.map(|f| f.text).unwrap_or_default();
        let cannot_merge = |why| Error::io("merge into", &self.path, io::Error::other(why));
        if let Some(why) = ambiguity(&existing) {
            return Err(cannot_merge(why));
        }
        let found = inspect(&existing, &self.profile);
        // Another writer wrote while we were fetching, keys that outlive
        // ours: theirs stay, so the profile never goes back to older keys. A
        // section written before our fetch began is replaced whatever its
        // expiry: it may be another role's, or from a longer --duration.
        // A stamp from the future is a clock that was wrong: never newer.
        // So is an expiry further off than any session AWS issues (12 h):
        // kept as "newer", one bogus answer would pin its keys for good.
        let written_meanwhile = found
            .refreshed
            .is_some_and(|r| r >= fetch_began && r <= now);
        if let Some(expires) = found.expires {
            if written_meanwhile
                && found.access_key_id
                && found.secret_access_key
                && expires > creds.expiration
                && expires <= now.plus(LONGEST_SESSION)
            {
                return Ok(Some(Written::KeptNewer { expires }));
            }
        }
        let merged = self
            .merged(&existing, &render_section(&self.profile, creds, now))
            .map_err(cannot_merge)?;
        // Never write what the next read would refuse.
        if merged.len() as u64 > MAX_FILE_SIZE {
            return Err(Error::io(
                "update",
                &self.path,
                io::Error::new(
                    io::ErrorKind::FileTooLarge,
                    format!(
                        "with profile [{}] it would grow past {MAX_FILE_SIZE_SHOWN}, more than aws-credfile reads back; remove profiles or comments it does not need, or give this profile a --file of its own",
                        self.profile
                    ),
                ),
            ));
        }
        let replaced = replace(
            &self.path,
            dir,
            file_name,
            merged.as_bytes(),
            mode,
            owner,
            read,
        )?;
        Ok(replaced.then_some(Written::Replaced))
    }
}

/// How many times a write reads and merges the file again when another
/// program changed it meanwhile (see [`FileSink::merge_into`]).
const MERGE_TRIES: usize = 5;

/// The directory holding `path`; a bare file name lives in `.`.
pub(super) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}
