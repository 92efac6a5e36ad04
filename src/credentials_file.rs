//! The shared credentials file: render one profile's section, merge it into
//! the file while keeping every other byte, write the result atomically with
//! the right mode and owner, and read it back for `--check`.
//!
//! Old SDKs open the file by path and read it whole, so a temporary file in
//! the same directory renamed over the target is all the atomicity they
//! need; nothing here ever truncates the file in place. The expiry is kept in
//! a whole-line `#` comment inside the section, which every parser skips, so
//! `--check` can answer from the file alone.
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

use std::ffi::{OsStr, OsString};
use std::fs::{self, DirBuilder, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::credentials::Credentials;
use crate::error::Error;
use crate::time::{format_duration, Timestamp};

/// The mode the file gets unless `--mode` says otherwise: only its owner may
/// read the keys.
pub const DEFAULT_MODE: u32 = 0o600;

/// The mode of a parent directory we have to create: the keys inside are
/// nobody else's business, not even their names.
const DIR_MODE: u32 = 0o700;

/// The mode of a parent directory we have to create when `--owner` names
/// another user: that user must be able to walk through it to its file (by
/// path), but still cannot list it or add anything to it. Making the user
/// the directory's owner instead would let it swap our files.
const DIR_MODE_FOR_OWNER: u32 = 0o711;

/// The largest file we are willing to read, and so to write. A real
/// credentials file is a few KiB; anything near this is not one, and reading
/// it whole into memory on every refresh would be a mistake.
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;

/// [`MAX_FILE_SIZE`] in words, for messages.
const MAX_FILE_SIZE_SHOWN: &str = "1 MiB";

/// How long a write waits for another aws-credfile process to finish its
/// own. A write holds the lock for milliseconds; a holder that takes this
/// long is stuck, and failing (the daemon retries) is better than hanging.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Starts the comment that records the expiry, and marks the lines we own.
const MARKER: &str = "aws-credfile:";

/// After the file name (and a leading dot), names the lock, temporary and
/// leftover files: `.<name>.aws-credfile.lock`, `.<name>.aws-credfile.<pid>.tmp`.
const OUR_SUFFIX: &str = ".aws-credfile";

/// What to do about a symbolic link at the target, after "is a symbolic
/// link; ".
const LINK_ADVICE: &str = "aws-credfile never reads or writes through one: point --file at the real file or remove the link";

const ACCESS_KEY_ID: &str = "aws_access_key_id";
const SECRET_ACCESS_KEY: &str = "aws_secret_access_key";
const SESSION_TOKEN: &str = "aws_session_token";

/// Who should own the written file (for --owner UID[:GID]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    /// `None` leaves the group as the file was created with.
    pub gid: Option<u32>,
}

/// Where and how to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSink {
    /// The credentials file. A symbolic link here is refused (see
    /// [`FileSink::write`]); its directories may be links.
    pub path: PathBuf,
    /// The section to own, `[profile]` (no `profile ` prefix: this is the
    /// credentials file, not the config file).
    pub profile: String,
    /// Permission bits of the written file. Defaults to [`DEFAULT_MODE`].
    pub mode: u32,
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
            mode: DEFAULT_MODE,
            owner: None,
        }
    }

    /// Start-up checks that need no network: a symbolic link at the target
    /// is a configuration mistake, refused before anything is fetched.
    /// Everything else is left to the first write, which reports it.
    pub fn preflight(&self) -> Result<(), Error> {
        if is_symlink(&self.path) {
            return Err(Error::Config(format!(
                "--file {} is a symbolic link; {LINK_ADVICE}",
                self.path.display()
            )));
        }
        Ok(())
    }

    /// Replace `profile`'s section in the file with `creds`, atomically,
    /// keeping every other byte; or keep the file as it is when, while these
    /// credentials were being fetched (from `fetch_began` on), another writer
    /// put credentials there that expire later (see [`Written`]).
    ///
    /// Missing parent directories are created, 0700 (0711 with an owner).
    /// The whole read-merge-rename holds the file's lock, waiting at most
    /// [`LOCK_WAIT`] for it. A symbolic link at the target is refused: it is
    /// opened with `O_NOFOLLOW`, so there is no window between a check and
    /// the open.
    pub fn write(
        &self,
        creds: &Credentials,
        now: Timestamp,
        fetch_began: Timestamp,
    ) -> Result<Written, Error> {
        validate_profile(&self.profile)?;
        validate(creds)?;
        let file_name = self.path.file_name().ok_or_else(|| {
            Error::Config(format!(
                "--file {} does not name a file; give a path such as /home/app/.aws/credentials",
                self.path.display()
            ))
        })?;
        let dir = parent_dir(&self.path);
        let dir_mode = match self.owner {
            Some(_) => DIR_MODE_FOR_OWNER,
            None => DIR_MODE,
        };
        create_dirs(dir, dir_mode)?;
        // Held until this function returns: closing it releases the lock.
        let _lock = lock(&dir.join(our_name(file_name, ".lock")), LOCK_WAIT)?;
        remove_leftovers(dir, file_name);

        let existing = read_text(&self.path)?.unwrap_or_default();
        let found = inspect(&existing, &self.profile);
        // Another writer wrote while we were fetching, keys that outlive
        // ours: theirs stay, so the profile never goes back to older keys. A
        // section written before our fetch began is replaced whatever its
        // expiry: it may be another role's, or from a longer --duration.
        let written_meanwhile = found.refreshed.is_some_and(|r| r >= fetch_began);
        if let Some(expires) = found.expires {
            if written_meanwhile
                && found.access_key_id
                && found.secret_access_key
                && expires > creds.expiration
            {
                return Ok(Written::KeptNewer { expires });
            }
        }
        let merged = merge(
            &existing,
            &self.profile,
            &render_section(&self.profile, creds, now),
        );
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
        let temp = dir.join(our_name(file_name, &format!(".{}.tmp", std::process::id())));
        write_temp(&temp, |f| fill(f, merged.as_bytes(), self.mode, self.owner))?;
        if let Err(e) = fs::rename(&temp, &self.path) {
            // The target is untouched; do not leave the keys lying around
            // under another name. The rename error is the one worth telling.
            let _ = fs::remove_file(&temp);
            return Err(Error::io("replace", &self.path, e));
        }
        // Without this the rename may not survive a power cut, and after a
        // reboot the app would find the old credentials or none.
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io("flush the directory", dir, e))?;
        Ok(Written::Replaced)
    }
}

/// The directory holding `path`; a bare file name lives in `.`.
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `.<name>.aws-credfile<tail>`: hidden, so directory listings stay tidy.
fn our_name(file_name: &OsStr, tail: &str) -> OsString {
    let mut name = OsString::from(".");
    name.push(file_name);
    name.push(OUR_SUFFIX);
    name.push(tail);
    name
}

/// Whether `name` is one of our temporary files for `file_name`:
/// `.<name>.aws-credfile.<digits>.tmp`, or `.<name>.aws-credfile.tmp` as
/// versions before the lock named it.
fn is_our_temp(name: &OsStr, file_name: &OsStr) -> bool {
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

/// Removes our temporary files next to the target. Called with the lock
/// held, when no other writer is between creating its temporary file and
/// renaming it, so any found are what a killed writer left. Best effort: a
/// leftover that cannot be removed is in nobody's way, since every writer
/// uses its own name.
fn remove_leftovers(dir: &Path, file_name: &OsStr) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if is_our_temp(&entry.file_name(), file_name) {
            // Unlinking a planted symlink removes the link, never its target.
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Whether `path` itself (not what it points to) is a symbolic link.
fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Creates the missing directories leading to `dir`, each with exactly
/// `mode`; directories that exist are never changed. The umask would narrow
/// `mode` (0711 under umask 077 is 0700, which locks the --owner user out
/// again), so it is set once more on the new directory itself, opened with
/// `O_NOFOLLOW` so that a link swapped in meanwhile is not what changes.
fn create_dirs(dir: &Path, mode: u32) -> Result<(), Error> {
    let missing: Vec<&Path> = dir
        .ancestors()
        .filter(|p| !p.as_os_str().is_empty())
        .take_while(
            |p| matches!(fs::symlink_metadata(p), Err(e) if e.kind() == io::ErrorKind::NotFound),
        )
        .collect();
    for new in missing.into_iter().rev() {
        match DirBuilder::new().mode(mode).create(new) {
            Ok(()) => {}
            // Made by someone else meanwhile: theirs, so left alone.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io("create the directory", new, e)),
        }
        OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(new)
            .and_then(|d| d.set_permissions(fs::Permissions::from_mode(mode)))
            .map_err(|e| Error::io("set the mode of the directory", new, e))?;
    }
    Ok(())
}

/// Opens (creating it 0600 if needed) the lock file at `path` and takes an
/// exclusive `flock` on it, waiting at most `wait`. The lock goes with the
/// returned file: it is released when the file is dropped, or when the
/// process dies, so a killed writer never leaves it held.
fn lock(path: &Path, wait: Duration) -> Result<File, Error> {
    // O_NOFOLLOW: a planted link would make us create or lock a file of the
    // attacker's choosing. O_NONBLOCK: a FIFO planted here must not hang
    // open(); it is refused below.
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| {
            let e = if is_symlink(path) {
                io::Error::other(
                    "it is a symbolic link, which aws-credfile never follows; remove it",
                )
            } else {
                e
            };
            Error::io("open the lock file", path, e)
        })?;
    let regular = file
        .metadata()
        .map_err(|e| Error::io("inspect the lock file", path, e))?
        .is_file();
    if !regular {
        return Err(Error::io(
            "use the lock file",
            path,
            io::Error::other("it is not a regular file; remove it"),
        ));
    }
    let deadline = Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            // Polled often: a writer releases the lock for only as long as
            // it takes to fetch its next credentials, and one polling slowly
            // could miss every such gap. Waits are rare and short, so the
            // wake-ups cost nothing that matters.
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(Error::io(
                    "lock",
                    path,
                    io::Error::new(
                        io::ErrorKind::WouldBlock,
                        format!(
                            "another process has held it for over {}; is another aws-credfile for this file stuck?",
                            format_duration(wait)
                        ),
                    ),
                ))
            }
            Err(TryLockError::Error(e)) => return Err(Error::io("lock", path, e)),
        }
    }
}

/// Refuses a profile name that would not read back as its own `[name]`
/// header: empty, with brackets, control characters or surrounding
/// whitespace. Such a name would never match on the next write, and a new
/// section would be appended every refresh. The configuration may call this
/// to reject `--profile` early; `write` calls it as a last line of defence.
pub fn validate_profile(name: &str) -> Result<(), Error> {
    let why = if name.is_empty() {
        Some("it is empty".to_string())
    } else if name.len() > 128 {
        Some("it is longer than 128 characters".to_string())
    } else if name != name.trim() {
        Some("it starts or ends with whitespace".to_string())
    } else if let Some(c) = name
        .chars()
        .find(|c| c.is_control() || matches!(c, '[' | ']' | '#' | ';' | '='))
    {
        // Brackets end the header early; '#' and ';' start comments in some
        // parsers; '=' makes some read the line as a key.
        Some(format!("it contains {c:?}"))
    } else if name.starts_with("profile ") || name.starts_with("sso-session ") {
        Some(
            "the credentials file does not use the \"profile \" or \"sso-session \" prefixes"
                .to_string(),
        )
    } else {
        None
    };
    match why {
        Some(why) => Err(Error::Config(format!(
            "--profile {name:?} cannot be a section name in a credentials file: {why}; use a plain name such as default"
        ))),
        None => Ok(()),
    }
}

/// Refuses credentials the file cannot hold faithfully. Parsers trim values
/// and end them at a line break, so whitespace or a control character would
/// change a key or inject lines into the file; an empty value breaks some
/// old parsers outright. The sources should never produce such values; this
/// is the last line of defence before they reach the disk.
fn validate(creds: &Credentials) -> Result<(), Error> {
    check_value("access key id", &creds.access_key_id)?;
    check_value("secret access key", creds.secret_access_key.expose())?;
    if let Some(token) = &creds.session_token {
        // An empty token means "no token" (long-term keys); render omits it.
        if !token.is_empty() {
            check_value("session token", token.expose())?;
        }
    }
    Ok(())
}

/// Never puts `value` in the message: it may be a secret.
fn check_value(what: &str, value: &str) -> Result<(), Error> {
    let problem = if value.is_empty() {
        "is empty"
    } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        "contains whitespace or a control character"
    } else {
        return Ok(());
    };
    Err(Error::BadResponse {
        from: "the credentials source".into(),
        status: 200,
        detail: format!(
            "the {what} {problem}, which a credentials file cannot hold; not writing it"
        ),
    })
}

/// Creates `temp` exclusively with mode 0600 (so it is never readable by
/// others, whatever `mode` ends up being), then lets `fill` set mode and
/// owner, write and flush. On failure the temporary file is removed.
fn write_temp(
    temp: &Path,
    fill: impl FnOnce(&mut File) -> Result<(), (&'static str, io::Error)>,
) -> Result<(), Error> {
    let mut file = create_exclusive(temp)?;
    let result = fill(&mut file).map_err(|(action, e)| Error::io(action, temp, e));
    drop(file);
    if result.is_err() {
        let _ = fs::remove_file(temp);
    }
    result
}

/// Sets mode and owner before the data goes in, so the bytes are never
/// behind looser permissions than asked for, then writes and flushes.
fn fill(
    file: &mut File,
    data: &[u8],
    mode: u32,
    owner: Option<Owner>,
) -> Result<(), (&'static str, io::Error)> {
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

/// Opens `temp` with `O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC` and mode 0600. If
/// something is already there (planted after the leftovers were cleared,
/// since no writer of ours holds this name now), it is unlinked, which
/// removes a link itself and never its target, and the exclusive create is
/// tried once more. A second collision means someone is racing us, and we
/// give up rather than loop.
fn create_exclusive(temp: &Path) -> Result<File, Error> {
    let open = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(temp)
    };
    match open() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            match fs::remove_file(temp) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("remove the stale temporary file", temp, e)),
            }
            open().map_err(|e| Error::io("create the temporary file", temp, e))
        }
        other => other.map_err(|e| Error::io("create the temporary file", temp, e)),
    }
}

/// The file's text, `None` if it does not exist. Refuses a symbolic link,
/// directories and other non-regular files, files over [`MAX_FILE_SIZE`]
/// and text that is not UTF-8 (merging into bytes we do not understand
/// could mangle them).
fn read_text(path: &Path) -> Result<Option<String>, Error> {
    // O_NOFOLLOW: the link is refused by the open itself, so nothing can be
    // swapped in between a check and the read. O_NONBLOCK so that a FIFO at
    // the path cannot hang us in open(); it has no effect on the regular
    // files we go on to read.
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        // ELOOP alone reads "too many levels of symbolic links".
        Err(_) if is_symlink(path) => {
            return Err(Error::io(
                "use",
                path,
                io::Error::other(format!("it is a symbolic link; {LINK_ADVICE}")),
            ))
        }
        Err(e) => return Err(Error::io("open", path, e)),
    };
    let meta = file.metadata().map_err(|e| Error::io("inspect", path, e))?;
    let kind = meta.file_type();
    if kind.is_dir() {
        return Err(Error::Config(format!(
            "{} is a directory; --file must name a file, such as {}",
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
    String::from_utf8(bytes).map(Some).map_err(|_| {
        Error::io(
            "read",
            path,
            io::Error::new(
                io::ErrorKind::InvalidData,
                "it is not UTF-8 text; fix or move it so its profiles are not mangled",
            ),
        )
    })
}

/// The section text for one profile ("[name]\n...").
///
/// The expiry comment comes right after the header, before the keys, so it
/// is never part of the trailing comments [`merge`] leaves in place. An empty
/// session token is treated as none, since old parsers reject empty values.
pub fn render_section(profile: &str, creds: &Credentials, now: Timestamp) -> String {
    let mut out = format!(
        "[{profile}]\n# {MARKER} expires {}, refreshed {}; edits to this section are overwritten\n\
         {ACCESS_KEY_ID} = {}\n{SECRET_ACCESS_KEY} = {}\n",
        creds.expiration.to_rfc3339(),
        now.to_rfc3339(),
        creds.access_key_id,
        creds.secret_access_key.expose(),
    );
    if let Some(token) = creds.session_token.as_ref().filter(|t| !t.is_empty()) {
        out.push_str(&format!("{SESSION_TOKEN} = {}\n", token.expose()));
    }
    out
}

/// What one line of the file is, as the SDK parsers would see it.
#[derive(Debug, PartialEq, Eq)]
enum Line<'a> {
    /// `[name]`, surrounding whitespace allowed; `None` for a malformed
    /// header (no `]`), which still ends the section before it.
    Header(Option<&'a str>),
    /// Our own expiry comment.
    Marker,
    /// Any other whole-line `#` or `;` comment.
    Comment,
    Blank,
    /// A `key = value` line, or anything else a parser would read.
    Entry,
}

/// Whitespace as the parsers trim it, plus a byte-order mark, which
/// editors on other systems put before the first header.
fn trim_line(line: &str) -> &str {
    line.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
}

fn classify(line: &str) -> Line<'_> {
    let t = trim_line(line);
    if t.is_empty() {
        Line::Blank
    } else if let Some(body) = t.strip_prefix(['#', ';']) {
        if body
            .trim_start_matches(['#', ';'])
            .trim_start()
            .starts_with(MARKER)
        {
            Line::Marker
        } else {
            Line::Comment
        }
    } else if let Some(inner) = t.strip_prefix('[') {
        Line::Header(inner.find(']').map(|end| inner[..end].trim()))
    } else {
        Line::Entry
    }
}

/// One occurrence of our profile's section, as line indices: the header is
/// at `start`, and `start..body_end` is replaced. The comments and blank
/// lines from `body_end` to the next header are kept.
#[derive(Debug)]
struct Span {
    start: usize,
    body_end: usize,
}

/// Finds every section named `profile` among `lines`.
///
/// Comments and blank lines at the end of a section are treated as
/// introducing what follows (people write a comment above the header it is
/// about), so they are left in place. Everything from the header to the
/// last key or marker is ours and replaced, comments in between included:
/// the marker says edits to this section are overwritten.
fn find_sections(lines: &[&str], profile: &str) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut current: Option<Span> = None;
    for (i, line) in lines.iter().enumerate() {
        match classify(line) {
            Line::Header(name) => {
                spans.extend(current.take());
                if name == Some(profile) {
                    current = Some(Span {
                        start: i,
                        body_end: i + 1,
                    });
                }
            }
            Line::Entry | Line::Marker => {
                if let Some(span) = current.as_mut() {
                    span.body_end = i + 1;
                }
            }
            Line::Comment | Line::Blank => {}
        }
    }
    spans.extend(current);
    spans
}

/// `existing` with `profile`'s section replaced by `section` (or appended
/// when absent).
///
/// Every line outside the section is kept byte for byte, including CRLF
/// endings and a missing final newline (the result always ends in one).
/// When the file's first line ends in CRLF, `section` is written with CRLF
/// too, so the file keeps one convention.
///
/// When the profile appears more than once, the first occurrence is
/// replaced and the later ones are dropped: aws-sdk-go merges duplicate
/// sections with later keys winning, so a stale duplicate would shadow the
/// fresh keys, and botocore refuses a file with duplicate sections outright.
pub fn merge(existing: &str, profile: &str, section: &str) -> String {
    // A file of one unterminated line ending in CR counts as CRLF: the LF
    // added to end it makes that line CRLF, and the next merge must agree.
    let crlf = existing
        .split_inclusive('\n')
        .next()
        .is_some_and(|first| first.ends_with('\r') || first.ends_with("\r\n"));
    let eol = if crlf { "\r\n" } else { "\n" };
    let mut section = section.replace("\r\n", "\n");
    if !section.ends_with('\n') {
        section.push('\n');
    }
    if crlf {
        section = section.replace('\n', "\r\n");
    }

    let lines: Vec<&str> = existing.split_inclusive('\n').collect();
    let spans = find_sections(&lines, profile);
    let mut out = String::with_capacity(existing.len() + section.len() + 2);
    let mut spans_iter = spans.iter().peekable();
    let mut i = 0;
    while i < lines.len() {
        if let Some(span) = spans_iter.next_if(|s| s.start == i) {
            if span.start == spans[0].start {
                out.push_str(&section);
            }
            i = span.body_end;
            continue;
        }
        out.push_str(lines[i]);
        i += 1;
    }

    // Ends the last line; a trailing CR only lacks its LF.
    let terminate = |out: &mut String| {
        if !out.ends_with('\n') {
            out.push_str(if out.ends_with('\r') { "\n" } else { eol });
        }
    };
    if spans.is_empty() {
        if !out.is_empty() {
            terminate(&mut out);
            // A blank line between sections, as people write them.
            if classify(lines.last().copied().unwrap_or_default()) != Line::Blank {
                out.push_str(eol);
            }
        }
        out.push_str(&section);
    } else {
        terminate(&mut out);
    }
    out
}

/// What `check` found in the profile's section(s).
#[derive(Default)]
struct Found {
    sections: usize,
    access_key_id: bool,
    secret_access_key: bool,
    expires: Option<Timestamp>,
    /// When the section was last written, from the same marker.
    refreshed: Option<Timestamp>,
    /// A marker line was there but its timestamp did not parse (only
    /// reported when no other marker did).
    bad_marker: bool,
}

/// Reads `profile` the way aws-sdk-go does: every section of that name,
/// later keys overriding earlier ones. Values are only tested for presence,
/// so no secret is ever held here.
fn inspect(text: &str, profile: &str) -> Found {
    let mut found = Found::default();
    let mut inside = false;
    for line in text.split_inclusive('\n') {
        match classify(line) {
            Line::Header(name) => {
                inside = name == Some(profile);
                found.sections += usize::from(inside);
            }
            _ if !inside => {}
            Line::Marker => match parse_marker(line) {
                Some(t) => {
                    found.expires = Some(t);
                    found.refreshed = marker_time(line, "refreshed");
                }
                None => found.bad_marker = true,
            },
            Line::Entry => {
                let Some((key, value)) = trim_line(line).split_once('=') else {
                    continue;
                };
                let (key, present) = (key.trim(), !value.trim().is_empty());
                if key.eq_ignore_ascii_case(ACCESS_KEY_ID) {
                    found.access_key_id = present;
                } else if key.eq_ignore_ascii_case(SECRET_ACCESS_KEY) {
                    found.secret_access_key = present;
                }
            }
            Line::Comment | Line::Blank => {}
        }
    }
    found
}

/// The time after `expires` in a marker line, such as
/// `# aws-credfile: expires 2024-01-01T00:00:00Z, refreshed ...`. Tolerates
/// any spacing and punctuation around the words.
fn parse_marker(line: &str) -> Option<Timestamp> {
    marker_time(line, "expires")
}

/// The time after the word `word` (`expires`, `refreshed`) in a marker line.
fn marker_time(line: &str, word: &str) -> Option<Timestamp> {
    let mut words = line
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|w| !w.is_empty());
    words.find(|w| w.eq_ignore_ascii_case(word))?;
    Timestamp::parse_rfc3339(words.next()?).ok()
}

/// For `--check`: Ok(expiration) iff the file at `path` has `profile` with
/// access key, secret key and the recorded expiry at least `min_valid`
/// after `now`; otherwise `Err(Error::Stale(..))` saying why, or an `Io` error
/// if unreadable for another reason.
pub fn check(
    path: &Path,
    profile: &str,
    now: Timestamp,
    min_valid: Duration,
) -> Result<Timestamp, Error> {
    let shown = path.display();
    let Some(text) = read_text(path)? else {
        return Err(Error::Stale(format!(
            "{shown} does not exist yet; aws-credfile has not written it (is it running with this --file?)"
        )));
    };
    let found = inspect(&text, profile);
    let missing = |what: &str| {
        Error::Stale(format!(
            "profile [{profile}] in {shown} has no {what}; aws-credfile rewrites it on its next refresh"
        ))
    };
    if found.sections == 0 {
        return Err(Error::Stale(format!(
            "{shown} has no [{profile}] profile; aws-credfile has not written it yet (is it running with this --profile?)"
        )));
    }
    if !found.access_key_id {
        return Err(missing(ACCESS_KEY_ID));
    }
    if !found.secret_access_key {
        return Err(missing(SECRET_ACCESS_KEY));
    }
    let Some(expires) = found.expires else {
        let why = if found.bad_marker {
            "readable expiry in its \"# aws-credfile: expires ...\" comment"
        } else {
            "\"# aws-credfile: expires ...\" comment, so its expiry is unknown (was it written by aws-credfile?)"
        };
        return Err(missing(why));
    };
    if expires < now.plus(min_valid) {
        let when = if expires <= now {
            format!(
                "expired at {expires}, {} ago",
                format_duration(expires.until(now))
            )
        } else {
            format!(
                "expire at {expires}, in {}",
                format_duration(now.until(expires))
            )
        };
        return Err(Error::Stale(format!(
            "the credentials for profile [{profile}] in {shown} {when}, less than --min-valid {}; is aws-credfile running and refreshing?",
            format_duration(min_valid)
        )));
    }
    Ok(expires)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Secret;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::sync::atomic::{AtomicUsize, Ordering};

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY";
    const TOKEN: &str = "FwoGZXIvYXdzEBYaDEXAMPLETOKEN+/=";

    /// 2024-01-01T00:00:00Z, the fixed "now" of these tests.
    fn now() -> Timestamp {
        Timestamp::from_unix(1_704_067_200)
    }

    fn creds(token: Option<&str>) -> Credentials {
        Credentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: Secret::new(SECRET),
            session_token: token.map(Secret::new),
            expiration: now().plus(Duration::from_secs(3600)),
            account_id: None,
            role_arn: None,
        }
    }

    fn creds_expiring(secs: u64) -> Credentials {
        Credentials {
            expiration: now().plus(Duration::from_secs(secs)),
            ..creds(Some(TOKEN))
        }
    }

    fn section(profile: &str) -> String {
        render_section(profile, &creds(Some(TOKEN)), now())
    }

    /// A scratch directory removed when the test ends (no tempfile crate).
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!(
                "aws-credfile-test-{}-{name}-{n}",
                std::process::id()
            ));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).expect("the system temp directory is writable");
            TempDir(dir)
        }

        fn join(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn mode_of(path: &Path) -> u32 {
        fs::symlink_metadata(path)
            .expect("path exists")
            .permissions()
            .mode()
            & 0o777
    }

    fn read(path: &Path) -> String {
        fs::read_to_string(path).expect("file is readable")
    }

    /// Names in a directory, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    const LOCK: &str = ".credentials.aws-credfile.lock";

    /// This process's temporary file name for `credentials`.
    fn our_temp() -> String {
        format!(".credentials.aws-credfile.{}.tmp", std::process::id())
    }

    // ---- render ----

    #[test]
    fn renders_exactly() {
        assert_eq!(
            section("default"),
            "[default]\n\
             # aws-credfile: expires 2024-01-01T01:00:00Z, refreshed 2024-01-01T00:00:00Z; edits to this section are overwritten\n\
             aws_access_key_id = ASIAEXAMPLE\n\
             aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY\n\
             aws_session_token = FwoGZXIvYXdzEBYaDEXAMPLETOKEN+/=\n"
        );
    }

    #[test]
    fn renders_without_token_when_absent_or_empty() {
        let expected = "[app]\n\
             # aws-credfile: expires 2024-01-01T01:00:00Z, refreshed 2024-01-01T00:00:00Z; edits to this section are overwritten\n\
             aws_access_key_id = ASIAEXAMPLE\n\
             aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY\n";
        assert_eq!(render_section("app", &creds(None), now()), expected);
        assert_eq!(render_section("app", &creds(Some("")), now()), expected);
    }

    #[test]
    fn rendered_marker_parses_back() {
        let text = section("default");
        let marker = text.lines().nth(1).expect("marker line");
        assert_eq!(classify(marker), Line::Marker);
        assert_eq!(
            parse_marker(marker),
            Some(now().plus(Duration::from_secs(3600)))
        );
    }

    // ---- merge ----

    const OTHER: &str = "[other]\naws_access_key_id = OTHER\naws_secret_access_key = othersecret\n";

    #[test]
    fn merge_into_empty_file() {
        assert_eq!(
            merge("", "default", &section("default")),
            section("default")
        );
    }

    #[test]
    fn merge_appends_when_absent() {
        let out = merge(OTHER, "default", &section("default"));
        assert_eq!(out, format!("{OTHER}\n{}", section("default")));
        // A trailing blank line already separates: no second one.
        let out = merge(&format!("{OTHER}\n"), "default", &section("default"));
        assert_eq!(out, format!("{OTHER}\n{}", section("default")));
    }

    #[test]
    fn merge_profile_first() {
        let existing =
            format!("[default]\naws_access_key_id = OLD\naws_secret_access_key = old\n\n{OTHER}");
        let out = merge(&existing, "default", &section("default"));
        assert_eq!(out, format!("{}\n{OTHER}", section("default")));
    }

    #[test]
    fn merge_profile_middle() {
        let existing = format!(
            "# my credentials\n{OTHER}\n[default]\naws_access_key_id = OLD\naws_secret_access_key = old\naws_session_token = oldtoken\n\n[third]\nregion = x\n"
        );
        let out = merge(&existing, "default", &section("default"));
        assert_eq!(
            out,
            format!(
                "# my credentials\n{OTHER}\n{}\n[third]\nregion = x\n",
                section("default")
            )
        );
    }

    #[test]
    fn merge_profile_last() {
        let existing = format!("{OTHER}\n[default]\naws_access_key_id = OLD\n");
        let out = merge(&existing, "default", &section("default"));
        assert_eq!(out, format!("{OTHER}\n{}", section("default")));
    }

    #[test]
    fn merge_comments() {
        let existing = "; top of file\n\
                        [default]\n\
                        # stale note inside our section\n\
                        aws_access_key_id = OLD\n\
                        # between keys\n\
                        aws_secret_access_key = old\n\
                        \n\
                        # this comment introduces [other]\n\
                        [other]\n\
                        # other's own comment\n\
                        aws_access_key_id = OTHER\n";
        let out = merge(existing, "default", &section("default"));
        assert_eq!(
            out,
            format!(
                "; top of file\n{}\n# this comment introduces [other]\n[other]\n# other's own comment\naws_access_key_id = OTHER\n",
                section("default")
            )
        );
    }

    #[test]
    fn merge_drops_old_marker_even_at_section_end() {
        // A section left with only our marker (keys deleted by hand): the
        // marker is ours, not a comment for the next section.
        let existing = "[default]\n# aws-credfile: expires 2020-01-01T00:00:00Z\n\n[other]\n";
        let out = merge(existing, "default", &section("default"));
        assert_eq!(out, format!("{}\n[other]\n", section("default")));
        assert_eq!(out.matches(MARKER).count(), 1);
    }

    #[test]
    fn merge_keeps_crlf_and_writes_crlf_section() {
        let existing = "[other]\r\naws_access_key_id = OTHER\r\n\r\n[default]\r\naws_access_key_id = OLD\r\n\r\n[third]\r\nx = y\r\n";
        let out = merge(existing, "default", &section("default"));
        let ours = section("default").replace('\n', "\r\n");
        assert_eq!(
            out,
            format!("[other]\r\naws_access_key_id = OTHER\r\n\r\n{ours}\r\n[third]\r\nx = y\r\n")
        );
        // Mixed endings elsewhere are kept as they are.
        let mixed = "[other]\nx = 1\r\ny = 2\n";
        let out = merge(mixed, "default", &section("default"));
        assert_eq!(out, format!("{mixed}\n{}", section("default")));
    }

    #[test]
    fn merge_without_trailing_newline() {
        let out = merge("[other]\nx = 1", "default", &section("default"));
        assert_eq!(out, format!("[other]\nx = 1\n\n{}", section("default")));
        let out = merge("[other]\r\nx = 1", "default", &section("default"));
        assert!(
            out.starts_with("[other]\r\nx = 1\r\n\r\n[default]\r\n"),
            "{out:?}"
        );
        let out = merge(
            "[default]\naws_access_key_id = OLD",
            "default",
            &section("default"),
        );
        assert_eq!(out, section("default"));
        let out = merge(
            "[default]\nx = 1\n# trailing",
            "default",
            &section("default"),
        );
        assert_eq!(out, format!("{}# trailing\n", section("default")));
        let out = merge(
            "[default]\nx = 1\n\n[other]\nx = 2",
            "default",
            &section("default"),
        );
        assert_eq!(out, format!("{}\n[other]\nx = 2\n", section("default")));
    }

    #[test]
    fn merge_duplicates_replaces_first_drops_rest() {
        let existing = "[default]\naws_access_key_id = ONE\n\n[other]\nx = 1\n\n# about the duplicate\n[default]\naws_access_key_id = TWO\n\n[ default ]\naws_access_key_id = THREE\n";
        let out = merge(existing, "default", &section("default"));
        assert_eq!(
            out,
            format!(
                "{}\n[other]\nx = 1\n\n# about the duplicate\n\n",
                section("default")
            )
        );
        assert!(!out.contains("TWO") && !out.contains("THREE"), "{out}");
    }

    #[test]
    fn merge_header_whitespace_and_exact_names() {
        let existing = "\u{feff}  [ default ]  \r\naws_access_key_id = OLD\r\n";
        let out = merge(existing, "default", &section("default"));
        assert_eq!(out, section("default").replace('\n', "\r\n"));
        // Not ours: other names, another case, the config-file prefix, and a
        // header without its bracket.
        for header in ["[profile default]", "[Default]", "[default-2]", "[default"] {
            let existing = format!("{header}\nkeep = me\n");
            let out = merge(&existing, "default", &section("default"));
            assert_eq!(
                out,
                format!("{existing}\n{}", section("default")),
                "{header}"
            );
        }
        // A tab and trailing junk after the bracket still name the section.
        let out = merge(
            "\t[default] ; note\nx = 1\n",
            "default",
            &section("default"),
        );
        assert_eq!(out, section("default"));
    }

    #[test]
    fn merge_is_idempotent() {
        let inputs = [
            "",
            OTHER,
            "# c\n[default]\nx = 1\n# tail\n\n[other]\ny = 2",
            "[a]\r\nx = 1\r\n[default]\r\n\r\n",
            "[default]\n[default]\n[default]",
        ];
        for input in inputs {
            let once = merge(input, "default", &section("default"));
            let twice = merge(&once, "default", &section("default"));
            assert_eq!(once, twice, "{input:?}");
        }
    }

    #[test]
    fn merge_never_panics_on_odd_input() {
        let odd = [
            "",
            "\n",
            "\r",
            "\r\n",
            "[",
            "]",
            "[]",
            "[[default]]",
            "[\u{e9}]\n",
            "\u{feff}",
            "\0",
            "a\rb\rc",
            "[default]\r",
            "= =\n[default] = x",
            "\u{1F600}[default]\u{1F600}",
        ];
        for existing in odd {
            for profile in ["default", "", "]", "[", "a]b", "\n", "\u{e9}"] {
                for section in ["", "x", "[p]\nk = v", "\r\n"] {
                    let out = merge(existing, profile, section);
                    assert!(out.ends_with('\n'), "{existing:?} {profile:?} {section:?}");
                }
            }
        }
    }

    /// A small deterministic xorshift generator, enough to vary test input.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// Lines "not ours": by a simple independent reading, everything outside
    /// a section headed `[profile]`. Compared without their line endings,
    /// since the last line may gain one.
    fn outside_lines<'a>(text: &'a str, profile: &str) -> Vec<&'a str> {
        let mut inside = false;
        let mut kept = Vec::new();
        for line in text.split_inclusive('\n') {
            let t = line.trim();
            if t.starts_with('[') {
                inside = t
                    .strip_prefix('[')
                    .and_then(|r| r.split_once(']'))
                    .map(|(n, _)| n.trim())
                    == Some(profile);
            }
            if !inside {
                kept.push(line.trim_end_matches('\n').trim_end_matches('\r'));
            }
        }
        kept
    }

    /// Only the headers and `key = value` lines.
    fn entries<'a>(lines: &[&'a str]) -> Vec<&'a str> {
        lines
            .iter()
            .copied()
            .filter(|l| matches!(classify(l), Line::Header(_) | Line::Entry))
            .collect()
    }

    #[test]
    fn merge_preserves_every_other_line_for_generated_files() {
        const PIECES: &[&str] = &[
            "[default]",
            " [ default ] ",
            "[other]",
            "[profile default]",
            "[default",
            "[]",
            "aws_access_key_id = A",
            "aws_secret_access_key = B",
            "region=eu-west-1",
            "# comment",
            "; comment",
            "# aws-credfile: expires 2020-01-01T00:00:00Z",
            "",
            "   ",
            "garbage without equals",
            "\u{e9}\u{1F600} = \u{feff}",
        ];
        const ENDINGS: &[&str] = &["\n", "\r\n", "\n", "\n"];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let new_section = section("default");
        for round in 0..3000 {
            let mut existing = String::new();
            for _ in 0..rng.below(14) {
                existing.push_str(PIECES[rng.below(PIECES.len())]);
                existing.push_str(ENDINGS[rng.below(ENDINGS.len())]);
            }
            if rng.below(3) == 0 {
                // Drop the final line ending.
                let trimmed = existing.trim_end_matches(['\r', '\n']).len();
                existing.truncate(trimmed);
            }
            let out = merge(&existing, "default", &new_section);

            // Headers and entries outside our section: exactly the same.
            let before = outside_lines(&existing, "default");
            let after = outside_lines(&out, "default");
            assert_eq!(
                entries(&before),
                entries(&after),
                "round {round}: {existing:?} -> {out:?}"
            );
            // Comments and blank lines too, in order, though the trailing
            // comments of a dropped duplicate now follow the section before.
            let mut out_lines = out.lines();
            for line in &before {
                assert!(
                    out_lines.any(|l| l.trim_end_matches('\r') == *line),
                    "round {round}: lost {line:?}: {existing:?} -> {out:?}"
                );
            }

            assert!(out.ends_with('\n'), "round {round}: {out:?}");
            let kept_markers = before.iter().filter(|l| l.contains(MARKER)).count();
            assert_eq!(
                out.matches(MARKER).count(),
                kept_markers + 1,
                "round {round}: {out:?}"
            );
            let found = inspect(&out, "default");
            assert_eq!(found.sections, 1, "round {round}: {out:?}");
            assert!(found.access_key_id && found.secret_access_key);
            assert_eq!(found.expires, Some(now().plus(Duration::from_secs(3600))));
            assert_eq!(
                merge(&out, "default", &new_section),
                out,
                "round {round}: not idempotent"
            );
        }
    }

    // ---- write ----

    #[test]
    fn write_creates_missing_directory_and_file() {
        let tmp = TempDir::new("create");
        let path = tmp.join("home/.aws/credentials");
        FileSink::new(&path, "default")
            .write(&creds(Some(TOKEN)), now(), now())
            .expect("write succeeds");
        assert_eq!(read(&path), section("default"));
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(mode_of(&tmp.join("home/.aws")), 0o700);
        assert_eq!(mode_of(&tmp.join("home")), 0o700);
        assert_eq!(names(&tmp.join("home/.aws")), [LOCK, "credentials"]);
        assert_eq!(mode_of(&tmp.join("home/.aws").join(LOCK)), 0o600);
    }

    #[test]
    fn write_with_owner_creates_traversable_directories() {
        let tmp = TempDir::new("ownerdirs");
        fs::set_permissions(&tmp.0, fs::Permissions::from_mode(0o750)).expect("chmod");
        let me = fs::metadata(&tmp.0).expect("dir exists");
        let sink = FileSink {
            owner: Some(Owner {
                uid: me.uid(),
                gid: None,
            }),
            ..FileSink::new(tmp.join("a/b/credentials"), "default")
        };
        sink.write(&creds(None), now(), now())
            .expect("write succeeds");
        assert_eq!(mode_of(&tmp.join("a")), 0o711);
        assert_eq!(mode_of(&tmp.join("a/b")), 0o711);
        assert_eq!(
            mode_of(&tmp.0),
            0o750,
            "an existing directory is not changed"
        );
    }

    #[test]
    fn write_keeps_other_profiles_and_sets_mode() {
        let tmp = TempDir::new("keep");
        let path = tmp.join("credentials");
        let existing = format!(
            "# hand-written\n# with a CRLF line\r\n{OTHER}\n[default]\naws_access_key_id = OLD\n"
        );
        fs::write(&path, &existing).expect("seed file");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let sink = FileSink {
            mode: 0o640,
            ..FileSink::new(&path, "default")
        };
        sink.write(&creds(Some(TOKEN)), now(), now())
            .expect("write succeeds");
        assert_eq!(
            read(&path),
            merge(&existing, "default", &section("default"))
        );
        assert!(read(&path).starts_with(&format!(
            "# hand-written\n# with a CRLF line\r\n{OTHER}\n[default]\n"
        )));
        assert_eq!(mode_of(&path), 0o640);
        // Set-id bits are never applied.
        let sink = FileSink {
            mode: 0o4755,
            ..sink
        };
        sink.write(&creds(Some(TOKEN)), now(), now())
            .expect("write succeeds");
        assert_eq!(
            fs::metadata(&path).expect("exists").permissions().mode() & 0o7777,
            0o755
        );
    }

    #[test]
    fn write_sets_owner() {
        let tmp = TempDir::new("owner");
        let path = tmp.join("credentials");
        let me = fs::metadata(&tmp.0).expect("dir exists");
        let sink = FileSink {
            owner: Some(Owner {
                uid: me.uid(),
                gid: Some(me.gid()),
            }),
            ..FileSink::new(&path, "default")
        };
        sink.write(&creds(None), now(), now())
            .expect("chown to ourselves succeeds");
        let meta = fs::metadata(&path).expect("written");
        assert_eq!((meta.uid(), meta.gid()), (me.uid(), me.gid()));
    }

    #[test]
    fn write_does_not_follow_symlink_at_temp_path() {
        let tmp = TempDir::new("plant");
        let path = tmp.join("credentials");
        let victim = tmp.join("victim");
        fs::write(&victim, "precious\n").expect("seed victim");
        for name in [our_temp(), ".credentials.aws-credfile.tmp".into()] {
            std::os::unix::fs::symlink(&victim, tmp.join(&name)).expect("plant link");
        }
        FileSink::new(&path, "default")
            .write(&creds(Some(TOKEN)), now(), now())
            .expect("write succeeds");
        assert_eq!(read(&victim), "precious\n");
        assert_eq!(read(&path), section("default"));
        assert_eq!(names(&tmp.0), [LOCK, "credentials", "victim"]);
    }

    #[test]
    fn write_removes_leftover_temp_files() {
        let tmp = TempDir::new("leftover");
        let path = tmp.join("credentials");
        // Left by killed writers: this process, another, an older version.
        let leftovers = [
            our_temp(),
            ".credentials.aws-credfile.1.tmp".into(),
            ".credentials.aws-credfile.tmp".into(),
        ];
        for name in &leftovers {
            let temp = tmp.join(name);
            fs::write(&temp, "half-written junk from a crash").expect("seed leftover");
            fs::set_permissions(&temp, fs::Permissions::from_mode(0o444)).expect("chmod");
        }
        // Not ours, or not for this file: kept.
        let others = [
            ".credentials.aws-credfile.x1.tmp",
            ".credentials.aws-credfile..tmp",
            ".other.aws-credfile.1.tmp",
            "credentials.aws-credfile.1.tmp",
        ];
        for name in others {
            fs::write(tmp.join(name), "not ours").expect("seed");
        }
        FileSink::new(&path, "default")
            .write(&creds(Some(TOKEN)), now(), now())
            .expect("write succeeds");
        assert_eq!(read(&path), section("default"));
        assert_eq!(mode_of(&path), 0o600);
        let mut expected: Vec<&str> = [LOCK, "credentials"].into_iter().chain(others).collect();
        expected.sort();
        assert_eq!(names(&tmp.0), expected);
    }

    #[test]
    fn recognises_only_our_temporary_names() {
        let ours = OsStr::new("credentials");
        for name in [
            ".credentials.aws-credfile.tmp",
            ".credentials.aws-credfile.1.tmp",
            ".credentials.aws-credfile.4194304.tmp",
        ] {
            assert!(is_our_temp(OsStr::new(name), ours), "{name}");
        }
        for name in [
            "credentials",
            ".credentials.aws-credfile.lock",
            ".credentials.aws-credfile..tmp",
            ".credentials.aws-credfile.-1.tmp",
            ".credentials.aws-credfile.1.tmp.x",
            ".credentials.aws-credfile1.tmp",
            ".credentialsx.aws-credfile.1.tmp",
            ".x.aws-credfile.1.tmp",
        ] {
            assert!(!is_our_temp(OsStr::new(name), ours), "{name}");
        }
    }

    #[test]
    fn write_refuses_a_directory_target() {
        let tmp = TempDir::new("isdir");
        let path = tmp.join("credentials");
        fs::create_dir(&path).expect("mkdir");
        let err = FileSink::new(&path, "default")
            .write(&creds(Some(TOKEN)), now(), now())
            .expect_err("a directory is not a file");
        assert!(matches!(err, Error::Config(_)), "{err:?}");
        let shown = err.to_string();
        assert!(
            shown.contains("is a directory") && shown.contains("--file"),
            "{shown}"
        );
        assert!(fs::metadata(&path).expect("still there").is_dir());
        assert_eq!(names(&tmp.0), [LOCK, "credentials"]);
    }

    #[test]
    fn a_symlinked_target_is_refused_never_read_or_replaced() {
        let tmp = TempDir::new("linked");
        let real = tmp.join("real");
        fs::write(&real, OTHER).expect("seed");
        let path = tmp.join("credentials");
        std::os::unix::fs::symlink(&real, &path).expect("link");
        let link_message = format!(
            "{} is a symbolic link; aws-credfile never reads or writes through one: point --file at the real file or remove the link",
            path.display()
        );

        let err = FileSink::new(&path, "default")
            .preflight()
            .expect_err("refused at start-up");
        assert!(matches!(err, Error::Config(_)), "{err:?}");
        assert_eq!(err.to_string(), format!("--file {link_message}"));

        let err = FileSink::new(&path, "default")
            .write(&creds(Some(TOKEN)), now(), now())
            .expect_err("refused when writing");
        assert_eq!(err.exit_code(), 1, "at run time a refresh fails: {err:?}");
        assert!(
            err.to_string()
                .contains("is a symbolic link; aws-credfile never"),
            "{err}"
        );
        let err = check(&path, "default", now(), Duration::ZERO).expect_err("refused by check");
        assert_eq!(err.exit_code(), 1, "{err:?}");
        assert!(err.to_string().contains("is a symbolic link"), "{err}");

        assert_eq!(fs::read_link(&path).expect("still a link"), real);
        assert_eq!(read(&real), OTHER);
        // A link in a directory component is fine: only the last one counts.
        let dir_link = tmp.join("dir-link");
        std::os::unix::fs::symlink(&tmp.0, &dir_link).expect("link");
        let through = dir_link.join("through");
        FileSink::new(&through, "default")
            .preflight()
            .expect("a plain file");
        FileSink::new(&through, "default")
            .write(&creds(Some(TOKEN)), now(), now())
            .expect("write succeeds");
        assert_eq!(read(&tmp.join("through")), section("default"));
    }

    #[test]
    fn a_symlink_at_the_lock_file_is_refused() {
        let tmp = TempDir::new("locklink");
        let victim = tmp.join("victim");
        std::os::unix::fs::symlink(&victim, tmp.join(LOCK)).expect("link");
        let err = FileSink::new(tmp.join("credentials"), "default")
            .write(&creds(Some(TOKEN)), now(), now())
            .expect_err("refused");
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(!victim.exists(), "nothing created through the link");
    }

    #[test]
    fn the_lock_is_waited_for_then_given_up_naming_it() {
        let tmp = TempDir::new("lockwait");
        let path = tmp.join(LOCK);
        let held = lock(&path, Duration::ZERO).expect("free at first");
        // flock locks belong to an open file, so a second open conflicts
        // even in this process.
        let err = lock(&path, Duration::from_millis(50)).expect_err("held");
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("could not lock {}: ", path.display()))
                && shown.contains("held it for over"),
            "{shown}"
        );
        assert_eq!(err.exit_code(), 1);
        drop(held);
        lock(&path, Duration::ZERO).expect("released with the file");
        assert_eq!(mode_of(&path), 0o600);
    }

    /// A section written while our fetch was under way (refreshed at or
    /// after `fetch_began`) that outlives our credentials is kept; written
    /// before, it is replaced whatever its expiry (another role's keys, a
    /// longer --duration).
    #[test]
    fn write_keeps_a_section_that_expires_later() {
        let tmp = TempDir::new("newer");
        let path = tmp.join("credentials");
        let later = creds_expiring(7200);
        FileSink::new(&path, "default")
            .write(&later, now(), now())
            .expect("write succeeds");
        let before = read(&path);
        let kept = FileSink::new(&path, "default")
            .write(&creds(Some(TOKEN)), now(), now())
            .expect("not an error");
        assert_eq!(
            kept,
            Written::KeptNewer {
                expires: later.expiration
            }
        );
        assert_eq!(read(&path), before);
        // The same expiry, or a later one, is written.
        for secs in [7200, 7201] {
            let next = creds_expiring(secs);
            assert_eq!(
                FileSink::new(&path, "default")
                    .write(&next, now(), now())
                    .expect("write"),
                Written::Replaced
            );
            assert_eq!(read(&path), render_section("default", &next, now()));
        }
        // Written before this fetch began: replaced, though it outlives ours.
        FileSink::new(&path, "default")
            .write(&later, now(), now())
            .expect("write succeeds");
        let after_it = now().plus(Duration::from_secs(1));
        assert_eq!(
            FileSink::new(&path, "default")
                .write(&creds(Some(TOKEN)), after_it, after_it)
                .expect("write"),
            Written::Replaced
        );
        assert_eq!(
            read(&path),
            render_section("default", &creds(Some(TOKEN)), after_it)
        );
        // A later expiry in a section without its keys is no reason to keep it.
        let keyless = "[default]\n# aws-credfile: expires 2099-01-01T00:00:00Z\n";
        fs::write(&path, keyless).expect("seed");
        assert_eq!(
            FileSink::new(&path, "default")
                .write(&creds(Some(TOKEN)), now(), now())
                .expect("write"),
            Written::Replaced
        );
    }

    #[test]
    fn write_never_produces_what_read_refuses() {
        let tmp = TempDir::new("cap");
        let path = tmp.join("credentials");
        let ours = section("default");
        // Padding so the merged file is exactly the cap: accepted, and read back.
        let pad = |len: usize| {
            let mut text = "#".repeat(len - 1);
            text.push('\n');
            text
        };
        let exactly = pad(MAX_FILE_SIZE as usize - ours.len() - 1);
        fs::write(&path, &exactly).expect("seed");
        FileSink::new(&path, "default")
            .write(&creds(Some(TOKEN)), now(), now())
            .expect("exactly the cap is fine");
        assert_eq!(fs::metadata(&path).expect("stat").len(), MAX_FILE_SIZE);
        check(&path, "default", now(), Duration::ZERO).expect("reads back");

        // One byte more is refused, the file untouched, no temporary left.
        let over = pad(MAX_FILE_SIZE as usize - ours.len());
        fs::write(&path, &over).expect("seed");
        let err = FileSink::new(&path, "default")
            .write(&creds(Some(TOKEN)), now(), now())
            .expect_err("past the cap");
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("could not update {}: ", path.display()))
                && shown.contains("past 1 MiB")
                && !shown.contains('\n'),
            "{shown}"
        );
        assert_eq!(err.exit_code(), 1);
        assert_eq!(read(&path), over);
        assert_eq!(names(&tmp.0), [LOCK, "credentials"]);
    }

    #[test]
    fn write_refuses_a_fifo_without_hanging() {
        let tmp = TempDir::new("fifo");
        let path = tmp.join("credentials");
        let made = std::process::Command::new("mkfifo").arg(&path).status();
        if !made.is_ok_and(|s| s.success()) {
            return; // no mkfifo here; nothing to prove
        }
        let err = FileSink::new(&path, "default")
            .write(&creds(Some(TOKEN)), now(), now())
            .expect_err("a FIFO is not a file");
        assert!(err.to_string().contains("named pipe"), "{err}");
    }

    #[test]
    fn write_refuses_files_it_cannot_merge() {
        let tmp = TempDir::new("refuse");
        let path = tmp.join("credentials");
        let binary = b"[other]\nx = \xff\xfe\n".to_vec();
        fs::write(&path, &binary).expect("seed");
        let err = FileSink::new(&path, "default")
            .write(&creds(Some(TOKEN)), now(), now())
            .expect_err("not UTF-8");
        assert!(err.to_string().contains("not UTF-8"), "{err}");
        assert_eq!(fs::read(&path).expect("still there"), binary);

        let big = "# padding\n".repeat(110_000);
        fs::write(&path, &big).expect("seed");
        let err = FileSink::new(&path, "default")
            .write(&creds(Some(TOKEN)), now(), now())
            .expect_err("too large");
        assert!(err.to_string().contains("larger than 1 MiB"), "{err}");
        assert_eq!(read(&path), big);
        assert_eq!(names(&tmp.0), [LOCK, "credentials"]);
    }

    #[test]
    fn failed_write_leaves_target_and_no_temp() {
        let tmp = TempDir::new("fail");
        let path = tmp.join("credentials");
        fs::write(&path, OTHER).expect("seed");
        // Something at our temp path that cannot be unlinked as a file.
        let temp = tmp.join(&our_temp());
        fs::create_dir(&temp).expect("mkdir");
        fs::write(temp.join("x"), "x").expect("fill");
        let err = FileSink::new(&path, "default")
            .write(&creds(Some(TOKEN)), now(), now())
            .expect_err("temp path blocked");
        assert!(
            err.to_string()
                .contains("could not remove the stale temporary file"),
            "{err}"
        );
        assert_eq!(read(&path), OTHER);

        // A failure after the temp file exists removes it again.
        let temp = tmp.join(".other.aws-credfile.tmp");
        let err = write_temp(&temp, |f| {
            f.write_all(b"partial").map_err(|e| ("write", e))?;
            Err(("flush", io::Error::other("disk on fire")))
        })
        .expect_err("fill failed");
        assert_eq!(
            err.to_string(),
            format!("could not flush {}: disk on fire", temp.display())
        );
        assert!(fs::symlink_metadata(&temp).is_err());
    }

    #[test]
    fn write_refuses_values_the_file_cannot_hold() {
        let tmp = TempDir::new("values");
        let path = tmp.join("credentials");
        let mut bad = creds(Some(TOKEN));
        bad.secret_access_key = Secret::new(format!("{SECRET}\n[evil]"));
        let err = FileSink::new(&path, "default")
            .write(&bad, now(), now())
            .expect_err("newline in secret");
        assert!(
            err.to_string()
                .contains("secret access key contains whitespace"),
            "{err}"
        );
        assert!(!path.exists());
        let mut bad = creds(Some(TOKEN));
        bad.access_key_id = String::new();
        assert!(FileSink::new(&path, "default")
            .write(&bad, now(), now())
            .is_err());
        let mut bad = creds(Some(" padded"));
        bad.access_key_id = "ASIA".into();
        assert!(FileSink::new(&path, "default")
            .write(&bad, now(), now())
            .is_err());
        // An empty token means long-term keys: written without a token line.
        FileSink::new(&path, "default")
            .write(&creds(Some("")), now(), now())
            .expect("empty token is no token");
        assert!(!read(&path).contains(SESSION_TOKEN));
    }

    #[test]
    fn write_refuses_profile_names_that_would_not_read_back() {
        let tmp = TempDir::new("names");
        let path = tmp.join("credentials");
        for bad in [
            "",
            " default",
            "default ",
            "a]b",
            "[a",
            "a\nb",
            "a\u{0}b",
            "#x",
            "a;b",
            "a=b",
            "profile x",
        ] {
            let err = FileSink::new(&path, bad)
                .write(&creds(Some(TOKEN)), now(), now())
                .expect_err(bad);
            assert!(matches!(err, Error::Config(_)), "{err:?}");
            assert!(!err.to_string().contains('\n'), "{err}");
        }
        assert!(!path.exists());
        for good in [
            "default",
            "my profile",
            "prod-eu.west_1",
            "\u{e9}t\u{e9}",
            "team+x@corp",
        ] {
            validate_profile(good).expect(good);
            let rendered = render_section(good, &creds(None), now());
            let out = merge(&merge("", good, &rendered), good, &rendered);
            assert_eq!(out, rendered, "{good}");
        }
    }

    // ---- check ----

    fn checked(text: &str, min_valid: u64) -> Result<Timestamp, Error> {
        let tmp = TempDir::new("check");
        let path = tmp.join("credentials");
        fs::write(&path, text).expect("seed");
        check(&path, "default", now(), Duration::from_secs(min_valid))
    }

    fn stale_message(result: Result<Timestamp, Error>) -> String {
        match result {
            Err(Error::Stale(msg)) => msg,
            other => panic!("expected Stale, got {other:?}"),
        }
    }

    #[test]
    fn check_fresh_file() {
        let expiry = now().plus(Duration::from_secs(3600));
        assert_eq!(checked(&section("default"), 300).expect("fresh"), expiry);
        // Exactly min_valid left is still enough.
        assert_eq!(checked(&section("default"), 3600).expect("fresh"), expiry);
        // Written then checked through the real writer.
        let tmp = TempDir::new("roundtrip");
        let path = tmp.join("credentials");
        FileSink::new(&path, "default")
            .write(&creds(None), now(), now())
            .expect("write succeeds");
        assert_eq!(
            check(&path, "default", now(), Duration::from_secs(300)).expect("fresh"),
            expiry
        );
    }

    #[test]
    fn check_is_tolerant() {
        let text = "[other]\r\naws_access_key_id=X\r\n\r\n  [ default ]  \r\n\
                    ;   aws-credfile:   expires   2024-01-01T03:00:00+02:00 ,refreshed whenever\r\n\
                    \taws_access_key_id=ASIA\r\n  AWS_SECRET_ACCESS_KEY   =   s  \r\n[next]\r\naws_secret_access_key =\r\n";
        assert_eq!(
            checked(text, 300).expect("fresh"),
            now().plus(Duration::from_secs(3600))
        );
    }

    #[test]
    fn check_reports_expiring_and_expired() {
        let msg = stale_message(checked(&section("default"), 3601));
        assert!(
            msg.contains("expire at 2024-01-01T01:00:00Z, in 1h")
                && msg.contains("--min-valid 1h1s"),
            "{msg}"
        );
        let tmp = TempDir::new("expired");
        let path = tmp.join("credentials");
        fs::write(&path, section("default")).expect("seed");
        let later = now().plus(Duration::from_secs(3600 + 120));
        let msg = stale_message(check(&path, "default", later, Duration::from_secs(300)));
        assert!(
            msg.contains("expired at 2024-01-01T01:00:00Z, 2m ago"),
            "{msg}"
        );
    }

    #[test]
    fn check_reports_what_is_missing() {
        let tmp = TempDir::new("missing");
        let msg = stale_message(check(&tmp.join("nope"), "default", now(), Duration::ZERO));
        assert!(msg.contains("does not exist"), "{msg}");

        let msg = stale_message(checked(OTHER, 0));
        assert!(msg.contains("has no [default] profile"), "{msg}");

        let no_secret =
            section("default").replace(&format!("{SECRET_ACCESS_KEY} = {SECRET}\n"), "");
        let msg = stale_message(checked(&no_secret, 0));
        assert!(msg.contains("has no aws_secret_access_key"), "{msg}");

        let empty_key = section("default").replace("= ASIAEXAMPLE", "=");
        let msg = stale_message(checked(&empty_key, 0));
        assert!(msg.contains("has no aws_access_key_id"), "{msg}");

        let msg = stale_message(checked(
            "[default]\naws_access_key_id = A\naws_secret_access_key = B\n",
            0,
        ));
        assert!(msg.contains("expiry is unknown"), "{msg}");

        let garbled = section("default").replace("2024-01-01T01:00:00Z", "soon");
        let msg = stale_message(checked(&garbled, 0));
        assert!(msg.contains("readable expiry"), "{msg}");

        // Keys in another section do not count for ours.
        let elsewhere = format!("[default]\n# aws-credfile: expires 2030-01-01T00:00:00Z\n{OTHER}");
        let msg = stale_message(checked(&elsewhere, 0));
        assert!(msg.contains("has no aws_access_key_id"), "{msg}");
    }

    #[test]
    fn check_other_failures_are_not_stale() {
        let tmp = TempDir::new("checkdir");
        let err = check(&tmp.0, "default", now(), Duration::ZERO).expect_err("a directory");
        assert!(matches!(err, Error::Config(_)), "{err:?}");
        let path = tmp.join("bin");
        fs::write(&path, b"\xff").expect("seed");
        let err = check(&path, "default", now(), Duration::ZERO).expect_err("binary");
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
    }

    #[test]
    fn no_error_shows_a_secret() {
        let tmp = TempDir::new("secrets");
        let mut errors = Vec::new();
        // A file full of our secrets that check still rejects.
        let path = tmp.join("credentials");
        let stale = section("default").replace("2024-01-01T01:00:00Z", "2023-01-01T00:00:00Z");
        fs::write(&path, &stale).expect("seed");
        errors.push(check(&path, "default", now(), Duration::ZERO).expect_err("expired"));
        fs::write(&path, stale.replace("# aws-credfile", "# x")).expect("seed");
        errors.push(check(&path, "default", now(), Duration::ZERO).expect_err("no marker"));
        fs::write(
            &path,
            format!("{SECRET} {TOKEN}\n\u{0}\u{ff}")
                .into_bytes()
                .into_iter()
                .chain([0xff])
                .collect::<Vec<u8>>(),
        )
        .expect("seed");
        errors.push(check(&path, "default", now(), Duration::ZERO).expect_err("binary"));
        errors.push(
            FileSink::new(&path, "default")
                .write(&creds(Some(TOKEN)), now(), now())
                .expect_err("binary"),
        );
        // Bad values.
        let mut bad = creds(Some(&format!("{TOKEN} {SECRET}")));
        bad.secret_access_key = Secret::new(format!("{SECRET}\t"));
        errors.push(
            FileSink::new(tmp.join("new"), "default")
                .write(&bad, now(), now())
                .expect_err("tab"),
        );
        let bad = creds(Some(&format!("{TOKEN}\r\n")));
        errors.push(
            FileSink::new(tmp.join("new"), "default")
                .write(&bad, now(), now())
                .expect_err("crlf"),
        );
        // A directory target.
        errors.push(
            FileSink::new(&tmp.0, "default")
                .write(&creds(Some(TOKEN)), now(), now())
                .expect_err("dir"),
        );
        for err in &errors {
            for shown in [err.to_string(), format!("{err:?}")] {
                assert!(!shown.contains(SECRET) && !shown.contains(TOKEN), "{shown}");
                assert!(
                    !shown.contains("wJalrXUtnFEMI") && !shown.contains("FwoGZXIvYXdz"),
                    "{shown}"
                );
                assert!(!shown.contains('\n'), "{shown}");
            }
        }
    }
}
