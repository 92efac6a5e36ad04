//! What an operator reads when something is wrong: each message names what
//! to look at (the variable, the flag, the call) and says what happened in
//! the words of what happened, and a server's quote of a secret shows none
//! of it. Each test here is a message an outside review found wrong.

use std::ffi::OsString;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::thread;
use std::time::Duration;

use crate::harness::{wait_for_file_containing, Answer, Fake, Harness, Request, HOUR};

/// A hang guard, not a timing test.
const HANG_GUARD: Duration = Duration::from_secs(30);

/// An agent that quotes the first `n` characters of the token it was sent
/// ("token 0123456789ab... is not valid") had them printed in the error: only
/// 16 characters in a row of a secret were taken out; now 12 are.
#[test]
fn an_agent_quoting_a_prefix_of_the_token_shows_none_of_it() {
    const TOKEN: &str = "0123456789abcdefAgentTokenForMessagesTest0123456789abcdef";
    for n in [12, 15] {
        let agent = Fake::start(move |_, req: &Request| {
            let sent = req.header("authorization").unwrap_or_default();
            let prefix: String = sent.chars().take(n).collect();
            Answer::json(
                401,
                &format!(r#"{{"code":"AccessDenied","message":"token {prefix}... is not valid"}}"#),
            )
        });
        let h = Harness::with_agent("msg_token_prefix", |_, _| Answer::issue(HOUR), agent);
        h.add_secret(TOKEN);
        let out = h
            .cmd(&["--once"])
            .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", TOKEN)
            .timeout(HANG_GUARD)
            .run();
        out.assert_code(1).assert_stderr_contains("AccessDenied");
        assert_eq!(h.agent().request_count(), 1, "{}", out.stderr);
        assert!(
            !out.stderr.contains(&TOKEN[..n]),
            "{n} characters of the token were printed: {}",
            out.stderr
        );
    }
}

/// A proxy setting that is not UTF-8 stopped a container run that never
/// uses a proxy (the agent is reached directly), though a SOCKS one, which
/// aws-credfile cannot use either, did not.
#[test]
fn a_proxy_setting_the_run_never_uses_is_not_read() {
    let agent = Fake::start(|_, _| Answer::issue(HOUR));
    let h = Harness::with_agent("msg_proxy_unread", |_, _| Answer::issue(HOUR), agent);
    let not_utf8 = OsString::from_vec(b"http://proxy\xff:3128".to_vec());
    for variable in ["HTTPS_PROXY", "NO_PROXY"] {
        let out = h
            .cmd(&["--once"])
            .env(variable, not_utf8.clone())
            .timeout(HANG_GUARD)
            .run();
        out.assert_code(0);
    }
    // Where STS is called, it is read, and refused.
    let out = h
        .cmd(&[
            "--once",
            "--role-arn",
            "arn:aws:iam::123456789012:role/next",
        ])
        .env("HTTPS_PROXY", not_utf8)
        .timeout(HANG_GUARD)
        .run();
    out.assert_code(2)
        .assert_stderr_contains("HTTPS_PROXY is not valid UTF-8");
}

/// A token file gone at a refresh said only "could not read the web
/// identity token file …": at start the same problem names the variable and
/// says to check the projected volume.
#[test]
fn a_token_file_gone_at_a_refresh_is_named_with_what_to_check() {
    let h = Harness::new("msg_token_gone", |_, _| Answer::issue(HOUR));
    let mut d = h.cmd(&[]).spawn();
    wait_for_file_containing(&h.cred_file, "aws_access_key_id", HANG_GUARD)
        .expect("the first write");
    fs::remove_file(&h.token_file).expect("remove the token file");
    d.signal(libc::SIGHUP);
    d.assert_logs_within(
        "AWS_WEB_IDENTITY_TOKEN_FILE: could not read",
        HANG_GUARD,
        "the refresh's failure, naming the variable",
    );
    let out = d.stop();
    assert!(
        out.stderr
            .contains("check the projected token volume is mounted"),
        "{}",
        out.stderr
    );
}

/// `InvalidParameterValue` from `AssumeRoleWithWebIdentity` sent the
/// operator to `--role-arn` and `--external-id`, which that call does not
/// use; its role comes from `AWS_ROLE_ARN`.
#[test]
fn sts_parameter_errors_point_at_what_the_failed_call_sent() {
    let h = Harness::new("msg_sts_400", |_, _| {
        Answer::error(400, "InvalidParameterValue", "1 validation error detected")
    });
    let out = h.cmd(&["--once"]).timeout(HANG_GUARD).run();
    out.assert_code(1)
        .assert_stderr_contains("InvalidParameterValue")
        .assert_stderr_contains("check AWS_ROLE_ARN");
    assert!(!out.stderr.contains("--external-id"), "{}", out.stderr);
}

/// A server that took the connection and never answered was "could not
/// reach …; check that the server runs"; an https URL to a plain-http port
/// was blamed on the certificate.
#[test]
fn a_network_failure_is_told_as_it_happened() {
    let hanging = Harness::new("msg_stalled", |_, _| Answer::Hang);
    let out = hanging
        .cmd(&["--once", "--once-timeout", "3s"])
        .timeout(HANG_GUARD)
        .run();
    out.assert_code(1)
        .assert_stderr_contains("no answer in time from")
        .assert_stderr_contains("answers promptly");
    assert!(!out.stderr.contains("could not reach"), "{}", out.stderr);

    // A plain-HTTP server answers a TLS hello with an HTTP error, as
    // Python's http.server and most others do.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("local address").port();
    thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = stream.read(&mut [0; 512]);
            let _ = stream.write_all(b"HTTP/1.0 400 Bad request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let plain = Harness::new("msg_plain_port", |_, _| Answer::issue(HOUR));
    let https_url = format!("https://127.0.0.1:{port}");
    let out = plain
        .cmd(&["--once", "--once-timeout", "3s"])
        .env("AWS_ENDPOINT_URL_STS", https_url)
        .timeout(HANG_GUARD)
        .run();
    out.assert_code(1)
        .assert_stderr_contains("does not speak TLS");
    assert!(!out.stderr.contains("AWS_CA_BUNDLE"), "{}", out.stderr);
}

/// An answer that is no STS answer (a login page, an HTML 404) said what it
/// was and nothing of what to do.
#[test]
fn an_answer_from_something_else_says_where_to_look() {
    let h = Harness::new("msg_login_page", |_, _| {
        Answer::raw(401, "text/html", "<html>login</html>")
    });
    let out = h.cmd(&["--once"]).timeout(HANG_GUARD).run();
    out.assert_code(1)
        .assert_stderr_contains("no STS ErrorResponse")
        .assert_stderr_contains("not a proxy, load balancer or login page");
}

/// A bad flag was reported only after the environment named an identity:
/// with none, `--duration 5x` said "no identity configured".
#[test]
fn a_bad_flag_is_named_before_a_missing_identity() {
    let h = Harness::new("msg_flag_first", |_, _| Answer::issue(HOUR));
    for (args, culprit) in [
        (&["--once", "--duration", "5x"][..], "--duration"),
        (&["--once", "--duration", "100"][..], "--duration \"100\""),
        (&["--once", "--session-name", "a b"][..], "--session-name"),
    ] {
        let out = h
            .cmd(args)
            .env_remove("AWS_ROLE_ARN")
            .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
            .timeout(HANG_GUARD)
            .run();
        out.assert_code(2).assert_stderr_contains(culprit);
        assert!(
            !out.stderr.contains("no identity configured"),
            "{}",
            out.stderr
        );
    }
    assert_eq!(h.sts.request_count(), 0);
}

/// Messages whose words were wrong for the value given: "has the wrong
/// length" for what is no ARN at all, "use https or an address" for an
/// address, a token recipe whose newline the app's SDK refuses.
#[test]
fn a_refused_value_is_told_what_is_wrong_with_it() {
    let h = Harness::new("msg_wording", |_, _| Answer::issue(HOUR));
    let short_token = h.scratch.write("short-token", "abc");
    let rows: Vec<Row> = vec![
        (
            args(&["--once", "--role-arn", "notanarn"]),
            vec![],
            "is not an IAM ARN",
        ),
        (
            args(&[
                "--once",
                "--role-arn",
                "arn:aws:iam::123456789012:role/x",
                "--external-id",
                "a",
            ]),
            vec![],
            "must be 2 to 1224 characters long",
        ),
        (
            args(&["--once"]),
            vec![(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://10.1.2.3/creds",
            )],
            "use https, or one of those",
        ),
        (
            {
                let mut a = args(&["--serve", "127.0.0.1:0", "--serve-token-file"]);
                a.push(short_token.into_os_string());
                a
            },
            vec![],
            "base64 | tr -d",
        ),
    ];
    for (args, env, says) in rows {
        let mut cmd = h.cmd(&[]).timeout(HANG_GUARD);
        for arg in args {
            cmd = cmd.arg(arg);
        }
        for (k, v) in env {
            cmd = cmd
                .env_remove("AWS_ROLE_ARN")
                .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
                .env(k, v);
        }
        let out = cmd.run();
        out.assert_code(2).assert_stderr_contains(says);
    }
    // A token file any user may write lets any user choose the token, and
    // take the endpoint's keys with it: it was taken without a word.
    let open_token = h.scratch.write("open-token", "AnyoneMayWriteThisToken0123");
    fs::set_permissions(&open_token, fs::Permissions::from_mode(0o666)).expect("chmod");
    h.cmd(&["--serve", "127.0.0.1:0", "--serve-token-file"])
        .arg(&open_token)
        .timeout(HANG_GUARD)
        .run()
        .assert_code(2)
        .assert_stderr_contains("any user may write it");
    // So does one in a directory any user may write without the sticky
    // bit: anyone could put their own file under its name.
    let open_dir = h.scratch.join("open-dir");
    fs::create_dir_all(&open_dir).expect("mkdir");
    fs::set_permissions(&open_dir, fs::Permissions::from_mode(0o777)).expect("chmod");
    let planted = h
        .scratch
        .write("open-dir/token", "PlantedByAnyoneToken01234");
    h.cmd(&["--serve", "127.0.0.1:0", "--serve-token-file"])
        .arg(&planted)
        .timeout(HANG_GUARD)
        .run()
        .assert_code(2)
        .assert_stderr_contains("or its directory");
    assert_eq!(h.sts.request_count(), 0);
}

/// Arguments, variables set (the IRSA ones removed), and what stderr says.
type Row = (
    Vec<OsString>,
    Vec<(&'static str, &'static str)>,
    &'static str,
);

fn args(list: &[&str]) -> Vec<OsString> {
    list.iter().map(OsString::from).collect()
}
