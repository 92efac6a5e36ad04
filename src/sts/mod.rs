//! STS, the Query API this program calls: `AssumeRoleWithWebIdentity`
//! (unsigned) for IRSA and `AssumeRole` (SigV4) for `--role-arn`. What is
//! sent is `request`'s, what comes back `response`'s, the checks on the
//! parameters before anything is sent `params`', and where to send it
//! `endpoint`'s. Pure: `http` does the sending, and the clock is passed in.

pub mod endpoint;
mod params;
mod request;
mod response;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub use self::params::{
    validate_duration, validate_external_id, validate_role_arn, validate_session_name,
};
pub use self::request::{
    assume_role_body, sign, web_identity_body, AssumeRoleParams, WebIdentityParams,
};
pub use self::response::parse_response;

/// The STS API version every request names.
pub const STS_VERSION: &str = "2011-06-15";

/// The signing name of STS in SigV4 credential scopes.
pub const SIGNING_NAME: &str = "sts";

/// The content type of every request body, exactly as the AWS SDKs send it
/// for the Query protocol. It is signed, so the HTTP client must send this
/// value unchanged (it is among the headers [`sign`] returns).
pub const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// The action names, as they appear in bodies and answer element names.
pub const ACTION_WEB_IDENTITY: &str = "AssumeRoleWithWebIdentity";

pub const ACTION_ASSUME_ROLE: &str = "AssumeRole";

/// The shortest session STS grants (`DurationSeconds` minimum).
pub const MIN_DURATION: Duration = Duration::from_secs(900);

/// The longest session STS grants; the role's own maximum may be lower.
pub const MAX_DURATION: Duration = Duration::from_secs(43_200);

/// The longest session for role chaining (`AssumeRole` with credentials that
/// are themselves a role session, which both IRSA and Pod Identity give).
/// STS refuses more with a `ValidationError`.
pub const MAX_CHAINED_DURATION: Duration = Duration::from_secs(3_600);
