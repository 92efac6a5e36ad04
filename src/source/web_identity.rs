//! IRSA: the projected service-account token, read fresh at every refresh
//! (the kubelet rotates it), exchanged with STS AssumeRoleWithWebIdentity.
//! This module owns IRSA's environment (`AWS_ROLE_ARN`,
//! `AWS_WEB_IDENTITY_TOKEN_FILE`) and its settings.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::credentials::{Credentials, Secret};
use crate::env::{var, Env};
use crate::error::Error;
use crate::http::{Client, Network};
use crate::sts::endpoint::StsEndpoint;
use crate::sts::{self, WebIdentityParams};
use crate::token::{self, ReadError};

/// The role to assume with the web identity token.
pub const ENV_ROLE_ARN: &str = "AWS_ROLE_ARN";
/// Path of the projected service-account token (the kubelet rotates it).
pub const ENV_WEB_IDENTITY_TOKEN_FILE: &str = "AWS_WEB_IDENTITY_TOKEN_FILE";

/// IRSA: a token file exchanged with STS AssumeRoleWithWebIdentity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub role_arn: String,
    pub token_file: PathBuf,
    pub session_name: String,
    /// `None` leaves the choice to STS (the role's default, one hour).
    pub duration: Option<Duration>,
    pub sts: StsEndpoint,
}

/// Whether the environment names IRSA at all (either variable), which the
/// SDKs prefer over a container endpoint.
pub fn configured(env: Env) -> bool {
    var(env, ENV_ROLE_ARN).is_some() || var(env, ENV_WEB_IDENTITY_TOKEN_FILE).is_some()
}

/// Whether both IRSA variables are set, as the SDKs require before they
/// take web identity.
pub fn complete(env: Env) -> bool {
    var(env, ENV_ROLE_ARN).is_some() && var(env, ENV_WEB_IDENTITY_TOKEN_FILE).is_some()
}

/// IRSA's settings from its variables, with the session name, duration and
/// STS endpoint the caller chose.
pub fn settings(
    env: Env,
    session_name: String,
    duration: Option<Duration>,
    sts: StsEndpoint,
) -> Result<Settings, Error> {
    let (role_arn, token_file) = match (var(env, ENV_ROLE_ARN), var(env, ENV_WEB_IDENTITY_TOKEN_FILE)) {
        (Some(r), Some(t)) => (r, t),
        (None, _) => {
            return Err(Error::Config(format!(
                "{ENV_ROLE_ARN} is not set: set it to the IAM role to assume with the web identity token (on EKS, annotate the service account with eks.amazonaws.com/role-arn)"
            )))
        }
        (Some(_), None) => {
            return Err(Error::Config(format!(
                "{ENV_ROLE_ARN} is set but {ENV_WEB_IDENTITY_TOKEN_FILE} is not: set it to the projected service-account token's path"
            )))
        }
    };
    let role_arn = role_arn.trim().to_string();
    sts::validate_role_arn(&role_arn)
        .map_err(|e| Error::Config(format!("{ENV_ROLE_ARN} {role_arn:?}: {e}")))?;
    Ok(Settings {
        role_arn,
        token_file: PathBuf::from(token_file),
        session_name,
        duration,
        sts,
    })
}

pub struct WebIdentityProvider {
    pub(super) cfg: Settings,
    /// `--role-arn` follows: messages say which of the two calls to the
    /// same STS failed.
    pub(super) chained: bool,
    net: Network,
}

impl WebIdentityProvider {
    pub fn new(cfg: Settings, net: &Network) -> Result<Self, Error> {
        // Built once here only to fail at start on a bad proxy or CA bundle.
        Client::new(&cfg.sts.post_url(), net)?;
        Ok(WebIdentityProvider {
            cfg,
            chained: false,
            net: net.clone(),
        })
    }

    /// The token file must be usable at start; after that, a failure to
    /// read it is a refresh failure like any other, in the same words.
    pub fn preflight(&self) -> Result<(), Error> {
        self.token().map(drop).map_err(super::at_start)
    }

    fn token(&self) -> Result<Secret, Error> {
        read_token(&self.cfg.token_file).map_err(|e| {
            super::token_file_problem(
                e,
                ENV_WEB_IDENTITY_TOKEN_FILE,
                "the projected token volume is mounted",
            )
        })
    }

    /// The credentials, and the token sent for them (a chained hop takes
    /// it out of its own errors: the same STS may quote it there).
    pub fn fetch(&self, deadline: Option<Instant>) -> Result<(Credentials, Secret), Error> {
        let token = self.token()?;
        let body = sts::web_identity_body(&WebIdentityParams {
            role_arn: &self.cfg.role_arn,
            session_name: &self.cfg.session_name,
            token: &token,
            duration: self.cfg.duration,
        });
        let client = Client::new(&self.cfg.sts.post_url(), &self.net)?;
        super::call_sts(
            &match self.chained {
                true => client.labelled("AssumeRoleWithWebIdentity, before --role-arn"),
                false => client,
            },
            sts::ACTION_WEB_IDENTITY,
            &[],
            &body,
            &[token.expose()],
            deadline,
        )
        .map(|creds| (creds, token))
    }

    pub fn describe(&self) -> String {
        format!(
            "web identity {} via {}",
            self.cfg.role_arn, self.cfg.sts.url
        )
    }
}

/// Reads the token: trimmed, non-empty, text, of a sane size.
pub fn read_token(path: &Path) -> Result<Secret, Error> {
    let invalid = |why: &str| {
        Error::io(
            "use the web identity token file",
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string()),
        )
    };
    let token = token::read_text(path, token::MAX_WEB_IDENTITY_TOKEN).map_err(|e| match e {
        ReadError::Io(e) => Error::io("read the web identity token file", path, e),
        ReadError::TooLarge => {
            invalid("it is larger than 64 KiB, which no service-account token is")
        }
        ReadError::NotText => invalid("it is not text"),
        not_regular @ ReadError::NotRegular(_) => invalid(&not_regular.describe()),
    })?;
    token::check_web_identity(&token).map_err(invalid)?;
    Ok(Secret::new(token))
}

#[cfg(test)]
mod tests;
