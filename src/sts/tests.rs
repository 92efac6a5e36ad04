//! Unit tests of the STS requests, answers and parameter checks, against
//! recorded answers and botocore-computed signatures.

use super::endpoint::StsEndpoint;
use super::request::percent_encode_into;
use super::*;
use crate::credentials::{Credentials, Secret};
use crate::error::Error;
use crate::time::Timestamp;
use std::time::SystemTime;

const NS: &str = r#"xmlns="https://sts.amazonaws.com/doc/2011-06-15/""#;
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLEKEY";
const TOKEN: &str = "FwoGZXIvYXdzEBYaDSESSIONTOKENEXAMPLE//+/=";
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/demo";

fn web_identity_xml() -> String {
    format!(
        r#"<AssumeRoleWithWebIdentityResponse {NS}>
  <AssumeRoleWithWebIdentityResult>
<Audience>sts.amazonaws.com</Audience>
<AssumedRoleUser>
  <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:app1</AssumedRoleId>
  <Arn>arn:aws:sts::123456789012:assumed-role/demo/app1</Arn>
</AssumedRoleUser>
<Provider>arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC</Provider>
<Credentials>
  <SessionToken>{TOKEN}</SessionToken>
  <SecretAccessKey>{SECRET}</SecretAccessKey>
  <Expiration>2024-05-06T08:08:09Z</Expiration>
  <AccessKeyId>ASIAEXAMPLE123</AccessKeyId>
</Credentials>
<SubjectFromWebIdentityToken>system:serviceaccount:ns:sa</SubjectFromWebIdentityToken>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
<RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>
"#
    )
}

fn assume_role_xml() -> String {
    // Different order from the one above, no namespace prefix quirks,
    // Credentials before AssumedRoleUser, and extra elements throughout.
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- recorded -->
<AssumeRoleResponse {NS}><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata><AssumeRoleResult><SourceIdentity>x</SourceIdentity><Credentials><AccessKeyId>ASIAROLE2</AccessKeyId><Expiration>2024-05-06T08:08:09.000Z</Expiration><Unknown a="b"><Nested/></Unknown><SecretAccessKey>{SECRET}</SecretAccessKey><SessionToken>{TOKEN}</SessionToken></Credentials><AssumedRoleUser><Arn>arn:aws:sts::210987654321:assumed-role/demo/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser><PackedPolicySize>6</PackedPolicySize></AssumeRoleResult></AssumeRoleResponse>"#
    )
}

fn parse(action: &'static str, status: u16, body: &str) -> Result<Credentials, Error> {
    parse_response(action, "STS", status, Some("text/xml"), body.as_bytes())
}

fn bad_response(r: Result<Credentials, Error>) -> String {
    match r {
        Err(e @ Error::BadResponse { .. }) => {
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains(SECRET), "{shown}");
            assert!(!shown.contains(TOKEN), "{shown}");
            e.to_string()
        }
        other => panic!("expected BadResponse, got {other:?}"),
    }
}

#[test]
fn parses_web_identity_success() {
    let c = parse(ACTION_WEB_IDENTITY, 200, &web_identity_xml()).expect("valid answer");
    assert_eq!(c.access_key_id, "ASIAEXAMPLE123");
    assert_eq!(c.secret_access_key.expose(), SECRET);
    assert_eq!(c.session_token.as_ref().map(Secret::expose), Some(TOKEN));
    assert_eq!(c.expiration.to_rfc3339(), "2024-05-06T08:08:09Z");
    assert_eq!(
        c.role_arn.as_deref(),
        Some("arn:aws:sts::123456789012:assumed-role/demo/app1")
    );
    assert_eq!(c.account_id.as_deref(), Some("123456789012"));
}

#[test]
fn parses_assume_role_success_in_another_order() {
    let c = parse(ACTION_ASSUME_ROLE, 200, &assume_role_xml()).expect("valid answer");
    assert_eq!(c.access_key_id, "ASIAROLE2");
    assert_eq!(c.secret_access_key.expose(), SECRET);
    assert_eq!(c.expiration.to_rfc3339(), "2024-05-06T08:08:09Z");
    assert_eq!(c.account_id.as_deref(), Some("210987654321"));
}

#[test]
fn parses_without_namespace_or_assumed_role_user() {
    let xml = format!(
        "<AssumeRoleResponse><AssumeRoleResult><Credentials>\
         <AccessKeyId>ASIA3</AccessKeyId><SecretAccessKey>{SECRET}</SecretAccessKey>\
         <SessionToken>{TOKEN}</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration>\
         </Credentials></AssumeRoleResult></AssumeRoleResponse>"
    );
    let c = parse(ACTION_ASSUME_ROLE, 200, &xml).expect("valid answer");
    assert_eq!(c.role_arn, None);
    assert_eq!(c.account_id, None);
    assert_eq!(c.expiration.to_rfc3339(), "2030-01-01T00:00:00Z");
}

#[test]
fn answer_to_the_other_action_is_rejected() {
    let msg = bad_response(parse(ACTION_ASSUME_ROLE, 200, &web_identity_xml()));
    assert!(msg.contains("<AssumeRoleResponse>"), "{msg}");
    // The right root with the wrong result element inside.
    let xml = web_identity_xml().replace("AssumeRoleWithWebIdentityResponse", "AssumeRoleResponse");
    let msg = bad_response(parse(ACTION_ASSUME_ROLE, 200, &xml));
    assert!(
        msg.contains("<AssumeRoleResult><Credentials> is missing"),
        "{msg}"
    );
}

#[test]
fn error_responses() {
    let access_denied = format!(
        r#"<ErrorResponse {NS}>
  <Error>
<Type>Sender</Type>
<Code>AccessDenied</Code>
<Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message>
  </Error>
  <RequestId>8d8a6e4e-1c37-4c84-9f2b-0example</RequestId>
</ErrorResponse>"#
    );
    match parse(ACTION_WEB_IDENTITY, 403, &access_denied) {
        Err(Error::Sts {
            action,
            status,
            code,
            message,
        }) => {
            assert_eq!(action, ACTION_WEB_IDENTITY);
            assert_eq!(status, 403);
            assert_eq!(code, "AccessDenied");
            assert_eq!(
                message,
                "Not authorized to perform sts:AssumeRoleWithWebIdentity \
                 (request id 8d8a6e4e-1c37-4c84-9f2b-0example)"
            );
        }
        other => panic!("{other:?}"),
    }

    // One level deeper, as moto's signature checks answer.
    let nested = "<ErrorResponse><Errors><Error><Code>SignatureDoesNotMatch</Code>\
                  <Message>The request signature we calculated does not match</Message>\
                  </Error></Errors><RequestId>r-1</RequestId></ErrorResponse>";
    match parse(ACTION_ASSUME_ROLE, 403, nested) {
        Err(Error::Sts { code, message, .. }) => {
            assert_eq!(code, "SignatureDoesNotMatch");
            assert!(message.starts_with("The request signature"), "{message}");
        }
        other => panic!("{other:?}"),
    }

    // Without Type or RequestId, Code after Message.
    let throttling = "<ErrorResponse><Error><Message>Rate exceeded</Message>\
                      <Code>Throttling</Code></Error></ErrorResponse>";
    match parse(ACTION_ASSUME_ROLE, 400, throttling) {
        Err(e @ Error::Sts { .. }) => {
            assert!(e.is_transient());
            assert_eq!(
                e.to_string(),
                "STS refused AssumeRole: Throttling: Rate exceeded (HTTP 400); STS is throttling or briefly unavailable; this is usually temporary"
            );
        }
        other => panic!("{other:?}"),
    }

    // An ErrorResponse with a success status is still an error.
    match parse(ACTION_WEB_IDENTITY, 200, &access_denied) {
        Err(Error::Sts {
            status: 200, code, ..
        }) => assert_eq!(code, "AccessDenied"),
        other => panic!("{other:?}"),
    }

    // No Error element at all.
    match parse(ACTION_WEB_IDENTITY, 500, "<ErrorResponse/>") {
        Err(Error::Sts {
            status: 500,
            code,
            message,
            ..
        }) => {
            assert_eq!(code, "Unknown");
            assert_eq!(message, "no message");
        }
        other => panic!("{other:?}"),
    }

    // Truncated ErrorResponse.
    let msg = bad_response(parse(
        ACTION_WEB_IDENTITY,
        400,
        "<ErrorResponse><Error><Code>Acc",
    ));
    assert!(msg.contains("ErrorResponse"), "{msg}");
}

#[test]
fn non_success_status_without_error_response() {
    let html = "<html><head><title>502 Bad Gateway</title></head>\
                <body><h1>502 Bad Gateway</h1></body></html>";
    let r = parse_response(
        ACTION_WEB_IDENTITY,
        "STS",
        502,
        Some("text/html"),
        html.as_bytes(),
    );
    match &r {
        Err(e @ Error::BadResponse { status: 502, .. }) => {
            assert!(e.is_transient());
            let msg = e.to_string();
            assert!(
                msg.contains("HTTP 502") && msg.contains("text/html"),
                "{msg}"
            );
            assert!(msg.contains("502 Bad Gateway"), "{msg}");
        }
        other => panic!("{other:?}"),
    }

    // A success document with a failure status: never trusted, never quoted.
    let msg = bad_response(parse(ACTION_WEB_IDENTITY, 500, &web_identity_xml()));
    assert!(msg.contains("non-success"), "{msg}");
    assert!(!msg.contains("ASIAEXAMPLE123"), "{msg}");

    // A long body is cut to about 100 characters, on one line.
    let long = format!("oops\n\r\t{}", "x".repeat(5000));
    let msg = bad_response(parse_response(
        ACTION_ASSUME_ROLE,
        "STS",
        503,
        None,
        long.as_bytes(),
    ));
    // About 100 characters of it, beside the words around it.
    assert!(msg.len() < 450, "{msg}");
    assert!(!msg.contains(&"x".repeat(150)), "{msg}");
    assert!(
        msg.contains("without a content type") && msg.contains("oops"),
        "{msg}"
    );
    assert!(!msg.contains('\n') && !msg.contains('\r'), "{msg}");
}

#[test]
fn garbage_never_panics() {
    // Deep nesting must not exhaust the stack while unknown elements
    // are skipped.
    let deep = format!(
        "<AssumeRoleResponse><AssumeRoleResult>{}",
        "<a>".repeat(50_000)
    );
    let cases: Vec<(u16, Option<&str>, Vec<u8>)> = vec![
        (200, Some("text/xml"), Vec::new()),
        (200, Some("text/xml"), b"  \n ".to_vec()),
        (
            200,
            Some("application/json"),
            br#"{"Credentials":{}}"#.to_vec(),
        ),
        (
            200,
            Some("text/html"),
            b"<!DOCTYPE html><html><body>hi</body></html>".to_vec(),
        ),
        (200, None, b"plain words".to_vec()),
        (200, Some("text/xml"), vec![0xff, 0xfe, 0x00, 0x3c, 0x80]),
        (
            200,
            Some("text/xml"),
            b"<AssumeRoleResponse><AssumeRoleResult><Cred".to_vec(),
        ),
        (200, Some("text/xml"), b"<AssumeRoleResponse>".to_vec()),
        (
            200,
            Some("text/xml"),
            b"<AssumeRoleResponse></Wrong>".to_vec(),
        ),
        (200, Some("text/xml"), b"<<<>>>".to_vec()),
        (200, Some("text/xml"), b"<?xml version=\"1.0\"?>".to_vec()),
        (200, Some("text/xml"), b"\0\0\0\0".to_vec()),
        (400, Some("text/xml"), vec![0xc3, 0x28]),
        (404, None, Vec::new()),
        (200, Some("text/xml"), deep.clone().into_bytes()),
        (
            200,
            Some("text/xml"),
            format!("{deep}{}", "</a>".repeat(50_000)).into_bytes(),
        ),
    ];
    for (status, ct, body) in cases {
        let r = parse_response(ACTION_ASSUME_ROLE, "STS", status, ct, &body);
        let msg = bad_response(r);
        assert!(msg.contains(&format!("HTTP {status}")), "{msg}");
        assert!(
            msg.contains(ct.unwrap_or("without a content type")) || msg.contains("malformed"),
            "{body:?}: {msg}"
        );
    }
}

#[test]
fn truncated_success_is_reported_without_secrets() {
    let full = web_identity_xml();
    // Cut at many points, including inside the secret and token.
    for cut in (1..full.len()).step_by(7) {
        let mut end = cut;
        while !full.is_char_boundary(end) {
            end -= 1;
        }
        let r = parse(ACTION_WEB_IDENTITY, 200, &full[..end]);
        assert!(r.is_err(), "cut at {end} parsed");
        bad_response(r);
    }
}

#[test]
fn missing_and_empty_fields_are_named() {
    let full = web_identity_xml();
    for (element, value) in [
        ("AccessKeyId", "ASIAEXAMPLE123"),
        ("SecretAccessKey", SECRET),
        ("SessionToken", TOKEN),
        ("Expiration", "2024-05-06T08:08:09Z"),
    ] {
        let whole = format!("<{element}>{value}</{element}>");
        for replacement in [
            String::new(),
            format!("<{element}></{element}>"),
            format!("<{element}/>"),
            format!("<{element}>  </{element}>"),
        ] {
            let xml = full.replace(&whole, &replacement);
            let msg = bad_response(parse(ACTION_WEB_IDENTITY, 200, &xml));
            assert!(msg.contains(element), "{replacement}: {msg}");
        }
    }
    let start = full.find("<Credentials>").expect("fixture has Credentials");
    let end = full
        .find("</Credentials>")
        .expect("fixture has Credentials")
        + "</Credentials>".len();
    let xml = format!("{}{}", &full[..start], &full[end..]);
    let msg = bad_response(parse(ACTION_WEB_IDENTITY, 200, &xml));
    assert!(msg.contains("<Credentials> is missing"), "{msg}");
}

#[test]
fn bad_expiration() {
    for bad in [
        "tomorrow",
        "2024-13-01T00:00:00Z",
        "1714979289",
        "2024-05-06 08:08",
    ] {
        let xml = web_identity_xml().replace("2024-05-06T08:08:09Z", bad);
        let msg = bad_response(parse(ACTION_WEB_IDENTITY, 200, &xml));
        assert!(msg.contains("Expiration"), "{msg}");
    }
    // Part of the answer's own secret key where the expiry
    // belongs was quoted; only the whole of it was hidden.
    let part = &SECRET[2..SECRET.len() - 2];
    let xml = web_identity_xml().replace("2024-05-06T08:08:09Z", part);
    let msg = bad_response(parse(ACTION_WEB_IDENTITY, 200, &xml));
    assert!(
        msg.contains("Expiration") && !msg.contains(&part[..16]),
        "{msg}"
    );
}

#[test]
fn credential_values_must_be_file_safe() {
    let xml = web_identity_xml().replace(TOKEN, &format!("{TOKEN}&#10;x = y"));
    let msg = bad_response(parse(ACTION_WEB_IDENTITY, 200, &xml));
    assert!(msg.contains("SessionToken"), "{msg}");
    let xml = web_identity_xml().replace(SECRET, &format!("{SECRET} more"));
    let msg = bad_response(parse(ACTION_WEB_IDENTITY, 200, &xml));
    assert!(msg.contains("SecretAccessKey"), "{msg}");
    // aws-sdk-go v1 fails on the whole file at a value starting with ';'.
    let xml = web_identity_xml().replace(SECRET, &format!(";{SECRET}"));
    let msg = bad_response(parse(ACTION_WEB_IDENTITY, 200, &xml));
    assert!(
        msg.contains("<Credentials><SecretAccessKey> holds characters other than"),
        "{msg}"
    );
    // Whitespace around a value, escaped or not, is refused, not trimmed
    // into a secret other than the one sent.
    for padded in [format!("&#32;{SECRET}&#9;"), format!("{SECRET}\u{a0}")] {
        let xml = web_identity_xml().replace(SECRET, &padded);
        let msg = bad_response(parse(ACTION_WEB_IDENTITY, 200, &xml));
        assert!(msg.contains("<SecretAccessKey> holds characters"), "{msg}");
    }
    // Expiration is no credential value: its ':' is fine.
    assert!(parse(ACTION_WEB_IDENTITY, 200, &web_identity_xml()).is_ok());
}

#[test]
fn no_secret_in_any_error() {
    let full = web_identity_xml();
    let mut variants = vec![
        full.replace("2024-05-06T08:08:09Z", "never"),
        full.replace("<AccessKeyId>ASIAEXAMPLE123</AccessKeyId>", ""),
        full.replace(SECRET, &format!("{SECRET}&bogus;")),
        full.replace(TOKEN, &format!("{TOKEN}&#xZZ;")),
        full.replace("</SessionToken>", "</SessionTokn>"),
        full.replace("</Credentials>", "</Credentials></Credentials>"),
        full.replace("<AccessKeyId>", "<AccessKeyId><b>")
            .replace("</AccessKeyId>", "</b></AccessKeyId>"),
        format!("{full}<Trailing/>"),
    ];
    variants.push(full.replace("<Credentials>", "<Credentials><Credentials>"));
    for (i, xml) in variants.iter().enumerate() {
        for status in [200, 400, 500] {
            for ct in [Some("text/xml"), Some("text/html"), None] {
                match parse_response(ACTION_WEB_IDENTITY, "STS", status, ct, xml.as_bytes()) {
                    Ok(_) => {}
                    Err(e) => {
                        let shown = format!("{e} {e:?}");
                        assert!(!shown.contains(SECRET), "variant {i}: {shown}");
                        assert!(!shown.contains(TOKEN), "variant {i}: {shown}");
                        assert!(!shown.contains("wJalrXUtnFEMI"), "variant {i}: {shown}");
                        assert!(!shown.contains("FwoGZXIvYXdz"), "variant {i}: {shown}");
                    }
                }
            }
        }
    }
    // A success body under a non-XML content type with an error status.
    let json = format!(r#"{{"SecretAccessKey":"{SECRET}","Token":"{TOKEN}"}}"#);
    let msg = bad_response(parse_response(
        ACTION_ASSUME_ROLE,
        "STS",
        500,
        Some("application/json"),
        json.as_bytes(),
    ));
    assert!(msg.contains("not quoted"), "{msg}");
}

#[test]
fn web_identity_body_encoding() {
    let token = Secret::new("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.sig-_~");
    let body = web_identity_body(&WebIdentityParams {
        role_arn: "arn:aws:iam::123456789012:role/path/to/demo",
        session_name: "aws-credfile@host,1=2.x",
        token: &token,
        duration: Some(Duration::from_secs(3600)),
    });
    assert_eq!(
        body,
        "Action=AssumeRoleWithWebIdentity&Version=2011-06-15\
         &RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fpath%2Fto%2Fdemo\
         &RoleSessionName=aws-credfile%40host%2C1%3D2.x\
         &WebIdentityToken=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.sig-_~\
         &DurationSeconds=3600"
    );
    let without = web_identity_body(&WebIdentityParams {
        role_arn: ROLE_ARN,
        session_name: "s1",
        token: &token,
        duration: None,
    });
    assert!(!without.contains("DurationSeconds"), "{without}");
}

#[test]
fn assume_role_body_encoding() {
    let body = assume_role_body(&AssumeRoleParams {
        role_arn: ROLE_ARN,
        session_name: "aws-credfile-test",
        external_id: Some("ext-id/1"),
        duration: Some(Duration::from_secs(3600)),
    });
    assert_eq!(body, SIGNED_BODY);
    let plain = assume_role_body(&AssumeRoleParams {
        role_arn: ROLE_ARN,
        session_name: "s1",
        external_id: None,
        duration: None,
    });
    assert_eq!(
        plain,
        "Action=AssumeRole&Version=2011-06-15\
         &RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdemo&RoleSessionName=s1"
    );
    let mut odd = String::new();
    percent_encode_into(&mut odd, "a b+c&d=é\u{1F600}~*'()!");
    assert_eq!(odd, "a%20b%2Bc%26d%3D%C3%A9%F0%9F%98%80~%2A%27%28%29%21");
}

const SIGNED_BODY: &str = "Action=AssumeRole&Version=2011-06-15\
    &RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdemo\
    &RoleSessionName=aws-credfile-test&ExternalId=ext-id%2F1&DurationSeconds=3600";

fn signing_creds(token: Option<&str>) -> Credentials {
    Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        session_token: token.map(Secret::new),
        expiration: Timestamp::from_unix(1_714_990_000),
        account_id: None,
        role_arn: None,
    }
}

/// The expected values were computed independently with botocore 1.44.8's
/// `SigV4Auth` (python3 -m venv /tmp/sigvenv && /tmp/sigvenv/bin/pip
/// install botocore), for the same URL, body, headers, time and keys:
///
/// ```python
/// import datetime
/// from unittest import mock
/// from botocore.auth import SigV4Auth
/// from botocore.awsrequest import AWSRequest
/// from botocore.credentials import Credentials
///
/// def sign(url, region, body, token):
///     req = AWSRequest(method="POST", url=url, data=body, headers={
///         "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
///     now = datetime.datetime(2024, 5, 6, 7, 8, 9)  # 1714979289, UTC
///     with mock.patch("botocore.auth.get_current_datetime", return_value=now):
///         SigV4Auth(Credentials("AKIDEXAMPLE",
///                               "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token),
///                   "sts", region).add_auth(req)
///     print(req.headers.get("Authorization"))
///
/// body = ("Action=AssumeRole&Version=2011-06-15"
///         "&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdemo"
///         "&RoleSessionName=aws-credfile-test&ExternalId=ext-id%2F1&DurationSeconds=3600")
/// token = "FwoGZXIvYXdzEXAMPLE//token+with/slash="
/// sign("https://sts.eu-west-1.amazonaws.com/", "eu-west-1", body, token)
/// sign("http://127.0.0.1:8080/", "us-east-1", body, None)
/// sign("https://proxy.internal/sts/", "eu-west-1", body, token)
/// sign("http://[::1]:8443/", "us-east-1", body, token)
/// sign("https://[fd00:ec2::5]/sts/", "us-east-1", body, None)
/// sign("https://sts.example.com:8443/a/b/", "us-east-1", body, None)
/// ```
///
/// Each endpoint URL below is what config stores: a path as given, none
/// for a bare `/`, to which `post_url` adds the `/` botocore was given.
#[test]
fn signature_matches_botocore() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_979_289);
    let token = "FwoGZXIvYXdzEXAMPLE//token+with/slash=";
    // (endpoint URL, signing region, session token, Host sent, signature)
    let cases = [
        // The regional endpoint, with a session token (signed too).
        (
            "https://sts.eu-west-1.amazonaws.com",
            "eu-west-1",
            Some(token),
            "sts.eu-west-1.amazonaws.com",
            "769f70e52e031d8e7176657575961a3d37ff13e46623a0f0326501631d59fa08",
        ),
        // Plain http on a non-default port: the port is part of the host.
        (
            "http://127.0.0.1:8080",
            "us-east-1",
            None,
            "127.0.0.1:8080",
            "edebdbf07f0914ef69a6e37b51fc57377ce81f5bd8d575774b9495510e6cb0f6",
        ),
        // An override with a path: signed for /sts/, where it is sent.
        (
            "https://proxy.internal/sts/",
            "eu-west-1",
            Some(token),
            "proxy.internal",
            "070e038d00cb87c80092eef83332657d7a287b03a90b2ccc6f582c55001d430d",
        ),
        // IPv6 with a port: brackets in the host.
        (
            "http://[::1]:8443",
            "us-east-1",
            Some(token),
            "[::1]:8443",
            "0c401c836e11697b9bc1aa7c0b1099ff6cf052a99c0c2fe44cf9846aa50aeec7",
        ),
        // IPv6 on the default port, with a path.
        (
            "https://[fd00:ec2::5]/sts/",
            "us-east-1",
            None,
            "[fd00:ec2::5]",
            "8d10557ebe696eba9304dcf6971140acab58b3c4e6302db726600a6794303313",
        ),
        // A non-default https port and a deeper path.
        (
            "https://sts.example.com:8443/a/b/",
            "us-east-1",
            None,
            "sts.example.com:8443",
            "51652c9aa05ac0812dd93bf537142b1adbc24e41460cdab52f7f8e8da6ce5c26",
        ),
    ];
    for (url, region, token, host, signature) in cases {
        let endpoint = StsEndpoint {
            url: url.into(),
            signing_region: region.into(),
        };
        let mut headers = sign(&endpoint, SIGNED_BODY, &signing_creds(token), now)
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        headers.sort();
        let signed = if token.is_some() {
            "content-type;host;x-amz-date;x-amz-security-token"
        } else {
            "content-type;host;x-amz-date"
        };
        let mut expected = vec![
            (
                "authorization".to_owned(),
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240506/{region}/sts/aws4_request, \
                     SignedHeaders={signed}, Signature={signature}"
                ),
            ),
            ("content-type".to_owned(), CONTENT_TYPE.to_owned()),
            ("host".to_owned(), host.to_owned()),
            ("x-amz-date".to_owned(), "20240506T070809Z".to_owned()),
        ];
        if let Some(t) = token {
            expected.push(("x-amz-security-token".to_owned(), t.to_owned()));
        }
        assert_eq!(headers, expected, "{url}");
    }
}

#[test]
fn signing_failure_is_an_error_without_secrets() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_979_289);
    let endpoint = StsEndpoint {
        url: "https://sts.amazonaws.com".into(),
        signing_region: "us-east-1".into(),
    };
    let creds = signing_creds(Some("FwoGZXIvYXdzbad\ntoken"));
    let err = sign(&endpoint, SIGNED_BODY, &creds, now).expect_err("newline in token");
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("cannot sign"), "{shown}");
    assert!(
        !shown.contains("FwoGZXIvYXdz") && !shown.contains("wJalrXUtnFEMI"),
        "{shown}"
    );
}

#[test]
fn session_names() {
    for good in ["ab", "aws-credfile", "a_b+c=d,e.f@g-h", &"x".repeat(64)] {
        assert_eq!(validate_session_name(good), Ok(()), "{good}");
    }
    for bad in [
        "",
        "a",
        "has space",
        "slash/no",
        "colon:no",
        "é1",
        &"x".repeat(65),
    ] {
        assert!(validate_session_name(bad).is_err(), "{bad}");
    }
}

#[test]
fn role_arns() {
    for good in [
        ROLE_ARN,
        "arn:aws:iam::123456789012:role/path/to/my-role_1+=,.@",
        "arn:aws-cn:iam::123456789012:role/demo",
        "arn:aws-us-gov:iam::123456789012:role/service-role/demo",
        "arn:aws-iso-b:iam::123456789012:role/x",
    ] {
        assert_eq!(validate_role_arn(good), Ok(()), "{good}");
    }
    for bad in [
        "",
        "demo",
        "arn:aws:iam::12345678901:role/demo",
        "arn:aws:iam::1234567890123:role/demo",
        "arn:aws:iam::12345678901a:role/demo",
        "arn:aws:iam:us-east-1:123456789012:role/demo",
        "arn:aws:sts::123456789012:assumed-role/demo/s",
        "arn:aws:iam::123456789012:user/demo",
        "arn:aws:iam::123456789012:role/",
        "arn:aws:iam::123456789012:role/path/",
        "arn:aws:iam::123456789012:role//demo",
        "arn:aws:iam::123456789012:role/bad name",
        "arn:aws:iam::123456789012:role/pa th/demo",
        "arn:AWS:iam::123456789012:role/demo",
        "arn:gcp:iam::123456789012:role/demo",
        "ARN:aws:iam::123456789012:role/demo",
        &format!("arn:aws:iam::123456789012:role/{}", "x".repeat(65)),
    ] {
        assert!(validate_role_arn(bad).is_err(), "{bad}");
    }
}

#[test]
fn external_ids() {
    for good in ["ab", "ext-id/1", "a:b/c_d+e=f,g.h@i-j", &"x".repeat(1224)] {
        assert_eq!(validate_external_id(good), Ok(()), "{good}");
    }
    for bad in ["", "a", "has space", "semi;colon", &"x".repeat(1225)] {
        let err = validate_external_id(bad).expect_err(bad);
        assert!(bad.len() < 3 || !err.contains(bad), "{err}");
    }
}

#[test]
fn durations() {
    let s = Duration::from_secs;
    assert_eq!(validate_duration(s(900), MAX_DURATION), Ok(()));
    assert_eq!(validate_duration(s(43_200), MAX_DURATION), Ok(()));
    assert_eq!(validate_duration(s(3_600), MAX_CHAINED_DURATION), Ok(()));
    assert!(validate_duration(s(899), MAX_DURATION).is_err());
    assert!(validate_duration(s(43_201), MAX_DURATION).is_err());
    assert!(validate_duration(s(3_601), MAX_CHAINED_DURATION).is_err());
    assert!(validate_duration(Duration::from_millis(900_500), MAX_DURATION).is_err());
}

/// The assumed role's ARN was served as `RoleArn` as STS (or whatever
/// answered in its place) spelled it: terminal escapes and line breaks
/// reached every client that prints it. Only what can be an ARN is kept.
#[test]
fn an_arn_that_cannot_be_one_is_not_passed_on() {
    let good = parse("AssumeRoleWithWebIdentity", 200, &web_identity_xml()).expect("parses");
    assert_eq!(
        good.role_arn.as_deref(),
        Some("arn:aws:sts::123456789012:assumed-role/demo/app1")
    );
    for arn in [
        "arn:aws:sts::123456789012:assumed-role/demo/app1&#27;]0;pwned&#7;",
        "arn:aws:sts::1:assumed-role/a&#10;[evil]",
        "not-an-arn",
        &format!("arn:{}", "x".repeat(3000)),
    ] {
        let xml =
            web_identity_xml().replace("arn:aws:sts::123456789012:assumed-role/demo/app1", arn);
        let c = parse("AssumeRoleWithWebIdentity", 200, &xml).expect(arn);
        assert_eq!((c.role_arn, c.account_id), (None, None), "{arn}");
    }
}
