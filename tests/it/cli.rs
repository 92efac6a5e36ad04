//! The command line: `--help`, `--version`, and every configuration mistake
//! ending with exit 2 and one stderr line that names the culprit, before any
//! request is sent.

use std::fs;
use std::time::Duration;

use crate::harness::{Answer, Harness, Invocation, HOUR};

/// A configuration error is found before anything else happens; a run that
/// takes this long has started working instead.
const CONFIG_ERROR_WITHIN: Duration = Duration::from_secs(20);

fn harness(name: &str) -> Harness {
    Harness::new(name, |_, _| Answer::issue(HOUR))
}

/// Exit 2, exactly one non-empty stderr line mentioning one of `culprits`,
/// no request to STS, no credentials file.
fn assert_config_error(h: &Harness, invocation: Invocation<'_>, culprits: &[&str]) {
    let out = invocation.timeout(CONFIG_ERROR_WITHIN).run();
    out.assert_code(2);
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "one stderr line\n{}", out.describe());
    assert!(
        culprits.iter().any(|c| lines[0].contains(c)),
        "the line must name one of {culprits:?}\n{}",
        out.describe()
    );
    assert_eq!(h.sts.request_count(), 0, "no request on a config error");
    assert!(!h.cred_file.exists(), "no file on a config error");
}

#[test]
fn help_lists_every_flag_and_variable() {
    let h = harness("cli_help");
    for flag in ["--help", "-h"] {
        let out = h.cmd(&[flag]).run();
        out.assert_code(0);
        for name in [
            "--once",
            "--check",
            "--file",
            "--profile",
            "--role-arn",
            "--external-id",
            "--session-name",
            "--duration",
            "--min-valid",
            "--once-timeout",
            "--sts-endpoint",
            "--log-format",
            "--owner",
            "--mode",
            "--source",
            "--log-level",
            "--serve",
            "--serve-token-file",
            "--serve-any-address",
            "--help",
            "--version",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            "AWS_CA_BUNDLE",
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_ROLE_SESSION_NAME",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL_STS",
            "AWS_ENDPOINT_URL",
            "AWS_SHARED_CREDENTIALS_FILE",
            "HOME",
        ] {
            assert!(
                out.stdout.contains(name),
                "{flag} must mention {name}\n{}",
                out.describe()
            );
        }
    }
    assert_eq!(h.sts.request_count(), 0);
}

#[test]
fn version_prints_the_version() {
    let h = harness("cli_version");
    for flag in ["--version", "-V"] {
        let out = h.cmd(&[flag]).run();
        out.assert_code(0);
        assert!(
            out.stdout.contains(env!("CARGO_PKG_VERSION")),
            "{flag} prints {}\n{}",
            env!("CARGO_PKG_VERSION"),
            out.describe()
        );
    }
}

#[test]
fn help_and_version_need_no_configuration() {
    let h = harness("cli_help_bare");
    h.cmd(&["--help"]).env_empty().run().assert_code(0);
    h.cmd(&["--version"]).env_empty().run().assert_code(0);
}

#[test]
fn missing_role_arn_is_a_config_error() {
    let h = harness("cli_no_role_arn");
    assert_config_error(&h, h.cmd(&[]).env_remove("AWS_ROLE_ARN"), &["AWS_ROLE_ARN"]);
}

#[test]
fn missing_token_file_variable_is_a_config_error() {
    let h = harness("cli_no_token_var");
    assert_config_error(
        &h,
        h.cmd(&["--once"]).env_remove("AWS_WEB_IDENTITY_TOKEN_FILE"),
        &["AWS_WEB_IDENTITY_TOKEN_FILE"],
    );
}

#[test]
fn nonexistent_token_file_is_a_config_error() {
    let h = harness("cli_token_missing");
    let path = h.scratch.join("no/such/token").display().to_string();
    assert_config_error(
        &h,
        h.cmd(&["--once"])
            .env("AWS_WEB_IDENTITY_TOKEN_FILE", path.clone()),
        &[&path],
    );
}

#[test]
fn unreadable_token_file_is_a_config_error() {
    let h = harness("cli_token_dir");
    // A directory where the file should be: unreadable even for root.
    let path = h.scratch.join("token-dir");
    fs::create_dir_all(&path).expect("create a directory");
    let path = path.display().to_string();
    assert_config_error(
        &h,
        h.cmd(&[]).env("AWS_WEB_IDENTITY_TOKEN_FILE", path.clone()),
        &[&path],
    );
}

#[test]
fn empty_token_file_is_a_config_error() {
    let h = harness("cli_token_empty");
    h.set_token_file_contents("  \n\t\n", "");
    let path = h.token_file.display().to_string();
    assert_config_error(
        &h,
        h.cmd(&["--once"]),
        &[&path, "AWS_WEB_IDENTITY_TOKEN_FILE"],
    );
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let h = harness("cli_unknown_flag");
    assert_config_error(&h, h.cmd(&["--once", "--bogus-flag"]), &["bogus-flag"]);
}

#[test]
fn flag_without_its_value_is_a_usage_error() {
    let h = harness("cli_missing_value");
    assert_config_error(&h, h.cmd(&["--once", "--profile"]), &["profile"]);
}

#[test]
fn bad_duration_is_a_usage_error() {
    let h = harness("cli_bad_duration");
    assert_config_error(&h, h.cmd(&["--once", "--duration", "5x"]), &["duration"]);
}

#[test]
fn bad_min_valid_is_a_usage_error() {
    let h = harness("cli_bad_min_valid");
    assert_config_error(&h, h.cmd(&["--check", "--min-valid", "5x"]), &["min-valid"]);
}

#[test]
fn bad_once_timeout_is_a_usage_error() {
    let h = harness("cli_bad_once_timeout");
    assert_config_error(
        &h,
        h.cmd(&["--once", "--once-timeout", "soon"]),
        &["once-timeout"],
    );
}

#[test]
fn bad_log_format_is_a_usage_error() {
    let h = harness("cli_bad_log_format");
    assert_config_error(
        &h,
        h.cmd(&["--once", "--log-format", "xml"]),
        &["log-format"],
    );
}

#[test]
fn bad_mode_is_a_usage_error() {
    let h = harness("cli_bad_mode");
    assert_config_error(&h, h.cmd(&["--once", "--mode", "0999"]), &["mode"]);
}

#[test]
fn bad_owner_is_a_usage_error() {
    let h = harness("cli_bad_owner");
    assert_config_error(&h, h.cmd(&["--once", "--owner", "nobody:x"]), &["owner"]);
}

#[test]
fn nothing_configured_is_a_config_error() {
    let h = harness("cli_nothing");
    let home = h.home.display().to_string();
    assert_config_error(
        &h,
        h.cmd(&[]).env_empty().env("HOME", home),
        &[
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ],
    );
}

#[test]
fn non_http_endpoint_variable_is_a_config_error() {
    let h = harness("cli_ftp_endpoint");
    assert_config_error(
        &h,
        h.cmd(&["--once"]).env("AWS_ENDPOINT_URL_STS", "ftp://x"),
        &["AWS_ENDPOINT_URL_STS", "ftp://x"],
    );
}

#[test]
fn non_http_endpoint_flag_is_a_usage_error() {
    let h = harness("cli_ftp_endpoint_flag");
    assert_config_error(
        &h,
        h.cmd(&["--once", "--sts-endpoint", "ftp://x"]),
        &["sts-endpoint", "ftp://x"],
    );
}

/// A variable that is not UTF-8 is named with what is wrong with it, not
/// reported as unset.
#[test]
fn a_non_utf8_variable_is_named_not_called_unset() {
    use std::os::unix::ffi::OsStrExt;
    let h = harness("cli_non_utf8_var");
    let home = h.home.display().to_string();
    let out = h
        .cmd(&["--once"])
        .env_empty()
        .env("HOME", home)
        .env(
            "AWS_ROLE_ARN",
            std::ffi::OsStr::from_bytes(b"arn:aws:iam::123456789012:role/\xff"),
        )
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/token")
        .run();
    out.assert_code(2).assert_stderr_contains("AWS_ROLE_ARN");
    assert!(!out.stderr.contains("not set"), "{}", out.describe());
}

/// With `--log-format json`, a configuration error after the command line
/// was read (a bad duration, region or variable) was still a plain-text
/// line, the one a JSON log pipeline most needed (round 32).
#[test]
fn configuration_errors_follow_log_format_json() {
    let h = Harness::new("cli_json_config_error", |_, _| Answer::issue(HOUR));
    for (args, region) in [
        (
            &["--once", "--log-format", "json", "--duration", "5"][..],
            None,
        ),
        (&["--once", "--log-format", "json"], Some("BAD REGION")),
    ] {
        let mut cmd = h.cmd(args);
        if let Some(region) = region {
            cmd = cmd
                .env("AWS_REGION", region)
                .env_remove("AWS_ENDPOINT_URL_STS");
        }
        let out = cmd.run();
        out.assert_code(2);
        let lines = out.stderr_lines();
        assert_eq!(lines.len(), 1, "{}", out.describe());
        let line: serde_json::Value = serde_json::from_str(lines[0]).expect("a JSON line");
        assert_eq!(line["event"], "exiting", "{}", out.describe());
        assert_eq!(line["exit_code"], "2", "{}", out.describe());
    }
    assert_eq!(h.sts.request_count(), 0);
}
