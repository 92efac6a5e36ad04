//! Which file: `--file`, `AWS_SHARED_CREDENTIALS_FILE` or the home
//! directory's, as the SDKs find it, and what a path must be to name one.

use std::path::PathBuf;

use crate::env::{var, Env};
use crate::error::Error;

/// The credentials file when `--file` is absent ...
pub const ENV_SHARED_CREDENTIALS_FILE: &str = "AWS_SHARED_CREDENTIALS_FILE";
/// ... else `.aws/credentials` in the home directory, as every SDK looks.
pub const ENV_HOME: &str = "HOME";

/// The file to write, as the SDKs find it: `flag` (`--file`), else
/// `$AWS_SHARED_CREDENTIALS_FILE`, else `$HOME/.aws/credentials`; `~/` at
/// the start means `$HOME/`.
pub fn path(flag: Option<&str>, env: Env) -> Result<PathBuf, Error> {
    let (name, path) = match (flag, var(env, ENV_SHARED_CREDENTIALS_FILE)) {
        (Some(f), _) if f.trim().is_empty() => return Err(Error::Usage("--file is empty".into())),
        (Some(f), _) => ("--file", expand_home(f, env, "--file")?),
        (None, Some(f)) => (
            ENV_SHARED_CREDENTIALS_FILE,
            expand_home(&f, env, ENV_SHARED_CREDENTIALS_FILE)?,
        ),
        (None, None) => match var(env, ENV_HOME) {
            Some(home) => (
                ENV_HOME,
                PathBuf::from(home).join(".aws").join("credentials"),
            ),
            None => {
                return Err(Error::Config(format!(
                    "no credentials file: set --file, {ENV_SHARED_CREDENTIALS_FILE} or {ENV_HOME}"
                )))
            }
        },
    };
    // `dir/`, `.` and `..` name directories: refused before any fetch. So
    // does `dir/.`, which Rust's path reading takes for `dir` (round 14:
    // the file `dir` was written, where every SDK given the same path
    // fails with "Not a directory").
    let text = path.as_os_str().as_encoded_bytes();
    if text.ends_with(b"/") || text.ends_with(b"/.") || path.file_name().is_none() {
        return Err(Error::Config(format!(
            "{name} {} does not name a file; give a path such as /home/app/.aws/credentials",
            path.display()
        )));
    }
    // The lock and temporary files beside it are named after it, with
    // about 30 bytes more: their names must fit NAME_MAX (255) too.
    if path.file_name().is_some_and(|n| n.len() > MAX_FILE_NAME) {
        return Err(Error::Config(format!(
            "{name} {}: the file name is longer than {MAX_FILE_NAME} bytes, too long for the lock and temporary files named after it; use a shorter one",
            path.display()
        )));
    }
    // Made absolute once, at start: every write walks it from the root,
    // so the owners of the directories above the current one are held to
    // the same rule (round 41: walked from `.`, they were never looked at,
    // and whoever owned one could swap the file's directory).
    if path.is_absolute() {
        return Ok(path);
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(&path))
        .map_err(|e| {
            Error::Config(format!(
                "{name} {} is relative, and the current directory cannot be found ({e}); give an absolute path",
                path.display()
            ))
        })
}

/// 220 bytes: the longest file name whose lock and temporary files
/// (`.NAME.aws-credfile.PID.tmp`) still fit a file name's 255.
const MAX_FILE_NAME: usize = 220;

/// `~/x` means `$HOME/x`, as the SDKs read `AWS_SHARED_CREDENTIALS_FILE`.
fn expand_home(path: &str, env: Env, name: &str) -> Result<PathBuf, Error> {
    match path.strip_prefix("~/") {
        None => Ok(PathBuf::from(path)),
        Some(rest) => var(env, ENV_HOME)
            .map(|home| PathBuf::from(home).join(rest))
            .ok_or_else(|| {
                Error::Config(format!("{name} starts with ~/ but {ENV_HOME} is not set"))
            }),
    }
}
