//! The directory that holds the credentials file, opened by walking its
//! path one name at a time, and everything done in it done relative to the
//! open directory (`openat`, `renameat`, `unlinkat`): what the path names
//! cannot change between the walk and the write.
//!
//! A symbolic link on the way is followed only where it sits in a directory
//! that nobody but root and this user can change (owned by one of them, not
//! writable by group or others). Anywhere else, whoever can change that
//! directory could swap the link (or a directory for a link) to point the
//! write at a directory of their choosing: a root sidecar writing for
//! `--owner` would then create a file that user owns wherever the link
//! points, or merge another credentials file into one that user can read.

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use crate::error::Error;

/// The most links followed in one walk, as the kernel allows.
const MAX_LINKS: usize = 40;

/// An open directory (`O_PATH`); see the module documentation.
#[derive(Debug)]
pub(super) struct Dir {
    fd: OwnedFd,
    /// Whether this walk made it (the last name was missing).
    made: bool,
    /// The owners of the directories above it, as walked (from `/`, or
    /// from the current directory for a relative path).
    above: Vec<u32>,
}

impl Dir {
    /// Opens the directory `path` (a relative one from the current
    /// directory). With `create`, missing directories are made with that
    /// mode, exactly (the umask cannot narrow it); directories that exist
    /// are never changed. `path` is only walked, never opened whole.
    pub(super) fn walk(path: &Path, create: Option<u32>) -> Result<Dir, Error> {
        let fail = |e: io::Error| Error::io("open the directory", path, e);
        let mut names: Vec<OsString> = Vec::new();
        push_components(&mut names, path);
        let start = if path.is_absolute() { "/" } else { "." };
        // The directories walked through, the current one last: `..` goes
        // back to the one the walk came from, not to wherever the current
        // one has since been moved (by whoever can change the directory
        // holding it).
        let mut walked = vec![open_at(None, OsStr::new(start), PATH_DIR).map_err(fail)?];
        let mut links = 0;
        let mut made = false;
        while let Some(name) = names.pop() {
            made = false;
            if name == "/" {
                walked = vec![open_at(None, OsStr::new("/"), PATH_DIR).map_err(fail)?];
                continue;
            }
            let cur = walked.last().expect("the walk always has a directory");
            if name == ".." {
                if walked.len() > 1 {
                    walked.pop();
                } else {
                    // Above where the walk began: the current directory's
                    // parent (the root's is the root).
                    walked = vec![open_at(Some(cur), &name, PATH_DIR).map_err(fail)?];
                }
                continue;
            }
            let kind = match (lstat_at(cur, &name), create) {
                (Err(e), Some(mode)) if e.kind() == io::ErrorKind::NotFound => {
                    match make_dir(cur, &name, mode)
                        .map_err(|e| Error::io("create the directory", path, e))?
                    {
                        Some(new) => {
                            walked.push(new);
                            made = true;
                            continue;
                        }
                        None => libc::S_IFDIR,
                    }
                }
                (Err(e), _) => return Err(fail(e)),
                (Ok(st), _) => st.st_mode & libc::S_IFMT,
            };
            if kind == libc::S_IFLNK {
                links += 1;
                if links > MAX_LINKS {
                    return Err(fail(io::Error::from_raw_os_error(libc::ELOOP)));
                }
                if let Err(why) = may_follow_links_in(cur) {
                    return Err(Error::Config(format!(
                        "{}: on the way, {:?} is a symbolic link in a directory {why}; aws-credfile follows no link there, since it could be swapped to point anywhere: give --file a path without it (the link's target, in directories only root and this user can change)",
                        path.display(),
                        name
                    )));
                }
                let target = read_link_at(cur, &name).map_err(fail)?;
                let target = PathBuf::from(OsString::from_vec(target));
                // The rest of the walk goes on from the link's target.
                push_components(&mut names, &target);
                continue;
            }
            let next = open_at(Some(cur), &name, PATH_DIR | libc::O_NOFOLLOW).map_err(fail)?;
            walked.push(next);
        }
        let fd = walked.pop().expect("the walk always has a directory");
        let above = walked
            .iter()
            .filter_map(|d| lstat_at(d, OsStr::new("")).ok())
            .map(|st| st.st_uid)
            .collect();
        Ok(Dir { fd, made, above })
    }

    /// The owners of the directories above this one on the way walked.
    pub(super) fn owners_above(&self) -> &[u32] {
        &self.above
    }

    /// Gives a directory this walk made to `uid` (and `gid`, if given): the
    /// `--owner` user's own later writer must make its temporary file in
    /// it. One that was there already is never changed.
    pub(super) fn give_made(&self, uid: u32, gid: Option<u32>) -> io::Result<()> {
        if !self.made {
            return Ok(());
        }
        // SAFETY: fchownat(2) of a live descriptor itself (AT_EMPTY_PATH,
        // an empty NUL-terminated name).
        #[allow(unsafe_code)]
        let rc = unsafe {
            libc::fchownat(
                self.fd.as_raw_fd(),
                c"".as_ptr(),
                uid,
                gid.unwrap_or(u32::MAX),
                libc::AT_EMPTY_PATH,
            )
        };
        check(rc)
    }

    /// `openat(2)` of `name` in this directory, with `O_CLOEXEC` added.
    pub(super) fn open(&self, name: &OsStr, flags: libc::c_int, mode: u32) -> io::Result<File> {
        open_at_mode(Some(&self.fd), name, flags, mode).map(File::from)
    }

    /// `renameat(2)` within this directory.
    pub(super) fn rename(&self, from: &OsStr, to: &OsStr) -> io::Result<()> {
        let (from, to) = (c_name(from)?, c_name(to)?);
        let dir = self.fd.as_raw_fd();
        // SAFETY: renameat(2) with a live directory descriptor and two
        // NUL-terminated names.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::renameat(dir, from.as_ptr(), dir, to.as_ptr()) };
        check(rc)
    }

    /// `unlinkat(2)` of a name that is not a directory; a link goes, never
    /// its target.
    pub(super) fn unlink(&self, name: &OsStr) -> io::Result<()> {
        let name = c_name(name)?;
        // SAFETY: unlinkat(2) with a live directory descriptor and a
        // NUL-terminated name.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::unlinkat(self.fd.as_raw_fd(), name.as_ptr(), 0) };
        check(rc)
    }

    /// The user this directory belongs to.
    pub(super) fn owner(&self) -> io::Result<u32> {
        lstat_at(&self.fd, OsStr::new("")).map(|st| st.st_uid)
    }

    /// What tells `name`'s content as it is now from any later one: its
    /// inode, size, and modification and change times; `None` if it is not
    /// there.
    pub(super) fn stamp(&self, name: &OsStr) -> Option<Stamp> {
        lstat_at(&self.fd, name).ok().map(|st| {
            [
                st.st_ino as i64,
                st.st_size,
                st.st_mtime,
                st.st_mtime_nsec,
                st.st_ctime,
                st.st_ctime_nsec,
            ]
        })
    }

    /// Whether `name` itself (not what it points to) is a symbolic link.
    pub(super) fn is_symlink(&self, name: &OsStr) -> bool {
        lstat_at(&self.fd, name).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFLNK)
    }

    /// The names in this directory.
    pub(super) fn names(&self) -> io::Result<Vec<OsString>> {
        let own = OwnedFd::from(self.reopened()?);
        let mut names = Vec::new();
        // SAFETY: fdopendir(3) takes over a live descriptor that is ours
        // (released from `own` only once it succeeded), readdir(3) returns
        // entries valid until the next call, whose names are NUL-terminated,
        // and closedir(3) closes the descriptor with the stream.
        #[allow(unsafe_code)]
        unsafe {
            let raw = std::os::fd::IntoRawFd::into_raw_fd(own);
            let stream = libc::fdopendir(raw);
            if stream.is_null() {
                let e = io::Error::last_os_error();
                libc::close(raw);
                return Err(e);
            }
            loop {
                let entry = libc::readdir(stream);
                if entry.is_null() {
                    break;
                }
                let name = std::ffi::CStr::from_ptr((*entry).d_name.as_ptr());
                names.push(OsStr::from_bytes(name.to_bytes()).to_os_string());
            }
            libc::closedir(stream);
        }
        Ok(names)
    }

    /// Flushes the directory, so a rename in it survives a power cut.
    pub(super) fn sync(&self) -> io::Result<()> {
        self.reopened()?.sync_all()
    }

    /// The directory opened to be read: the walk's descriptor (`O_PATH`,
    /// which needs only search permission, so a 0711 directory is walked
    /// through and its files opened) can be neither listed nor flushed.
    fn reopened(&self) -> io::Result<File> {
        open_at(
            Some(&self.fd),
            OsStr::new("."),
            libc::O_RDONLY | libc::O_DIRECTORY,
        )
        .map(File::from)
    }
}

/// Descriptors of the directories on the way: enough to walk from, with
/// search permission only (a 0711 directory is walked through, not read).
const PATH_DIR: libc::c_int = libc::O_PATH | libc::O_DIRECTORY;

/// Pushes the names of `path` onto the stack `names` (the next to walk is
/// last), so its first name comes out first; `/` stands for "start again
/// from the root".
fn push_components(names: &mut Vec<OsString>, path: &Path) {
    let these: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::RootDir => Some(OsString::from("/")),
            Component::CurDir | Component::Prefix(_) => None,
            Component::ParentDir => Some(OsString::from("..")),
            Component::Normal(n) => Some(n.to_os_string()),
        })
        .collect();
    names.extend(these.into_iter().rev());
}

/// See [`Dir::stamp`].
pub(super) type Stamp = [i64; 6];

/// This process's user, and the group a file it creates in `dir` gets:
/// the directory's own when it is set-group-ID (as a Kubernetes `fsGroup`
/// volume is), else this process's.
pub(super) fn effective_ids(dir: &Dir) -> (u32, u32) {
    // SAFETY: getegid(2) takes no arguments and cannot fail.
    #[allow(unsafe_code)]
    let (uid, gid) = (our_euid(), unsafe { libc::getegid() });
    match lstat_at(&dir.fd, OsStr::new("")) {
        Ok(st) if st.st_mode & libc::S_ISGID != 0 => (uid, st.st_gid),
        _ => (uid, gid),
    }
}

/// The extended attribute that holds a file's POSIX access ACL.
const ACCESS_ACL: &std::ffi::CStr = c"system.posix_acl_access";

/// Whether `file` has an access ACL (`setfacl`): then its mode bits do not
/// say who may read it. Where ACLs are not supported, it has none.
pub(super) fn has_access_acl(file: &std::fs::File) -> bool {
    // SAFETY: fgetxattr(2) with a live descriptor, a NUL-terminated name
    // and no buffer (size 0: it only reports the value's size).
    #[allow(unsafe_code)]
    let size = unsafe {
        libc::fgetxattr(
            file.as_raw_fd(),
            ACCESS_ACL.as_ptr(),
            std::ptr::null_mut(),
            0,
        )
    };
    size > 0
}

/// Removes `file`'s access ACL, if it has one (a new file inherits its
/// directory's default ACL): its mode bits then say exactly who may read
/// it, as `--mode` meant.
pub(super) fn drop_access_acl(file: &std::fs::File) -> io::Result<()> {
    // SAFETY: fremovexattr(2) with a live descriptor and a NUL-terminated
    // name.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::fremovexattr(file.as_raw_fd(), ACCESS_ACL.as_ptr()) };
    match check(rc) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENODATA | libc::EOPNOTSUPP)) => Ok(()),
        other => other,
    }
}

/// Whether a link in `dir` may be followed: only root and this user can
/// change the directory. `Err` says who else can.
fn may_follow_links_in(dir: &OwnedFd) -> Result<(), String> {
    let st =
        lstat_at(dir, OsStr::new("")).map_err(|e| format!("that cannot be inspected ({e})"))?;
    let me = our_euid();
    if st.st_uid != 0 && st.st_uid != me {
        return Err(format!("owned by uid {}, who can change it", st.st_uid));
    }
    if st.st_mode & 0o022 != 0 {
        return Err(format!(
            "that its group or others can write (mode {:o})",
            st.st_mode & 0o7777
        ));
    }
    Ok(())
}

/// This process's effective user id.
pub(super) fn our_euid() -> u32 {
    // SAFETY: geteuid(2) takes no arguments and cannot fail.
    #[allow(unsafe_code)]
    unsafe {
        libc::geteuid()
    }
}

fn c_name(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `openat(2)` relative to `dir` (the current directory when `None`).
fn open_at(dir: Option<&OwnedFd>, name: &OsStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    open_at_mode(dir, name, flags, 0)
}

/// [`open_at`] with the mode a file it creates gets.
fn open_at_mode(
    dir: Option<&OwnedFd>,
    name: &OsStr,
    flags: libc::c_int,
    mode: u32,
) -> io::Result<OwnedFd> {
    let name = c_name(name)?;
    let dir = dir.map_or(libc::AT_FDCWD, AsRawFd::as_raw_fd);
    // SAFETY: openat(2) with a live directory descriptor (or AT_FDCWD) and
    // a NUL-terminated name; the descriptor it returns is new and ours.
    #[allow(unsafe_code)]
    unsafe {
        let fd = libc::openat(
            dir,
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        );
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// `fstatat(2)` of `name` in `dir` without following a link; an empty name
/// is `dir` itself.
fn lstat_at(dir: &OwnedFd, name: &OsStr) -> io::Result<libc::stat> {
    let c = c_name(name)?;
    let flags = libc::AT_SYMLINK_NOFOLLOW
        | if name.is_empty() {
            libc::AT_EMPTY_PATH
        } else {
            0
        };
    // SAFETY: fstatat(2) writes one stat into the zeroed struct passed by
    // exclusive reference; the descriptor is live and the name
    // NUL-terminated.
    #[allow(unsafe_code)]
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        check(libc::fstatat(dir.as_raw_fd(), c.as_ptr(), &mut st, flags))?;
        Ok(st)
    }
}

fn read_link_at(dir: &OwnedFd, name: &OsStr) -> io::Result<Vec<u8>> {
    let c = c_name(name)?;
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: readlinkat(2) writes at most `buf.len()` bytes into `buf`.
    #[allow(unsafe_code)]
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            c.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    buf.truncate(n);
    Ok(buf)
}

/// Makes the directory `name` in `dir` with exactly `mode`, and opens it.
///
/// It is made private (0700) and opened with `O_NOFOLLOW`; then, before its
/// mode is set (the umask would narrow 0711 to 0700 under umask 077, which
/// locks the `--owner` user out again) and anything goes in, it must still
/// be what was just made: a directory of this user's with nothing in it.
/// Whoever can change `dir` could otherwise swap another directory in
/// between the mkdir and the open, and have this process chmod it and
/// write there. Made by someone else before us, it is theirs: `None`, and
/// the walk opens it as any other.
fn make_dir(dir: &OwnedFd, name: &OsStr, mode: u32) -> io::Result<Option<OwnedFd>> {
    let c = c_name(name)?;
    // SAFETY: mkdirat(2) with a live directory descriptor and a
    // NUL-terminated name; umask(2) cannot fail. The umask is narrowed to
    // 077 for the mkdir only (no other thread creates files meanwhile): a
    // umask of 0777 would make the directory 000, which this user could
    // not open again to set its mode.
    #[allow(unsafe_code)]
    let rc = unsafe {
        let umask = libc::umask(0o077);
        let rc = libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), 0o700);
        libc::umask(umask);
        rc
    };
    match check(rc) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(None),
        other => other?,
    }
    let new = open_at(
        Some(dir),
        name,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
    )?;
    let st = lstat_at(&new, OsStr::new(""))?;
    let fresh = st.st_uid == our_euid() && st.st_nlink == 2 && {
        let names = Dir {
            fd: new.try_clone()?,
            made: true,
            above: Vec::new(),
        }
        .names()?;
        names.iter().all(|n| n == "." || n == "..")
    };
    if !fresh {
        return Err(io::Error::other(format!(
            "{name:?} was replaced by another directory as soon as it was made; whoever can change the directory holding it is racing aws-credfile"
        )));
    }
    // The set-group-ID bit it inherited (a Kubernetes fsGroup volume's)
    // stays, so what is made in it gets that group too.
    let mode = mode | (st.st_mode & libc::S_ISGID);
    // SAFETY: fchmod(2) of a live descriptor.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::fchmod(new.as_raw_fd(), mode as libc::mode_t) };
    check(rc)?;
    Ok(Some(new))
}
