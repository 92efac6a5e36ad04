//! Reading and checking the tokens this program handles: the web identity
//! token (IRSA's projected service-account token), the container agent's
//! authorization token, and the `--serve-token-file` value. Each is a small
//! file read fresh when needed, trimmed, capped in size, and checked for
//! what it is about to become (a form field, or a header value). The
//! callers word the errors for the setting they read.

use std::fs::OpenOptions;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::credentials::Secret;
use crate::error::Error;

/// 64 KiB for the web identity token: service-account JWTs are
/// one or two KiB; a larger file is the wrong file.
pub const MAX_WEB_IDENTITY_TOKEN: u64 = 64 * 1024;

/// 16 KiB for a token sent as a header value (the agent's, the
/// endpoint's own): they are a few hundred bytes.
pub const MAX_HEADER_TOKEN: u64 = 16 * 1024;

/// Why a token file (or another small input file) could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// Opening or reading failed.
    Io(io::Error),
    /// Not a regular file: a named pipe, a device, a directory or a socket
    /// (what it is, in words).
    NotRegular(&'static str),
    /// Larger than the cap given: not the file it should be.
    TooLarge,
    /// Not UTF-8.
    NotText,
}

impl ReadError {
    /// The problem in words, after "the file ..." or a path.
    pub fn describe(&self) -> String {
        match self {
            ReadError::Io(e) => {
                format!("cannot read it: {e}; check the path, and that this user may read the file")
            }
            ReadError::NotRegular(what) => format!("it is {what}, not a regular file"),
            ReadError::TooLarge => "it is far too large".into(),
            ReadError::NotText => "it is not UTF-8 text".into(),
        }
    }
}

/// Reads a small input file whole: a token, or `AWS_CA_BUNDLE`. Only a
/// regular file is read (links to one are followed: Kubernetes projects its
/// tokens through them), and never more than `max` bytes: a named pipe
/// would block the reader for ever, `/dev/zero` would fill memory. The
/// open itself cannot block (`O_NONBLOCK`, which regular files ignore).
pub fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    let kind = meta.file_type();
    if !kind.is_file() {
        return Err(ReadError::NotRegular(if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a named pipe"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "a device"
        }));
    }
    // Too large already: refused without reading it (a file can still
    // grow while it is read, which the cap below catches).
    if meta.len() > max {
        return Err(ReadError::TooLarge);
    }
    let mut raw = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut raw)
        .map_err(ReadError::Io)?;
    if raw.len() as u64 > max {
        return Err(ReadError::TooLarge);
    }
    Ok(raw)
}

/// Reads a token file as text with surrounding whitespace trimmed (a
/// trailing newline from an editor is harmless), refusing anything over
/// `max` bytes without reading it all.
pub fn read_text(path: &Path, max: u64) -> Result<String, ReadError> {
    let raw = read_capped(path, max)?;
    let text = String::from_utf8(raw).map_err(|_| ReadError::NotText)?;
    Ok(text.trim().to_string())
}

/// A token that goes into a header verbatim must be non-empty, at most
/// [`MAX_HEADER_TOKEN`] bytes, ASCII, and free of line breaks (which would end the header and inject another) and
/// other control characters. The message never quotes the token.
pub fn check_header_value(token: &Secret) -> Result<(), String> {
    let t = token.expose();
    if t.is_empty() {
        return Err("the file is empty; it must hold the token".into());
    }
    // What a token file may hold, whichever way the token came.
    if t.len() as u64 > MAX_HEADER_TOKEN {
        return Err("longer than 16 KiB, which no token is".into());
    }
    if t.contains(['\r', '\n']) {
        return Err(
            "the token contains a line break (CR or LF), which no HTTP header can carry".into(),
        );
    }
    if t.chars().any(|c| c.is_control()) {
        return Err("the token contains control characters".into());
    }
    // An HTTP client sends only visible ASCII in a header (RFC 9110 leaves
    // other bytes obsolete); ureq refuses the request, every time.
    if !t.is_ascii() {
        return Err(
            "the token holds characters outside ASCII, which an HTTP header cannot carry".into(),
        );
    }
    Ok(())
}

/// A web identity token is a JWT: non-empty, without whitespace or control
/// characters inside. The message never quotes the token.
pub fn check_web_identity(token: &str) -> Result<(), &'static str> {
    if token.is_empty() {
        return Err("it is empty");
    }
    if token.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("it holds whitespace or control characters inside the token");
    }
    // A byte-order mark an editor put first, a zero-width space: STS would
    // get them percent-encoded, part of the token, and refuse it.
    if token.chars().any(crate::error::is_invisible) {
        return Err(
            "it holds an invisible character (such as a byte-order mark); save it without one",
        );
    }
    Ok(())
}

/// Reads and checks a header token whose every problem is a configuration
/// mistake (`--serve-token-file`): one message naming `setting` and the
/// path. Only a limit of the process's (descriptors, memory) is not the
/// file's fault: that is a run-time error.
pub fn read_header_token(path: &Path, setting: &str) -> Result<Secret, Error> {
    let invalid = |why: &str| Error::Config(format!("{setting} {}: {why}", path.display()));
    let text = read_text(path, MAX_HEADER_TOKEN).map_err(|e| match e {
        ReadError::Io(e) if crate::error::is_out_of_resources(&e) => Error::io("read", path, e),
        ReadError::TooLarge => invalid("larger than 16 KiB, which no token is"),
        ReadError::NotText => invalid("cannot read it: not UTF-8 text"),
        other => invalid(&other.describe()),
    })?;
    // A token any user may write (or replace, in a directory any user may
    // write without the sticky bit), any user may choose: the endpoint's
    // keys would be theirs to take.
    let mode = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.permissions().mode());
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if mode(path) & 0o002 != 0 || mode(dir.unwrap_or(Path::new("."))) & 0o1002 == 0o002 {
        return Err(invalid(
            "any user may write it or its directory, and so choose the token the endpoint asks for; chmod o-w it (or +t the directory)",
        ));
    }
    let token = Secret::new(text);
    check_header_value(&token).map_err(|why| invalid(&why))?;
    Ok(token)
}

/// A random token for an endpoint of this run: 32 bytes from the system's
/// random source (through the TLS stack's, which is linked anyway), as hex.
pub fn random_token() -> Result<Secret, String> {
    let mut bytes = [0u8; 32];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| "the system has no randomness to give".to_string())?;
    Ok(Secret::new(
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
    ))
}

#[cfg(test)]
mod tests;
