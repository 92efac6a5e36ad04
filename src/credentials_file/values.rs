//! What may go into the file: profile names that read back as their own
//! section, and values no parser changes or splits.

use crate::credentials::{is_fit_value, Credentials, UNFIT_VALUE};
use crate::error::{is_invisible, Error};

/// Refuses a profile name that would not read back as its own `[name]`
/// header: empty, with brackets, control or invisible characters, or
/// surrounding whitespace. Such a name would never match on the next write, and a new
/// section would be appended every refresh. The configuration may call this
/// to reject `--profile` early; `write` calls it as a last line of defence.
pub fn validate_profile(name: &str) -> Result<(), Error> {
    let why = if name.is_empty() {
        Some("it is empty".to_string())
    } else if name.len() > 128 {
        Some("it is longer than 128 characters".to_string())
    } else if name != name.trim() {
        Some("it starts or ends with whitespace".to_string())
    } else if let Some(c) = name.chars().find(|&c| {
        c.is_control()
            || c.is_whitespace()
            || is_invisible(c)
            || matches!(c, '[' | ']' | '#' | ';' | '=' | ':' | ',' | '"')
    }) {
        // Brackets end the header early; '#' and ';' start comments in some
        // parsers; '=' makes some read the line as a key; aws-sdk-go's
        // parser (v1 and v2) fails on the whole file at ':', ',' or '"' in
        // a header, every other profile with it; the JavaScript SDK v3
        // reads `[a b]` as a section of type `a` and drops it; an invisible
        // one makes two names that look alike.
        Some(format!("it contains {c:?}"))
    } else if name.contains("__proto__") {
        // The JavaScript SDKs read sections into plain objects, and throw
        // on the whole file at this one.
        Some("the JavaScript SDKs cannot read a file with a __proto__ section".to_string())
    } else if name == "DEFAULT" {
        // Python's configparser (botocore, the AWS CLI) takes [DEFAULT] for
        // the defaults of every other section: its keys would turn up in
        // all the others.
        Some("Python's SDKs read [DEFAULT] as defaults for every other profile".to_string())
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
/// change a key or inject lines into the file; `;` or `#` first fails
/// aws-sdk-go v1 on the whole file; an empty value breaks some old parsers
/// outright. The sources should never produce such values; this
/// is the last line of defence before they reach the disk.
pub(super) fn validate(creds: &Credentials) -> Result<(), Error> {
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
pub(super) fn check_value(what: &str, value: &str) -> Result<(), Error> {
    let problem = if value.is_empty() {
        "is empty".to_string()
    } else if !is_fit_value(value) {
        UNFIT_VALUE.to_string()
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
