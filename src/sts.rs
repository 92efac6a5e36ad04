//! STS Query API requests (signed and unsigned) and their XML answers.
// TEMPORARY stand-in until the sts branch lands; replaced wholesale by it.
use crate::credentials::{Credentials, Secret};
use crate::error::Error;
pub struct WebIdentityParams<'a> {
    pub role_arn: &'a str,
    pub session_name: &'a str,
    pub token: &'a Secret,
    pub duration: Option<std::time::Duration>,
}
pub fn web_identity_body(p: &WebIdentityParams) -> String {
    format!("Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn={}&RoleSessionName={}&WebIdentityToken={}", p.role_arn, p.session_name, p.token.expose())
}
pub fn parse_response(
    _a: &str,
    from: &str,
    status: u16,
    _ct: Option<&str>,
    body: &[u8],
) -> Result<Credentials, Error> {
    let s = String::from_utf8_lossy(body);
    let get = |t: &str| -> Option<String> {
        let a = s.find(&format!("<{t}>"))? + t.len() + 2;
        let b = s[a..].find('<')? + a;
        Some(s[a..b].to_string())
    };
    if let Some(code) = get("Code") {
        return Err(Error::Sts {
            status,
            code,
            message: get("Message").unwrap_or_default(),
        });
    }
    let bad = || Error::BadResponse {
        from: from.into(),
        status,
        detail: "stub".into(),
    };
    Ok(Credentials {
        access_key_id: get("AccessKeyId").ok_or_else(bad)?,
        secret_access_key: Secret::new(get("SecretAccessKey").ok_or_else(bad)?),
        session_token: get("SessionToken").map(Secret::new),
        expiration: crate::time::Timestamp::parse_rfc3339(&get("Expiration").ok_or_else(bad)?)
            .map_err(|_| bad())?,
        account_id: None,
        role_arn: None,
    })
}
pub fn validate_session_name(s: &str) -> Result<(), String> {
    if s.contains(' ') {
        Err("bad".into())
    } else {
        Ok(())
    }
}
pub fn validate_role_arn(s: &str) -> Result<(), String> {
    if s.starts_with("arn:") {
        Ok(())
    } else {
        Err("bad".into())
    }
}
