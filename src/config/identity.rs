//! The identity flags: which source (`--source`, else detected), and the
//! chained hop (`--role-arn`, `--external-id`), with `--session-name` and
//! `--duration` going to whichever hop makes the last STS call.

use super::*;

/// The source: `--source`, else detected in the SDKs' order. With
/// `--role-arn` (`chained`), `--session-name` and `--duration` belong to the
/// chained hop, and the web identity hop uses its own defaults.
pub(super) fn source(args: &Args, env: Env, chained: bool) -> Result<Source, Error> {
    let kind = match named_source(args)? {
        Some(kind) => kind,
        None => Kind::detect(env).ok_or_else(|| {
            Error::Config(format!(
                "no identity configured: looked for IRSA ({} and {}) and a container endpoint ({} or {}); on EKS, annotate the service account with eks.amazonaws.com/role-arn or create a Pod Identity association",
                web_identity::ENV_ROLE_ARN,
                web_identity::ENV_WEB_IDENTITY_TOKEN_FILE,
                container::ENV_CONTAINER_CREDENTIALS_FULL_URI,
                container::ENV_CONTAINER_CREDENTIALS_RELATIVE_URI,
            ))
        })?,
    };
    match kind {
        Kind::WebIdentity => {
            let (session_flag, duration) = if chained {
                (None, None)
            } else {
                (
                    args.session_name.as_deref(),
                    role_duration(args, sts::MAX_DURATION)?,
                )
            };
            let settings = web_identity::settings(
                env,
                source::session_name(session_flag, env)?,
                duration,
                endpoint::from_env(args.sts_endpoint.as_deref(), env)?,
            );
            settings.map(Source::WebIdentity)
        }
        Kind::Container => {
            // Without --role-arn no STS call is made: a flag for one would
            // be silently ignored, its value never even checked.
            if !chained {
                let unused = [
                    ("--duration", args.duration.is_some()),
                    ("--session-name", args.session_name.is_some()),
                    ("--sts-endpoint", args.sts_endpoint.is_some()),
                ];
                if let Some((flag, _)) = unused.iter().find(|(_, given)| *given) {
                    return Err(Error::Usage(format!(
                        "{flag} applies to STS calls, and the container source (Pod Identity, ECS) makes none; give --role-arn to chain a role, or drop {flag}"
                    )));
                }
            }
            container::settings(env).map(Source::Container)
        }
    }
}

/// The source `--source` names, if it names one.
pub(super) fn named_source(args: &Args) -> Result<Option<Kind>, Error> {
    match args.source.as_deref() {
        Some("web-identity") => Ok(Some(Kind::WebIdentity)),
        Some("container") => Ok(Some(Kind::Container)),
        Some(other) => Err(Error::Usage(format!(
            "--source {other:?} is not one of web-identity, container"
        ))),
        None => Ok(None),
    }
}

/// `--min-valid` must be less than how long the credentials last, when
/// that is known (`--duration`): longer, they could never stay valid that
/// long.
pub(super) fn min_valid_within(
    min_valid: Duration,
    lasting: Option<Duration>,
) -> Result<(), Error> {
    match lasting {
        Some(lasting) if min_valid >= lasting => Err(Error::Usage(format!(
            "--min-valid {} is not less than --duration {}: the credentials could never stay valid that long; lower --min-valid",
            format_duration(min_valid),
            format_duration(lasting)
        ))),
        _ => Ok(()),
    }
}

pub(super) fn chain(args: &Args, env: Env) -> Result<Option<chain::Settings>, Error> {
    let Some(role_arn) = args.role_arn.as_deref() else {
        if args.external_id.is_some() {
            return Err(Error::Usage("--external-id needs --role-arn".into()));
        }
        return Ok(None);
    };
    sts::validate_role_arn(role_arn)
        .map_err(|e| Error::Usage(format!("--role-arn {role_arn:?}: {e}")))?;
    if let Some(id) = args.external_id.as_deref() {
        sts::validate_external_id(id).map_err(|e| Error::Usage(format!("--external-id: {e}")))?;
    }
    Ok(Some(chain::Settings {
        role_arn: role_arn.to_string(),
        external_id: args.external_id.clone(),
        session_name: source::session_name(args.session_name.as_deref(), env)?,
        duration: role_duration(args, sts::MAX_CHAINED_DURATION)?,
        sts: endpoint::from_env(args.sts_endpoint.as_deref(), env)?,
    }))
}

/// The longest `--duration` STS allows the hop it applies to: the chained
/// one's with `--role-arn`, else the web identity one's.
pub(super) fn duration_max(args: &Args) -> Duration {
    match args.role_arn {
        Some(_) => sts::MAX_CHAINED_DURATION,
        None => sts::MAX_DURATION,
    }
}

/// `--duration`, within STS's bounds for this hop.
pub(super) fn role_duration(args: &Args, max: Duration) -> Result<Option<Duration>, Error> {
    // STS's range is the limit, and the message gives it (not the 24 h any
    // duration setting is held to).
    let duration = parsed_duration(args.duration.as_deref(), "--duration")?;
    if let Some(d) = duration {
        sts::validate_duration(d, max).map_err(|e| {
            let chained = if max == sts::MAX_CHAINED_DURATION {
                " (AWS caps a chained --role-arn session at 1h)"
            } else {
                ""
            };
            let given = args.duration.as_deref().unwrap_or_default();
            Error::Usage(format!("--duration {given:?}: {e}{chained}"))
        })?;
    }
    Ok(duration)
}
