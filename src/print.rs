//! Credentials printed for a tool to read from stdout: the
//! `credential_process` JSON the SDKs run a program for, and `export` lines
//! for a shell's `eval`. Nothing but these ever goes to stdout (the log is
//! on stderr), since the reader parses all of it.

use crate::credentials::{Credentials, Secret};
use crate::error::Error;
use crate::json;

/// The `credential_process` answer (Version 1): `AccessKeyId`,
/// `SecretAccessKey`, `SessionToken` (only when there is one) and
/// `Expiration`, from which the SDK schedules running the process again;
/// `AccountId` when the source named it.
pub fn credential_process(c: &Credentials) -> String {
    let mut json = json::Object::start();
    json.raw("Version", "1")
        .string("AccessKeyId", &c.access_key_id)
        .string("SecretAccessKey", c.secret_access_key.expose());
    if let Some(token) = c.session_token.as_ref().filter(|t| !t.is_empty()) {
        json.string("SessionToken", token.expose());
    }
    json.string("Expiration", &c.expiration.to_rfc3339());
    // Read by botocore (and the SDKs that scope requests by account), as
    // the endpoint passes it on.
    if let Some(account) = &c.account_id {
        json.string("AccountId", account);
    }
    let mut out = json.end();
    out.push('\n');
    out
}

/// `export NAME='value'` lines for `eval "$(aws-credfile --print env)"`:
/// the keys, the session token (or an `unset` of a stale one when there is
/// none), an `unset` of `AWS_SECURITY_TOKEN` (its old name, which botocore
/// reads before `AWS_SESSION_TOKEN`: a stale one set by another tool would
/// be paired with the new keys) and `AWS_CREDENTIAL_EXPIRATION`, the name
/// the SDKs that read an expiry from the environment use.
pub fn env(c: &Credentials) -> String {
    let token = c.session_token.as_ref().filter(|t| !t.is_empty());
    let mut out = format!(
        "export AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\n",
        shell_quote(&c.access_key_id),
        shell_quote(c.secret_access_key.expose()),
    );
    match token.map(Secret::expose) {
        Some(t) => out.push_str(&format!("export AWS_SESSION_TOKEN={}\n", shell_quote(t))),
        None => out.push_str("unset AWS_SESSION_TOKEN\n"),
    }
    out.push_str("unset AWS_SECURITY_TOKEN\n");
    out.push_str(&format!(
        "export AWS_CREDENTIAL_EXPIRATION={}\n",
        shell_quote(&c.expiration.to_rfc3339())
    ));
    out
}

/// Refuses to print where no one reads: standard output on the null
/// device, which is also what the runtime puts there when it was closed
/// (`>&-`). The credentials would be fetched and thrown away, and the exit
/// would say all went well. `flag` names the mode, for the message.
pub fn check_stdout(flag: &str) -> Result<(), Error> {
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned() else {
        return Ok(());
    };
    let mut out = std::fs::File::from(fd);
    let nowhere = |what: &str| {
        Err(Error::Config(format!(
            "standard output is {what}, so the credentials {flag} prints would go nowhere; run it where its output is read"
        )))
    };
    // Writing nothing fails with EBADF where writing is refused (open for
    // reading only), and is a no-op on files and pipes; what else it says
    // (/dev/full: ENOSPC) the real write will say.
    if out
        .write(&[])
        .is_err_and(|e| e.raw_os_error() == Some(libc::EBADF))
    {
        return nowhere("not open for writing");
    }
    let Ok(meta) = out.metadata() else {
        return Ok(());
    };
    // /dev/null, where a closed one is put, /dev/zero, /dev/random and
    // /dev/urandom: writes vanish.
    let rdev = meta.rdev();
    if meta.file_type().is_char_device()
        && [3, 5, 8, 9]
            .iter()
            .any(|&minor| rdev == libc::makedev(1, minor))
    {
        return nowhere("closed, /dev/null or another device that keeps nothing");
    }
    Ok(())
}

/// `value` in single quotes, each `'` in it written `'\''`: nothing inside
/// single quotes is special to a POSIX shell, so any text is safe.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests;
