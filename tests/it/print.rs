//! `--credential-process` and `--print env`: the credentials on stdout for
//! another tool to read, and nothing else there. The JSON an SDK parses
//! (exactly its fields, one line), the `export` lines a shell `eval`s (run
//! through a real `sh`, with a secret full of shell syntax), nothing on
//! stdout when the credentials cannot be had, and the flags that make no
//! sense with them.
//!
//! These runs print secrets on stdout on purpose, so only their stderr is
//! scanned by the harness; each test checks stdout itself.

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, SystemTime};

use crate::harness::time::rfc3339;
use crate::harness::{Answer, Fake, Harness, Issued, HOUR};

const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// A secret key with every kind of character a value may hold (base64 and
/// JWT characters; a shell's own, quotes, `$`, a backquote, are refused
/// before any mode sees them, and quoting them is a unit test of `print`),
/// a `-` and a `=` first, where an unquoted `export` would misread them.
const SHELL_SECRET: &str = "-=sec/ret+Key_with.all-kinds==";

/// A harness whose container agent answers `body` (JSON) every time.
fn agent_answering(name: &str, body: String) -> Harness {
    Harness::with_agent(
        name,
        |_, _| Answer::issue(HOUR),
        Fake::start(move |_, _| Answer::json(200, &body)),
    )
}

/// The container answer for these keys, an hour ahead; with `Token` only
/// when `token` is given. Returns it and its `Expiration`.
fn agent_json(akid: &str, secret: &str, token: Option<&str>) -> (String, String) {
    let expiration = rfc3339(SystemTime::now() + HOUR);
    let mut v = serde_json::json!({
        "AccessKeyId": akid,
        "SecretAccessKey": secret,
        "Expiration": expiration,
    });
    if let Some(token) = token {
        v["Token"] = token.into();
    }
    (v.to_string(), expiration)
}

/// stdout as the one line of JSON it must be.
fn one_json_line(stdout: &str) -> serde_json::Value {
    assert!(
        stdout.ends_with('\n') && stdout.matches('\n').count() == 1,
        "stdout should be one line of JSON, not {} lines",
        stdout.lines().count()
    );
    serde_json::from_str(stdout).expect("stdout is JSON")
}

fn keys(v: &serde_json::Value) -> BTreeSet<&str> {
    v.as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect()
}

fn assert_is(v: &serde_json::Value, issued: &Issued) {
    assert_eq!(v["Version"], 1);
    assert_eq!(v["AccessKeyId"], issued.access_key_id.as_str());
    assert_eq!(v["SecretAccessKey"], issued.secret_access_key.as_str());
    assert_eq!(v["SessionToken"], issued.session_token.as_str());
    assert_eq!(v["Expiration"], issued.expiration.as_str());
}

#[test]
fn credential_process_prints_one_line_of_json_and_nothing_else() {
    let h = Harness::new("print-cp", |_, _| Answer::issue(HOUR));
    let out = h.cmd(&["--credential-process"]).secrets_on_stdout().run();
    out.assert_code(0);
    let v = one_json_line(&out.stdout);
    assert_eq!(
        keys(&v),
        BTreeSet::from([
            "AccessKeyId",
            "AccountId",
            "Expiration",
            "SecretAccessKey",
            "SessionToken",
            "Version"
        ])
    );
    assert_is(&v, &h.sts.issued()[0]);
    // The account of the role STS assumed (its AssumedRoleUser ARN), as
    // botocore's process provider reads it.
    assert_eq!(v["AccountId"], "123456789012");
    // Only warnings and errors are logged by default: a tool that shows
    // the process's stderr to its user sees nothing on success.
    assert_eq!(out.stderr, "", "{}", out.describe());
    // AWS_SHARED_CREDENTIALS_FILE points there; nothing is written.
    assert!(!h.cred_file.exists());

    // Asked for, the log goes to stderr; stdout stays the JSON alone.
    let out = h
        .cmd(&["--credential-process", "--log-level", "debug"])
        .secrets_on_stdout()
        .run();
    out.assert_code(0);
    assert_is(&one_json_line(&out.stdout), &h.sts.issued()[1]);
    out.assert_stderr_contains("credentials_refreshed");
}

#[test]
fn credential_process_leaves_out_a_session_token_there_is_none_of() {
    let (body, expiration) = agent_json(
        "AKIAPRINTLONGTERM009",
        "printLongTermSecret0000000000000000000009",
        None,
    );
    let h = agent_answering("print-cp-notoken", body);
    h.add_secret("printLongTermSecret0000000000000000000009");
    let out = h.cmd(&["--credential-process"]).secrets_on_stdout().run();
    out.assert_code(0);
    let v = one_json_line(&out.stdout);
    assert_eq!(
        keys(&v),
        BTreeSet::from(["AccessKeyId", "Expiration", "SecretAccessKey", "Version"])
    );
    assert_eq!(v["AccessKeyId"], "AKIAPRINTLONGTERM009");
    assert_eq!(v["Expiration"], expiration.as_str());
}

/// An expiry of 9999-12-31 from the source was printed as it came, and
/// the SDK running `credential_process` would never have run it again.
/// Nothing is handed on as lasting longer than 12 hours, STS's longest.
#[test]
fn an_expiry_beyond_the_longest_session_is_not_handed_on() {
    let body = serde_json::json!({
        "AccessKeyId": "AKIAPRINTFARFUTURE01",
        "SecretAccessKey": "printFarFutureSecret00000000000000000001",
        "Expiration": "9999-12-31T23:59:59Z",
    })
    .to_string();
    let h = agent_answering("print-cp-far-future", body);
    h.add_secret("printFarFutureSecret00000000000000000001");
    let before = SystemTime::now();
    let out = h.cmd(&["--credential-process"]).secrets_on_stdout().run();
    out.assert_code(0);
    let v = one_json_line(&out.stdout);
    let twelve_hours = Duration::from_secs(12 * 3600);
    let latest = rfc3339(SystemTime::now() + twelve_hours);
    let earliest = rfc3339(before + twelve_hours - Duration::from_secs(2));
    let handed = v["Expiration"].as_str().expect("an Expiration");
    assert!(
        (earliest.as_str()..=latest.as_str()).contains(&handed),
        "{handed} is not 12 h from now ({earliest}..{latest})"
    );
}

#[test]
fn nothing_is_printed_when_the_credentials_cannot_be_had() {
    let h = Harness::new("print-denied", |_, _| Answer::access_denied());
    for args in [&["--credential-process"][..], &["--print", "env"]] {
        let out = h.cmd(args).run();
        out.assert_code(1).assert_stderr_contains("AccessDenied");
        assert_eq!(out.stdout, "", "{}", out.describe());
        assert_eq!(out.stderr_lines().len(), 1, "{}", out.describe());
    }
    // Transient failures are retried within --once-timeout, as --once does.
    let h = Harness::new("print-throttled", |n, _| {
        if n < 2 {
            Answer::throttling()
        } else {
            Answer::issue(HOUR)
        }
    });
    let out = h
        .cmd(&["--credential-process"])
        .secrets_on_stdout()
        .timeout(Duration::from_secs(60))
        .run();
    out.assert_code(0);
    assert_is(&one_json_line(&out.stdout), &h.sts.issued()[0]);
}

/// `sh -c SCRIPT BIN ARGS`: the script runs `"$0" "$@"` (the binary and its
/// arguments), stops with 9 if it fails, `eval`s what it printed, then
/// prints each variable as `NAME=value` (`NAME unset` when unset) on a line.
const EVAL: &str = r#"
out=$("$0" "$@") || exit 9
eval "$out"
for name in AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_CREDENTIAL_EXPIRATION; do
    if eval "[ \"\${$name+set}\" = set ]"; then
        eval "printf '%s=%s\n' $name \"\$$name\""
    else
        printf '%s unset\n' "$name"
    fi
done
"#;

#[test]
fn print_env_is_evaluated_by_sh_to_the_exact_values() {
    let token = "printTokenEXAMPLE000/0000000000000000+000000009==";
    let (body, expiration) = agent_json("ASIAPRINTSHELL000009", SHELL_SECRET, Some(token));
    let h = agent_answering("print-env", body);
    h.add_secret(SHELL_SECRET);
    h.add_secret(token);

    // What it prints: single-quoted export lines, one per variable.
    let raw = h.cmd(&["--print", "env"]).secrets_on_stdout().run();
    raw.assert_code(0);
    let lines: Vec<&str> = raw.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{}", raw.stdout.len());
    assert_eq!(lines[3], "unset AWS_SECURITY_TOKEN");
    let exports = lines[..3].iter().chain(&lines[4..]);
    for (line, name) in exports.zip([
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CREDENTIAL_EXPIRATION",
    ]) {
        assert!(
            line.starts_with(&format!("export {name}='")) && line.ends_with('\''),
            "line for {name} is not a single-quoted export"
        );
    }
    assert_eq!(raw.stderr, "", "{}", raw.describe());

    // What a shell makes of it: exactly the values, no expansion. Round
    // 11: a stale AWS_SECURITY_TOKEN (set by another tool), which botocore
    // reads before AWS_SESSION_TOKEN, was left paired with the new keys.
    let out = h
        .cmd(&["--print", "env"])
        .env("PATH", PATH)
        .env("AWS_SECURITY_TOKEN", "staleSecurityToken")
        .wrapped(&["sh", "-c", EVAL])
        .secrets_on_stdout()
        .run();
    out.assert_code(0);
    assert_eq!(
        out.stdout,
        format!(
            "AWS_ACCESS_KEY_ID=ASIAPRINTSHELL000009\n\
             AWS_SECRET_ACCESS_KEY={SHELL_SECRET}\n\
             AWS_SESSION_TOKEN={token}\n\
             AWS_SECURITY_TOKEN unset\n\
             AWS_CREDENTIAL_EXPIRATION={expiration}\n"
        ),
        "{}",
        out.describe()
    );
}

#[test]
fn print_env_unsets_a_stale_session_token() {
    let (body, _) = agent_json(
        "AKIAPRINTLONGTERM009",
        "printLongTermSecret0000000000000000000009",
        None,
    );
    let h = agent_answering("print-env-notoken", body);
    h.add_secret("printLongTermSecret0000000000000000000009");
    h.add_secret("staleTokenEXAMPLE000/000000000000000000000009");
    let out = h
        .cmd(&["--print", "env"])
        .env("PATH", PATH)
        .env(
            "AWS_SESSION_TOKEN",
            "staleTokenEXAMPLE000/000000000000000000000009",
        )
        .wrapped(&["sh", "-c", EVAL])
        .secrets_on_stdout()
        .run();
    out.assert_code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "AWS_ACCESS_KEY_ID=AKIAPRINTLONGTERM009");
    assert_eq!(lines[2], "AWS_SESSION_TOKEN unset", "{}", out.describe());
}

#[test]
fn flags_that_make_no_sense_with_printing_are_usage_errors() {
    let h = Harness::new("print-usage", |_, _| Answer::issue(HOUR));
    for args in [
        &["--print", "json"][..],
        &["--print"],
        &["--print", "env", "--file", "x"],
        &["--credential-process", "--file", "x"],
        &["--credential-process", "--print", "env"],
        &["--credential-process", "--serve", "127.0.0.1:9"],
        &["--credential-process", "--metrics", "127.0.0.1:9"],
        &["--credential-process", "--once"],
        &["--credential-process", "--check"],
        &["--print", "env", "--once"],
    ] {
        let out = h.cmd(args).run();
        out.assert_code(2);
        assert_eq!(out.stdout, "", "{}", out.describe());
        assert_eq!(out.stderr_lines().len(), 1, "{}", out.describe());
    }
    assert_eq!(h.sts.request_count(), 0);
}

/// Values from a container agent with control characters
/// were refused for the file but printed by `--print env` (a raw NUL inside
/// the quotes, which bash drops: a silently different key) and by
/// `--credential-process`. Every source's values are now held to one rule
/// before any mode sees them: base64 and JWT characters. A secret starting
/// with `;` was written, and aws-sdk-go v1 failed on the whole file, every
/// other profile with it, while `--check` passed. So were `-1`, `.5` and
/// `e1` (after `=` too), which aws-sdk-go v1 takes for numbers and fails
/// the file at: written by `--once`, then refused by `--check` (round 32).
/// Whitespace around a value, Unicode's included, was trimmed away and
/// the rest written (round 41).
#[test]
fn values_no_mode_can_hold_faithfully_are_refused_in_every_mode() {
    for (name, secret, token) in [
        ("nul", "sec\u{0}ret", "token"),
        ("newline", "secret", "tok\nen"),
        ("space", "sec ret", "token"),
        ("escape", "secret", "tok\u{1b}[2Jen"),
        ("semicolon", ";secret", "token"),
        ("hash", "secret", "#token"),
        ("quoted", "\"secret\"", "token"),
        ("negative", "-1", "token"),
        ("fraction", "secret", ".5"),
        ("exponent", "e12", "token"),
        ("exponent-after-equals", "secret", "abc=E5"),
        // Trimmed and written until round 41: a key other than the one sent.
        ("padded", " secret\t", "token"),
        ("unicode-padded", "secret", "\u{a0}token\u{3000}"),
    ] {
        let (body, _) = agent_json("ASIAPRINTUNFIT000001", secret, Some(token));
        let h = agent_answering(&format!("print-unfit-{name}"), body);
        for args in [
            &["--credential-process"][..],
            &["--print", "env"],
            &["--once"],
        ] {
            let out = h.cmd(args).secrets_on_stdout().run();
            out.assert_code(1);
            assert!(
                out.stdout.is_empty(),
                "{name} {args:?}: printed {:?}",
                out.stdout
            );
            out.assert_stderr_contains("holds characters other than letters, digits");
        }
    }
}

/// A one-shot run stopped before it had the credentials exited 0
/// with nothing written or printed, so `aws-credfile --once && next` went
/// on to `next` without a file, and a Ctrl-C'd `eval "$(... --print env)"`
/// script went on without keys. Now 128 + N, as a shell reports a command
/// a signal ended, and nothing on stdout. SIGINT (Ctrl-C) ends it as it
/// ends any command: exited with 130, a shell took Ctrl-C for handled and
/// the script or loop running it went on. SIGQUIT, SIGUSR1 and SIGUSR2
/// were left to their default action, which the kernel does not apply to
/// PID 1: an init container told to stop with them went on and wrote.
#[test]
fn a_one_shot_run_stopped_before_it_is_done_is_not_success() {
    let modes: [&[&str]; 3] = [&["--once"], &["--credential-process"], &["--print", "env"]];
    for mode in modes {
        let signals = [
            (libc::SIGTERM, 143),
            (libc::SIGINT, 130),
            (libc::SIGQUIT, 131),
            (libc::SIGUSR1, 138),
            (libc::SIGUSR2, 140),
        ];
        for (sig, code) in signals {
            let h = Harness::new("print_early_stop", |_, _| {
                Answer::issue(HOUR).after(Duration::from_millis(1500))
            });
            let mut d = h.cmd(mode).spawn();
            assert!(
                h.sts.wait_for_requests(1, Duration::from_secs(10)),
                "{mode:?}: no fetch\n{}",
                d.snapshot().describe()
            );
            d.signal(sig);
            d.wait_exit(Duration::from_secs(10));
            let out = d.outcome();
            assert_eq!(
                out.shell_code(),
                Some(code),
                "{mode:?}, signal {sig}\n{}",
                out.describe()
            );
            // Handled, not left to the default action, which the kernel
            // does not apply to PID 1: only SIGINT ends it by itself (as
            // Ctrl-C ends any command), once everything is cleaned up.
            let ended_by = out.status.and_then(|s| s.signal());
            let expected = (sig == libc::SIGINT).then_some(libc::SIGINT);
            assert_eq!(ended_by, expected, "{mode:?}\n{}", out.describe());
            assert!(out.stdout.is_empty(), "{mode:?}: printed {:?}", out.stdout);
            assert!(!h.cred_file.exists(), "{mode:?}: a file was written");
        }
    }
}

/// Writing to a full or closed standard output or standard error
/// panicked (exit 134, a multi-line message): `--version >/dev/full`, a
/// usage error with `2>/dev/full`. Now a failed print is exit 1, and a
/// failed error line still leaves the exit code saying what happened. (A
/// descriptor closed at start is `/dev/null` to a Rust program, as with
/// `>/dev/null`.)
#[test]
fn output_that_cannot_be_written_is_an_exit_code_not_a_panic() {
    let h = Harness::new("print_unwritable", |_, _| Answer::issue(HOUR));
    let under = |redirect: &str| format!(r#"exec "$0" "$@" {redirect}"#);
    let cases: [(&[&str], &str, i32); 6] = [
        (&["--version"], ">/dev/full", 1),
        (&["--help"], ">/dev/full", 1),
        (&["--credential-process"], ">/dev/full", 1),
        (&["--print", "env"], ">/dev/full", 1),
        (&["--bogus-flag"], "2>/dev/full", 2),
        (&["--once", "--profile", "a]b"], "2>&-", 2),
    ];
    for (args, redirect, code) in cases {
        let script = under(redirect);
        let out = h
            .cmd(args)
            .wrapped(&["sh", "-c", &script])
            .secrets_on_stdout()
            .run();
        assert_eq!(
            out.code(),
            Some(code),
            "{args:?} {redirect}\n{}",
            out.describe()
        );
        assert!(!out.stderr.contains("panicked"), "{}", out.describe());
    }
}

/// The secrets a request sent were taken out of the answer before
/// it was parsed, so an authorization token equal to part of a real answer
/// changed it: with the token `Token`, the session token's key became
/// `** redacted **` and the credentials came out without it (exit 0, an
/// unusable ASIA key). Now the answer is parsed as it came; only an error
/// message is made from the redacted text.
#[test]
fn a_secret_that_equals_part_of_the_answer_does_not_change_it() {
    let token = "IQoJb3JpZ2luX2VjEPrintRedactionCase000000000001";
    let (body, _) = agent_json(
        "ASIAPRINTREDACTION01",
        "printRedactionSecret000000000000000000001",
        Some(token),
    );
    let h = agent_answering("print-redaction", body);
    h.add_secret("printRedactionSecret000000000000000000001");
    h.add_secret(token);
    for auth in ["Token", "AccessKeyId", "Expiration"] {
        let out = h
            .cmd(&["--credential-process"])
            .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", auth)
            .secrets_on_stdout()
            .run();
        out.assert_code(0);
        let v = one_json_line(&out.stdout);
        assert_eq!(v["SessionToken"], token, "authorization {auth:?}: {v}");
        assert_eq!(
            v["AccessKeyId"], "ASIAPRINTREDACTION01",
            "authorization {auth:?}"
        );
    }
}

/// A session token of hundreds of kB was taken, and printing it
/// to a pipe nobody read blocked in write(2), deaf to SIGTERM. A value
/// over 16 KiB (a session token is a few KiB) is refused in every mode,
/// so what is printed always fits a pipe's buffer.
#[test]
fn a_value_longer_than_aws_issues_is_refused() {
    let huge = "IQoJb3JpZ2luX2Vj".repeat(20 * 1024 / 16);
    let (body, _) = agent_json(
        "ASIAPRINTHUGETOKEN01",
        "printHugeTokenSecret000000000000000000001",
        Some(&huge),
    );
    let h = agent_answering("print-huge", body);
    h.add_secret("printHugeTokenSecret000000000000000000001");
    for args in [
        &["--credential-process"][..],
        &["--print", "env"],
        &["--once"],
    ] {
        let out = h.cmd(args).arg("--once-timeout").arg("2s").run();
        out.assert_code(1).assert_stderr_contains("is over 16 KiB");
        assert_eq!(out.stdout, "", "{args:?}");
    }
}

/// With standard output closed (`>&-`; the runtime puts /dev/null there)
/// or on /dev/null, `--credential-process` and `--print env` fetched the
/// credentials, threw them away, and exited 0. Refused now, before any
/// request (exit 2).
#[test]
fn printing_where_no_one_reads_is_refused() {
    let h = Harness::new("print_nowhere", |_, _| Answer::issue(HOUR));
    for (args, says) in [
        (&["--credential-process"][..], "--credential-process prints"),
        (&["--print", "env"], "--print env prints"),
    ] {
        for redirect in [">&-", ">/dev/null", ">/dev/zero", ">/dev/urandom"] {
            let script = format!("exec \"$0\" \"$@\" {redirect}");
            let out = h.cmd(args).wrapped(&["sh", "-c", &script]).run();
            out.assert_code(2)
                .assert_stderr_contains("standard output is closed, /dev/null or another device")
                .assert_stderr_contains(says);
        }
    }
    assert_eq!(h.sts.request_count(), 0);
    // Open for reading only: the standard library's stdout took EBADF for
    // success, and nothing was printed with exit 0. Found before any
    // request too.
    let script = "exec \"$0\" \"$@\" 1<\"$0\"";
    let out = h
        .cmd(&["--credential-process"])
        .wrapped(&["sh", "-c", script])
        .run();
    out.assert_code(2)
        .assert_stderr_contains("standard output is not open for writing");
    assert_eq!(h.sts.request_count(), 0);
}
