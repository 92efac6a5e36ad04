//! Bad input, systematically: every flag and environment variable with
//! malformed values, and token, CA bundle and agent token files that are
//! empty, binary, huge or of the wrong kind. Each must end with exit 2 and
//! one stderr line naming the culprit, before any request, without a panic,
//! and without echoing a secret. The `cli` module has the first few of each
//! kind; this table covers the rest.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::time::Duration;

use crate::harness::{Answer, Harness, HOUR};

/// A config error is found before anything else happens.
const WITHIN: Duration = Duration::from_secs(15);

const CONTAINER_TOKEN: &str = "BadInputAgentTokenSecretZq0123456789";

/// What a row expects.
enum Expect {
    /// Exit 2, one stderr line naming one of these.
    Config(Vec<&'static str>),
    /// Any exit in {1, 2} without a panic: the value is odd but may be
    /// legitimate (a very long `--min-valid`).
    NoPanic,
}

/// One row: a name, extra arguments, environment changes (None removes),
/// and what to expect.
struct Case {
    name: String,
    args: Vec<OsString>,
    env: Vec<(&'static str, Option<String>)>,
    expect: Expect,
}

fn case(name: &str, args: &[&str], expect: Expect) -> Case {
    Case {
        name: name.to_string(),
        args: args.iter().map(OsString::from).collect(),
        env: Vec::new(),
        expect,
    }
}

fn env_case(name: &str, args: &[&str], var: &'static str, value: &str, expect: Expect) -> Case {
    Case {
        env: vec![(var, Some(value.to_string()))],
        ..case(name, args, expect)
    }
}

/// Switches the harness from IRSA to a container endpoint on loopback.
fn container_env(extra: &[(&'static str, &str)]) -> Vec<(&'static str, Option<String>)> {
    let mut env = vec![
        ("AWS_ROLE_ARN", None),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", None),
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            Some("http://127.0.0.1:9/v1/credentials".to_string()),
        ),
    ];
    for (k, v) in extra {
        env.retain(|(name, _)| name != k);
        env.push((k, Some(v.to_string())));
    }
    env
}

/// Files some rows point at, written into the harness's scratch directory.
struct Files {
    binary: PathBuf,
    huge: PathBuf,
    spaced: PathBuf,
    dir: PathBuf,
    not_pem: PathBuf,
    bad_pem: PathBuf,
    corrupt_cert: PathBuf,
    trusted_cert: PathBuf,
    missing: PathBuf,
    agent_newline: PathBuf,
    agent_huge: PathBuf,
    agent_not_ascii: PathBuf,
    serve_token_long: PathBuf,
    serve_token_short: PathBuf,
    socket: PathBuf,
}

fn files(h: &Harness) -> Files {
    let dir = h.scratch.join("a-directory");
    std::fs::create_dir_all(&dir).expect("dir");
    Files {
        binary: h
            .scratch
            .write("in/binary", [0xffu8, 0xfe, 0x00, 0x41, 0x9c, 0x0a]),
        huge: h.scratch.write("in/huge", vec![b'e'; 100 * 1024]),
        spaced: h.scratch.write("in/spaced", "eyJhbGciOi.inner space.sig\n"),
        dir,
        not_pem: h.scratch.write("in/ca.txt", "this is not a certificate\n"),
        // Valid PEM and base64, but no certificate inside: the TLS stack
        // skipped it silently, and every handshake then failed.
        corrupt_cert: h.scratch.write(
            "in/ca-corrupt.pem",
            "-----BEGIN CERTIFICATE-----\nTUlJQmFkQ2VydGlmaWNhdGVCeXRlcw==\n-----END CERTIFICATE-----\n",
        ),
        // OpenSSL's form with trust settings, which the PEM reader skipped.
        trusted_cert: h.scratch.write(
            "in/ca-trusted.pem",
            "-----BEGIN TRUSTED CERTIFICATE-----\nTUlJQmFkQ2VydGlmaWNhdGVCeXRlcw==\n-----END TRUSTED CERTIFICATE-----\n",
        ),
        bad_pem: h.scratch.write(
            "in/ca.pem",
            "-----BEGIN CERTIFICATE-----\n!!!! not base64 !!!!\n-----END CERTIFICATE-----\n",
        ),
        missing: h.scratch.join("in/does-not-exist"),
        agent_newline: h.scratch.write(
            "in/agent-token",
            format!("{CONTAINER_TOKEN}\r\nX-Injected: yes\n"),
        ),
        agent_huge: h.scratch.write("in/agent-huge", vec![b'a'; 20 * 1024]),
        agent_not_ascii: h.scratch.write("in/agent-token-utf8", "tökén-ünicode\n"),
        serve_token_long: h.scratch.write("in/serve-token-long", "t".repeat(4097)),
        // 15 characters and a newline, which is trimmed.
        serve_token_short: h.scratch.write("in/serve-token-short", "q7q7q7q7q7q7q7q\n"),
        socket: {
            let path = h.scratch.join("in/a-socket");
            drop(std::os::unix::net::UnixListener::bind(&path).expect("bind a socket"));
            path
        },
    }
}

fn cases(f: &Files) -> Vec<Case> {
    use Expect::{Config as C, NoPanic};
    let p = |path: &PathBuf| path.display().to_string();
    let mut v = Vec::new();
    let (x65, x100, x200, x1300) = (
        "x".repeat(65),
        "x".repeat(100),
        "x".repeat(200),
        "x".repeat(1300),
    );

    // Durations.
    for (i, d) in [
        "",
        "-5m",
        "1.5h",
        "1h30",
        "30m1h",
        "1d",
        "5 m",
        "m",
        "1hh",
        "899",
        "12h1s",
        "99999999999999999999",
        "18446744073709551615h",
    ]
    .iter()
    .enumerate()
    {
        v.push(case(
            &format!("duration_{i}"),
            &["--once", "--duration", d],
            C(vec!["--duration"]),
        ));
    }
    v.push(case(
        "duration_over_chained_max",
        &[
            "--once",
            "--role-arn",
            "arn:aws:iam::123456789012:role/c",
            "--duration",
            "2h",
        ],
        C(vec!["--duration"]),
    ));
    for (i, d) in ["", "-1", "1y", "5m5m"].iter().enumerate() {
        v.push(case(
            &format!("once_timeout_{i}"),
            &["--once", "--once-timeout", d],
            C(vec!["--once-timeout"]),
        ));
        v.push(case(
            &format!("min_valid_{i}"),
            &["--check", "--min-valid", d],
            C(vec!["--min-valid"]),
        ));
    }
    // Enormous but well-formed durations: refused or obeyed, never a panic.
    v.push(case(
        "once_timeout_u64_max",
        &["--once", "--once-timeout", "18446744073709551615"],
        C(vec!["--once-timeout"]),
    ));
    // The endpoint errors should say which flag or variable held the value.
    for (name, args, var, culprit) in [
        (
            "sts_endpoint_flag_named",
            vec!["--once", "--sts-endpoint", "http://"],
            None,
            "--sts-endpoint",
        ),
        (
            "sts_endpoint_env_named",
            vec!["--once"],
            Some("AWS_ENDPOINT_URL_STS"),
            "AWS_ENDPOINT_URL_STS",
        ),
        (
            "endpoint_url_env_named",
            vec!["--once"],
            Some("AWS_ENDPOINT_URL"),
            "AWS_ENDPOINT_URL",
        ),
    ] {
        let mut c = case(name, &args, C(vec![culprit]));
        if let Some(var) = var {
            c.env = vec![
                ("AWS_ENDPOINT_URL_STS", None),
                (var, Some("http://".into())),
            ];
        }
        v.push(c);
    }
    v.push(case(
        "min_valid_u64_max",
        &["--check", "--min-valid", "18446744073709551615"],
        NoPanic,
    ));

    // ARNs.
    for (i, arn) in [
        "not-an-arn",
        "arn:aws:iam::123:role/x",
        "arn:aws:iam::123456789012:user/x",
        "arn:aws:s3:::bucket",
        "arn:aws:iam::123456789012:role/",
        "arn:aws:iam::123456789012:role/a b",
        "arn:aws:iam::123456789012:role/x\ny",
        "",
    ]
    .iter()
    .enumerate()
    {
        v.push(case(
            &format!("role_arn_flag_{i}"),
            &["--once", "--role-arn", arn],
            C(vec!["--role-arn"]),
        ));
        if !arn.is_empty() {
            v.push(env_case(
                &format!("role_arn_env_{i}"),
                &["--once"],
                "AWS_ROLE_ARN",
                arn,
                C(vec!["AWS_ROLE_ARN"]),
            ));
        }
    }
    let chain = ["--once", "--role-arn", "arn:aws:iam::123456789012:role/c"];
    for (i, id) in ["a", &x1300, "bad\nid", "has space"].iter().enumerate() {
        let mut args = chain.to_vec();
        args.extend(["--external-id", id]);
        v.push(case(
            &format!("external_id_{i}"),
            &args,
            C(vec!["--external-id"]),
        ));
    }
    v.push(case(
        "external_id_without_role",
        &["--once", "--external-id", "abcdef"],
        C(vec!["--external-id"]),
    ));

    // Session names.
    for (i, s) in [
        "a",
        &x65,
        "has space",
        "é-accent",
        "semi;colon",
        "new\nline",
    ]
    .iter()
    .enumerate()
    {
        v.push(case(
            &format!("session_name_flag_{i}"),
            &["--once", "--session-name", s],
            C(vec!["--session-name"]),
        ));
        v.push(env_case(
            &format!("session_name_env_{i}"),
            &["--once"],
            "AWS_ROLE_SESSION_NAME",
            s,
            C(vec!["AWS_ROLE_SESSION_NAME"]),
        ));
    }

    // URLs.
    for (i, u) in [
        "http://",
        "not a url",
        "http://[::1",
        "https://ex ample.com",
        "http://127.0.0.1:99999",
        "//127.0.0.1",
        "127.0.0.1:8080",
        "http://127.0.0.1:8080/\nInjected: x",
    ]
    .iter()
    .enumerate()
    {
        // The rows above check the flag or variable is named too.
        v.push(case(
            &format!("sts_endpoint_flag_{i}"),
            &["--once", "--sts-endpoint", u],
            C(vec!["STS endpoint override"]),
        ));
        v.push(env_case(
            &format!("sts_endpoint_env_{i}"),
            &["--once"],
            "AWS_ENDPOINT_URL_STS",
            u,
            C(vec!["STS endpoint override"]),
        ));
    }
    v.push(Case {
        env: vec![
            ("AWS_ENDPOINT_URL_STS", None),
            ("AWS_ENDPOINT_URL", Some("ftp://127.0.0.1/".into())),
        ],
        ..case(
            "generic_endpoint_env",
            &["--once"],
            C(vec!["STS endpoint override"]),
        )
    });

    // Regions and endpoint switches.
    for (i, r) in [
        "us-east-1/../x",
        "US EAST",
        "a\nb",
        "-",
        &x100,
        "us-east-1.evil.com/x?",
    ]
    .iter()
    .enumerate()
    {
        v.push(env_case(
            &format!("region_{i}"),
            &["--once"],
            "AWS_REGION",
            r,
            C(vec!["AWS_REGION"]),
        ));
    }
    v.push(Case {
        env: vec![
            ("AWS_REGION", None),
            ("AWS_DEFAULT_REGION", Some("bad region".into())),
        ],
        ..case("default_region", &["--once"], C(vec!["AWS_DEFAULT_REGION"]))
    });
    v.push(env_case(
        "regional_endpoints",
        &["--once"],
        "AWS_STS_REGIONAL_ENDPOINTS",
        "bogus",
        C(vec!["AWS_STS_REGIONAL_ENDPOINTS"]),
    ));
    v.push(env_case(
        "fips",
        &["--once"],
        "AWS_USE_FIPS_ENDPOINT",
        "maybe",
        C(vec!["AWS_USE_FIPS_ENDPOINT"]),
    ));

    // Profiles that would break the file format.
    for (i, name) in [
        "a]b",
        "[x",
        "x]",
        "a\nb",
        "a\rb",
        "",
        " x",
        "x ",
        "a#b",
        "a;b",
        "a=b",
        "profile x",
        &x200,
        "tab\there",
        "nul\0x",
        // Names that look like others.
        "prod\u{202E}",
        "pro\u{200B}d",
        // Python's SDKs read [DEFAULT] as every profile's defaults.
        "DEFAULT",
        // aws-sdk-go fails on the whole file at ':', ',' or '"'
        // in a header; the JavaScript SDKs at a __proto__ section.
        "a:b",
        "a,b",
        "\"x",
        "__proto__",
    ]
    .iter()
    .enumerate()
    {
        if name.contains('\0') {
            continue; // an argument cannot hold NUL
        }
        v.push(case(
            &format!("profile_{i}"),
            &["--once", "--profile", name],
            C(vec!["--profile"]),
        ));
        v.push(case(
            &format!("profile_check_{i}"),
            &["--check", "--profile", name],
            C(vec!["--profile"]),
        ));
    }
    v.push(case(
        "profile_twice",
        &["--once", "--profile", "a", "--profile", "b"],
        C(vec!["profile"]),
    ));

    // The file, its mode and owner, logging, source.
    v.push(case(
        "file_empty",
        &["--once", "--file", ""],
        C(vec!["--file"]),
    ));
    // `dir/.` was read as `dir`, and that file written.
    for (name, file) in [
        ("file_ending_in_slash_dot", "/tmp/creds/."),
        ("file_ending_in_slash", "/tmp/creds/"),
        ("file_ending_in_dot_dot", "/tmp/creds/.."),
    ] {
        v.push(case(
            name,
            &["--once", "--file", file],
            C(vec!["--file", "does not name a file"]),
        ));
    }
    v.push(env_case(
        "env_file_ending_in_slash_dot",
        &["--once"],
        "AWS_SHARED_CREDENTIALS_FILE",
        "/tmp/creds/.",
        C(vec!["AWS_SHARED_CREDENTIALS_FILE", "does not name a file"]),
    ));
    v.push(Case {
        env: vec![("HOME", None)],
        ..case(
            "file_tilde_without_home",
            &["--once", "--file", "~/x"],
            C(vec!["HOME"]),
        )
    });
    v.push(Case {
        env: vec![
            ("HOME", None),
            ("AWS_SHARED_CREDENTIALS_FILE", Some("~/creds".into())),
        ],
        ..case("env_file_tilde_without_home", &["--once"], C(vec!["HOME"]))
    });
    for (i, m) in [
        "abc",
        "0400",
        "01777",
        "-600",
        "",
        "0o",
        "600000000000",
        "0666",
        "0777",
        "0602",
    ]
    .iter()
    .enumerate()
    {
        v.push(case(
            &format!("mode_{i}"),
            &["--once", "--mode", m],
            C(vec!["--mode"]),
        ));
    }
    for (i, o) in ["", ":", "-1", "4294967296", "1:2:3", "root", "1:"]
        .iter()
        .enumerate()
    {
        v.push(case(
            &format!("owner_{i}"),
            &["--once", "--owner", o],
            C(vec!["--owner"]),
        ));
    }
    v.push(case(
        "log_level",
        &["--once", "--log-level", "verbose"],
        C(vec!["--log-level"]),
    ));
    v.push(case(
        "log_format_empty",
        &["--once", "--log-format", ""],
        C(vec!["--log-format"]),
    ));
    v.push(case(
        "source_unknown",
        &["--once", "--source", "ec2"],
        C(vec!["--source"]),
    ));
    v.push(case(
        "source_empty",
        &["--once", "--source", ""],
        C(vec!["--source"]),
    ));
    v.push(case(
        "source_container_unset",
        &["--once", "--source", "container"],
        C(vec!["AWS_CONTAINER_CREDENTIALS"]),
    ));
    v.push(case(
        "once_and_check",
        &["--once", "--check"],
        C(vec!["--once", "--check"]),
    ));
    v.push(Case {
        args: vec![
            "--once".into(),
            "--profile".into(),
            OsString::from_vec(b"bad\xffname".to_vec()),
        ],
        // The flag is named, as every other error names it.
        ..case("argument_not_utf8", &[], C(vec!["--profile", "UTF-8"]))
    });

    // Token files.
    let wi = "AWS_WEB_IDENTITY_TOKEN_FILE";
    for (name, path) in [
        ("token_binary", &f.binary),
        ("token_huge", &f.huge),
        ("token_inner_space", &f.spaced),
        ("token_is_a_directory", &f.dir),
    ] {
        v.push(env_case(
            name,
            &["--once"],
            wi,
            &p(path),
            C(vec!["AWS_WEB_IDENTITY_TOKEN_FILE"]),
        ));
        v.push(env_case(
            &format!("{name}_daemon"),
            &[],
            wi,
            &p(path),
            C(vec!["AWS_WEB_IDENTITY_TOKEN_FILE"]),
        ));
    }

    // CA bundles.
    for (name, path) in [
        ("ca_not_pem", &f.not_pem),
        ("ca_bad_pem", &f.bad_pem),
        ("ca_corrupt_certificate", &f.corrupt_cert),
        ("ca_trusted_certificate", &f.trusted_cert),
        ("ca_missing", &f.missing),
        ("ca_directory", &f.dir),
        ("ca_binary", &f.binary),
    ] {
        v.push(env_case(
            name,
            &["--once"],
            "AWS_CA_BUNDLE",
            &p(path),
            C(vec!["AWS_CA_BUNDLE"]),
        ));
    }

    // --serve.
    for (i, s) in [
        "garbage",
        "127.0.0.1",
        "127.0.0.1:99999",
        "0.0.0.0:9911",
        "[::1]",
        ":9911",
        "localhost:9911",
        "",
    ]
    .iter()
    .enumerate()
    {
        v.push(case(
            &format!("serve_{i}"),
            &["--serve", s],
            C(vec!["--serve"]),
        ));
    }
    v.push(case(
        "serve_with_once",
        &["--once", "--serve", "127.0.0.1:0"],
        C(vec!["--serve"]),
    ));
    // --min-valid where nothing stays to keep to it.
    v.push(case(
        "min_valid_with_once",
        &["--once", "--min-valid", "5m"],
        C(vec!["--min-valid"]),
    ));
    // --check passed values the sidecar refuses.
    for (i, (args, culprit)) in [
        (&["--check", "--source", "foo"][..], "--source"),
        (
            &["--check", "--sts-endpoint", "https://sts.example.com/?x=1"],
            "--sts-endpoint",
        ),
        (
            &[
                "--check",
                "--role-arn",
                "arn:aws:iam::123456789012:role/x",
                "--duration",
                "2h",
            ],
            "--duration",
        ),
        (&["--check", "--external-id", "abc"], "--external-id"),
        (&["--check", "--once-timeout", "0"], "--once-timeout"),
        (
            &["--check", "--min-valid", "1h", "--duration", "1h"],
            "--min-valid",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        v.push(case(
            &format!("check_as_strict_as_the_sidecar_{i}"),
            args,
            C(vec![culprit]),
        ));
    }
    // A zero --once-timeout was quietly one second.
    v.push(case(
        "once_timeout_zero",
        &["--once", "--once-timeout", "0"],
        C(vec!["--once-timeout"]),
    ));
    // /readyz asking for more than the credentials ever last.
    v.push(case(
        "min_valid_not_less_than_duration",
        &[
            "--metrics",
            "127.0.0.1:0",
            "--duration",
            "15m",
            "--min-valid",
            "15m",
        ],
        C(vec!["--min-valid", "--duration"]),
    ));
    // --check takes the sidecar's flags, values checked (it
    // refused --serve outright).
    v.push(case(
        "serve_with_check_not_an_address",
        &["--check", "--serve", "localhost:9911"],
        C(vec!["--serve"]),
    ));
    v.push(case(
        "serve_token_without_serve",
        &["--once", "--serve-token-file", "/x"],
        C(vec!["--serve"]),
    ));
    v.push(case(
        "serve_any_without_serve",
        &["--once", "--serve-any-address"],
        C(vec!["--serve"]),
    ));
    v.push(case(
        "serve_token_file_missing",
        &[
            "--serve",
            "127.0.0.1:0",
            "--serve-token-file",
            &p(&f.missing),
        ],
        C(vec!["--serve-token-file", "does-not-exist"]),
    ));
    // --once-timeout was taken by the daemon, and ignored; a raw
    // non-ASCII STS endpoint path went out as bytes, signed encoded.
    v.push(case(
        "once_timeout_in_the_daemon",
        &["--once-timeout", "5s"],
        C(vec!["--once-timeout"]),
    ));
    v.push(case(
        "sts_endpoint_not_ascii",
        &["--once", "--sts-endpoint", "http://127.0.0.1:9/\u{fc}/"],
        C(vec!["--sts-endpoint", "ASCII"]),
    ));
    // A socket at --file was a runtime error (1), unlike a FIFO
    // or a directory (2); a file name too long for the lock and temporary
    // names beside it could never be written (exit 1 at every refresh).
    v.push(case(
        "file_is_a_socket",
        &["--once", "--file", &p(&f.socket)],
        C(vec!["--file", "socket"]),
    ));
    let long_name = format!("/tmp/{}", "c".repeat(221));
    v.push(case(
        "file_name_too_long",
        &["--once", "--file", &long_name],
        C(vec!["--file", "longer than 220 bytes"]),
    ));
    // A --file named as another file's lock or temporary file
    // would be locked, or removed as a leftover, by that file's writers.
    for (i, name) in [".credentials.aws-credfile.lock", ".c.aws-credfile.1.tmp"]
        .iter()
        .enumerate()
    {
        v.push(case(
            &format!("file_named_like_our_own_{i}"),
            &["--once", "--file", &format!("/tmp/{name}")],
            C(vec!["--file", "lock and temporary files"]),
        ));
    }
    // A token longer than a request to the endpoint may carry was
    // taken, and every client then got 431.
    v.push(case(
        "serve_token_file_too_long",
        &[
            "--serve",
            "127.0.0.1:0",
            "--serve-token-file",
            &p(&f.serve_token_long),
        ],
        C(vec!["--serve-token-file", "longer than 4096 bytes"]),
    ));
    // A two-character token was taken, and any local user guessed it in
    // a fraction of a second, a few thousand tries a second.
    v.push(case(
        "serve_token_file_too_short",
        &[
            "--serve",
            "127.0.0.1:0",
            "--serve-token-file",
            &p(&f.serve_token_short),
        ],
        C(vec!["--serve-token-file", "shorter than 16 characters"]),
    ));

    // Container endpoint variables.
    let full = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
    for (i, u) in [
        "http://example.com/creds",
        "ftp://127.0.0.1/",
        "not a url",
        "http://169.254.170.2.evil.example/",
        "http://169.254.169.254/latest/meta-data/",
    ]
    .iter()
    .enumerate()
    {
        v.push(Case {
            env: container_env(&[(full, u)]),
            ..case(
                &format!("container_full_uri_{i}"),
                &["--once"],
                C(vec!["AWS_CONTAINER_CREDENTIALS_FULL_URI"]),
            )
        });
    }
    v.push(Case {
        env: container_env(&[("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "no-slash")]),
        ..case(
            "container_relative_uri",
            &["--once"],
            C(vec!["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]),
        )
    });
    // A short --duration was blamed on a --min-valid never given ("lower
    // --min-valid"); one over a day was held to "at most 24h" while STS's
    // range ends at 12h.
    for (i, d) in ["5", "300", "25h"].iter().enumerate() {
        v.push(case(
            &format!("duration_out_of_sts_range_{i}"),
            &["--duration", d],
            C(vec!["from 900s to 43200s"]),
        ));
    }
    // --check never believes more than 12 h: a probe asking for more
    // failed at every run (exit 1) instead of being refused.
    v.push(case(
        "check_min_valid_beyond_the_longest_session",
        &["--check", "--min-valid", "13h"],
        C(vec!["--min-valid", "at most 12h"]),
    ));
    // A probe copied from a sidecar that only serves checked a file that
    // sidecar never writes: it could never pass.
    v.push(case(
        "check_serve_without_file",
        &["--check", "--serve", "127.0.0.1:9911"],
        C(vec!["this probe could never pass"]),
    ));
    // Printing modes were told to "give --file", which they refuse.
    v.push(case(
        "credential_process_profile",
        &["--credential-process", "--profile", "x"],
        C(vec!["writes none; drop --profile"]),
    ));
    // A path alone in the full URI was quoted as "" with an STS example.
    v.push(Case {
        env: container_env(&[("AWS_CONTAINER_CREDENTIALS_FULL_URI", "/v1/creds")]),
        ..case(
            "container_full_uri_path_alone",
            &["--once"],
            C(vec!["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]),
        )
    });
    // Control characters and whitespace in the relative URI passed the
    // start and failed every refresh as a network error.
    for (i, rel) in [
        "/v2/creds\r\nX-Injected: yes",
        "/v2/cr\teds",
        "/v2/\u{1}creds",
    ]
    .iter()
    .enumerate()
    {
        v.push(Case {
            env: container_env(&[("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", rel)]),
            ..case(
                &format!("container_relative_uri_controls_{i}"),
                &["--once"],
                C(vec!["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]),
            )
        });
    }
    // A proxy no request could use passed every start whose endpoint did
    // not need it (loopback, plain http), and was refused only by an https
    // one.
    for (i, proxy) in [
        "socks5://127.0.0.1:1080",
        "http://127.0.0.1:3128/some/path",
        "http://user:pa#ss@127.0.0.1:3128",
        "http://127.0.0.1:3128x",
        "http://:3128",
        "http://user:pw@:3128",
        "http://[]:3128",
        "http://127.0.0.1:3128#frag",
    ]
    .iter()
    .enumerate()
    {
        v.push(env_case(
            &format!("https_proxy_unusable_{i}"),
            &["--once"],
            "HTTPS_PROXY",
            proxy,
            C(vec!["HTTPS_PROXY"]),
        ));
    }
    let injected = format!("{CONTAINER_TOKEN}\r\nX-Injected: yes");
    v.push(Case {
        env: container_env(&[("AWS_CONTAINER_AUTHORIZATION_TOKEN", &injected)]),
        ..case(
            "container_token_crlf",
            &["--once"],
            C(vec!["AWS_CONTAINER_AUTHORIZATION_TOKEN"]),
        )
    });
    // Outside ASCII, no HTTP header can carry it; every attempt
    // failed (as a network error) until --once ran out of time.
    v.push(Case {
        env: container_env(&[("AWS_CONTAINER_AUTHORIZATION_TOKEN", "tökén")]),
        ..case(
            "container_token_not_ascii",
            &["--once"],
            C(vec!["AWS_CONTAINER_AUTHORIZATION_TOKEN"]),
        )
    });
    let tf = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";
    for (name, path) in [
        ("container_token_file_not_ascii", &f.agent_not_ascii),
        ("container_token_file_missing", &f.missing),
        ("container_token_file_crlf", &f.agent_newline),
        ("container_token_file_huge", &f.agent_huge),
        ("container_token_file_binary", &f.binary),
        ("container_token_file_directory", &f.dir),
    ] {
        v.push(Case {
            env: container_env(&[(tf, &p(path))]),
            ..case(
                name,
                &["--once"],
                C(vec!["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]),
            )
        });
    }
    v
}

#[test]
fn every_malformed_flag_and_variable_is_a_config_error() {
    run_table();
}

fn run_table() {
    let h = Harness::new("bad_input", |_, _| Answer::issue(HOUR));
    h.add_secret(CONTAINER_TOKEN);
    let f = files(&h);
    let rows: Vec<Case> = cases(&f);
    let mut failures = Vec::new();
    for c in &rows {
        let mut inv = h.cmd(&[]).timeout(WITHIN);
        for a in &c.args {
            inv = inv.arg(a.clone());
        }
        for (k, v) in &c.env {
            inv = match v {
                Some(v) => inv.env(k, v.clone()),
                None => inv.env_remove(k),
            };
        }
        let out = inv.run();
        let lines = out.stderr_lines();
        let problem = if out.stderr.contains("panicked") {
            Some("panicked".to_string())
        } else {
            match &c.expect {
                Expect::NoPanic if matches!(out.code(), Some(1 | 2)) => None,
                Expect::NoPanic => Some("exit code not 1 or 2".into()),
                Expect::Config(_) if out.code() != Some(2) => Some("exit code not 2".into()),
                Expect::Config(_) if lines.len() != 1 => {
                    Some(format!("{} stderr lines, not 1", lines.len()))
                }
                Expect::Config(culprits) if !culprits.iter().any(|k| lines[0].contains(k)) => {
                    Some(format!("the line names none of {culprits:?}"))
                }
                Expect::Config(_) => None,
            }
        };
        if let Some(problem) = problem {
            failures.push(format!("{}: {problem}\n{}", c.name, out.describe()));
        }
    }
    assert_eq!(
        h.sts.request_count(),
        0,
        "a request was sent despite bad input"
    );
    assert!(
        !h.cred_file.exists(),
        "a file was written despite bad input"
    );
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n\n")
    );
}
