//! Flags a run would not use: refused (exit 2) rather than silently
//! ignored, or, for `--check` (often given the sidecar's own flags), at
//! least checked.

use super::identity::{duration_max, min_valid_within, named_source, role_duration};
use super::*;

/// `--check` reads only the file, but a wrong value elsewhere on its command
/// line (often the sidecar's own arguments, reused) is still a mistake to
/// report rather than ignore.
pub(super) fn check_ignored_flags(args: &Args, min_valid: Duration) -> Result<(), Error> {
    // The same rules the sidecar applies (--check passed values
    // the sidecar refused), as far as they need nothing from the
    // environment.
    named_source(args)?;
    min_valid_within(min_valid, role_duration(args, duration_max(args))?)?;
    once_timeout(args)?;
    if let Some(arn) = args.role_arn.as_deref() {
        sts::validate_role_arn(arn)
            .map_err(|e| Error::Usage(format!("--role-arn {arn:?}: {e}")))?;
    } else if args.external_id.is_some() {
        return Err(Error::Usage("--external-id needs --role-arn".into()));
    }
    if let Some(id) = args.external_id.as_deref() {
        sts::validate_external_id(id).map_err(|e| Error::Usage(format!("--external-id: {e}")))?;
    }
    if let Some(name) = args.session_name.as_deref() {
        sts::validate_session_name(name)
            .map_err(|e| Error::Usage(format!("--session-name {name:?}: {e}")))?;
    }
    if let Some(url) = args.sts_endpoint.as_deref() {
        sts::endpoint::check_override_url(url).map_err(|e| {
            Error::Usage(format!(
                "--sts-endpoint {:?}: {e}",
                crate::url::redact_origin(url)
            ))
        })?;
    }
    Ok(())
}

/// Flags this run would silently ignore: the file's when no file is
/// written, `--min-valid` in a run that does not stay to keep to it.
pub(super) fn refuse_unused_flags(args: &Args, file: bool, stays: bool) -> Result<(), Error> {
    let file_flags = [
        ("--profile", args.profile.is_some()),
        ("--mode", args.mode.is_some()),
        ("--owner", args.owner.is_some()),
    ];
    if let (false, Some((flag, _))) = (file, file_flags.iter().find(|(_, given)| *given)) {
        // --credential-process and --print take no --file to give.
        let way_out = if args.credential_process || args.print.is_some() {
            format!("drop {flag}")
        } else {
            format!("give --file, or drop {flag}")
        };
        return Err(Error::Usage(format!(
            "{flag} is about the credentials file, and this run writes none; {way_out}"
        )));
    }
    if !stays && args.min_valid.is_some() {
        return Err(Error::Usage(
            "--min-valid applies to --check and to the runs that keep refreshing (the daemon, -- PROGRAM); drop it here".into(),
        ));
    }
    Ok(())
}
