//! The checks STS applies to the parameters, applied here first so that a
//! wrong `--role-arn`, session name, external id or duration is a clear
//! configuration error at start instead of an STS refusal at every refresh.

use std::time::Duration;

use super::MIN_DURATION;

/// `[\w+=,.@-]` as IAM uses it: ASCII letters, digits and `_+=,.@-`.
fn is_iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-')
}

/// Checks a `RoleSessionName`: 2 to 64 characters of `[\w+=,.@-]`.
pub fn validate_session_name(s: &str) -> Result<(), String> {
    let len = s.chars().count();
    if !(2..=64).contains(&len) || !s.chars().all(is_iam_name_char) {
        return Err(
            "a session name must be 2 to 64 characters of letters, digits and _+=,.@-".into(),
        );
    }
    Ok(())
}

/// Checks the shape of a role ARN:
/// `arn:{partition}:iam::{12-digit account}:role/{optional/path/}{name}`,
/// with a role name of 1 to 64 characters of `[\w+=,.@-]`, a path of
/// printable ASCII, and 20 to 2048 characters in all (STS's `RoleArn` limit).
pub fn validate_role_arn(s: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "role ARN {s:?} {why}; expected arn:aws:iam::123456789012:role/NAME"
        ))
    };
    if s.len() > 2048 {
        return bad("is longer than the 2048 characters STS takes");
    }
    let mut parts = s.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return bad("is not an IAM ARN");
    };
    if !partition.starts_with("aws")
        || !partition
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'-')
    {
        return bad("has an unknown partition");
    }
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return bad("does not have a 12-digit account id");
    }
    let Some(path_and_name) = resource.strip_prefix("role/") else {
        return bad("does not name a role");
    };
    let (path, name) = match path_and_name.rsplit_once('/') {
        Some((path, name)) => (Some(path), name),
        None => (None, path_and_name),
    };
    if name.is_empty() || name.len() > 64 || !name.chars().all(is_iam_name_char) {
        return bad("has an invalid role name");
    }
    // IAM paths are printable ASCII without spaces, between single slashes.
    if let Some(path) = path {
        if !path
            .split('/')
            .all(|seg| !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_graphic()))
        {
            return bad("has an invalid path");
        }
    }
    Ok(())
}

/// Checks an `ExternalId`: 2 to 1224 characters of `[\w+=,.@:/-]`.
pub fn validate_external_id(s: &str) -> Result<(), String> {
    // Not quoted: an external id is a shared secret of sorts.
    if !(2..=1224).contains(&s.chars().count()) {
        return Err("the external id must be 2 to 1224 characters long".into());
    }
    if !s
        .chars()
        .all(|c| is_iam_name_char(c) || c == ':' || c == '/')
    {
        return Err(
            "the external id holds a character other than letters, digits and _+=,.@:/-".into(),
        );
    }
    Ok(())
}

/// Checks a `DurationSeconds`: whole seconds from [`MIN_DURATION`] to `max`
/// ([`MAX_DURATION`] for web identity, [`MAX_CHAINED_DURATION`] for
/// `AssumeRole` from role credentials).
pub fn validate_duration(d: Duration, max: Duration) -> Result<(), String> {
    if d.subsec_nanos() != 0 || d < MIN_DURATION || d > max {
        return Err(format!(
            "duration {}s must be whole seconds from {}s to {}s",
            d.as_secs_f64(),
            MIN_DURATION.as_secs(),
            max.as_secs()
        ));
    }
    Ok(())
}
