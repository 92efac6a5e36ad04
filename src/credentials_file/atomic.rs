//! Crash-safe file I/O for the credentials file: the directories, the
//! exclusive temporary file, the rename over
//! the target and the flushes that make it last, and the capped,
//! link-refusing read.
//!
//! Old SDKs open the file by path and read it whole, so a temporary file in
//! the same directory renamed over the target is all the atomicity they
//! need; nothing here ever truncates the file in place.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use crate::error::Error;

use super::dir::{drop_access_acl, has_access_acl, Dir, Stamp};
use super::{parent_dir, Owner, LINK_ADVICE, MAX_FILE_SIZE, MAX_FILE_SIZE_SHOWN};

/// The mode of a parent directory we have to create: the keys inside are
/// nobody else's business, not even their names.
pub(super) const DIR_MODE: u32 = 0o700;

/// The mode of a parent directory we have to create when `--owner` names
/// another user, or `--mode` lets the group or others read the file: they
/// must be able to walk through it to the file (by path), but still cannot
/// list it or add anything to it. Making the user
/// the directory's owner instead would let it swap our files.
pub(super) const DIR_MODE_FOR_OWNER: u32 = 0o711;

/// After the file name (and a leading dot), names the lock, temporary and
/// leftover files: `.<name>.aws-credfile.lock`, `.<name>.aws-credfile.<pid>.tmp`.
pub(super) const OUR_SUFFIX: &str = ".aws-credfile";

/// `.<name>.aws-credfile<tail>`: hidden, so directory listings stay tidy.
pub(super) fn our_name(file_name: &OsStr, tail: &str) -> OsString {
    let mut name = OsString::from(".");
    name.push(file_name);
    name.push(OUR_SUFFIX);
    name.push(tail);
    name
}

/// Whether `name` is one of our temporary files for `file_name`:
/// `.<name>.aws-credfile.<digits>.tmp`, or `.<name>.aws-credfile.tmp` as
/// versions before the lock named it.
pub(super) fn is_our_temp(name: &OsStr, file_name: &OsStr) -> bool {
    let prefix = our_name(file_name, "");
    let Some(rest) = name.as_bytes().strip_prefix(prefix.as_bytes()) else {
        return false;
    };
    match rest.strip_suffix(b".tmp") {
        Some(b"") => true,
        Some(middle) => middle
            .strip_prefix(b".")
            .is_some_and(|pid| !pid.is_empty() && pid.iter().all(u8::is_ascii_digit)),
        None => false,
    }
}

/// Whether `name` is shaped like one of our own lock or temporary files
/// for some other file (`.<x>.aws-credfile.lock`, `.<x>.aws-credfile[.<n>].tmp`):
/// a credentials file so named would be that file's lock, or removed as its
/// leftover.
pub(super) fn is_ours_for_another(name: &OsStr) -> bool {
    let bytes = name.as_bytes();
    let Some(rest) = bytes.strip_prefix(b".") else {
        return false;
    };
    let suffix = OUR_SUFFIX.as_bytes();
    (1..rest.len()).any(|at| {
        rest[at..].starts_with(suffix) && is_our_temp(name, OsStr::from_bytes(&rest[..at]))
            || rest[at..] == [suffix, b".lock"].concat()[..]
    })
}

/// Removes our temporary files next to the target. Called with the lock
/// held, when no other writer is between creating its temporary file and
/// renaming it, so any found are what a killed writer left. Best effort: a
/// leftover that cannot be removed is in nobody's way, since every writer
/// uses its own name.
pub(super) fn remove_leftovers(dir: &Dir, file_name: &OsStr) {
    let Ok(names) = dir.names() else {
        return;
    };
    for name in names {
        if is_our_temp(&name, file_name) {
            // Unlinking a planted symlink removes the link, never its target.
            let _ = dir.unlink(&name);
        }
    }
}

/// Whether `path` itself (not what it points to) is a symbolic link.
pub(super) fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Replaces the file at `path` (named `file_name`, in `dir`) with `data`,
/// atomically: an exclusive temporary file of this process's own beside it,
/// with `mode` and `owner` set before the data goes in, flushed, renamed
/// over the target, and the directory flushed so the rename survives a power
/// cut (after a reboot the app would find the old credentials or none; best
/// effort, once the rename is done). On failure the target is untouched
/// and the temporary file removed. `false`, with nothing done, when the
/// file is no longer as it was `read` (its stamp then, `None` if absent).
pub(super) fn replace(
    path: &Path,
    dir: &Dir,
    file_name: &OsStr,
    data: &[u8],
    mode: u32,
    owner: Option<Owner>,
    read: Option<Stamp>,
) -> Result<bool, Error> {
    let temp = write_temp(dir, file_name, parent_dir(path), |f| {
        fill(f, data, mode, owner)
    })?;
    // A program that writes the file in place, without the lock
    // (`aws configure set` truncates it, then writes), may have changed it
    // since it was `read`: the rename would undo its change, or make the
    // empty file read in between the file for good, every other profile
    // lost. Nothing is replaced then, for the caller to merge again.
    if dir.stamp(file_name) != read {
        let _ = dir.unlink(&temp);
        return Ok(false);
    }
    if let Err(e) = dir.rename(&temp, file_name) {
        // Do not leave the keys lying around under another name. The
        // rename error is the one worth telling.
        let _ = dir.unlink(&temp);
        return Err(Error::io("replace", path, e));
    }
    // The file is replaced now, whatever the flush says: reporting a
    // failure would make the daemon fetch again for a file already fresh
    // (a directory this user may search and write but not read,
    // 0300, cannot be opened to be flushed). The flush is for power cuts.
    let _ = dir.sync();
    Ok(true)
}

/// Creates a temporary file of this process's beside `file_name` (in `dir`,
/// shown as being in `parent`) exclusively with mode 0600 (so it is never
/// readable by others, whatever `mode` ends up being), then lets `fill` set
/// mode and owner, write and flush. On failure the temporary file is
/// removed. Returns the name it got.
pub(super) fn write_temp(
    dir: &Dir,
    file_name: &OsStr,
    parent: &Path,
    fill: impl FnOnce(&mut File) -> Result<(), (&'static str, io::Error)>,
) -> Result<OsString, Error> {
    let (mut file, temp) = create_temp(dir, file_name, parent)?;
    // Named as the file it is about to become: the temporary name means
    // nothing to whoever reads the message, and is gone by then.
    let result =
        fill(&mut file).map_err(|(action, e)| Error::io(action, parent.join(file_name), e));
    drop(file);
    if result.is_err() {
        let _ = dir.unlink(&temp);
    }
    result.map(|()| temp)
}

/// How many names [`create_temp`] tries before giving up.
const TEMP_NAMES: usize = 4;

/// Opens a new temporary file with `O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC` and
/// mode 0600, first as `.<name>.aws-credfile.<pid>.tmp`. Something already
/// there was planted after the leftovers were cleared (no writer of ours
/// holds this name now): it is unlinked, which removes a link itself and
/// never its target, and the name tried once more. What cannot be unlinked
/// (another user's directory of that name in a sticky `/tmp`,
/// where the process id is easy to read) must not stop every refresh for
/// good, so the next names add random digits no one can guess in advance.
fn create_temp(dir: &Dir, file_name: &OsStr, parent: &Path) -> Result<(File, OsString), Error> {
    let pid = std::process::id();
    let mut temp = our_name(file_name, &format!(".{pid}.tmp"));
    let mut unlinked = false;
    for _ in 0..TEMP_NAMES {
        let opened = dir.open(
            &temp,
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
            0o600,
        );
        match opened {
            Ok(file) => return Ok((file, temp)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if !unlinked {
                    unlinked = true;
                    match dir.unlink(&temp) {
                        Ok(()) => continue,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(_) => {}
                    }
                }
                let digits = random_digits();
                temp = our_name(file_name, &format!(".{pid}{digits}.tmp"));
            }
            Err(e) => {
                return Err(Error::io(
                    "create the temporary file",
                    parent.join(&temp),
                    e,
                ))
            }
        }
    }
    Err(Error::io(
        "create a temporary file beside",
        parent.join(file_name),
        io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{TEMP_NAMES} names in a row were taken by something aws-credfile cannot remove; is someone planting files in {}?", parent.display()),
        ),
    ))
}

/// Twelve decimal digits no one else can foresee: `RandomState` is keyed
/// from the system's randomness once and changes on every call.
fn random_digits() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!("{:012}", hasher.finish() % 1_000_000_000_000)
}

/// Sets mode and owner before the data goes in, so the bytes are never
/// behind looser permissions than asked for, then writes and flushes.
pub(super) fn fill(
    file: &mut File,
    data: &[u8],
    mode: u32,
    owner: Option<Owner>,
) -> Result<(), (&'static str, io::Error)> {
    // An ACL inherited from the directory's default one would let its
    // named users read what the mode keeps from them. Removed first: a
    // chmod to 0640 before it would open its mask to them meanwhile.
    drop_access_acl(file).map_err(|e| ("remove the inherited ACL of", e))?;
    // Only permission bits: set-id or sticky bits on a credentials file
    // would only ever be a mistake.
    file.set_permissions(fs::Permissions::from_mode(mode & 0o777))
        .map_err(|e| ("set the mode of", e))?;
    if let Some(owner) = owner {
        std::os::unix::fs::fchown(&*file, Some(owner.uid), owner.gid)
            .map_err(|e| ("set the owner (--owner) of", e))?;
    }
    file.write_all(data).map_err(|e| ("write", e))?;
    file.sync_all().map_err(|e| ("flush", e))
}

/// The file's text, `None` if it does not exist. Refuses a symbolic link,
/// directories and other non-regular files, files over [`MAX_FILE_SIZE`]
/// and text that is not UTF-8 (merging into bytes we do not understand
/// could mangle them).
pub(super) fn read_text(path: &Path) -> Result<Option<String>, Error> {
    Ok(read_file(path)?.map(|existing| existing.text))
}

/// [`read_text`], with the owner and mode the file has.
pub(super) fn read_file(path: &Path) -> Result<Option<Existing>, Error> {
    let dir = match Dir::walk(parent_dir(path), None) {
        Ok(dir) => dir,
        Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let name = path.file_name().unwrap_or_default();
    read_existing(&dir, name, path)
}

/// The file as it is: its text, and who may write it.
pub(super) struct Existing {
    pub text: String,
    /// Taken before `text` was read: see [`replace`].
    pub stamp: Stamp,
    pub uid: u32,
    pub gid: u32,
    /// Permission bits.
    pub mode: u32,
    /// It has an access ACL: who may read it is not in `mode` alone.
    pub acl: bool,
}

/// [`read_text`], with the owner and mode the file has.
pub(super) fn read_existing(
    dir: &Dir,
    name: &OsStr,
    path: &Path,
) -> Result<Option<Existing>, Error> {
    // O_NOFOLLOW: the link is refused by the open itself, so nothing can be
    // swapped in between a check and the read. O_NONBLOCK so that a FIFO at
    // the path cannot hang us in open(); it has no effect on the regular
    // files we go on to read.
    let file = match dir.open(
        name,
        libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK,
        0,
    ) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        // ELOOP alone reads "too many levels of symbolic links".
        Err(_) if dir.is_symlink(name) => {
            return Err(Error::io(
                "use",
                path,
                io::Error::other(format!("it is a symbolic link; {LINK_ADVICE}")),
            ))
        }
        // A socket cannot be opened at all (ENXIO): as much a mistake as the
        // pipes and devices below, and as much a configuration error.
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
            return Err(Error::Config(format!(
                "{} is a socket or a device, not a regular file; point --file at a regular file",
                path.display()
            )))
        }
        Err(e) => return Err(Error::io("open", path, e)),
    };
    let meta = file.metadata().map_err(|e| Error::io("inspect", path, e))?;
    // A hard link is another name for the same content: merging would copy
    // whatever file shares it into credentials the app (or --owner) can
    // read, as a symbolic link would. aws-credfile's own renames leave one.
    if meta.is_file() && meta.nlink() > 1 {
        return Err(Error::io(
            "use",
            path,
            io::Error::other(format!(
                "it has {} hard links, so another name shares its content; aws-credfile never merges into a shared file: remove the other links or point --file elsewhere",
                meta.nlink()
            )),
        ));
    }
    let kind = meta.file_type();
    if kind.is_dir() {
        return Err(Error::Config(format!(
            "{} is a directory; --file must name a file: remove the directory, or name a file in it such as {}",
            path.display(),
            path.join("credentials").display()
        )));
    }
    if !kind.is_file() {
        let what = if kind.is_fifo() {
            "a named pipe"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "a device"
        };
        return Err(Error::Config(format!(
            "{} is {what}, not a regular file; point --file at a regular file",
            path.display()
        )));
    }
    let mut bytes = Vec::new();
    let acl = has_access_acl(&file);
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("read", path, e))?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(Error::io(
            "read",
            path,
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("it is larger than {MAX_FILE_SIZE_SHOWN}, far too large for a credentials file; move it away or point --file elsewhere"),
            ),
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = super::ini::line_at(e.as_bytes(), e.utf8_error().valid_up_to());
        Error::io(
            "read",
            path,
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("line {line} is not UTF-8 text; fix or move the file so its profiles are not mangled"),
            ),
        )
    })?;
    Ok(Some(Existing {
        text,
        stamp: [
            meta.ino() as i64,
            meta.size() as i64,
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ctime(),
            meta.ctime_nsec(),
        ],
        uid: meta.uid(),
        gid: meta.gid(),
        mode: meta.mode() & 0o7777,
        acl,
    }))
}
