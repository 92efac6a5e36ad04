//! `--once` against a fake STS: the file it writes, the request it sends,
//! which failures it retries, and which it gives up on at once without
//! touching the file.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::Duration;

use crate::harness;
use crate::harness::ini::{self, Profile, EXPIRY_COMMENT};
use crate::harness::process;
use crate::harness::{dir_names, mode, Answer, Fake, Harness, HOUR, LOCK_FILE, ROLE_ARN};

/// Generous bound for runs that must give up: `--once-timeout 3s` plus
/// whatever a request in flight costs. Not a timing test; a hang guard.
const GIVES_UP_WITHIN: Duration = Duration::from_secs(30);

/// A file with a profile of ours in the middle of other people's: every
/// byte outside our section must survive.
const OTHERS_BEFORE: &str = "# Managed by hand: do not remove this comment\n\
    \n\
    [dev]\n\
    # dev keys, rotated by hand\n\
    aws_access_key_id = AKIADEVEXAMPLE000001\n\
    aws_secret_access_key = devSecretEXAMPLE0000/0000000000000000001\n\
    region=eu-west-1\n\
    \n";
const OLD_DEFAULT: &str = "[default]\n\
    aws_access_key_id = AKIAOLDEXAMPLE000001\n\
    aws_secret_access_key = oldSecretEXAMPLE0000/0000000000000000001\n\
    aws_session_token = oldTokenEXAMPLE00000/000000000000000000000000000001\n\
    \n";
const OTHERS_AFTER: &str = "[prod]\n\
    aws_access_key_id=AKIAPRODEXAMPLE00001\n  \
    aws_secret_access_key   =   prodSecretEXAMPLE000/0000000000000000001\n\
    ; a semicolon comment\n\
    \n\
    \n\
    [z-last]\n\
    role_arn = arn:aws:iam::123456789012:role/z\n\
    source_profile = dev\n";

fn existing_file() -> String {
    format!("{OTHERS_BEFORE}{OLD_DEFAULT}{OTHERS_AFTER}")
}

/// Asserts the file is `before`, then exactly one section for `profile`
/// holding `expected`, then `after`; returns the middle part.
fn assert_merged(text: &str, before: &str, after: &str, profile: &str, expected: &Profile) {
    assert!(
        text.starts_with(before),
        "the bytes before [{profile}] changed:\n--- expected prefix\n{before}--- file\n{text}---"
    );
    assert!(
        text.ends_with(after),
        "the bytes after [{profile}] changed:\n--- expected suffix\n{after}--- file\n{text}---"
    );
    assert!(
        text.len() >= before.len() + after.len(),
        "file shorter than what it must keep:\n{text}"
    );
    let middle = &text[before.len()..text.len() - after.len()];
    let sections = ini::sections(middle);
    assert_eq!(
        sections.len(),
        1,
        "between the kept parts there must be exactly our section:\n{middle}"
    );
    assert_eq!(
        ini::profile(middle, profile).as_ref(),
        Ok(expected),
        "{text}"
    );
}

#[test]
fn once_writes_exactly_the_profile_with_mode_0600() {
    let h = Harness::new("once_writes", |_, _| Answer::issue(HOUR));
    h.cmd(&["--once"]).run().assert_code(0);

    let issued = h.sts.issued();
    assert_eq!(issued.len(), 1, "one request, one set of credentials");
    let c = &issued[0];
    let text = h.read_cred_file();
    assert!(
        text.ends_with('\n'),
        "the file ends with a newline:\n{text}"
    );
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.first(), Some(&"[default]"), "{text}");
    let mut rest: Vec<&str> = lines[1..].to_vec();
    rest.sort();
    let mut expected = vec![
        format!("aws_access_key_id = {}", c.access_key_id),
        format!("aws_secret_access_key = {}", c.secret_access_key),
        format!("aws_session_token = {}", c.session_token),
    ];
    expected.sort();
    let comments: Vec<&str> = rest
        .iter()
        .copied()
        .filter(|l| l.starts_with('#'))
        .collect();
    let keys: Vec<&str> = rest
        .iter()
        .copied()
        .filter(|l| !l.starts_with('#'))
        .collect();
    assert_eq!(keys, expected, "the three keys, exactly:\n{text}");
    assert_eq!(comments.len(), 1, "one comment, the expiry record:\n{text}");
    assert!(
        comments[0].starts_with(EXPIRY_COMMENT),
        "the comment is the whole-line expiry record:\n{text}"
    );
    assert!(
        comments[0].contains(&c.expiration),
        "the expiry record holds the expiry STS sent ({}):\n{text}",
        c.expiration
    );

    assert_eq!(mode(&h.cred_file), 0o600, "credentials are private");
    let dir = h.cred_file.parent().expect("the file has a directory");
    assert_eq!(
        dir_names(dir),
        [LOCK_FILE, "credentials"],
        "no temporary file is left next to the credentials (only the lock file, kept for good)"
    );
}

#[test]
fn once_keeps_other_profiles_and_comments_byte_for_byte() {
    let h = Harness::new("once_keeps_others", |_, _| Answer::issue(HOUR));
    h.write_cred_file(&existing_file());
    fs::set_permissions(&h.cred_file, fs::Permissions::from_mode(0o644))
        .expect("chmod the old file");
    h.cmd(&["--once"]).run().assert_code(0);

    let text = h.read_cred_file();
    let issued = h.sts.issued();
    assert_eq!(issued.len(), 1);
    assert_merged(
        &text,
        OTHERS_BEFORE,
        OTHERS_AFTER,
        "default",
        &Profile::from(&issued[0]),
    );
    assert!(
        !text.contains("AKIAOLDEXAMPLE"),
        "old keys are gone:\n{text}"
    );
    assert_eq!(
        mode(&h.cred_file),
        0o600,
        "a rewritten file is 0600 even if the old one was not"
    );
}

#[test]
fn once_keeps_a_comment_that_introduces_the_next_profile() {
    let h = Harness::new("once_keeps_intro_comment", |_, _| Answer::issue(HOUR));
    let after = "# prod: break-glass keys, ask #infra before touching\n\
        [prod]\n\
        aws_access_key_id = AKIAPRODEXAMPLE00002\n\
        aws_secret_access_key = prodSecretEXAMPLE000/0000000000000000002\n";
    h.write_cred_file(&format!("{OLD_DEFAULT}{after}"));
    h.cmd(&["--once"]).run().assert_code(0);

    let text = h.read_cred_file();
    let issued = h.sts.issued();
    assert_merged(&text, "", after, "default", &Profile::from(&issued[0]));
}

#[test]
fn once_keeps_crlf_profiles_byte_for_byte() {
    let h = Harness::new("once_keeps_crlf", |_, _| Answer::issue(HOUR));
    let before = "[dev]\r\naws_access_key_id = AKIADEVEXAMPLE000003\r\n\
        aws_secret_access_key = devSecretEXAMPLE0000/0000000000000000003\r\n\r\n";
    let old = "[default]\r\naws_access_key_id = AKIAOLDEXAMPLE000003\r\n\
        aws_secret_access_key = oldSecretEXAMPLE0000/0000000000000000003\r\n\r\n";
    let after = "[prod]\r\naws_access_key_id = AKIAPRODEXAMPLE00003\r\n\
        aws_secret_access_key = prodSecretEXAMPLE000/0000000000000000003\r\n";
    h.write_cred_file(&format!("{before}{old}{after}"));
    h.cmd(&["--once"]).run().assert_code(0);

    let text = h.read_cred_file();
    let issued = h.sts.issued();
    assert_merged(&text, before, after, "default", &Profile::from(&issued[0]));
}

#[test]
fn once_appends_a_missing_profile_after_a_file_without_final_newline() {
    let h = Harness::new("once_appends", |_, _| Answer::issue(HOUR));
    let old = "[dev]\naws_access_key_id = AKIADEVEXAMPLE000004\n\
        aws_secret_access_key = devSecretEXAMPLE0000/0000000000000000004";
    h.write_cred_file(old);
    h.cmd(&["--once", "--profile", "app"]).run().assert_code(0);

    let text = h.read_cred_file();
    assert!(text.starts_with(old), "the old bytes stay first:\n{text}");
    let dev = ini::values(&text, "dev").expect("dev is still there");
    assert_eq!(dev["aws_access_key_id"], "AKIADEVEXAMPLE000004", "{text}");
    assert_eq!(
        dev["aws_secret_access_key"], "devSecretEXAMPLE0000/0000000000000000004",
        "the last line of [dev] must not run into our header:\n{text}"
    );
    assert_eq!(dev.len(), 2, "{text}");
    let issued = h.sts.issued();
    assert_eq!(ini::profile(&text, "app"), Ok(Profile::from(&issued[0])));
    assert!(
        ini::section(&text, "default").is_err(),
        "only the chosen profile is written:\n{text}"
    );
}

#[test]
fn once_defaults_to_home_aws_credentials_and_creates_the_directory_0700() {
    let h = Harness::new("once_home", |_, _| Answer::issue(HOUR));
    h.cmd(&["--once"])
        .env_remove("AWS_SHARED_CREDENTIALS_FILE")
        .run()
        .assert_code(0);

    let path = h.home.join(".aws/credentials");
    let text = fs::read_to_string(&path).expect("$HOME/.aws/credentials is written");
    let issued = h.sts.issued();
    assert_eq!(
        ini::profile(&text, "default"),
        Ok(Profile::from(&issued[0]))
    );
    assert_eq!(mode(&path), 0o600);
    assert_eq!(
        mode(&h.home.join(".aws")),
        0o700,
        "a created directory is 0700"
    );
    // A --mode that lets the group read the file (a pod's fsGroup) made
    // the file 0640 in a 0700 directory the group could not enter: the app
    // was refused while both probes passed.
    let grouped = h.scratch.join("grouped/.aws/credentials");
    h.cmd(&["--once", "--mode", "0640", "--file"])
        .arg(&grouped)
        .run()
        .assert_code(0);
    assert_eq!(mode(&grouped), 0o640);
    for made in ["grouped", "grouped/.aws"] {
        assert_eq!(mode(&h.scratch.join(made)), 0o711, "{made}");
    }
}

#[test]
fn once_file_flag_wins_over_the_environment() {
    let h = Harness::new("once_file_flag", |_, _| Answer::issue(HOUR));
    let path = h.scratch.join("elsewhere/creds.ini");
    h.cmd(&["--once", "--file"]).arg(&path).run().assert_code(0);

    let text = fs::read_to_string(&path).expect("--file is written");
    let issued = h.sts.issued();
    assert_eq!(
        ini::profile(&text, "default"),
        Ok(Profile::from(&issued[0]))
    );
    assert!(
        !h.cred_file.exists(),
        "AWS_SHARED_CREDENTIALS_FILE is not written when --file is given"
    );
}

#[test]
fn once_mode_flag_sets_the_file_mode() {
    let h = Harness::new("once_mode", |_, _| Answer::issue(HOUR));
    h.cmd(&["--once", "--mode", "0640"]).run().assert_code(0);
    assert_eq!(mode(&h.cred_file), 0o640);
}

#[test]
fn once_owner_flag_sets_the_file_owner() {
    if !process::is_root() {
        crate::harness::skip("--owner needs root to give a file away");
        return;
    }
    let h = Harness::new("once_owner", |_, _| Answer::issue(HOUR));
    h.cmd(&["--once", "--owner", "4321:4322"])
        .run()
        .assert_code(0);
    let meta = fs::metadata(&h.cred_file).expect("stat the credentials file");
    assert_eq!((meta.uid(), meta.gid()), (4321, 4322));
    assert_eq!(meta.mode() & 0o777, 0o600);
}

#[test]
fn once_sends_the_documented_form_with_the_token_exactly_as_in_the_file() {
    let h = Harness::new("once_request", |_, _| Answer::issue(HOUR));
    // Characters a form encoder must escape, and whitespace around the
    // token that must be trimmed.
    let token = format!("{}.sig+/=&%~-_ok", h.token());
    h.set_token_file_contents(&format!("\n  {token}\t\n\n"), &token);
    h.cmd(&["--once"]).run().assert_code(0);

    let requests = h.sts.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.target, "/");
    let content_type = r.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/x-www-form-urlencoded"),
        "Content-Type {content_type:?}"
    );
    assert!(
        r.header("authorization").is_none(),
        "AssumeRoleWithWebIdentity is unsigned: {:?}",
        r.headers
    );
    assert_eq!(
        r.param("Action").as_deref(),
        Some("AssumeRoleWithWebIdentity")
    );
    assert_eq!(r.param("Version").as_deref(), Some("2011-06-15"));
    assert_eq!(r.param("RoleArn").as_deref(), Some(ROLE_ARN));
    assert_eq!(
        r.param("WebIdentityToken").as_deref(),
        Some(token.as_str()),
        "the token as in the file, trimmed"
    );
    let session = r.param("RoleSessionName").unwrap_or_default();
    assert!(
        harness::is_valid_session_name(&session),
        "default RoleSessionName {session:?} must be 2-64 of [\\w+=,.@-]"
    );
    if let Some(d) = r.param("DurationSeconds") {
        assert!(d.parse::<u32>().is_ok(), "DurationSeconds={d:?}");
    }
    let names: Vec<String> = r.form().into_iter().map(|(k, _)| k).collect();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "no parameter twice: {names:?}");
}

#[test]
fn once_sends_session_name_from_the_environment_and_duration() {
    let h = Harness::new("once_session_env", |_, _| Answer::issue(HOUR));
    h.cmd(&["--once", "--duration", "1h30m"])
        .env("AWS_ROLE_SESSION_NAME", "itest-session@example.com")
        .run()
        .assert_code(0);
    let r = &h.sts.requests()[0];
    assert_eq!(
        r.param("RoleSessionName").as_deref(),
        Some("itest-session@example.com")
    );
    assert_eq!(r.param("DurationSeconds").as_deref(), Some("5400"));
}

#[test]
fn once_sends_session_name_and_duration_from_flags() {
    let h = Harness::new("once_session_flag", |_, _| Answer::issue(HOUR));
    h.cmd(&["--once", "--session-name", "from-flag", "--duration", "15m"])
        .run()
        .assert_code(0);
    let r = &h.sts.requests()[0];
    assert_eq!(r.param("RoleSessionName").as_deref(), Some("from-flag"));
    assert_eq!(r.param("DurationSeconds").as_deref(), Some("900"));
}

#[test]
fn once_sts_endpoint_flag_is_used() {
    let h = Harness::new("once_endpoint_flag", |_, _| Answer::issue(HOUR));
    let url = h.sts.url();
    h.cmd(&["--once", "--sts-endpoint", &url])
        .env_remove("AWS_ENDPOINT_URL_STS")
        .run()
        .assert_code(0);
    assert_eq!(h.sts.request_count(), 1);
}

#[test]
fn once_generic_endpoint_variable_is_used() {
    let h = Harness::new("once_endpoint_generic", |_, _| Answer::issue(HOUR));
    let url = h.sts.url();
    h.cmd(&["--once"])
        .env_remove("AWS_ENDPOINT_URL_STS")
        .env("AWS_ENDPOINT_URL", url)
        .run()
        .assert_code(0);
    assert_eq!(h.sts.request_count(), 1);
}

#[test]
fn once_sts_endpoint_variable_wins_over_the_generic_one() {
    let h = Harness::new("once_endpoint_precedence", |_, _| Answer::issue(HOUR));
    let wrong = Fake::start(|_, _| Answer::access_denied());
    h.cmd(&["--once"])
        .env("AWS_ENDPOINT_URL", wrong.url())
        .run()
        .assert_code(0);
    assert_eq!(h.sts.request_count(), 1);
    assert_eq!(wrong.request_count(), 0, "AWS_ENDPOINT_URL_STS wins");
}

#[test]
fn once_retries_throttling_then_succeeds() {
    let h = Harness::new("once_throttling", |n, _| {
        if n < 2 {
            Answer::throttling()
        } else {
            Answer::issue(HOUR)
        }
    });
    h.cmd(&["--once"]).run().assert_code(0);
    let requests = h.sts.requests();
    assert_eq!(requests.len(), 3, "two throttled attempts, one success");
    let token = h.token();
    for r in &requests {
        assert_eq!(r.param("WebIdentityToken").as_deref(), Some(token.as_str()));
    }
    let issued = h.sts.issued();
    assert_eq!(
        ini::profile(&h.read_cred_file(), "default"),
        Ok(Profile::from(&issued[0]))
    );
}

#[test]
fn once_retries_a_server_error_then_succeeds() {
    let h = Harness::new("once_500", |n, _| {
        if n == 0 {
            Answer::error(500, "InternalFailure", "We encountered an internal error")
        } else {
            Answer::issue(HOUR)
        }
    });
    h.cmd(&["--once"]).run().assert_code(0);
    assert_eq!(h.sts.request_count(), 2);
    assert_eq!(
        ini::profile(&h.read_cred_file(), "default"),
        Ok(Profile::from(&h.sts.issued()[0]))
    );
}

#[test]
fn once_retries_http_429_then_succeeds() {
    let h = Harness::new("once_429", |n, _| {
        if n == 0 {
            Answer::raw(429, "text/plain", "Too Many Requests")
        } else {
            Answer::issue(HOUR)
        }
    });
    h.cmd(&["--once"]).run().assert_code(0);
    assert_eq!(h.sts.request_count(), 2);
}

#[test]
fn once_retries_idp_communication_error_then_succeeds() {
    let h = Harness::new("once_idp", |n, _| {
        if n == 0 {
            Answer::error(
                400,
                "IDPCommunicationError",
                "Couldn't retrieve verification key from your identity provider",
            )
        } else {
            Answer::issue(HOUR)
        }
    });
    h.cmd(&["--once"]).run().assert_code(0);
    assert_eq!(h.sts.request_count(), 2);
}

#[test]
fn once_waits_for_a_slow_answer() {
    let h = Harness::new("once_slow", |_, _| {
        Answer::issue(HOUR).after(Duration::from_secs(2))
    });
    h.cmd(&["--once"]).run().assert_code(0);
    assert_eq!(h.sts.request_count(), 1);
}

/// A failing run must leave the old file exactly as it was: same bytes,
/// same inode (not even rewritten with the same content).
fn assert_untouched(h: &Harness, before: &str, inode: u64) {
    assert_eq!(h.read_cred_file(), before, "the old file must be untouched");
    let meta = fs::metadata(&h.cred_file).expect("stat the credentials file");
    assert_eq!(meta.ino(), inode, "the old file must not be replaced");
}

fn with_existing_file(h: &Harness) -> (String, u64) {
    let before = existing_file();
    h.write_cred_file(&before);
    let inode = fs::metadata(&h.cred_file).expect("stat").ino();
    (before, inode)
}

#[test]
fn once_access_denied_exits_1_at_once_and_keeps_the_file() {
    let h = Harness::new("once_denied", |_, _| Answer::access_denied());
    let (before, inode) = with_existing_file(&h);
    let out = h.cmd(&["--once"]).run();
    out.assert_code(1)
        .assert_stderr_contains("AccessDenied")
        .assert_stderr_contains("Not authorized to perform");
    assert_eq!(h.sts.request_count(), 1, "AccessDenied is not retried");
    assert!(
        out.elapsed < Duration::from_secs(15),
        "gives up at once\n{}",
        out.describe()
    );
    assert_untouched(&h, &before, inode);
}

#[test]
fn once_invalid_parameter_exits_1_without_retrying() {
    let h = Harness::new("once_invalid_param", |_, _| {
        Answer::error(
            400,
            "InvalidParameterValue",
            "1 validation error detected: roleSessionName",
        )
    });
    let (before, inode) = with_existing_file(&h);
    h.cmd(&["--once"])
        .run()
        .assert_code(1)
        .assert_stderr_contains("InvalidParameterValue");
    assert_eq!(h.sts.request_count(), 1);
    assert_untouched(&h, &before, inode);
}

/// A source up a few seconds late (an agent starting beside an init
/// container) was given up on with much of the budget unspent: after the
/// attempt at about 3.7 s the next backoff did not fit, and `--once
/// --once-timeout 10s` failed anywhere from 3.7 to 9 s (the backoff is
/// jittered: the previous binary passes this now and then). The last
/// backoff is cut short to leave an attempt a second before the budget
/// ends, at 9 s, after the source is back at 8.5 s.
#[test]
fn once_spends_its_whole_budget_before_giving_up() {
    let h = Harness::new("once_late_source", |_, _| Answer::issue(HOUR));
    h.sts.refuse_connections();
    let mut run = h.cmd(&["--once", "--once-timeout", "10s"]).spawn();
    std::thread::sleep(Duration::from_millis(8500));
    h.sts.listen_again();
    let status = run.wait_exit(Duration::from_secs(20));
    let out = run.outcome();
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", out.stderr);
    assert_eq!(h.sts.request_count(), 1);
}

#[test]
fn once_gives_up_on_endless_throttling_within_the_once_timeout() {
    let h = Harness::new("once_throttled_forever", |_, _| Answer::throttling());
    let (before, inode) = with_existing_file(&h);
    let out = h.cmd(&["--once", "--once-timeout", "3s"]).run();
    out.assert_code(1).assert_stderr_contains("Throttling");
    assert!(
        out.elapsed < GIVES_UP_WITHIN,
        "--once-timeout bounds the run\n{}",
        out.describe()
    );
    assert!(h.sts.request_count() >= 2, "throttling is retried");
    assert_untouched(&h, &before, inode);
}

#[test]
fn once_gives_up_when_nothing_listens() {
    let h = Harness::new("once_refused", |_, _| Answer::issue(HOUR));
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("address")
    };
    let out = h
        .cmd(&["--once", "--once-timeout", "3s"])
        .env("AWS_ENDPOINT_URL_STS", format!("http://{closed}"))
        .run();
    out.assert_code(1);
    assert!(out.elapsed < GIVES_UP_WITHIN, "{}", out.describe());
    assert!(!h.cred_file.exists());
}

#[test]
fn once_gives_up_on_an_sts_that_never_answers() {
    let h = Harness::new("once_hang", |_, _| Answer::Hang);
    let (before, inode) = with_existing_file(&h);
    let out = h.cmd(&["--once", "--once-timeout", "3s"]).run();
    out.assert_code(1);
    assert!(
        out.elapsed < GIVES_UP_WITHIN,
        "a hanging STS must not outlast --once-timeout by much\n{}",
        out.describe()
    );
    assert_untouched(&h, &before, inode);
}

#[test]
fn once_survives_a_reset_mid_body_then_succeeds() {
    let h = Harness::new("once_reset_then_ok", |n, _| {
        if n == 0 {
            reset_mid_body()
        } else {
            Answer::issue(HOUR)
        }
    });
    h.cmd(&["--once"]).run().assert_code(0);
    assert_eq!(
        h.sts.request_count(),
        2,
        "a reset is a network error, retried"
    );
}

fn reset_mid_body() -> Answer {
    let body = harness::fake::error_xml("Throttling", "cut off");
    let half = body.len() / 2;
    Answer::raw(200, "text/xml", body).cut_off(half)
}

#[test]
fn once_gives_up_on_resets_mid_body_and_keeps_the_file() {
    let h = Harness::new("once_reset", |_, _| reset_mid_body());
    let (before, inode) = with_existing_file(&h);
    let out = h.cmd(&["--once", "--once-timeout", "3s"]).run();
    out.assert_code(1);
    assert!(out.elapsed < GIVES_UP_WITHIN, "{}", out.describe());
    assert_untouched(&h, &before, inode);
}

/// Garbage from the endpoint: exit 1 with the status (and content type) in
/// the message, the old file untouched. `--once-timeout` bounds the run in
/// case the binary counts the garbage as transient.
fn assert_garbage_rejected(name: &str, answer: fn() -> Answer, mentions: &[&str]) {
    let h = Harness::new(name, move |_, _| answer());
    let (before, inode) = with_existing_file(&h);
    let out = h.cmd(&["--once", "--once-timeout", "3s"]).run();
    out.assert_code(1);
    for needle in mentions {
        out.assert_stderr_contains(needle);
    }
    assert!(out.elapsed < GIVES_UP_WITHIN, "{}", out.describe());
    assert_untouched(&h, &before, inode);
}

#[test]
fn once_rejects_html_with_status_200() {
    assert_garbage_rejected(
        "once_html_200",
        || {
            Answer::raw(
                200,
                "text/html; charset=utf-8",
                "<!DOCTYPE html><html><body><h1>Welcome to the captive portal</h1></body></html>",
            )
        },
        &["200", "text/html"],
    );
}

#[test]
fn once_rejects_an_html_error_page() {
    assert_garbage_rejected(
        "once_html_403",
        || {
            Answer::raw(
                403,
                "text/html",
                "<html><body>Blocked by proxy</body></html>",
            )
        },
        &["403"],
    );
}

#[test]
fn once_rejects_html_from_a_failing_gateway() {
    assert_garbage_rejected(
        "once_html_502",
        || {
            Answer::raw(
                502,
                "text/html",
                "<html><body>502 Bad Gateway</body></html>",
            )
        },
        &["502"],
    );
}

#[test]
fn once_rejects_truncated_xml() {
    assert_garbage_rejected(
        "once_truncated_xml",
        || {
            Answer::raw(
                200,
                "text/xml",
                "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>\
                 <Credentials><AccessKeyId>ASIA",
            )
        },
        &["200"],
    );
}

#[test]
fn once_rejects_success_xml_without_a_session_token() {
    assert_garbage_rejected(
        "once_no_session_token",
        || {
            Answer::raw(
                200,
                "text/xml",
                "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>\
                 <Credentials><AccessKeyId>ASIAINCOMPLETE000001</AccessKeyId>\
                 <SecretAccessKey>incompleteSecret/0000000000000000000001</SecretAccessKey>\
                 <Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>\
                 </AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>",
            )
        },
        &[],
    );
}

#[test]
fn once_rejects_an_empty_body() {
    assert_garbage_rejected(
        "once_empty_body",
        || Answer::raw(200, "text/xml", ""),
        &["200"],
    );
}

#[test]
fn once_rejects_an_oversized_body() {
    assert_garbage_rejected(
        "once_oversized",
        || Answer::raw(200, "text/xml", vec![b'A'; 3 << 20]),
        &[],
    );
}

#[test]
fn once_logs_json_lines_when_asked() {
    let h = Harness::new("once_json", |_, _| Answer::issue(HOUR));
    let out = h.cmd(&["--once", "--log-format", "json"]).run();
    out.assert_code(0);
    let lines = out.stderr_lines();
    assert!(!lines.is_empty(), "a success is logged\n{}", out.describe());
    for line in lines {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}\n{}", out.describe()));
        assert!(value.is_object(), "one object per line: {line}");
    }
}

#[test]
fn once_logs_json_failures_with_the_sts_code() {
    let h = Harness::new("once_json_denied", |_, _| Answer::access_denied());
    let out = h.cmd(&["--once", "--log-format", "json"]).run();
    out.assert_code(1).assert_stderr_contains("AccessDenied");
    for line in out.stderr_lines() {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}\n{}", out.describe()));
        assert!(value.is_object(), "one object per line: {line}");
    }
}

#[test]
fn once_debug_logs_hold_no_secrets() {
    // `--log-level debug` is the most talkative the binary gets; the harness
    // checks every run's output against the token and everything issued.
    let h = Harness::new("once_debug", |n, _| {
        if n == 0 {
            Answer::throttling()
        } else {
            Answer::issue(HOUR)
        }
    });
    h.cmd(&["--once", "--log-level", "debug"])
        .run()
        .assert_code(0);
    h.cmd(&["--once", "--log-level", "debug", "--log-format", "json"])
        .run()
        .assert_code(0);
    assert_eq!(h.sts.issued().len(), 2);
}

#[test]
fn once_rejects_a_bad_expiration_without_echoing_the_answer() {
    // A success-shaped answer the binary cannot use: its error message must
    // not quote the body, which holds a secret key and a session token.
    let secret = "leakCheckSecretKey0001/K7MDENG+bPxRfiCYEXAMPLE";
    let token = "leakCheckSessionToken0001/IQoJb3JpZ2luX2VjEXAMPLE==";
    let body = format!(
        "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>\
         <Credentials><AccessKeyId>ASIALEAKCHECK0000001</AccessKeyId>\
         <SecretAccessKey>{secret}</SecretAccessKey><SessionToken>{token}</SessionToken>\
         <Expiration>tomorrow-ish</Expiration></Credentials>\
         </AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"
    );
    let h = Harness::new("once_bad_expiration", move |_, _| {
        Answer::raw(200, "text/xml", body.clone())
    });
    h.add_secret(secret);
    h.add_secret(token);
    let (before, inode) = with_existing_file(&h);
    let out = h
        .cmd(&["--once", "--once-timeout", "3s", "--log-level", "debug"])
        .run();
    out.assert_code(1);
    assert!(out.elapsed < GIVES_UP_WITHIN, "{}", out.describe());
    assert_untouched(&h, &before, inode);
}

#[test]
fn once_final_error_does_not_promise_a_retry() {
    // The last line is what a person reads after `--once` gave up; it must
    // not say more attempts are coming.
    let h = Harness::new("once_final_line", |_, _| Answer::throttling());
    let out = h.cmd(&["--once", "--once-timeout", "2s"]).run();
    out.assert_code(1);
    let last = out.stderr_lines().last().copied().unwrap_or_default();
    assert!(last.contains("Throttling"), "{}", out.describe());
    assert!(
        !last.contains("will retry"),
        "the final error says it will retry, but the process is exiting\n{}",
        out.describe()
    );
}

/// Another aws-credfile process writes keys for this profile that expire
/// later than the ones being fetched, while the fetch is under way: they are
/// kept, and `--once` still succeeds. Keys that were there before the fetch
/// began are replaced, whatever their expiry (another role's, or from a
/// longer --duration): only a write that raced ours can be newer.
#[test]
fn once_keeps_newer_credentials_another_writer_left() {
    // Slow enough that the test writes while the fetch is in flight.
    let h = Harness::new("once_keeps_newer", |_, _| {
        Answer::issue(HOUR).after(Duration::from_millis(1500))
    });
    let newer = |expires: &str, refreshed: &str| {
        format!(
            "[default]\n{EXPIRY_COMMENT} expires {expires}, refreshed {refreshed}; edits to this section are overwritten\n\
             aws_access_key_id = ASIANEWEREXAMPLE0001\n\
             aws_secret_access_key = newerSecretEXAMPLE00/0000000000000000001\n\
             aws_session_token = newerTokenEXAMPLE000/000000000000000000000000000001\n\n"
        )
    };
    let (old, _) = with_existing_file(&h);
    let mut run = h.cmd(&["--once"]).spawn();
    assert!(h.sts.wait_for_requests(1, Duration::from_secs(15)));
    // Two hours: later than the fetched credentials' one, and within the
    // 12 h of any session AWS issues (a farther expiry is not believed).
    let now = std::time::SystemTime::now();
    let later = harness::time::rfc3339(now + 2 * HOUR);
    let raced = format!(
        "{OTHERS_BEFORE}{}{OTHERS_AFTER}",
        newer(&later, &harness::time::rfc3339(now))
    );
    h.write_cred_file(&raced);
    let inode = fs::metadata(&h.cred_file).expect("stat").ino();
    assert!(
        run.wait_exit(Duration::from_secs(30)).is_some(),
        "--once did not finish\n{}",
        run.snapshot().describe()
    );
    run.outcome()
        .assert_code(0)
        .assert_stderr_contains("newer_credentials_kept")
        .assert_stderr_contains(&later);
    assert_untouched(&h, &raced, inode);
    assert_ne!(old, raced);

    // Written long before this fetch: replaced, though it outlives ours.
    h.write_cred_file(&format!(
        "{OTHERS_BEFORE}{}{OTHERS_AFTER}",
        newer("2099-01-01T00:00:00Z", "2024-01-01T00:00:00Z")
    ));
    h.cmd(&["--once"]).run().assert_code(0);
    let issued = Profile::from(h.sts.issued().last().expect("issued"));
    assert_merged(
        &h.read_cred_file(),
        OTHERS_BEFORE,
        OTHERS_AFTER,
        "default",
        &issued,
    );
}

/// While another aws-credfile process holds the file's lock, a write waits
/// for it instead of racing it.
#[test]
fn once_waits_for_another_writer_to_finish() {
    let h = Harness::new("once_lock_wait", |_, _| Answer::issue(HOUR));
    let (before, inode) = with_existing_file(&h);
    let lock = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(h.cred_file.with_file_name(LOCK_FILE))
        .expect("open the lock file");
    lock.lock().expect("take the lock");
    let mut run = h.cmd(&["--once"]).spawn();
    assert!(h.sts.wait_for_requests(1, Duration::from_secs(15)));
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        run.try_exit().is_none(),
        "finished while the lock was held\n{}",
        run.snapshot().describe()
    );
    assert_untouched(&h, &before, inode);
    lock.unlock().expect("release the lock");
    let status = run.wait_exit(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "{}",
        run.snapshot().describe()
    );
    let issued = Profile::from(h.sts.issued().last().expect("issued"));
    assert_merged(
        &h.read_cred_file(),
        OTHERS_BEFORE,
        OTHERS_AFTER,
        "default",
        &issued,
    );
}

/// `--once` and `--credential-process` took credentials with seconds left
/// and said nothing, so `aws-credfile --once && next` went on with keys
/// about to die, and the `--check` that followed failed (round 32). They
/// still succeed (the source said so), with a warning that names the
/// lifetime.
#[test]
fn a_one_shot_run_warns_of_credentials_about_to_expire() {
    let h = Harness::new("once_short_lived", |_, _| {
        Answer::issue(Duration::from_secs(30))
    });
    for args in [&["--once"][..], &["--credential-process"]] {
        let out = h.cmd(args).secrets_on_stdout().run();
        out.assert_code(0)
            .assert_stderr_contains("credentials_short_lived")
            .assert_stderr_contains("nothing refreshes them");
    }
    // An hour is no warning.
    let h = Harness::new("once_long_lived", |_, _| Answer::issue(HOUR));
    let out = h.cmd(&["--once"]).run();
    out.assert_code(0);
    assert!(!out.stderr.contains("short_lived"), "{}", out.describe());
}
