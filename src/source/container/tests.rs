//! Unit tests of the container source: the SDKs' URL rules and the
//! endpoint's answers, good and bad.

use super::*;

#[test]
fn http_hosts_follow_the_sdks() {
    for ok in [
        "http://169.254.170.2/v2/credentials/abc",
        "http://169.254.170.23/v1/credentials",
        "http://[fd00:ec2::23]/v1/credentials",
        "http://127.0.0.1:9911/v1/credentials",
        "http://127.1.2.3/x",
        "http://[::1]:80/x",
        "http://localhost:8080/creds",
        "https://creds.example.com/v1",
    ] {
        assert!(validate_url(ok).is_ok(), "{ok}");
    }
    for bad in [
        "http://169.254.169.254/latest",
        "http://10.0.0.1/creds",
        "http://example.com/creds",
        "http://[fd00:ec2::24]/x",
        "ftp://127.0.0.1/x",
        "169.254.170.2/v1",
    ] {
        assert!(validate_url(bad).is_err(), "{bad}");
    }
}

const URL: &str = "http://169.254.170.23/v1/credentials";

#[test]
fn parses_pod_identity_answer() {
    let body = br#"{"AccessKeyId":"ASIAPOD","SecretAccessKey":"podsecret","Token":"podtoken",
        "AccountId":"123456789012","Expiration":"2026-11-26T16:00:00.123456789Z","Extra":1}"#;
    let c = parse_answer(URL, 200, Some("application/json"), body).unwrap();
    assert_eq!(c.access_key_id, "ASIAPOD");
    assert_eq!(c.secret_access_key.expose(), "podsecret");
    assert_eq!(
        c.session_token.as_ref().map(Secret::expose),
        Some("podtoken")
    );
    assert_eq!(c.expiration.to_rfc3339(), "2026-11-26T16:00:00Z");
    assert_eq!(c.account_id.as_deref(), Some("123456789012"));
}

/// An agent's `AccountId` was passed on as it came, and
/// botocore refuses credentials whose account is not twelve digits. Such
/// an account is dropped (it is optional).
#[test]
fn an_account_that_is_not_twelve_digits_is_dropped() {
    // Nor is a number, an object or null a reason to refuse them.
    for value in [
        "123456789012",
        "-1",
        "1.5",
        "true",
        "{}",
        "null",
        "[1]",
        r#"{"a":[1,{"b":"c"}],"d":null}"#,
    ] {
        let body = format!(
            r#"{{"AccessKeyId":"ASIAPOD","SecretAccessKey":"podsecret","Token":"podtoken","AccountId":{value},"RoleArn":5,"Expiration":"2026-11-26T16:00:00Z"}}"#
        );
        let c = parse_answer(URL, 200, None, body.as_bytes()).expect(value);
        assert_eq!((c.account_id, c.role_arn), (None, None), "{value}");
    }
    for account in [
        "evil.example.com/#",
        "12345678901",
        "1234567890123",
        "12345678901x",
    ] {
        let body = format!(
            r#"{{"AccessKeyId":"ASIAPOD","SecretAccessKey":"podsecret","Token":"podtoken","AccountId":"{account}","Expiration":"2026-11-26T16:00:00Z"}}"#
        );
        let c = parse_answer(URL, 200, None, body.as_bytes()).unwrap();
        assert_eq!(c.account_id, None, "{account}");
    }
}

/// An answer encoded twice (a JSON string holding the
/// credentials object) was reported with serde_json's own message, which
/// quotes the string: the secret key and session token reached the log.
#[test]
fn an_answer_that_is_not_the_json_quotes_nothing_of_it() {
    let object = r#"{"AccessKeyId":"ASIADOUBLE","SecretAccessKey":"doubleSECRETkey0123456789","Token":"doubleSESSIONtoken0123456789","Expiration":"2026-11-26T16:00:00Z"}"#;
    let twice = serde_json::to_string(object).unwrap();
    for body in [
        twice.as_str(),
        r#"{"AccessKeyId":1,"SecretAccessKey":"doubleSECRETkey0123456789"}"#,
        r#"{"AccessKeyId":"ASIADOUBLE","SecretAccessKey":"doubleSECRETkey0123456789","#,
        r#"["doubleSECRETkey0123456789"]"#,
    ] {
        let err = parse_answer(URL, 200, Some("application/json"), body.as_bytes()).unwrap_err();
        let shown = err.to_string();
        assert!(!shown.contains("doubleSECRET"), "{shown}");
        assert!(!shown.contains("doubleSESSION"), "{shown}");
        assert!(shown.contains("not the credentials JSON"), "{shown}");
    }
    // A field given twice (botocore takes the last): refused, and neither
    // value quoted. (Naming the field would take serde_json's own message,
    // whose Display costs 1 KB of the binary.)
    let body = r#"{"AccessKeyId":"ASIAFIRST","Access\u004BeyId":"ASIASECOND","SecretAccessKey":"doubleSECRETkey0123456789","Token":"t","Expiration":"2026-11-26T16:00:00Z"}"#;
    let shown = parse_answer(URL, 200, None, body.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(shown.contains("JSON of another shape"), "{shown}");
    assert!(!shown.contains("ASIASECOND"), "{shown}");
    assert!(!shown.contains("doubleSECRET"), "{shown}");
}

#[test]
fn token_is_optional_for_long_term_keys() {
    let body =
        br#"{"AccessKeyId":"AKIA","SecretAccessKey":"s","Expiration":"2026-11-26T16:00:00Z"}"#;
    assert!(parse_answer(URL, 200, None, body)
        .unwrap()
        .session_token
        .is_none());
}

#[test]
fn errors_name_status_and_message_without_secrets() {
    let e = parse_answer(
        URL,
        403,
        None,
        br#"{"code":"AccessDeniedException","message":"no association"}"#,
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "container credentials endpoint http://169.254.170.23/v1/credentials answered HTTP 403: AccessDeniedException: no association; check the token in AWS_CONTAINER_AUTHORIZATION_TOKEN or _FILE and, with EKS Pod Identity, that the service account has an association");
    assert!(!e.is_transient());
    // Capitalised, as AWS's own JSON errors are: it was withheld whole.
    let e = parse_answer(
        URL,
        403,
        None,
        br#"{"Code":"InvalidToken","Message":"the token is invalid"}"#,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("HTTP 403: InvalidToken: the token is invalid; "),
        "{e}"
    );
    // An empty code is no code: it read "HTTP 401: : boom".
    let e = parse_answer(URL, 401, None, br#"{"code":" ","message":"boom"}"#).unwrap_err();
    assert!(e.to_string().contains("HTTP 401: error: boom; "), "{e}");
    let e = parse_answer(URL, 500, None, b"agent\nexploded").unwrap_err();
    assert!(
        e.to_string().contains(r#"HTTP 500: "agent exploded""#),
        "{e}"
    );
    assert!(e.is_transient());
    assert!(parse_answer(URL, 429, None, b"")
        .unwrap_err()
        .is_transient());
    for body in [
        &b"<html>proxy</html>"[..],
        b"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"topsecret\"}",
        b"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"topsecret\",\"Expiration\":\"soon\"}",
        b"{\"AccessKeyId\":\"\",\"SecretAccessKey\":\"topsecret\",\"Expiration\":\"2026-11-26T16:00:00Z\"}",
        b"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"topsecret\",\"Exp",
        b"\xff\xfe",
        b"",
    ] {
        let e = parse_answer(URL, 200, Some("text/html"), body).unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("topsecret"), "{shown}");
        assert_eq!(e.exit_code(), 1);
    }
}

/// A server that puts the secret where the timestamp belongs
/// gets no quote of it in the error.
#[test]
fn a_bad_expiration_never_quotes_the_secrets_beside_it() {
    let body =
        br#"{"AccessKeyId":"ASIAPOD","SecretAccessKey":"podsecret0123","Token":"podtoken0123",
        "Expiration":"podsecret0123 podtoken0123"}"#;
    let err = parse_answer(URL, 200, None, body).unwrap_err().to_string();
    assert!(err.contains("Expiration") && err.contains("***"), "{err}");
    assert!(
        !err.contains("podsecret0123") && !err.contains("podtoken0123"),
        "{err}"
    );
}

/// An agent's `RoleArn` was served on as it came: control characters,
/// NUL, U+2028, half a megabyte. Only what can be an ARN is kept.
#[test]
fn a_role_arn_that_cannot_be_one_is_dropped() {
    let answer = |arn: &str| {
        let body = serde_json::json!({
            "AccessKeyId": "ASIAPOD", "SecretAccessKey": "podsecret", "Token": "podtoken",
            "RoleArn": arn, "Expiration": "2026-11-26T16:00:00Z",
        })
        .to_string();
        parse_answer(URL, 200, None, body.as_bytes())
            .expect(arn)
            .role_arn
    };
    let fine = "arn:aws:iam::123456789012:role/pod";
    assert_eq!(answer(fine).as_deref(), Some(fine));
    for bad in [
        "arn:aws:iam::1:role/a\u{1b}]0;pwned\u{7}",
        "arn:aws:iam::1:role/a\u{2028}b",
        "arn:aws:iam::1:role/a\0",
        "role/pod",
        &format!("arn:{}", "r".repeat(500_000)),
    ] {
        assert_eq!(answer(bad), None, "{:?}", &bad[..bad.len().min(40)]);
    }
}

/// Surrounding whitespace, Unicode's too (U+00A0, U+2028, U+3000), was
/// trimmed and the rest written: a secret other than the one sent, without
/// a word. Such a value is refused like any other unfit one.
#[test]
fn a_value_padded_with_whitespace_is_refused_not_trimmed() {
    for (field, padded) in [
        ("AccessKeyId", " ASIAPOD"),
        ("SecretAccessKey", r"podsecret\t"),
        ("Token", r"\u00a0podtoken\u2028"),
    ] {
        let mut answer = serde_json::json!({"AccessKeyId":"ASIAPOD","SecretAccessKey":"podsecret","Token":"podtoken","Expiration":"2026-11-26T16:00:00Z"});
        answer[field] = serde_json::from_str(&format!("\"{padded}\"")).unwrap();
        let body = answer.to_string();
        let err = parse_answer(URL, 200, None, body.as_bytes())
            .expect_err(field)
            .to_string();
        assert!(err.contains(&format!("{field} holds characters")), "{err}");
    }
}

/// A temporary key whose token came under another name (`SessionToken`)
/// was handed on as long-term keys, which every call refuses, with exit 0.
#[test]
fn a_temporary_key_without_its_token_is_refused() {
    let body = br#"{"AccessKeyId":"ASIAPOD","SecretAccessKey":"podsecret","SessionToken":"podtoken","Expiration":"2026-11-26T16:00:00Z"}"#;
    let err = parse_answer(URL, 200, None, body)
        .expect_err("no Token")
        .to_string();
    assert!(
        err.contains("temporary key (ASIA...) but there is no Token"),
        "{err}"
    );
    assert!(
        !err.contains("podsecret") && !err.contains("podtoken"),
        "{err}"
    );
}

/// A token in the variable went out whatever its size (120 KB drew a 431
/// from the agent, retried for ever), while the same token in the file
/// variable was refused at start.
#[test]
fn a_token_in_the_variable_is_held_to_the_files_size() {
    let long = "a".repeat(16 * 1024 + 1);
    let env = |name: &str| match name {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI" => Some(URL.to_string()),
        "AWS_CONTAINER_AUTHORIZATION_TOKEN" => Some(long.clone()),
        _ => None,
    };
    let Err(err) = settings(&env) else {
        panic!("accepted")
    };
    let err = err.to_string();
    assert!(
        err.starts_with("AWS_CONTAINER_AUTHORIZATION_TOKEN: longer than 16 KiB"),
        "{err}"
    );
    assert!(!err.contains("aaaa"), "{err}");
}

/// An error answer that also carried credentials quoted their secrets in
/// its `code` and `message`, in every log line and the final error.
#[test]
fn an_error_beside_credentials_quotes_none_of_their_secrets() {
    let body = br#"{"AccessKeyId":"ASIAAAAAAAAAAAAAAAAA","SecretAccessKey":"wJalrXUtnFEMIK7MDENGbPxRfiCY","Token":"IQoJb3JpZ2luX2VjEXAMPLETOKEN","code":"Err wJalrXUtnFEMIK7MDENGbPxRfiCY","message":"token IQoJb3JpZ2luX2VjEXAMPLETOKEN expired"}"#;
    let e = parse_answer(URL, 500, None, body).unwrap_err().to_string();
    assert!(
        !e.contains("wJalrXUtnFEMIK7") && !e.contains("IQoJb3JpZ2luX2VjEX"),
        "{e}"
    );
    assert!(e.contains("HTTP 500: Err"), "{e}");
}

#[test]
fn every_endpoint_error_says_what_to_do() {
    // Round 35: an endpoint's 401 or 404 named neither the token nor the
    // URI's path.
    for (status, body, hint) in [
        (400, "", "AWS_CONTAINER_AUTHORIZATION_TOKEN"),
        (
            401,
            r#"{"code":"InvalidTokenException","message":"Invalid token"}"#,
            "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        ),
        (
            404,
            "404 page not found",
            "path of AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ),
        (429, "", "throttling"),
        (
            400,
            r#"{"code":"ThrottlingException","message":"slow down"}"#,
            "throttling",
        ),
        (503, "", "usually temporary"),
        (418, "", "names a container credentials endpoint"),
    ] {
        let e = parse_answer(URL, status, None, body.as_bytes()).unwrap_err();
        assert!(e.to_string().contains(hint), "{status} {body}: {e}");
    }
}
