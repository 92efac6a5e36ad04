//! `--role-arn` chaining on top of each source, against one fake STS that
//! answers both actions: the second request is a SigV4-signed AssumeRole
//! made with the source's credentials (session token included), and the
//! file ends up holding the chained credentials, never the source's.
//!
//! Only the signature's structure is checked here; its correctness is
//! checked end to end against moto and botocore (`tests/e2e`).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::harness;
use crate::harness::ini::{self, Profile};
use crate::harness::{Answer, Fake, Harness, Issued, Request, HOUR};

const CHAINED_ROLE: &str = "arn:aws:iam::210987654321:role/chained";

/// A fake STS that issues an hour for both actions.
fn issue_both(_: usize, _: &Request) -> Answer {
    Answer::issue(HOUR)
}

fn profile(h: &Harness) -> Profile {
    ini::profile(&h.read_cred_file(), "default").unwrap_or_else(|e| panic!("{e}"))
}

/// Checks one AssumeRole request: form parameters and the SigV4 headers
/// made with `source`'s credentials.
fn assert_signed_assume_role(
    r: &Request,
    source: &Issued,
    session_name: &str,
    duration: Option<&str>,
) {
    assert_eq!(r.method, "POST");
    assert_eq!(r.target, "/");
    assert_eq!(r.param("Action").as_deref(), Some("AssumeRole"), "{r:?}");
    assert_eq!(r.param("Version").as_deref(), Some("2011-06-15"));
    assert_eq!(r.param("RoleArn").as_deref(), Some(CHAINED_ROLE));
    assert_eq!(r.param("RoleSessionName").as_deref(), Some(session_name));
    assert_eq!(r.param("ExternalId").as_deref(), Some("xyz"));
    assert_eq!(r.param("DurationSeconds").as_deref(), duration);
    assert_eq!(r.param("WebIdentityToken"), None);
    assert!(
        r.header("Content-Type")
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded")),
        "{r:?}"
    );

    let amz_date = r.header("X-Amz-Date").expect("an x-amz-date header");
    assert!(
        amz_date.len() == 16
            && amz_date.as_bytes()[8] == b'T'
            && amz_date.ends_with('Z')
            && amz_date[..8].bytes().all(|b| b.is_ascii_digit())
            && amz_date[9..15].bytes().all(|b| b.is_ascii_digit()),
        "x-amz-date is YYYYMMDDTHHMMSSZ: {amz_date}"
    );
    assert_eq!(
        r.header("X-Amz-Security-Token"),
        Some(source.session_token.as_str()),
        "the source's session token is sent"
    );

    let auth = r.header("Authorization").expect("an Authorization header");
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .unwrap_or_else(|| panic!("not SigV4: {auth}"));
    let parts: Vec<&str> = rest.split(", ").collect();
    assert_eq!(
        parts.len(),
        3,
        "Credential, SignedHeaders, Signature: {auth}"
    );
    let scope = format!(
        "Credential={}/{}/us-east-1/sts/aws4_request",
        source.access_key_id,
        &amz_date[..8]
    );
    assert_eq!(
        parts[0], scope,
        "signed with the source's key, for sts in us-east-1"
    );
    let signed = parts[1]
        .strip_prefix("SignedHeaders=")
        .unwrap_or_else(|| panic!("no SignedHeaders: {auth}"));
    let signed: Vec<&str> = signed.split(';').collect();
    for needed in ["host", "x-amz-date", "x-amz-security-token"] {
        assert!(
            signed.contains(&needed),
            "{needed} must be signed: {signed:?}"
        );
    }
    let mut sorted = signed.clone();
    sorted.sort_unstable();
    assert_eq!(signed, sorted, "SigV4 lists signed headers sorted");
    let signature = parts[2]
        .strip_prefix("Signature=")
        .unwrap_or_else(|| panic!("no Signature: {auth}"));
    assert!(
        signature.len() == 64
            && signature
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "a hex SHA-256 signature: {signature}"
    );
    assert!(
        !auth.contains(&source.secret_access_key),
        "the secret itself is never sent"
    );
}

#[test]
fn chain_on_web_identity_writes_the_chained_credentials() {
    let h = Harness::new("chain_irsa", issue_both);
    h.cmd(&[
        "--once",
        "--role-arn",
        CHAINED_ROLE,
        "--external-id",
        "xyz",
        "--session-name",
        "itest-chain",
        "--duration",
        "15m",
    ])
    .run()
    .assert_code(0);

    let requests = h.sts.requests();
    assert_eq!(requests.len(), 2, "web identity, then AssumeRole");
    let first = &requests[0];
    assert_eq!(
        first.param("Action").as_deref(),
        Some("AssumeRoleWithWebIdentity")
    );
    assert_eq!(
        first.header("Authorization"),
        None,
        "the first hop is unsigned"
    );
    assert_eq!(first.param("RoleArn").as_deref(), Some(harness::ROLE_ARN));
    assert_eq!(
        first.param("WebIdentityToken").as_deref(),
        Some(h.token().as_str())
    );

    let issued = h.sts.issued();
    assert_eq!(issued.len(), 2);
    assert_signed_assume_role(&requests[1], &issued[0], "itest-chain", Some("900"));
    assert_eq!(
        profile(&h),
        Profile::from(&issued[1]),
        "the file holds the chained credentials"
    );
    let text = h.read_cred_file();
    assert!(
        !text.contains(&issued[0].access_key_id) && !text.contains(&issued[0].secret_access_key),
        "the source credentials must not be written:\n{text}"
    );
}

#[test]
fn chain_on_the_container_source_writes_the_chained_credentials() {
    let agent = Fake::start(|_, _| Answer::issue(HOUR));
    let h = Harness::with_agent("chain_container", issue_both, agent);
    h.cmd(&["--once", "--role-arn", CHAINED_ROLE, "--external-id", "xyz"])
        .run()
        .assert_code(0);

    assert_eq!(h.agent().request_count(), 1);
    let source = &h.agent().issued()[0];
    let requests = h.sts.requests();
    assert_eq!(requests.len(), 1, "only the AssumeRole goes to STS");
    // No --session-name, no AWS_ROLE_SESSION_NAME, no HOSTNAME: the default.
    let session = requests[0]
        .param("RoleSessionName")
        .expect("a RoleSessionName");
    assert!(harness::is_valid_session_name(&session), "{session}");
    assert_signed_assume_role(&requests[0], source, &session, None);
    let chained = &h.sts.issued()[0];
    assert_eq!(profile(&h), Profile::from(chained));
    let text = h.read_cred_file();
    assert!(
        !text.contains(&source.access_key_id),
        "the agent's credentials must not be written:\n{text}"
    );
}

/// Source credentials already expired when they came were signed with
/// anyway: STS answered ExpiredToken, which is not retried, so `--once`
/// gave up at the first try where a direct source is asked again. Now the
/// chain never signs with them; the source is asked again until it issues
/// live ones.
#[test]
fn expired_source_credentials_are_never_signed_with() {
    let agent = Fake::start(|n, _| match n {
        0 | 1 => Answer::issue_expired(Duration::from_secs(5)),
        _ => Answer::issue(HOUR),
    });
    let h = Harness::with_agent("chain_expired_source", issue_both, agent);
    let out = h
        .cmd(&[
            "--once",
            "--role-arn",
            CHAINED_ROLE,
            "--once-timeout",
            "20s",
        ])
        .run();
    out.assert_code(0);
    assert_eq!(h.agent().request_count(), 3, "{}", out.describe());
    let requests = h.sts.requests();
    assert_eq!(requests.len(), 1, "{}", out.describe());
    let live = &h.agent().issued()[2];
    assert_eq!(
        requests[0].header("X-Amz-Security-Token"),
        Some(live.session_token.as_str()),
        "signed with expired source credentials"
    );
    assert_eq!(profile(&h), Profile::from(&h.sts.issued()[0]));
}

#[test]
fn chain_refreshes_both_hops_each_time() {
    // Short chained credentials: each refresh fetches the source again and
    // signs with the fresh one.
    let h = Harness::new("chain_refresh", |_, r| {
        if r.param("Action").as_deref() == Some("AssumeRole") {
            Answer::issue(Duration::from_secs(4))
        } else {
            Answer::issue(HOUR)
        }
    });
    let mut d = h
        .cmd(&["--role-arn", CHAINED_ROLE, "--external-id", "xyz"])
        .spawn();
    assert!(
        h.sts.wait_for_requests(4, Duration::from_secs(30)),
        "two refreshes of both hops within 30 s\n{}",
        d.snapshot().describe()
    );
    d.assert_running();
    let requests = h.sts.requests();
    let issued = h.sts.issued();
    for pair in 0..2 {
        let (source, chained) = (&requests[2 * pair], &requests[2 * pair + 1]);
        assert_eq!(
            source.param("Action").as_deref(),
            Some("AssumeRoleWithWebIdentity")
        );
        let session = chained.param("RoleSessionName").unwrap_or_default();
        assert_signed_assume_role(chained, &issued[2 * pair], &session, None);
    }
    d.stop().assert_code(0);
}

#[test]
fn chain_duration_over_an_hour_exits_2() {
    let h = Harness::new("chain_2h", issue_both);
    let out = h
        .cmd(&["--once", "--role-arn", CHAINED_ROLE, "--duration", "2h"])
        .timeout(Duration::from_secs(30))
        .run();
    out.assert_code(2).assert_stderr_contains("--duration");
    assert_eq!(h.sts.request_count(), 0);
    assert!(!h.cred_file.exists());
}

#[test]
fn chain_access_denied_exits_1_with_the_code_and_keeps_the_file() {
    let h = Harness::new("chain_denied", |_, r| {
        if r.param("Action").as_deref() == Some("AssumeRole") {
            Answer::error(
                403,
                "AccessDenied",
                "User: arn:aws:sts::123456789012:assumed-role/aws-credfile-test/x is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::210987654321:role/chained",
            )
        } else {
            Answer::issue(HOUR)
        }
    });
    let before = "[default]\n\
        aws_access_key_id = AKIAPREVEXAMPLE00004\n\
        aws_secret_access_key = prevSecretEXAMPLE000/0000000000000000004\n";
    h.write_cred_file(before);
    let inode = fs::metadata(&h.cred_file).expect("stat").ino();
    let out = h
        .cmd(&["--once", "--role-arn", CHAINED_ROLE, "--external-id", "xyz"])
        .run();
    // Both calls go to one STS: the line says which of them was refused,
    // so which trust policy to fix.
    out.assert_code(1)
        .assert_stderr_contains("STS refused AssumeRole: AccessDenied: ")
        .assert_stderr_contains("the --role-arn role's trust policy");
    assert!(
        out.elapsed < Duration::from_secs(20),
        "AccessDenied is not retried for the whole budget\n{}",
        out.describe()
    );
    assert_eq!(h.sts.request_count(), 2, "one of each, no retry");
    assert_eq!(h.read_cred_file(), before, "the old file must be untouched");
    assert_eq!(fs::metadata(&h.cred_file).expect("stat").ino(), inode);
}

#[test]
fn external_id_without_role_arn_exits_2() {
    let h = Harness::new("chain_external_only", issue_both);
    h.cmd(&["--once", "--external-id", "xyz"])
        .timeout(Duration::from_secs(30))
        .run()
        .assert_code(2)
        .assert_stderr_contains("--role-arn");
    assert_eq!(h.sts.request_count(), 0);
}

/// Long-term keys from the agent (no `Token`) sign without a security
/// token header: an empty one would be refused by STS.
#[test]
fn chain_on_long_term_keys_sends_no_security_token() {
    let agent = Fake::start(|_, _| {
        Answer::json(
            200,
            r#"{"AccessKeyId":"AKIALONGTERMEXAMPLE2","SecretAccessKey":"longTermSecretEXAMPLE/000000000000000002","Expiration":"2099-01-01T00:00:00Z"}"#,
        )
    });
    let h = Harness::with_agent("chain_long_term", issue_both, agent);
    h.add_secret("longTermSecretEXAMPLE/000000000000000002");
    h.cmd(&["--once", "--role-arn", CHAINED_ROLE])
        .run()
        .assert_code(0);
    let requests = h.sts.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.header("X-Amz-Security-Token"), None, "{r:?}");
    let auth = r.header("Authorization").expect("signed");
    assert!(
        auth.contains("Credential=AKIALONGTERMEXAMPLE2/"),
        "signed with the long-term key: {auth}"
    );
    assert!(!auth.contains("x-amz-security-token"), "{auth}");
    assert_eq!(profile(&h), Profile::from(&h.sts.issued()[0]));
}

/// Both calls go to one STS, so a failure of the second must say it was
/// the second; and a redirect's message showed `** redacted **` for the
/// STS's own host and port, taken for a secret because the signed request
/// carried them in `Host`, though the message asks for that very URL.
#[test]
fn a_failed_assume_role_says_it_was_the_chains_and_shows_where_it_was_sent() {
    let here = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let seen = here.clone();
    let h = Harness::new("chain_redirect", move |_, r| {
        if r.param("Action").as_deref() == Some("AssumeRole") {
            let to = format!("{}/elsewhere", seen.get().expect("the URL is set"));
            Answer::raw(307, &format!("text/plain\r\nLocation: {to}"), "")
        } else {
            Answer::issue(HOUR)
        }
    });
    here.set(h.sts.url()).expect("set once");
    let out = h.cmd(&["--once", "--role-arn", CHAINED_ROLE]).run();
    out.assert_code(1)
        .assert_stderr_contains("(the AssumeRole of --role-arn)")
        .assert_stderr_contains(&format!("a redirect to {}/elsewhere,", h.sts.url()));
    assert!(!out.stderr.contains("redacted"), "{}", out.describe());
    assert!(!h.cred_file.exists());
}

/// What the AssumeRole of `--role-arn` rests on was quoted whole when STS
/// (or what answers in its place) echoed it: the identity token and the
/// secret key signing the call in a redirect's URL, the external id and the
/// signature in an error's message. Only what that request itself carried
/// was taken out, and not all of it.
#[test]
fn what_the_chain_rests_on_is_never_quoted_back() {
    let id_token = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let seen = id_token.clone();
    let h = Harness::new("chain_echo", move |n, r| {
        if r.param("Action").as_deref() != Some("AssumeRole") {
            return Answer::issue(HOUR);
        }
        let token = seen.get().expect("the token is set");
        let session = r.header("X-Amz-Security-Token").unwrap_or_default();
        let auth = r.header("Authorization").unwrap_or_default();
        let signature = auth.rsplit("Signature=").next().unwrap_or_default();
        let ext = r.param("ExternalId").unwrap_or_default();
        // The first AssumeRole (request 1) is redirected, the second
        // (request 3) refused.
        match (n / 2) % 2 {
            0 => Answer::raw(
                307,
                &format!("text/plain\r\nLocation: https://elsewhere.example/{token}/{session}"),
                "",
            ),
            _ => Answer::error(
                400,
                "ValidationError",
                &format!(
                    "Value '{ext}' at 'externalId' failed; signature {signature}; token {token}"
                ),
            ),
        }
    });
    id_token.set(h.token()).expect("set once");
    let secret_ext = "extIdSECRET0123456789abcdefXYZ";
    h.add_secret(secret_ext);
    for _ in 0..2 {
        let out = h
            .cmd(&[
                "--once",
                "--role-arn",
                CHAINED_ROLE,
                "--external-id",
                secret_ext,
            ])
            .run();
        out.assert_code(1);
        let base = h
            .sts
            .issued()
            .last()
            .cloned()
            .expect("the first call issued");
        h.add_secret(&base.secret_access_key);
        h.add_secret(&base.session_token);
        let signature = h
            .sts
            .requests()
            .last()
            .and_then(|r| r.header("Authorization").map(str::to_owned))
            .and_then(|a| a.rsplit("Signature=").next().map(str::to_owned))
            .expect("signed");
        h.add_secret(&signature);
        h.assert_no_secrets("stderr", &out.stderr);
        assert!(out.stderr.contains("redacted"), "{}", out.describe());
    }
}

/// With `--role-arn`, a failure of the first call said only the URL, the
/// same as the second's: now it names the call.
#[test]
fn a_failed_first_call_of_a_chain_says_which_it_was() {
    let h = Harness::new("chain_first_fails", |_, _| {
        Answer::raw(502, "text/html", "<html>bad gateway</html>")
    });
    h.cmd(&["--once", "--once-timeout", "2s", "--role-arn", CHAINED_ROLE])
        .run()
        .assert_code(1)
        .assert_stderr_contains("(AssumeRoleWithWebIdentity, before --role-arn)");
}

/// While STS throttles the chained AssumeRole, each retry signs with the
/// source credentials it already has: round 35 counted one
/// AssumeRoleWithWebIdentity per AssumeRole, twice the load on a throttling
/// STS.
#[test]
fn a_throttled_chain_is_retried_without_asking_the_source_again() {
    let throttled = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&throttled);
    let h = Harness::new("chain_throttled", move |_, r| {
        let chained = r.param("Action").as_deref() == Some("AssumeRole");
        if chained && counter.fetch_add(1, Ordering::SeqCst) < 2 {
            Answer::throttling()
        } else {
            Answer::issue(HOUR)
        }
    });
    h.cmd(&["--once", "--role-arn", CHAINED_ROLE])
        .run()
        .assert_code(0);
    let actions: Vec<String> = h
        .sts
        .requests()
        .iter()
        .map(|r| r.param("Action").unwrap_or_default())
        .collect();
    assert_eq!(
        actions,
        [
            "AssumeRoleWithWebIdentity",
            "AssumeRole",
            "AssumeRole",
            "AssumeRole"
        ],
        "one source call for the three chained attempts"
    );
    let issued = h.sts.issued();
    assert_eq!(profile(&h), Profile::from(issued.last().expect("issued")));
    assert_eq!(throttled.load(Ordering::SeqCst), 3);
}
