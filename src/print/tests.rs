//! Unit tests of `print`.

use super::*;
use crate::time::Timestamp;

fn creds(token: Option<&str>) -> Credentials {
    Credentials {
        access_key_id: "ASIAPRINT".into(),
        secret_access_key: Secret::new("se'cr$et`x"),
        session_token: token.map(Secret::new),
        expiration: Timestamp::from_unix(2_000_000_000),
        account_id: None,
        role_arn: None,
    }
}

#[test]
fn credential_process_json() {
    let v: serde_json::Value =
        serde_json::from_str(&credential_process(&creds(Some("tok")))).unwrap();
    assert_eq!(v["Version"], 1);
    assert_eq!(v["AccessKeyId"], "ASIAPRINT");
    assert_eq!(v["SecretAccessKey"], "se'cr$et`x");
    assert_eq!(v["SessionToken"], "tok");
    assert_eq!(v["Expiration"], "2033-05-18T03:33:20Z");
    let long_term: serde_json::Value =
        serde_json::from_str(&credential_process(&creds(None))).unwrap();
    assert!(long_term.get("SessionToken").is_none());
    assert!(long_term.get("AccountId").is_none());
    // The account the source named, as botocore's process provider reads
    // it (and the endpoint passes it on); the role's ARN is no field here.
    let named = Credentials {
        account_id: Some("123456789012".into()),
        role_arn: Some("arn:aws:iam::123456789012:role/r".into()),
        ..creds(Some("tok"))
    };
    let v: serde_json::Value = serde_json::from_str(&credential_process(&named)).unwrap();
    assert_eq!(v["AccountId"], "123456789012");
    assert!(v.get("RoleArn").is_none());
}

#[test]
fn env_lines_are_quoted() {
    assert_eq!(
        env(&creds(Some("t'k"))),
        "export AWS_ACCESS_KEY_ID='ASIAPRINT'\n\
             export AWS_SECRET_ACCESS_KEY='se'\\''cr$et`x'\n\
             export AWS_SESSION_TOKEN='t'\\''k'\n\
             unset AWS_SECURITY_TOKEN\n\
             export AWS_CREDENTIAL_EXPIRATION='2033-05-18T03:33:20Z'\n"
    );
    assert!(env(&creds(None)).contains("unset AWS_SESSION_TOKEN\n"));
}

/// Quoting holds for any text, whatever the sources are held to: a shell
/// evaluating the lines gets exactly the value back.
#[test]
fn a_shell_gets_exactly_the_value_back() {
    let hostile = r#"it's"$HOME"`id`\$(true);*x*|&<"#;
    let mut c = creds(None);
    c.secret_access_key = Secret::new(hostile);
    let out = std::process::Command::new("sh")
        .args([
            "-c",
            "eval \"$1\"; printf %s \"$AWS_SECRET_ACCESS_KEY\"",
            "sh",
        ])
        .arg(env(&c))
        .output()
        .expect("sh");
    assert_eq!(String::from_utf8_lossy(&out.stdout), hostile);
}
