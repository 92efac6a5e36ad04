//! The lock that serialises writers of one file: `.<name>.aws-credfile.lock`
//! beside it, held with `flock(2)` for the length of one write.

use std::ffi::OsStr;
use std::fs::{self, File, TryLockError};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use super::dir::{our_euid, Dir};
use super::permissions::trusted_lock;
use super::Owner;
use crate::error::Error;
use crate::time::format_duration;

/// How long a write waits for another aws-credfile process to finish its
/// own. A write holds the lock for milliseconds; a holder that takes this
/// long is stuck, and failing (the daemon retries) is better than hanging.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);

/// The lock file's mode: write-only, for its owner. `flock(2)` takes any
/// open descriptor, so a lock anyone could open for reading could be held
/// by them to stop every write (round 15: the app, the same user as the
/// sidecar, reading the directory through a read-only mount). Opening it
/// for writing takes write permission and a writable mount, and whoever has
/// both may replace the credentials file anyway.
pub(super) const LOCK_MODE: u32 = 0o200;

const LINKED_LOCK: &str = "it is a symbolic link, which aws-credfile never follows; remove it";

/// Why what is at the lock's name (`meta` from lstat at start, or fstat of
/// the opened lock) cannot be the lock: a link, not a regular file of its
/// own, or another user's. Said at start (exit 2) as at each write.
pub(super) fn unfit_lock(meta: &fs::Metadata, owner: Option<Owner>) -> Result<(), String> {
    if meta.file_type().is_symlink() {
        return Err(LINKED_LOCK.into());
    }
    if !meta.is_file() || meta.nlink() > 1 {
        return Err(
            "it is not a regular file of its own (a directory, a pipe, or a file another name shares); remove it".into(),
        );
    }
    trusted_lock(meta.uid(), owner)
}

/// Opens (creating it [`LOCK_MODE`] if needed) the lock file at `path`, for
/// writing, and takes an exclusive `flock` on it, waiting at most `wait`
/// (`None` when another process still holds it then). With `owner`, a lock
/// this call creates is given to that user as the file is: a root run
/// writing for `--owner` (an init container, say) would otherwise leave a
/// root-only lock that the user's own later writer (the sidecar) could
/// never open. A lock of this user's with another mode (made by an older
/// version, or by hand; empty or not) is set to [`LOCK_MODE`]: one others
/// could open, they could hold to stop every write, and narrowing a mode
/// never exposes anything. The lock goes with the returned
/// file: it is released when the file is dropped, or when the process dies,
/// so a killed writer never leaves it held.
pub(super) fn lock(
    dir: &Dir,
    name: &OsStr,
    path: &Path,
    wait: Duration,
    owner: Option<Owner>,
) -> Result<Option<File>, Error> {
    // O_NOFOLLOW: a planted link would make us create or lock a file of the
    // attacker's choosing. O_NONBLOCK: a FIFO planted here must not hang
    // open(); it is refused below. One this call creates is set to
    // LOCK_MODE whatever the umask (0277 would leave it 0000).
    let open = |create: bool| {
        let flags = libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK;
        match create {
            true => dir.open(name, flags | libc::O_CREAT | libc::O_EXCL, LOCK_MODE),
            false => dir.open(name, flags, 0),
        }
    };
    let mut created = false;
    let file = match open(false) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => match open(true) {
            Ok(file) => {
                created = true;
                let _ = file.set_permissions(fs::Permissions::from_mode(LOCK_MODE));
                Ok(file)
            }
            // Another writer made it meanwhile.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => open(false),
            Err(e) => Err(e),
        },
        opened => opened,
    }
    .map_err(|e| {
        let e = if dir.is_symlink(name) {
            io::Error::other(LINKED_LOCK)
        } else {
            e
        };
        Error::io("open the lock file", path, e)
    })?;
    let meta = file
        .metadata()
        .map_err(|e| Error::io("inspect the lock file", path, e))?;
    unfit_lock(&meta, owner)
        .map_err(|why| Error::io("use the lock file", path, io::Error::other(why)))?;
    // Ours, or `--owner`'s (root may set its mode): a wider one could be
    // held by anyone who may open it.
    let ours = meta.uid() == our_euid() || owner.is_some_and(|o| o.uid == meta.uid());
    if !created && meta.mode() & 0o777 != LOCK_MODE && ours {
        let _ = file.set_permissions(fs::Permissions::from_mode(LOCK_MODE));
    }
    // Only a lock this run made changes hands, through the descriptor that
    // made it. Whoever can rename files into the directory (the `--owner`
    // user in its own home, anyone in a shared one) could put any file of
    // ours under the lock's name: a root-only file (round 12), or another
    // writer's temporary file just created, still empty, about to get its
    // keys (round 13).
    if let Some(owner) = owner.filter(|_| created) {
        std::os::unix::fs::fchown(&file, Some(owner.uid), owner.gid)
            .map_err(|e| Error::io("give to --owner the lock file", path, e))?;
    }
    let deadline = Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Some(file)),
            // Polled often: a writer releases the lock for only as long as
            // it takes to fetch its next credentials, and one polling slowly
            // could miss every such gap. Waits are rare and short, so the
            // wake-ups cost nothing that matters.
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(Error::io("lock", path, e)),
        }
    }
}

/// The error after waiting `waited` for the lock at `path` in vain.
pub(super) fn lock_timeout(path: &Path, waited: Duration) -> Error {
    Error::io(
        "lock",
        path,
        io::Error::new(
            io::ErrorKind::WouldBlock,
            format!(
                "another process has held it for over {}: another aws-credfile for this file that is stuck, or anyone else who can open the lock; find the holder (fuser, lsof)",
                format_duration(waited)
            ),
        ),
    )
}
