//! Whether the program can be started at all, decided before any
//! credentials are fetched: as execvp(3) will find it, and as exec(2) will
//! judge its first bytes.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// Whether `name` can be started, found as the spawn will find it (a
/// path, or the first executable file on `PATH`): checked before any
/// credentials are fetched, so a typo costs no STS call. The spawn stays
/// the judge; the file may change in between.
pub fn check_runnable(name: &OsStr) -> Result<(), Error> {
    let candidates: Vec<PathBuf> = if name.as_encoded_bytes().contains(&b'/') {
        vec![PathBuf::from(name)]
    } else {
        let path =
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/bin:/usr/bin".into());
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .collect()
    };
    let runnable = |p: &Path| {
        p.is_file()
            && std::ffi::CString::new(p.as_os_str().as_encoded_bytes())
                // SAFETY: access(2) reads the NUL-terminated path and nothing else.
                .is_ok_and(|c| {
                    #[allow(unsafe_code)]
                    let ok = unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0;
                    ok
                })
    };
    if let Some(found) = candidates.iter().find(|p| runnable(p)) {
        return match unrunnable_content(found) {
            None => Ok(()),
            Some(source) => Err(Error::Spawn {
                program: name.to_string_lossy().into_owned(),
                source,
            }),
        };
    }
    // As execvp(3) would have failed: a directory said plainly, a file
    // there that may not be run, and a path that cannot be followed (a
    // loop of links, ELOOP) not called missing.
    let source = if candidates.iter().any(|p| p.is_dir()) {
        std::io::Error::new(std::io::ErrorKind::PermissionDenied, "is a directory")
    } else {
        candidates
            .iter()
            .find_map(|p| match std::fs::metadata(p) {
                Ok(_) => Some(std::io::Error::from_raw_os_error(libc::EACCES)),
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => None,
                Err(e) => Some(e),
            })
            .unwrap_or_else(|| std::io::Error::from_raw_os_error(libc::ENOENT))
    };
    Err(Error::Spawn {
        program: name.to_string_lossy().into_owned(),
        source,
    })
}

/// What exec(2) would say about `path`'s first bytes, when that is
/// certain: a `#!` line naming an interpreter that is not there (or is
/// there with a CR, or is not a file), or neither `#!` nor an ELF header
/// (ENOEXEC). Unreadable files are left to
/// the spawn.
fn unrunnable_content(path: &Path) -> Option<std::io::Error> {
    use std::io::ErrorKind::{NotFound, PermissionDenied};
    use std::io::Read;
    let mut head = [0u8; 256];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .ok()?;
    let head = &head[..n];
    if let Some(line) = head.strip_prefix(b"#!") {
        let line = line.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        // As the kernel reads it: the name ends at a space or a tab.
        let interpreter = line
            .trim_start_matches([' ', '\t'])
            .split([' ', '\t'])
            .next()?;
        let found = Path::new(interpreter);
        let (kind, why) = match interpreter.strip_suffix('\r') {
            Some(name) => (
                NotFound,
                format!("its #! line ends in a carriage return, so the interpreter it names is {name} and a CR: save the file with Unix line endings"),
            ),
            None if interpreter.is_empty() || found.is_file() => return None,
            None if found.exists() => (
                PermissionDenied,
                format!("its #! interpreter {interpreter} is not a file"),
            ),
            None => (
                NotFound,
                format!("its #! interpreter {interpreter} is missing"),
            ),
        };
        return Some(std::io::Error::new(kind, why));
    }
    (!head.starts_with(b"\x7fELF")).then(|| std::io::Error::from_raw_os_error(libc::ENOEXEC))
}
