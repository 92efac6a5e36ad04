//! The bodies the fake sends: STS's XML success for either action and its
//! `ErrorResponse`, and the container agent's JSON, each shaped like the real
//! service's answer (element order, extra elements and fields no parser
//! needs); and the credentials it mints for them.

use super::{Issued, Protocol};

/// Credentials number `n` of the fake tagged `tag` (12 characters unique to
/// it among all fakes of the run), shaped like the real thing: a
/// 20-character ASIA key, a 40-ish character secret with / and +, a long
/// session token with / + =.
pub(super) fn mint(tag: &str, n: usize, expiration: String) -> Issued {
    Issued {
        access_key_id: format!("ASIA{}{:04}", &tag[..12], n % 10_000),
        secret_access_key: format!("wJalrXUt{tag}N{n:04}/K7MDENG+bPxRfiCYsEcReT"),
        session_token: format!(
            "IQoJb3JpZ2luX2VjE{tag}N{n:04}/SeSsIoNtOkEn+{}==",
            "FwoGZXIvYXdzEBYaDHqa0AP1/5HJQmRSTUFTokenPart+".repeat(6)
        ),
        expiration,
    }
}

/// The success answer carrying `c` in `protocol`: its content type and body.
pub fn success(protocol: Protocol, c: &Issued) -> (&'static str, String) {
    match protocol {
        Protocol::WebIdentity => ("text/xml", web_identity_xml(c)),
        Protocol::AssumeRole => ("text/xml", assume_role_xml(c)),
        Protocol::Container => ("application/json", container_json(c)),
    }
}

/// The `AssumeRoleWithWebIdentity` success, in the element order real STS
/// uses (Credentials after AssumedRoleUser, AccessKeyId last), with the
/// extra elements it sends.
fn web_identity_xml(c: &Issued) -> String {
    format!(
        r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:default:itest</SubjectFromWebIdentityToken>
    <Audience>sts.amazonaws.com</Audience>
    <AssumedRoleUser>
      <AssumedRoleId>AROA3XFRBF535PLBIFPI4:itest</AssumedRoleId>
      <Arn>arn:aws:sts::123456789012:assumed-role/aws-credfile-test/itest</Arn>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>{token}</SessionToken>
      <SecretAccessKey>{secret}</SecretAccessKey>
      <Expiration>{expiration}</Expiration>
      <AccessKeyId>{akid}</AccessKeyId>
    </Credentials>
    <Provider>arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
    <RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>
"#,
        token = c.session_token,
        secret = c.secret_access_key,
        expiration = c.expiration,
        akid = c.access_key_id,
    )
}

/// The `AssumeRole` success, as real STS sends it for a chained role.
fn assume_role_xml(c: &Issued) -> String {
    format!(
        r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <SourceIdentity>itest</SourceIdentity>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::210987654321:assumed-role/chained/itest</Arn>
      <AssumedRoleId>AROA3XFRBF535CHAINED01:itest</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>{akid}</AccessKeyId>
      <SecretAccessKey>{secret}</SecretAccessKey>
      <SessionToken>{token}</SessionToken>
      <Expiration>{expiration}</Expiration>
    </Credentials>
    <PackedPolicySize>6</PackedPolicySize>
  </AssumeRoleResult>
  <ResponseMetadata>
    <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
  </ResponseMetadata>
</AssumeRoleResponse>
"#,
        token = c.session_token,
        secret = c.secret_access_key,
        expiration = c.expiration,
        akid = c.access_key_id,
    )
}

/// The EKS Pod Identity agent's answer: `Expiration` with nanoseconds (a
/// whole-second time gains `.123456789`; anything else is sent as it is),
/// `AccountId`, and a field no parser knows.
fn container_json(c: &Issued) -> String {
    let expiration = c
        .expiration
        .strip_suffix('Z')
        .filter(|whole| !whole.contains('.'))
        .map(|whole| format!("{whole}.123456789Z"))
        .unwrap_or_else(|| c.expiration.clone());
    format!(
        r#"{{"AccessKeyId":"{akid}","SecretAccessKey":"{secret}","Token":"{token}","AccountId":"123456789012","Expiration":"{expiration}","Unknown":{{"x":[1,2]}}}}"#,
        akid = c.access_key_id,
        secret = c.secret_access_key,
        token = c.session_token,
    )
}

/// STS's `ErrorResponse` with this code and message.
pub fn error_xml(code: &str, message: &str) -> String {
    format!(
        r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>Sender</Type>
    <Code>{code}</Code>
    <Message>{message}</Message>
  </Error>
  <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
</ErrorResponse>
"#
    )
}
