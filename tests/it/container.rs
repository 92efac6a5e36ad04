//! The container source (EKS Pod Identity, ECS) against a fake agent on
//! loopback: the `Authorization` it sends and where that comes from, the
//! answers it retries and the ones it gives up on, the hosts it refuses
//! before connecting, and which source wins when several are configured.
//!
//! Only 127.0.0.1 and ::1 are ever connected to: every refused URL is
//! refused by the configuration check, before any connection, and the
//! tests assert the run ends fast with exit 2. Nothing here connects to the
//! real agent addresses (169.254.170.2, 169.254.170.23).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::harness::ini::{self, Profile, EXPIRY_COMMENT};
use crate::harness::{wait_until, Answer, Fake, Harness, Request, HOUR};

/// Credentials that live seconds, so the daemon refreshes every few.
const SHORT: Duration = Duration::from_secs(4);

/// Generous bound for runs that must fail at configuration: no network,
/// no retry. A hang guard, not a timing test.
const CONFIG_ERROR_WITHIN: Duration = Duration::from_secs(5);

/// Generous bound for a `--once` that must give up at once on a
/// non-retryable answer (its retry budget is a minute).
const GIVES_UP_AT_ONCE: Duration = Duration::from_secs(20);

const PREVIOUS: &str = "[default]\n\
    aws_access_key_id = AKIAPREVEXAMPLE00003\n\
    aws_secret_access_key = prevSecretEXAMPLE000/0000000000000000003\n\
    aws_session_token = prevTokenEXAMPLE0000/000000000000000000000000000003\n";

/// A harness whose source is a fake agent answering with `agent_script`;
/// the fake STS issues an hour (for `--role-arn`, unused here).
fn container_harness(
    name: &str,
    agent_script: impl Fn(usize, &Request) -> Answer + Send + Sync + 'static,
) -> Harness {
    Harness::with_agent(name, |_, _| Answer::issue(HOUR), Fake::start(agent_script))
}

/// Writes an agent token file (as the Pod Identity webhook mounts it) and
/// registers it as a secret; returns its path as a string for the variable.
fn write_agent_token(h: &Harness, contents: &str) -> String {
    h.add_secret(contents.trim());
    let path = h.scratch.join("eks-pod-identity-token/token");
    let tmp = h
        .scratch
        .write("eks-pod-identity-token/.token.tmp", contents);
    fs::rename(&tmp, &path).expect("rename the agent token into place");
    path.display().to_string()
}

fn agent_token(tag: &str) -> String {
    format!("eyJhbGciOiJSUzI1NiJ9.eyJhZ2VudCI6{tag}In0.YWdlbnRzaWduYXR1cmU{tag}")
}

/// The profile in the credentials file now.
fn profile(h: &Harness) -> Profile {
    ini::profile(&h.read_cred_file(), "default").unwrap_or_else(|e| panic!("{e}"))
}

fn assert_untouched(h: &Harness, before: &str, inode: u64) {
    assert_eq!(h.read_cred_file(), before, "the old file must be untouched");
    let now = fs::metadata(&h.cred_file).expect("stat the file").ino();
    assert_eq!(now, inode, "the file must not even be replaced");
}

fn write_previous(h: &Harness) -> u64 {
    h.write_cred_file(PREVIOUS);
    fs::metadata(&h.cred_file).expect("stat the file").ino()
}

#[test]
fn token_file_is_sent_as_authorization_on_a_get() {
    let h = container_harness("ctr_token_file", |_, _| Answer::issue(HOUR));
    let token = agent_token("Zmlyc3Q");
    // A trailing newline, as editors and `echo` leave: trimmed, not sent.
    let path = write_agent_token(&h, &format!("{token}\n"));
    h.cmd(&["--once"])
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", path)
        .run()
        .assert_code(0);

    let requests = h.agent().requests();
    assert_eq!(requests.len(), 1, "one request to the agent");
    let r = &requests[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.target, "/v1/credentials");
    assert_eq!(r.header("Authorization"), Some(token.as_str()));
    assert_eq!(h.sts.request_count(), 0, "no STS call without --role-arn");

    let issued = h.agent().issued();
    assert_eq!(profile(&h), Profile::from(&issued[0]));
    let text = h.read_cred_file();
    let expiry = text
        .lines()
        .find(|l| l.starts_with(EXPIRY_COMMENT))
        .unwrap_or_else(|| panic!("no expiry record:\n{text}"));
    assert!(
        expiry.contains(&issued[0].expiration),
        "the expiry record holds the agent's Expiration (sent with nanoseconds as {}.123456789Z):\n{text}",
        issued[0].expiration.trim_end_matches('Z')
    );
}

#[test]
fn a_rotated_token_file_is_read_at_the_next_refresh() {
    let h = container_harness("ctr_token_rotation", |_, _| Answer::issue(SHORT));
    let first = agent_token("Zmlyc3Q");
    let second = agent_token("c2Vjb25k");
    let path = write_agent_token(&h, &first);
    let mut d = h
        .cmd(&[])
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", path)
        .spawn();
    assert!(
        h.agent().wait_for_requests(1, Duration::from_secs(15)),
        "no first request\n{}",
        d.snapshot().describe()
    );
    write_agent_token(&h, &second);
    let rotated_at = Instant::now();
    let seen_new = wait_until(Duration::from_secs(30), || {
        h.agent()
            .requests()
            .iter()
            .any(|r| r.header("Authorization") == Some(second.as_str()))
    });
    d.assert_running();
    let requests = h.agent().requests();
    assert!(
        seen_new,
        "no request carried the rotated token within 30 s ({} requests)\n{}",
        requests.len(),
        d.snapshot().describe()
    );
    assert_eq!(requests[0].header("Authorization"), Some(first.as_str()));
    // A request that started well after the rename cannot carry the old token.
    for r in requests
        .iter()
        .filter(|r| r.received > rotated_at + Duration::from_millis(500))
    {
        assert_eq!(
            r.header("Authorization"),
            Some(second.as_str()),
            "a refresh after the rotation sent the old token"
        );
    }
    d.stop().assert_code(0);
}

#[test]
fn token_variable_is_used_when_there_is_no_file() {
    let h = container_harness("ctr_token_var", |_, _| Answer::issue(HOUR));
    let token = agent_token("dmFyaWFibGU");
    h.add_secret(&token);
    h.cmd(&["--once"])
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", token.clone())
        .run()
        .assert_code(0);
    let requests = h.agent().requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].header("Authorization"), Some(token.as_str()));
    assert_eq!(profile(&h), Profile::from(&h.agent().issued()[0]));
}

#[test]
fn token_file_wins_over_the_variable() {
    let h = container_harness("ctr_token_both", |_, _| Answer::issue(HOUR));
    let from_file = agent_token("ZmlsZQ");
    let from_var = agent_token("dmFyaWFibGU");
    h.add_secret(&from_var);
    let path = write_agent_token(&h, &from_file);
    h.cmd(&["--once"])
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", path)
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", from_var)
        .run()
        .assert_code(0);
    let requests = h.agent().requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].header("Authorization"),
        Some(from_file.as_str())
    );
}

#[test]
fn no_token_means_no_authorization_header() {
    let h = container_harness("ctr_no_token", |_, _| Answer::issue(HOUR));
    h.cmd(&["--once"]).run().assert_code(0);
    let requests = h.agent().requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].header("Authorization"), None);
}

#[test]
fn a_token_variable_with_a_line_break_exits_2_without_a_request() {
    for (i, bad) in [
        "tokenpart\r\nX-Injected: yes",
        "tokenpart\nX-Injected: yes",
        "tokenpart\rX-Injected: yes",
    ]
    .into_iter()
    .enumerate()
    {
        let h = container_harness(&format!("ctr_crlf_var{i}"), |_, _| Answer::issue(HOUR));
        let out = h
            .cmd(&["--once"])
            .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", bad)
            .timeout(Duration::from_secs(30))
            .run();
        out.assert_code(2)
            .assert_stderr_contains("AWS_CONTAINER_AUTHORIZATION_TOKEN");
        assert!(out.elapsed < CONFIG_ERROR_WITHIN, "{}", out.describe());
        assert!(
            !out.stderr.contains("X-Injected"),
            "the token is quoted in the message:\n{}",
            out.describe()
        );
        assert_eq!(
            h.agent().connection_count(),
            0,
            "the agent was contacted with token {bad:?}"
        );
    }
}

#[test]
fn a_token_file_with_a_line_break_exits_2_without_a_request() {
    for (i, bad) in [
        "tokenpart\r\nX-Injected: yes\n",
        "tokenpart\nX-Injected: yes",
        "tokenpart\rX-Injected: yes\r\n",
    ]
    .into_iter()
    .enumerate()
    {
        let h = container_harness(&format!("ctr_crlf_file{i}"), |_, _| Answer::issue(HOUR));
        let path = write_agent_token(&h, bad);
        let out = h
            .cmd(&["--once"])
            .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", path)
            .timeout(Duration::from_secs(30))
            .run();
        out.assert_code(2)
            .assert_stderr_contains("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
        assert!(out.elapsed < CONFIG_ERROR_WITHIN, "{}", out.describe());
        assert_eq!(
            h.agent().connection_count(),
            0,
            "the agent was contacted with a token file holding {bad:?}"
        );
    }
}

/// The daemon checks the file at every refresh, not only at start: a token
/// file that turns bad later must not reach a header either.
#[test]
fn a_token_file_that_gains_a_line_break_later_is_never_sent() {
    let h = container_harness("ctr_crlf_later", |_, _| Answer::issue(SHORT));
    let good = agent_token("Z29vZA");
    let path = write_agent_token(&h, &good);
    let mut d = h
        .cmd(&[])
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", path)
        .spawn();
    assert!(
        h.agent().wait_for_requests(1, Duration::from_secs(15)),
        "no first request\n{}",
        d.snapshot().describe()
    );
    write_agent_token(&h, "tokenpart\r\nX-Injected: yes\n");
    let changed = Instant::now();
    // Long enough for several refreshes of 4-second credentials.
    std::thread::sleep(Duration::from_secs(8));
    d.assert_running();
    for r in h.agent().requests() {
        assert!(
            r.headers.iter().all(|(k, _)| k != "X-Injected"),
            "a header was injected: {r:?}"
        );
        if r.received > changed + Duration::from_millis(500) {
            panic!("a request was sent with the bad token file in place: {r:?}");
        }
    }
    d.stop().assert_code(0);
}

#[test]
fn access_denied_exits_1_at_once_naming_status_and_code() {
    let h = container_harness("ctr_403", |_, _| {
        Answer::json(
            403,
            r#"{"code":"AccessDeniedException","message":"No Pod Identity association for service account itest"}"#,
        )
    });
    let inode = write_previous(&h);
    let out = h.cmd(&["--once"]).run();
    out.assert_code(1)
        .assert_stderr_contains("403")
        .assert_stderr_contains("AccessDeniedException");
    assert!(out.elapsed < GIVES_UP_AT_ONCE, "{}", out.describe());
    assert_eq!(h.agent().request_count(), 1, "a 403 is not retried");
    assert_untouched(&h, PREVIOUS, inode);
}

#[test]
fn plain_text_error_bodies_are_reported_with_the_status() {
    let h = container_harness("ctr_404_text", |_, _| {
        Answer::raw(404, "text/plain", "no such credentials path")
    });
    let inode = write_previous(&h);
    let out = h.cmd(&["--once"]).run();
    out.assert_code(1)
        .assert_stderr_contains("404")
        .assert_stderr_contains("no such credentials path");
    assert_untouched(&h, PREVIOUS, inode);
}

#[test]
fn throttling_and_server_errors_are_retried() {
    for (status, body) in [
        (
            429,
            r#"{"code":"ThrottlingException","message":"slow down"}"#,
        ),
        (500, "agent restarting"),
        (
            503,
            r#"{"code":"ServiceUnavailable","message":"try again"}"#,
        ),
        // A throttling code is retried whatever the status, with or
        // without a message (a 400 was a denial, round 32).
        (400, r#"{"code":"Throttling","message":"Rate exceeded"}"#),
        (400, r#"{"code":"Throttling"}"#),
        (403, r#"{"Code":"RequestLimitExceeded","Message":""}"#),
    ] {
        let h = container_harness(&format!("ctr_retry_{status}"), move |n, _| {
            if n == 0 {
                Answer::json(status, body)
            } else {
                Answer::issue(HOUR)
            }
        });
        let out = h.cmd(&["--once"]).run();
        out.assert_code(0);
        assert_eq!(
            h.agent().request_count(),
            2,
            "HTTP {status} then success\n{}",
            out.describe()
        );
        assert_eq!(profile(&h), Profile::from(&h.agent().issued()[0]));
    }
}

#[test]
fn unusable_answers_exit_1_naming_the_status_and_keep_the_file() {
    let cases: [(&str, &str, &str); 7] = [
        (
            "garbage",
            "application/json",
            "{\"AccessKeyId\": ]]] not json",
        ),
        (
            "no_secret",
            "application/json",
            r#"{"AccessKeyId":"ASIAMISSINGSECRET001","Token":"tok","Expiration":"2030-01-01T00:00:00Z"}"#,
        ),
        (
            "no_expiration",
            "application/json",
            r#"{"AccessKeyId":"ASIAMISSINGEXPIRY001","SecretAccessKey":"topSecretNoExpiry0000000000000000000001","Token":"tok"}"#,
        ),
        (
            "bad_expiration",
            "application/json",
            r#"{"AccessKeyId":"ASIABADEXPIRY0000001","SecretAccessKey":"topSecretBadExpiry000000000000000000001","Token":"tok","Expiration":"tomorrow"}"#,
        ),
        (
            "no_key",
            "application/json",
            r#"{"SecretAccessKey":"topSecretNoKeyId0000000000000000000000001","Expiration":"2030-01-01T00:00:00Z"}"#,
        ),
        (
            "html",
            "text/html",
            "<html><body><h1>Captive portal</h1></body></html>",
        ),
        ("empty", "application/json", ""),
    ];
    for (name, content_type, body) in cases {
        let h = container_harness(&format!("ctr_unusable_{name}"), move |_, _| {
            Answer::raw(200, content_type, body)
        });
        h.add_secret("topSecretNoExpiry0000000000000000000001");
        h.add_secret("topSecretBadExpiry000000000000000000001");
        h.add_secret("topSecretNoKeyId0000000000000000000000001");
        let inode = write_previous(&h);
        let out = h.cmd(&["--once", "--once-timeout", "5s"]).run();
        out.assert_code(1).assert_stderr_contains("200");
        assert_untouched(&h, PREVIOUS, inode);
    }
}

#[test]
fn an_ipv6_loopback_url_works() {
    let agent = match Fake::start_on("[::1]:0", |_, _| Answer::issue(HOUR)) {
        Ok(agent) => agent,
        Err(e) => {
            crate::harness::skip_without(&format!("IPv6 loopback is unavailable here ({e})"));
            return;
        }
    };
    let url = format!("{}/v1/credentials", agent.url());
    assert!(url.starts_with("http://[::1]:"), "{url}");
    let h = Harness::with_agent("ctr_ipv6", |_, _| Answer::issue(HOUR), agent);
    h.cmd(&["--once"])
        .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", url)
        .run()
        .assert_code(0);
    assert_eq!(h.agent().request_count(), 1);
    assert_eq!(profile(&h), Profile::from(&h.agent().issued()[0]));
}

#[test]
fn disallowed_http_hosts_exit_2_before_any_connection() {
    // None of these is ever listened on or reachable from a test; the
    // binary must refuse them while reading its configuration.
    for url in [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://10.1.2.3/v1/credentials",
        "http://example.com/v1/credentials",
        "http://[::ffff:169.254.169.254]/v1/credentials",
        "ftp://127.0.0.1/v1/credentials",
        "http://user@127.0.0.1@example.com/v1/credentials",
    ] {
        let h = container_harness("ctr_disallowed", |_, _| Answer::issue(HOUR));
        let out = h
            .cmd(&["--once", "--once-timeout", "2s"])
            .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", url)
            .timeout(Duration::from_secs(30))
            .run();
        assert_eq!(out.code(), Some(2), "{url}\n{}", out.describe());
        out.assert_stderr_contains("AWS_CONTAINER_CREDENTIALS_FULL_URI");
        assert!(
            out.elapsed < CONFIG_ERROR_WITHIN,
            "{url}: a configuration error must come before any connection\n{}",
            out.describe()
        );
        assert!(!h.cred_file.exists(), "{url}: a file was written");
    }
}

#[test]
fn a_relative_uri_without_a_leading_slash_exits_2() {
    // Only the refusal is tested: an accepted relative URI would be fetched
    // from 169.254.170.2, which no test may contact.
    let h = container_harness("ctr_relative", |_, _| Answer::issue(HOUR));
    let out = h
        .cmd(&["--once", "--once-timeout", "1s"])
        .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .env(
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "v2/credentials/abc",
        )
        .timeout(Duration::from_secs(30))
        .run();
    out.assert_code(2)
        .assert_stderr_contains("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    assert!(out.elapsed < CONFIG_ERROR_WITHIN, "{}", out.describe());
}

#[test]
fn web_identity_is_preferred_when_both_are_configured() {
    let h = container_harness("ctr_prefer_irsa", |_, _| Answer::issue(HOUR));
    h.cmd(&["--once"]).with_irsa().run().assert_code(0);
    let requests = h.sts.requests();
    assert_eq!(requests.len(), 1, "the fake STS gets the request");
    assert_eq!(
        requests[0].param("Action").as_deref(),
        Some("AssumeRoleWithWebIdentity")
    );
    assert_eq!(h.agent().connection_count(), 0, "the agent gets nothing");
    assert_eq!(profile(&h), Profile::from(&h.sts.issued()[0]));
}

#[test]
fn source_container_forces_the_container_endpoint() {
    let h = container_harness("ctr_force", |_, _| Answer::issue(HOUR));
    h.cmd(&["--once", "--source", "container"])
        .with_irsa()
        .run()
        .assert_code(0);
    assert_eq!(h.agent().request_count(), 1);
    assert_eq!(h.sts.request_count(), 0, "STS gets nothing");
    assert_eq!(profile(&h), Profile::from(&h.agent().issued()[0]));
}

#[test]
fn source_web_identity_without_irsa_variables_exits_2() {
    let h = container_harness("ctr_force_irsa", |_, _| Answer::issue(HOUR));
    let out = h
        .cmd(&["--once", "--source", "web-identity"])
        .timeout(Duration::from_secs(30))
        .run();
    out.assert_code(2).assert_stderr_contains("AWS_ROLE_ARN");
    assert_eq!(h.agent().connection_count(), 0);
}

#[test]
fn nothing_configured_exits_2_listing_both_sources() {
    let h = container_harness("ctr_nothing", |_, _| Answer::issue(HOUR));
    let out = h
        .cmd(&["--once"])
        .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .timeout(Duration::from_secs(30))
        .run();
    out.assert_code(2)
        .assert_stderr_contains("AWS_WEB_IDENTITY_TOKEN_FILE")
        .assert_stderr_contains("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .assert_stderr_contains("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    assert!(out.elapsed < CONFIG_ERROR_WITHIN, "{}", out.describe());
    assert_eq!(h.sts.request_count() + h.agent().connection_count(), 0);
}

/// A slow agent must not be waited on forever: `--once-timeout` bounds it,
/// and the old file stays.
#[test]
fn a_hanging_agent_is_given_up_on_within_the_once_timeout() {
    let h = container_harness("ctr_hang", |_, _| Answer::Hang);
    let inode = write_previous(&h);
    let out = h.cmd(&["--once", "--once-timeout", "3s"]).run();
    out.assert_code(1);
    assert!(
        out.elapsed < GIVES_UP_AT_ONCE,
        "--once-timeout 3s must bound a hanging agent\n{}",
        out.describe()
    );
    assert_untouched(&h, PREVIOUS, inode);
}

/// Every request to the agent the daemon makes, in order, while it runs
/// against an agent that fails now and then: failures leave the file.
#[test]
fn daemon_keeps_the_file_through_agent_failures() {
    let calls = Arc::new(Mutex::new(0usize));
    let counter = Arc::clone(&calls);
    let h = container_harness("ctr_daemon_failures", move |n, _| {
        *counter.lock().expect("counter") += 1;
        match n {
            0 => Answer::issue(SHORT),
            1 | 2 => Answer::json(500, r#"{"code":"InternalError","message":"boom"}"#),
            _ => Answer::issue(HOUR),
        }
    });
    let mut d = h.cmd(&[]).spawn();
    let ok = wait_until(Duration::from_secs(30), || {
        let issued = h.agent().issued();
        issued.len() >= 2
            && fs::read_to_string(&h.cred_file)
                .ok()
                .and_then(|t| ini::profile(&t, "default").ok())
                == Some(Profile::from(&issued[1]))
    });
    assert!(
        ok,
        "the file never held the credentials issued after the failures ({} calls)\n{}",
        calls.lock().expect("counter"),
        d.snapshot().describe()
    );
    d.assert_running();
    let out = d.stop();
    out.assert_code(0).assert_stderr_contains("500");
}

/// Long-term keys come without a `Token`: the profile must lose the old
/// session token too, or the SDK would send it with keys it does not
/// belong to and every request would fail.
#[test]
fn keys_without_a_token_replace_an_old_session_token() {
    let h = container_harness("ctr_no_session_token", |_, _| {
        Answer::json(
            200,
            r#"{"AccessKeyId":"AKIALONGTERMEXAMPLE1","SecretAccessKey":"longTermSecretEXAMPLE/000000000000000001","Expiration":"2099-01-01T00:00:00.000000001Z"}"#,
        )
    });
    h.add_secret("longTermSecretEXAMPLE/000000000000000001");
    write_previous(&h);
    h.cmd(&["--once"]).run().assert_code(0);
    let text = h.read_cred_file();
    let values = ini::values(&text, "default").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        values.get("aws_access_key_id").map(String::as_str),
        Some("AKIALONGTERMEXAMPLE1")
    );
    assert_eq!(
        values.get("aws_secret_access_key").map(String::as_str),
        Some("longTermSecretEXAMPLE/000000000000000001")
    );
    assert_eq!(
        values.get("aws_session_token"),
        None,
        "the old session token must go:\n{text}"
    );
}

#[test]
fn a_missing_token_file_at_start_exits_2_without_a_request() {
    let h = container_harness("ctr_token_missing", |_, _| Answer::issue(HOUR));
    let missing = h.scratch.join("eks-pod-identity-token/absent");
    let out = h
        .cmd(&["--once"])
        .env(
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            missing.display().to_string(),
        )
        .timeout(Duration::from_secs(30))
        .run();
    out.assert_code(2)
        .assert_stderr_contains("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    assert_eq!(h.agent().connection_count(), 0);
}

/// Debug logging shows the most; none of it may be a token, key or secret
/// (the harness scans every output for them).
#[test]
fn debug_logs_leak_no_token_or_secret() {
    let h = container_harness("ctr_debug_log", |n, _| {
        if n == 0 {
            Answer::json(
                500,
                r#"{"code":"InternalError","message":"agent restarting"}"#,
            )
        } else {
            Answer::issue(HOUR)
        }
    });
    let token = agent_token("ZGVidWc");
    let path = write_agent_token(&h, &token);
    for format in ["text", "json"] {
        let out = h
            .cmd(&["--once", "--log-level", "debug", "--log-format", format])
            .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", path.clone())
            .run();
        out.assert_code(0);
        assert!(!out.stderr.is_empty(), "debug logging says something");
    }
}

/// A token in the query of
/// `AWS_CONTAINER_CREDENTIALS_FULL_URI` (a credentials server that
/// authenticates by one) was logged whole in the start line and every
/// failure, and an `@` in the query made messages name another host. The
/// endpoint is now shown without its query: the token never appears, and
/// the host named is the one asked.
#[test]
fn a_token_in_the_endpoints_query_is_never_logged() {
    const SECRET: &str = "QueryAccessTokenSecret0123456789";
    let h = Harness::with_agent(
        "container_query_token",
        |_, _| Answer::issue(HOUR),
        Fake::start(|n, _| {
            if n == 0 {
                Answer::issue(HOUR)
            } else {
                Answer::json(500, r#"{"code":"InternalError","message":"try later"}"#)
            }
        }),
    );
    h.add_secret(SECRET);
    let url = format!(
        "{}/v1/credentials?access_token={SECRET}&owner=ops@example.com",
        h.agent().url()
    );
    let mut d = h
        .cmd(&[])
        .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", &url)
        .spawn();
    assert!(
        wait_until(Duration::from_secs(15), || d
            .stderr()
            .contains("refresh_failed")
            || d.stderr().contains("credentials_refreshed")),
        "{}",
        d.snapshot().describe()
    );
    d.signal(libc::SIGHUP);
    d.assert_logs_within("refresh_failed", Duration::from_secs(15), "after SIGHUP");
    // The harness scans the output for the token.
    let out = d.stop();
    out.assert_code(0);
    assert!(
        !out.stderr.contains("example.com"),
        "a host never asked is named\n{}",
        out.describe()
    );
    assert!(
        out.stderr.contains("/v1/credentials?…"),
        "{}",
        out.describe()
    );
}

/// The SDKs take web identity only with both of its variables. A stray
/// `AWS_ROLE_ARN` in a Pod Identity pod (common while migrating) stopped
/// aws-credfile with exit 2, while botocore used the container endpoint.
#[test]
fn half_of_irsa_beside_a_container_endpoint_leaves_the_endpoint_in_use() {
    let h = container_harness("ctr_stray_role_arn", |_, _| Answer::issue(HOUR));
    for stray in ["AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"] {
        let value = match stray {
            "AWS_ROLE_ARN" => "arn:aws:iam::123456789012:role/stray".to_string(),
            _ => h
                .scratch
                .write("stray-token", "eyJ.stray.token")
                .display()
                .to_string(),
        };
        h.cmd(&["--once"]).env(stray, value).run().assert_code(0);
    }
    assert_eq!(h.agent().connection_count(), 2, "the agent was not asked");
    assert_eq!(h.sts.request_count(), 0, "STS was asked");
}

/// An agent is always reached directly, so a pod-wide `HTTPS_PROXY` meant
/// for other tools (a SOCKS one, which aws-credfile cannot use) stopped a
/// Pod Identity sidecar at start with exit 2. It is refused only when the
/// run calls STS, as a chained `--role-arn` does.
#[test]
fn a_proxy_only_sts_would_use_stops_no_container_source() {
    let h = container_harness("ctr_unusable_proxy", |_, _| Answer::issue(HOUR));
    let socks = "socks5://127.0.0.1:1080";
    h.cmd(&["--once"])
        .env("HTTPS_PROXY", socks)
        .run()
        .assert_code(0);
    h.cmd(&[
        "--once",
        "--role-arn",
        "arn:aws:iam::123456789012:role/next",
    ])
    .env("HTTPS_PROXY", socks)
    .run()
    .assert_code(2)
    .assert_stderr_contains("HTTPS_PROXY");
    assert_eq!(
        h.agent().connection_count(),
        1,
        "asked once, by the first run"
    );
}

/// An HTTP date (`Fri, 27 Nov 2026 19:32:06 GMT`) for `t`, as `date` writes it.
fn http_date(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let out = std::process::Command::new("date")
        .env("LC_ALL", "C")
        .args([
            "-u",
            "-d",
            &format!("@{secs}"),
            "+%a, %d %b %Y %H:%M:%S GMT",
        ])
        .output()
        .expect("date");
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .trim()
        .to_string()
}

/// A node clock 25 minutes behind the agent's: 15-minute credentials were
/// taken for valid for 40 on this clock, the refresh came after they had
/// expired, and probes passed. The agent's `Date` says when it answered;
/// the lifetime it meant is counted from our now.
#[test]
fn a_clock_behind_the_sources_reads_the_lifetime_it_meant() {
    use std::time::SystemTime;
    let server_now = SystemTime::now() + Duration::from_secs(25 * 60);
    let expiration = crate::harness::time::rfc3339(server_now + Duration::from_secs(15 * 60));
    let body = serde_json::json!({
        "AccessKeyId": "ASIACLOCKBEHIND00001",
        "SecretAccessKey": "clockBehindSecretKey000000000000000000001",
        "Token": "clockBehindSessionToken0000000000000000000000001",
        "Expiration": expiration,
    })
    .to_string();
    // The fake writes its content type into the head as it is: the Date
    // header rides along.
    let content_type = format!("application/json\r\nDate: {}", http_date(server_now));
    let h = Harness::with_agent(
        "container_clock_behind",
        |_, _| Answer::issue(HOUR),
        Fake::start(move |_, _| Answer::raw(200, &content_type, body.clone())),
    );
    let before = SystemTime::now();
    h.cmd(&["--once"]).run().assert_code(0);
    let after = SystemTime::now();
    let text = fs::read_to_string(&h.cred_file).expect("the file");
    let recorded = text
        .lines()
        .find(|l| l.starts_with(EXPIRY_COMMENT))
        .and_then(|l| l.split_whitespace().nth(3))
        .expect("the expiry comment")
        .trim_end_matches(',')
        .to_string();
    // 15 minutes from some second of the run (the Date has whole seconds).
    let fifteen = Duration::from_secs(15 * 60);
    let mut t = before - Duration::from_secs(2);
    let mut expected = Vec::new();
    while t <= after + Duration::from_secs(1) {
        expected.push(crate::harness::time::rfc3339(t + fifteen));
        t += Duration::from_secs(1);
    }
    assert!(
        expected.contains(&recorded),
        "recorded {recorded}, expected one of {expected:?} (the agent said {expiration})"
    );
}
