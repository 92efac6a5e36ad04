//! `aws-credfile [FLAGS] -- PROGRAM [ARGS…]`: the binary as the supervisor
//! of one program, driven with small `sh` (and one `bash`) programs that
//! record what they see into files of the scratch directory. What the
//! program is handed (and what it no longer sees), its exit status passed
//! back, every forwarded signal observed, no descriptor inherited, orphans
//! reaped as PID 1 in a PID namespace of the test's own, the program killed
//! with aws-credfile, never started without credentials, and refreshes
//! reaching it while it runs.
//!
//! Programs write what they saw to files, not to stdout, when it holds the
//! endpoint's token (the harness then adds it to the secrets that must
//! never appear in aws-credfile's own output). No test here measures time
//! tightly: each waits for what it expects with a generous deadline.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::Duration;

use crate::harness::client::{free_port, get};
use crate::harness::ini::{self, Profile};
use crate::harness::process::{is_root, open_fds};
use crate::harness::{shell_code, wait_until, Answer, Daemon, Harness, Invocation, HOUR};

/// The program is looked up here (the harness's environment has no PATH).
const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Deadline for the program to start and write what it saw (generous; it
/// takes milliseconds).
const STARTED: Duration = Duration::from_secs(20);

/// Deadline for aws-credfile to exit once the program has.
const EXITS: Duration = Duration::from_secs(15);

/// Credentials that live seconds, so refreshes come every second or two.
const SHORT: Duration = Duration::from_secs(4);

/// The variables a program must not see from aws-credfile's environment
/// (the source's, and credentials or a profile choice that would win over
/// what is handed over), each set to a stale value the test recognises.
const STALE: [(&str, &str); 18] = [
    ("AWS_ROLE_SESSION_NAME", "stale-session"),
    ("AWS_ACCESS_KEY_ID", "AKIASTALEEXAMPLE0009"),
    (
        "AWS_SECRET_ACCESS_KEY",
        "staleSecretEXAMPLE00/0000000000000000009",
    ),
    (
        "AWS_SESSION_TOKEN",
        "staleTokenEXAMPLE000/000000000000000000000009",
    ),
    (
        "AWS_SECURITY_TOKEN",
        "staleSecurityTokenEXAMPLE/00000000000009",
    ),
    ("AWS_CREDENTIAL_EXPIRATION", "2020-01-01T00:00:00Z"),
    ("AWS_PROFILE", "stale-profile"),
    ("AWS_DEFAULT_PROFILE", "stale-default-profile"),
    ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/stale/relative"),
    (
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "http://127.0.0.1:9/stale/full",
    ),
    ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "stale-container-token"),
    (
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        "/stale/container-token-file",
    ),
    // The same keys under the names the Java v1 and Ruby SDKs also read,
    // which reached the program.
    ("AWS_ACCESS_KEY", "AKIASTALEEXAMPLE0010"),
    ("AWS_SECRET_KEY", "staleSecretEXAMPLE00/0000000000000000010"),
    ("AMAZON_ACCESS_KEY_ID", "AKIASTALEEXAMPLE0011"),
    (
        "AMAZON_SECRET_ACCESS_KEY",
        "staleSecretEXAMPLE00/0000000000000000011",
    ),
    (
        "AMAZON_SESSION_TOKEN",
        "staleTokenEXAMPLE000/000000000000000000000011",
    ),
    ("AWS_CREDENTIAL_PROFILES_FILE", "/stale/java-credentials"),
];

/// A harness whose fake STS issues credentials for `lifetime` every time.
fn harness(name: &str, lifetime: Duration) -> Harness {
    Harness::new(name, move |_, _| Answer::issue(lifetime))
}

/// `aws-credfile FLAGS -- sh -c SCRIPT`, run in the scratch directory with
/// a PATH to find `sh` on.
fn sh<'h>(h: &'h Harness, flags: &[&str], script: &str) -> Invocation<'h> {
    let mut args = flags.to_vec();
    args.extend(["--", "sh", "-c", script]);
    h.cmd(&args).env("PATH", PATH)
}

/// Waits until `rel` exists in the scratch directory (and the daemon has
/// not exited meanwhile); its content then.
fn wait_for_file(h: &Harness, d: &mut Daemon, rel: &str) -> String {
    let path = h.scratch.join(rel);
    let ok = wait_until(STARTED, || path.exists() || d.try_exit().is_some());
    if !ok || !path.exists() {
        panic!(
            "the program never wrote {rel} within {STARTED:?}\n{}",
            d.snapshot().describe()
        );
    }
    fs::read_to_string(&path).expect("read what the program wrote")
}

/// Waits for the daemon to exit; its exit code (None: killed by a signal).
/// aws-credfile's status as a shell reports it (see `shell_code`).
fn wait_exit(d: &mut Daemon) -> Option<i32> {
    match d.wait_exit(EXITS) {
        Some(status) => shell_code(status),
        None => panic!(
            "aws-credfile still running {EXITS:?} after its program should have ended\n{}",
            d.snapshot().describe()
        ),
    }
}

/// The environment a program recorded with `env > FILE`: name to value.
fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Waits for the test to say `go`, for two minutes at most, so a failed
/// test leaves nothing running.
macro_rules! until_go {
    () => {
        "i=0; while [ ! -e go ] && [ $i -lt 2400 ]; do sleep 0.05; i=$((i + 1)); done"
    };
}

/// The program's script for the environment tests: record the environment,
/// then wait for the test to say `go` (so the endpoint is still up while
/// the test uses it).
const RECORD_ENV: &str = concat!("env > env.txt.tmp && mv env.txt.tmp env.txt\n", until_go!());

/// Runs `aws-credfile FLAGS -- sh -c RECORD_ENV` with the stale variables
/// set (then `adjust`ed), hands the recorded environment to `check` while
/// the program still runs, then lets it end and expects exit 0. `flags`
/// gets a free loopback port for `--serve`; a port someone took before
/// aws-credfile bound it is retried with another.
fn with_handed_env<'h>(
    h: &'h Harness,
    flags: impl Fn(u16) -> Vec<String>,
    adjust: impl Fn(Invocation<'h>) -> Invocation<'h>,
    check: impl FnOnce(u16, &BTreeMap<String, String>),
) {
    for attempt in 0..3 {
        let _ = fs::remove_file(h.scratch.join("env.txt"));
        let _ = fs::remove_file(h.scratch.join("go"));
        let port = free_port();
        let flags = flags(port);
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let mut run = sh(h, &flags, RECORD_ENV).env("KEEP_ME", "kept as it was");
        for (name, value) in STALE {
            if name.contains("SECRET") || name.contains("TOKEN") && !name.ends_with("_FILE") {
                h.add_secret(value);
            }
            run = run.env(name, value);
        }
        let mut d = adjust(run).spawn();
        let path = h.scratch.join("env.txt");
        wait_until(STARTED, || path.exists() || d.try_exit().is_some());
        if !path.exists() {
            let out = d.outcome();
            if attempt < 2 && out.stderr.contains("cannot listen") {
                continue;
            }
            panic!(
                "the program never recorded its environment\n{}",
                out.describe()
            );
        }
        let env = parse_env(&fs::read_to_string(&path).expect("read env.txt"));
        if let Some(token) = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN") {
            h.add_secret(token);
        }
        for (name, value) in STALE {
            assert!(
                env.get(name).is_none_or(|v| v != value),
                "the program sees aws-credfile's {name}\n{env:#?}"
            );
        }
        for name in [
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_DEFAULT_PROFILE",
        ] {
            assert!(!env.contains_key(name), "the program sees {name}\n{env:#?}");
        }
        // The rest of the environment is passed on as it was.
        assert_eq!(
            env.get("KEEP_ME").map(String::as_str),
            Some("kept as it was")
        );
        assert_eq!(env.get("AWS_REGION").map(String::as_str), Some("us-east-1"));
        assert_eq!(env.get("PATH").map(String::as_str), Some(PATH));
        check(port, &env);
        h.scratch.write("go", "");
        assert_eq!(wait_exit(&mut d), Some(0), "{}", d.snapshot().describe());
        d.outcome();
        return;
    }
}

/// Flags that do not depend on the port.
fn fixed(flags: &[&str]) -> impl Fn(u16) -> Vec<String> {
    let flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
    move |_| flags.clone()
}

/// The endpoint handed over: its address, from a URL that must be
/// `http://127.0.0.1:PORT/v1/credentials`.
fn endpoint_addr(env: &BTreeMap<String, String>) -> SocketAddr {
    let url = env
        .get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .unwrap_or_else(|| panic!("no endpoint handed over\n{env:#?}"));
    let addr = url
        .strip_prefix("http://")
        .and_then(|rest| rest.strip_suffix("/v1/credentials"))
        .unwrap_or_else(|| panic!("not an http://ADDR/v1/credentials URL: {url}"));
    let addr: SocketAddr = addr.parse().expect("ADDR:PORT in the URL");
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{url}");
    addr
}

fn assert_random_token(token: &str) {
    assert!(
        token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()),
        "the endpoint's token should be 64 hex digits, not {} characters",
        token.len()
    );
}

/// The endpoint answers the handed-over token with what the fake STS
/// issued last, and refuses a request without it.
fn assert_endpoint_serves(h: &Harness, addr: SocketAddr, token: &str) {
    let reply = get(addr, "/v1/credentials", &[("Authorization", token)]).expect("GET");
    assert_eq!(reply.status, Some(200), "{reply:?}");
    let issued = h.sts.issued();
    let last = issued.last().expect("credentials were issued");
    assert_eq!(
        reply.field("AccessKeyId").as_deref(),
        Some(last.access_key_id.as_str())
    );
    assert_eq!(
        reply.field("SecretAccessKey").as_deref(),
        Some(last.secret_access_key.as_str())
    );
    let refused = get(addr, "/v1/credentials", &[]).expect("GET");
    assert_eq!(refused.status, Some(401), "{refused:?}");
}

#[test]
fn exit_status_is_the_programs() {
    let h = harness("sup-status", HOUR);
    for (script, code) in [
        ("echo program-output; exit 0", 0),
        ("exit 3", 3),
        ("exit 255", 255),
        // Killed by a signal: 128 + N, as a shell reports it.
        ("kill -KILL $$", 137),
        ("kill -TERM $$", 143),
    ] {
        let out = sh(&h, &[], script).run();
        out.assert_code(code);
        out.assert_stderr_contains("program_started");
        out.assert_stderr_contains("program_exited");
        // The refresh before the program plans the next one
        // (it said `next_refresh_in=none`).
        let refreshed = out
            .stderr_lines()
            .into_iter()
            .find(|l| l.contains("credentials_refreshed"));
        assert!(
            refreshed.is_some_and(
                |l| l.contains("next_refresh_in=") && !l.contains("next_refresh_in=none")
            ),
            "{refreshed:?}"
        );
        if code == 0 {
            // The program's own output, and nothing of aws-credfile's.
            assert_eq!(out.stdout, "program-output\n", "{}", out.describe());
        }
    }
    // Each run fetched once, before its program started.
    assert_eq!(h.sts.request_count(), 5);
}

#[test]
fn the_program_is_found_on_path_with_its_arguments_untouched() {
    let h = harness("sup-path", HOUR);
    h.scratch.write_executable(
        "bin/print-args",
        "#!/bin/sh\nfor a in \"$@\"; do printf '[%s]\\n' \"$a\"; done\n",
    );
    let path = format!("{}:{PATH}", h.scratch.join("bin").display());
    let args = [
        "--",
        "print-args",
        "--once",
        "--",
        "two words",
        "",
        "$HOME",
        "*",
        "--file=x",
    ];
    let out = h.cmd(&args).env("PATH", &path).run();
    out.assert_code(0);
    assert_eq!(
        out.stdout,
        "[--once]\n[--]\n[two words]\n[]\n[$HOME]\n[*]\n[--file=x]\n",
        "{}",
        out.describe()
    );
}

#[test]
fn a_program_that_cannot_start_gives_127_or_126() {
    let h = harness("sup-notfound", HOUR);
    let out = h
        .cmd(&["--", "no-such-program-aws-credfile-itest"])
        .env("PATH", PATH)
        .run();
    out.assert_code(127)
        .assert_stderr_contains("no-such-program-aws-credfile-itest");
    assert_eq!(
        out.stderr_lines()
            .last()
            .map(|l| l.starts_with("aws-credfile: error:")),
        Some(true),
        "{}",
        out.describe()
    );

    let not_executable = h.scratch.write("not-executable", "#!/bin/sh\nexit 0\n");
    fs::set_permissions(&not_executable, fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = h.cmd(&["--", "./not-executable"]).run();
    out.assert_code(126)
        .assert_stderr_contains("not-executable");

    fs::create_dir_all(h.scratch.join("a-directory")).expect("mkdir");
    h.cmd(&["--", "./a-directory"]).run().assert_code(126);
    // Each of these cost a full STS call first, and the
    // 126s were told to put the program on PATH.
    out.assert_stderr_contains("chmod +x");
    assert_eq!(
        h.sts.request_count(),
        0,
        "STS was asked for a program that cannot start"
    );

    // A missing #! interpreter is told as such (127, as dash, bash 5.2
    // and env say), and an empty program name is a usage error.
    h.scratch
        .write_executable("bad-interpreter", "#!/nonexistent/interpreter\n");
    h.cmd(&["--", "./bad-interpreter"])
        .run()
        .assert_code(127)
        .assert_stderr_contains("#! interpreter");
    h.cmd(&["--", ""]).run().assert_code(2);
    // Round 35: a #! line saved with Windows line endings was "missing"
    // with no word of the CR; a directory named by #! is there, and exec
    // refuses it (126), as dash does.
    h.scratch
        .write_executable("crlf-script", "#!/bin/sh\r\necho hi\r\n");
    h.cmd(&["--", "./crlf-script"])
        .run()
        .assert_code(127)
        .assert_stderr_contains("carriage return");
    h.scratch
        .write_executable("dir-interpreter", "#!/tmp\necho hi\n");
    h.cmd(&["--", "./dir-interpreter"]).run().assert_code(126);
    // Neither #! nor ELF is found before any STS call too.
    h.scratch.write_executable("no-magic", "echo hello\n");
    h.cmd(&["--", "./no-magic"]).run().assert_code(126);
    // A loop of links is not "not found" (127): exec says ELOOP, 126.
    std::os::unix::fs::symlink("loop2", h.scratch.join("loop1")).expect("symlink");
    std::os::unix::fs::symlink("loop1", h.scratch.join("loop2")).expect("symlink");
    h.cmd(&["--", "./loop1"])
        .run()
        .assert_code(126)
        .assert_stderr_contains("symbolic links");
    assert_eq!(
        h.sts.request_count(),
        0,
        "STS was asked for a program that cannot start"
    );
}

#[test]
fn the_program_never_starts_without_credentials() {
    // Refused: not retried, exit 1 at once.
    let h = Harness::new("sup-denied", |_, _| Answer::access_denied());
    let out = sh(&h, &[], "touch started").run();
    out.assert_code(1).assert_stderr_contains("AccessDenied");
    let last = out.stderr_lines().last().copied().unwrap_or_default();
    assert!(
        last.starts_with("aws-credfile: error:"),
        "{}",
        out.describe()
    );
    assert!(!h.scratch.join("started").exists(), "{}", out.describe());
    assert!(
        !out.stderr.contains("program_started"),
        "{}",
        out.describe()
    );

    // Throttled for good: retried within --once-timeout, then exit 1.
    let h = Harness::new("sup-throttled", |_, _| Answer::throttling());
    let out = sh(&h, &["--once-timeout", "3s"], "touch started").run();
    out.assert_code(1).assert_stderr_contains("Throttling");
    assert!(h.sts.request_count() >= 2, "{}", out.describe());
    assert!(!h.scratch.join("started").exists(), "{}", out.describe());
}

#[test]
fn usage_errors() {
    let h = harness("sup-usage", HOUR);
    for args in [
        &["--"][..],
        &["--once", "--", "true"],
        &["--check", "--", "true"],
        &["--credential-process", "--", "true"],
        &["--print", "env", "--", "true"],
        &["stray", "--", "true"],
    ] {
        let out = h.cmd(args).env("PATH", PATH).run();
        out.assert_code(2);
        let lines = out.stderr_lines();
        assert_eq!(lines.len(), 1, "one line of error\n{}", out.describe());
    }
    assert_eq!(h.sts.request_count(), 0, "a usage error fetches nothing");
}

#[test]
fn zero_configuration_hands_over_an_endpoint_and_writes_no_file() {
    let h = harness("sup-env-zero", HOUR);
    let mut tokens = Vec::new();
    for _ in 0..2 {
        with_handed_env(
            &h,
            fixed(&[]),
            |run| run,
            |_, env| {
                let addr = endpoint_addr(env);
                assert_eq!(addr.ip().to_string(), "127.0.0.1");
                let token = &env["AWS_CONTAINER_AUTHORIZATION_TOKEN"];
                assert_random_token(token);
                assert_endpoint_serves(&h, addr, token);
                for name in [
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                    "AWS_SHARED_CREDENTIALS_FILE",
                    "AWS_PROFILE",
                ] {
                    assert!(!env.contains_key(name), "{name} handed over\n{env:#?}");
                }
                tokens.push(token.clone());
            },
        );
    }
    assert_ne!(tokens[0], tokens[1], "a new token each run");
    // AWS_SHARED_CREDENTIALS_FILE pointed there, but no --file was given.
    assert!(!h.cred_file.exists(), "a file was written");
    assert!(!h.cred_file.parent().expect("a parent").exists());
}

#[test]
fn a_container_source_is_replaced_by_the_endpoint_of_the_run() {
    let agent_token = "agent-token-of-the-test-0123456789";
    let h = Harness::with_agent(
        "sup-env-agent",
        |_, _| Answer::issue(HOUR),
        crate::harness::Fake::start(move |_, req| {
            if req.header("Authorization") == Some(agent_token) {
                Answer::issue(HOUR)
            } else {
                Answer::json(401, r#"{"code":"AccessDenied","message":"bad token"}"#)
            }
        }),
    );
    h.add_secret(agent_token);
    let agent_url = format!("{}/v1/credentials", h.agent().url());
    with_handed_env(
        &h,
        fixed(&[]),
        |run| {
            run.env("AWS_CONTAINER_CREDENTIALS_FULL_URI", &agent_url)
                .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", agent_token)
                .env_remove("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
                .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        },
        |_, env| {
            assert_ne!(env["AWS_CONTAINER_CREDENTIALS_FULL_URI"], agent_url);
            let token = &env["AWS_CONTAINER_AUTHORIZATION_TOKEN"];
            assert_ne!(token, agent_token);
            assert_random_token(token);
            let reply = get(
                endpoint_addr(env),
                "/v1/credentials",
                &[("Authorization", token)],
            )
            .expect("GET");
            assert_eq!(
                reply.field("AccessKeyId"),
                h.agent().issued().last().map(|c| c.access_key_id.clone())
            );
        },
    );
    assert_eq!(h.sts.request_count(), 0);
}

#[test]
fn file_hands_over_its_absolute_path_and_profile() {
    let h = harness("sup-env-file", HOUR);
    // Relative to the directory aws-credfile runs in (the scratch one).
    let path = h.scratch.join("shared/credentials");
    with_handed_env(
        &h,
        fixed(&["--file", "shared/credentials", "--profile", "app"]),
        |run| run,
        |_, env| {
            assert_eq!(
                env.get("AWS_SHARED_CREDENTIALS_FILE").map(PathBuf::from),
                Some(path.clone())
            );
            assert_eq!(env.get("AWS_PROFILE").map(String::as_str), Some("app"));
            // The Java v1 SDK's name for the same file.
            assert_eq!(
                env.get("AWS_CREDENTIAL_PROFILES_FILE").map(PathBuf::from),
                Some(path.clone())
            );
            for name in [
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            ] {
                assert!(!env.contains_key(name), "{name} handed over\n{env:#?}");
            }
            // Written before the program started.
            let text = fs::read_to_string(&path).expect("the file exists");
            assert_eq!(
                ini::profile(&text, "app").ok(),
                Some(Profile::from(&h.sts.issued()[0]))
            );
        },
    );
    // The default profile is the SDKs' default: no AWS_PROFILE.
    with_handed_env(
        &h,
        fixed(&["--file", "shared/credentials"]),
        |run| run,
        |_, env| {
            assert_eq!(
                env.get("AWS_SHARED_CREDENTIALS_FILE").map(PathBuf::from),
                Some(path.clone())
            );
            assert!(!env.contains_key("AWS_PROFILE"), "{env:#?}");
            assert_eq!(
                env.get("AWS_SDK_LOAD_CONFIG").map(String::as_str),
                Some("1")
            );
        },
    );
    // A caller's own AWS_SDK_LOAD_CONFIG is kept (it was
    // overwritten with 1).
    with_handed_env(
        &h,
        fixed(&["--file", "shared/credentials"]),
        |run| run.env("AWS_SDK_LOAD_CONFIG", "0"),
        |_, env| {
            assert_eq!(
                env.get("AWS_SDK_LOAD_CONFIG").map(String::as_str),
                Some("0")
            );
        },
    );
    // An empty one is none (the JavaScript v2 SDK reads it as unset, and
    // then ignores the file): it was kept, empty.
    with_handed_env(
        &h,
        fixed(&["--file", "shared/credentials"]),
        |run| run.env("AWS_SDK_LOAD_CONFIG", ""),
        |_, env| {
            assert_eq!(
                env.get("AWS_SDK_LOAD_CONFIG").map(String::as_str),
                Some("1")
            );
        },
    );
}

#[test]
fn serve_hands_over_its_endpoint_with_a_token() {
    let h = harness("sup-env-serve", HOUR);
    with_handed_env(
        &h,
        |port| vec!["--serve".into(), format!("127.0.0.1:{port}")],
        |run| run,
        |port, env| {
            assert_eq!(endpoint_addr(env).port(), port);
            let token = &env["AWS_CONTAINER_AUTHORIZATION_TOKEN"];
            assert_random_token(token);
            assert_endpoint_serves(&h, endpoint_addr(env), token);
            for name in [
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                "AWS_SHARED_CREDENTIALS_FILE",
            ] {
                assert!(!env.contains_key(name), "{name} handed over\n{env:#?}");
            }
        },
    );
    assert!(!h.cred_file.exists(), "--serve alone writes no file");
    // Bound to every address, it is handed over as loopback: the SDKs
    // refuse plain http to 0.0.0.0.
    with_handed_env(
        &h,
        |port| {
            ["--serve", &format!("0.0.0.0:{port}"), "--serve-any-address"]
                .map(String::from)
                .to_vec()
        },
        |run| run,
        |port, env| {
            let addr = endpoint_addr(env);
            assert_eq!(addr, SocketAddr::from(([127, 0, 0, 1], port)));
            assert_endpoint_serves(&h, addr, &env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]);
        },
    );
}

#[test]
fn serve_token_file_and_file_are_both_handed_over() {
    let h = harness("sup-env-both", HOUR);
    let token_value = "serve-token-of-the-test-0123";
    let token_file = h.scratch.write("serve-token", format!("{token_value}\n"));
    h.add_secret(token_value);
    let token_path = token_file.to_str().expect("UTF-8 scratch path").to_string();
    with_handed_env(
        &h,
        |port| {
            [
                "--serve",
                &format!("127.0.0.1:{port}"),
                // Relative to where aws-credfile runs; handed over absolute.
                "--serve-token-file",
                "serve-token",
                "--file",
                "both/credentials",
            ]
            .map(String::from)
            .to_vec()
        },
        |run| run,
        |port, env| {
            assert_eq!(endpoint_addr(env).port(), port);
            // Its content, trimmed, never its path: botocore prefers the
            // file, sends it raw and refused this one, which ends in a
            // newline (round 32).
            assert_eq!(
                env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
                None,
                "{token_path} handed over"
            );
            let token = &env["AWS_CONTAINER_AUTHORIZATION_TOKEN"];
            assert_eq!(token, token_value);
            assert_endpoint_serves(&h, endpoint_addr(env), token);
            assert_eq!(
                env.get("AWS_SHARED_CREDENTIALS_FILE").map(PathBuf::from),
                Some(h.scratch.join("both/credentials"))
            );
            assert!(h.scratch.join("both/credentials").exists());
        },
    );
}

/// The program: traps every forwarded signal and appends its name to
/// `signals`; SIGTERM also ends it with 5. It waits on a background `sleep`
/// so a trapped signal is acted on at once (`wait` returns for it).
const TRAP_ALL: &str = r#"
for s in HUP INT QUIT USR1 USR2 WINCH; do trap "echo $s >> signals" $s; done
trap 'echo TERM >> signals; exit 5' TERM
: > ready
while :; do sleep 1 & wait $!; done
"#;

#[test]
fn every_forwarded_signal_reaches_the_program() {
    let h = harness("sup-signals", HOUR);
    let mut d = sh(&h, &[], TRAP_ALL).spawn();
    wait_for_file(&h, &mut d, "ready");
    let signals = h.scratch.join("signals");
    let seen = || -> Vec<String> {
        fs::read_to_string(&signals)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    };
    let mut expected = Vec::new();
    for (sig, name) in [
        (libc::SIGHUP, "HUP"),
        (libc::SIGINT, "INT"),
        (libc::SIGQUIT, "QUIT"),
        (libc::SIGUSR1, "USR1"),
        (libc::SIGUSR2, "USR2"),
        (libc::SIGWINCH, "WINCH"),
    ] {
        d.signal(sig);
        expected.push(name.to_string());
        let ok = wait_until(STARTED, || seen() == expected);
        assert!(
            ok,
            "after {name}, the program saw {:?}\n{}",
            seen(),
            d.snapshot().describe()
        );
        // Forwarded, not acted on: SIGINT stops aws-credfile only when it
        // runs no program.
        d.assert_running();
    }
    // SIGHUP also refreshed.
    assert!(
        h.sts.wait_for_requests(2, STARTED),
        "no refresh after SIGHUP\n{}",
        d.snapshot().describe()
    );
    d.signal(libc::SIGTERM);
    assert_eq!(wait_exit(&mut d), Some(5), "{}", d.snapshot().describe());
    expected.push("TERM".into());
    assert_eq!(seen(), expected);
    d.outcome();
}

/// With no terminal, `kill -TSTP` stopped aws-credfile alone:
/// the program ran on against an endpoint that no longer answered. And a
/// program stopped by anyone kept the forwarded SIGTERM pending, so
/// aws-credfile ran on until the runtime's SIGKILL. SIGTSTP and SIGCONT
/// are passed on now (aws-credfile keeps serving meanwhile), and a signal
/// that ends a program is followed by SIGCONT, as `timeout` does.
#[test]
fn a_pause_is_the_programs_and_a_stopped_program_still_ends() {
    let h = harness("sup-stopped", HOUR);
    let script = r#"trap 'echo TERM >> signals; exit 9' TERM; env > env.txt; echo $$ > pid; while :; do sleep 0.05; done"#;
    let mut d = sh(&h, &[], script).spawn();
    let program: u32 = wait_for_file(&h, &mut d, "pid")
        .trim()
        .parse()
        .expect("a pid");
    let env = parse_env(&fs::read_to_string(h.scratch.join("env.txt")).expect("env"));
    let (addr, token) = (
        endpoint_addr(&env),
        env["AWS_CONTAINER_AUTHORIZATION_TOKEN"].clone(),
    );
    let becomes =
        |pid: u32, stopped: bool| wait_until(STARTED, || (state(pid) == Some('T')) == stopped);

    d.signal(libc::SIGTSTP);
    assert!(
        becomes(program, true),
        "the program was not paused
{}",
        d.snapshot().describe()
    );
    assert_ne!(state(d.pid()), Some('T'), "aws-credfile stopped itself");
    assert_endpoint_serves(&h, addr, &token);
    d.signal(libc::SIGCONT);
    assert!(
        becomes(program, false),
        "the program was not resumed
{}",
        d.snapshot().describe()
    );

    // Stopped behind aws-credfile's back, then asked to end.
    crate::harness::process::send_signal(program, libc::SIGSTOP);
    assert!(becomes(program, true), "SIGSTOP did not stop it");
    d.signal(libc::SIGTERM);
    assert_eq!(wait_exit(&mut d), Some(9), "{}", d.snapshot().describe());
    assert_eq!(
        fs::read_to_string(h.scratch.join("signals")).expect("signals"),
        "TERM\n"
    );
    d.outcome();
}

#[test]
fn the_program_is_killed_with_aws_credfile() {
    let h = harness("sup-pdeathsig", HOUR);
    let mut d = sh(
        &h,
        &[],
        "echo $$ > program.pid.tmp && mv program.pid.tmp program.pid; exec sleep 120",
    )
    .spawn();
    let pid: u32 = wait_for_file(&h, &mut d, "program.pid")
        .trim()
        .parse()
        .expect("a pid");
    let comm = || fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    assert!(
        wait_until(STARTED, || comm().trim() == "sleep"),
        "the program never became sleep: {:?}",
        comm()
    );
    d.signal(libc::SIGKILL);
    let status = d.wait_exit(EXITS).expect("SIGKILL ends it");
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    // Gone, or a zombie of whoever adopted it: either way, not running.
    let dead = || match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    };
    if !wait_until(STARTED, dead) {
        // Not left behind for the rest of the run: it is ours.
        crate::harness::process::send_signal(pid, libc::SIGKILL);
        panic!("the program (pid {pid}) still runs after aws-credfile was killed");
    }
    d.outcome();
}

#[test]
fn the_program_inherits_no_descriptor() {
    let h = harness("sup-fds", HOUR);
    let token_file = h
        .scratch
        .write("serve-token", "serve-token-for-fds-0123456789");
    h.add_secret("serve-token-for-fds-0123456789");
    // Everything that opens a descriptor: the file (and its lock), the
    // endpoint, the metrics listener, the signal pipe, the timer.
    let script = concat!(
        "ls -l /proc/self/fd > fds.tmp && mv fds.tmp fds\n",
        until_go!()
    );
    for attempt in 0..3 {
        let (serve, metrics) = (free_port(), free_port());
        let serve = format!("127.0.0.1:{serve}");
        let metrics = format!("127.0.0.1:{metrics}");
        let flags = [
            "--file",
            "creds/credentials",
            "--serve",
            &serve,
            "--serve-token-file",
            token_file.to_str().expect("UTF-8"),
            "--metrics",
            &metrics,
        ];
        let mut d = sh(&h, &flags, script).only_std_fds().spawn();
        let path = h.scratch.join("fds");
        wait_until(STARTED, || path.exists() || d.try_exit().is_some());
        if !path.exists() {
            let out = d.outcome();
            if attempt < 2 && out.stderr.contains("cannot listen") {
                continue;
            }
            panic!(
                "the program never listed its descriptors\n{}",
                out.describe()
            );
        }
        let listing = fs::read_to_string(&path).expect("read fds");
        // aws-credfile holds several, none of which the program has.
        let ours = open_fds(d.pid()).unwrap_or(0);
        assert!(ours >= 6, "aws-credfile holds only {ours} descriptors");
        let mut fds = BTreeSet::new();
        for line in listing.lines().filter(|l| l.contains(" -> ")) {
            let (left, target) = line.split_once(" -> ").expect("checked");
            let fd: u32 = left
                .split_whitespace()
                .last()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no descriptor number in {line:?}"));
            // `ls`'s own: the directory it lists.
            let own = target.starts_with("/proc/") && target.ends_with("/fd");
            if !own {
                fds.insert(fd);
            }
        }
        assert_eq!(
            fds,
            BTreeSet::from([0, 1, 2]),
            "descriptors besides stdin, stdout, stderr and ls's own:\n{listing}"
        );
        h.scratch.write("go", "");
        assert_eq!(wait_exit(&mut d), Some(0), "{}", d.snapshot().describe());
        d.outcome();
        return;
    }
}

#[test]
fn the_program_starts_with_no_signal_blocked_or_ignored() {
    // aws-credfile ignores SIGPIPE (as every Rust program does) and handles
    // the forwarded signals and SIGCHLD; none of that may reach the
    // program. (Signals ignored by whoever started aws-credfile stay
    // ignored, as across any exec.)
    let h = harness("sup-sigmask", HOUR);
    let out = h
        .cmd(&["--", "grep", "^Sig[BI]", "/proc/self/status"])
        .env("PATH", PATH)
        .run();
    out.assert_code(0);
    let mask = |name: &str| -> u64 {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or_else(|| panic!("no {name} in\n{}", out.describe()))
    };
    assert_eq!(mask("SigBlk:"), 0, "blocked signals\n{}", out.describe());
    let ours = [
        libc::SIGPIPE,
        libc::SIGCHLD,
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGHUP,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGWINCH,
    ]
    .iter()
    .fold(0u64, |m, &sig| m | 1 << (sig - 1));
    assert_eq!(
        mask("SigIgn:") & ours,
        0,
        "ignored signals\n{}",
        out.describe()
    );
}

/// A program that fetches the endpoint it was handed itself, every half
/// second, over bash's /dev/tcp, and records each AccessKeyId it got; it
/// ends (0) once it has seen three different ones.
const FETCH_THREE_KEYS: &str = r#"
hostport=${AWS_CONTAINER_CREDENTIALS_FULL_URI#http://}
hostport=${hostport%%/*}
for i in $(seq 1 120); do
    exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}"
    printf 'GET /v1/credentials HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nConnection: close\r\n\r\n' \
        "$hostport" "$AWS_CONTAINER_AUTHORIZATION_TOKEN" >&3
    grep -o '"AccessKeyId":"[^"]*"' <&3 >> keys
    exec 3<&-
    [ "$(sort -u keys | wc -l)" -ge 3 ] && exit 0
    sleep 0.5
done
exit 1
"#;

/// The same through the file: the key in the handed-over file's profile.
const READ_THREE_KEYS: &str = r#"
for i in $(seq 1 120); do
    sed -n 's/^aws_access_key_id = //p' "$AWS_SHARED_CREDENTIALS_FILE" >> keys
    [ "$(sort -u keys | wc -l)" -ge 3 ] && exit 0
    sleep 0.5
done
exit 1
"#;

/// The keys the program recorded, each once, in the order first seen; each
/// must be one the fake issued.
fn recorded_keys(h: &Harness) -> Vec<String> {
    let text = fs::read_to_string(h.scratch.join("keys")).unwrap_or_default();
    let mut keys: Vec<String> = Vec::new();
    for line in text.lines() {
        let key = line
            .trim()
            .trim_start_matches("\"AccessKeyId\":\"")
            .trim_end_matches('"')
            .to_string();
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let issued: Vec<String> = h
        .sts
        .issued()
        .into_iter()
        .map(|c| c.access_key_id)
        .collect();
    for key in &keys {
        assert!(issued.contains(key), "{key} was never issued: {issued:?}");
    }
    keys
}

#[test]
fn a_long_running_program_sees_refreshes_through_the_endpoint() {
    if which("bash").is_none() {
        crate::harness::skip("no bash for /dev/tcp");
        return;
    }
    let h = harness("sup-refresh-endpoint", SHORT);
    let out = h
        .cmd(&["--", "bash", "-c", FETCH_THREE_KEYS])
        .env("PATH", PATH)
        .run();
    out.assert_code(0);
    let keys = recorded_keys(&h);
    assert!(keys.len() >= 3, "{keys:?}\n{}", out.describe());
    assert!(
        out.stderr.matches("credentials_refreshed").count() >= 3,
        "{}",
        out.describe()
    );
}

#[test]
fn a_long_running_program_sees_refreshes_through_the_file() {
    let h = harness("sup-refresh-file", SHORT);
    let out = sh(&h, &["--file", "creds/credentials"], READ_THREE_KEYS).run();
    out.assert_code(0);
    let keys = recorded_keys(&h);
    assert!(keys.len() >= 3, "{keys:?}\n{}", out.describe());
}

/// Where `program` is on PATH, if anywhere.
fn which(program: &str) -> Option<PathBuf> {
    PATH.split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}

/// The program in a PID namespace: starts 20 children that outlive their
/// parents (orphans, reparented to PID 1: aws-credfile), records their
/// parent, waits for them to end, then records the zombies left.
const ORPHANS: &str = r#"
echo "pid1 $(cat /proc/1/comm)" > report
i=0
while [ $i -lt 20 ]; do
    sh -c 'sleep 2 & echo $! >> orphans'
    i=$((i + 1))
done
for p in $(cat orphans); do
    echo "orphan $p $(sed -n 's/^PPid:[[:space:]]*//p' /proc/$p/status 2>/dev/null)" >> report
done
sleep 3
for i in $(seq 1 100); do
    left=""
    for p in $(cat orphans); do [ -e /proc/$p ] && left="$left $p"; done
    zombies=$(grep -l '^State:[[:space:]]*Z' /proc/[0-9]*/status 2>/dev/null | wc -l)
    [ -z "$left" ] && [ "$zombies" -eq 0 ] && break
    sleep 0.2
done
echo "left$left" >> report
echo "zombies $zombies" >> report
"#;

#[test]
fn as_pid_1_it_reaps_orphans() {
    if !is_root() {
        crate::harness::skip("creating a PID namespace needs root");
        return;
    }
    let unshare = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"];
    let probe = Command::new(unshare[0])
        .args(&unshare[1..])
        .arg("true")
        .env("PATH", PATH)
        .output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        crate::harness::skip(&format!("{} fails here: {probe:?}", unshare.join(" ")));
        return;
    }
    let h = harness("sup-pid1", HOUR);
    let out = sh(&h, &[], ORPHANS).wrapped(&unshare).run();
    out.assert_code(0);
    let report = fs::read_to_string(h.scratch.join("report")).expect("the program's report");
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines.first(), Some(&"pid1 aws-credfile"), "{report}");
    // Those still running when looked at had been adopted by PID 1.
    let parents: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("orphan "))
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert!(
        !parents.is_empty() && parents.iter().all(|p| *p == "1"),
        "orphans should be children of PID 1:\n{report}"
    );
    assert!(lines.contains(&"left"), "orphans never reaped:\n{report}");
    assert!(lines.contains(&"zombies 0"), "zombies left:\n{report}");
}

/// A SIGHUP during the first fetch, before the program
/// existed, was put back as if it had just arrived, so the program was sent
/// it the moment it started, before it could handle it (exit 129). A SIGHUP
/// then still causes one more refresh, and reaches no program that did not
/// exist when it came.
#[test]
fn a_sighup_before_the_program_starts_only_refreshes() {
    let h = Harness::new("sup-early-hup", |n, _| {
        let answer = Answer::issue(HOUR);
        if n == 0 {
            answer.after(Duration::from_millis(1500))
        } else {
            answer
        }
    });
    let mut d = sh(&h, &[], concat!(": > started\n", until_go!())).spawn();
    assert!(
        h.sts.wait_for_requests(1, STARTED),
        "no first fetch\n{}",
        d.snapshot().describe()
    );
    d.signal(libc::SIGHUP);
    wait_for_file(&h, &mut d, "started");
    assert!(
        h.sts.wait_for_requests(2, STARTED),
        "the SIGHUP sent during the first fetch caused no refresh\n{}",
        d.snapshot().describe()
    );
    thread::sleep(Duration::from_millis(500));
    d.assert_running();
    h.scratch.write("go", "");
    assert_eq!(wait_exit(&mut d), Some(0), "{}", d.snapshot().describe());
}

/// The same mechanism while a program runs: a SIGHUP during a refresh is
/// passed on once, as it arrived, and asks for one more refresh; that
/// request must not reach the program as a second SIGHUP.
#[test]
fn a_sighup_during_a_refresh_reaches_the_program_once() {
    let h = Harness::new("sup-hup-in-flight", |n, _| {
        let answer = Answer::issue(HOUR);
        if n == 1 {
            answer.after(Duration::from_millis(1500))
        } else {
            answer
        }
    });
    let mut d = sh(&h, &[], TRAP_ALL).spawn();
    wait_for_file(&h, &mut d, "ready");
    let signals = h.scratch.join("signals");
    let seen = || fs::read_to_string(&signals).unwrap_or_default();
    d.signal(libc::SIGHUP);
    assert!(
        h.sts.wait_for_requests(2, STARTED),
        "SIGHUP starts a refresh\n{}",
        d.snapshot().describe()
    );
    // The refresh waits for its slow answer; ask again meanwhile.
    d.signal(libc::SIGHUP);
    assert!(
        h.sts.wait_for_requests(3, STARTED),
        "the SIGHUP sent during the refresh caused no refresh\n{}",
        d.snapshot().describe()
    );
    thread::sleep(Duration::from_millis(500));
    assert_eq!(seen(), "HUP\nHUP\n", "two SIGHUPs sent, two passed on");
    d.signal(libc::SIGTERM);
    assert_eq!(wait_exit(&mut d), Some(5), "{}", d.snapshot().describe());
}

/// A pseudo-terminal: the master side, and the path of the slave side.
fn open_pty() -> Option<(fs::File, PathBuf)> {
    use std::os::fd::FromRawFd;
    // SAFETY: posix_openpt returns a new descriptor (owned by the File
    // below); grantpt, unlockpt and ptsname_r read it and write at most
    // `buf.len()` bytes into `buf`.
    #[allow(unsafe_code)]
    unsafe {
        let fd = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        if fd < 0 {
            return None;
        }
        let master = fs::File::from_raw_fd(fd);
        assert_eq!(libc::grantpt(fd), 0, "grantpt");
        assert_eq!(libc::unlockpt(fd), 0, "unlockpt");
        let mut buf = [0u8; 128];
        assert_eq!(
            libc::ptsname_r(fd, buf.as_mut_ptr().cast(), buf.len()),
            0,
            "ptsname_r"
        );
        let len = buf
            .iter()
            .position(|&b| b == 0)
            .expect("a NUL-terminated name");
        let name = String::from_utf8_lossy(&buf[..len]).into_owned();
        Some((master, PathBuf::from(name)))
    }
}

/// The state letter in /proc/PID/stat (`S`, `R`, `T`, ...) and the parent.
fn state_and_parent(pid: u32) -> Option<(char, u32)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut rest = stat.rsplit_once(')')?.1.split_whitespace();
    let state = rest.next()?.chars().next()?;
    let parent = rest.next()?.parse().ok()?;
    Some((state, parent))
}

/// `aws-credfile -- sh -c SCRIPT` run by a job-control `bash` (its
/// `job_script`, with `"$@" 2>&3` running aws-credfile) on the slave
/// side of a fresh pseudo-terminal, as a shell at a terminal runs a job:
/// aws-credfile in a process group of its own, in the foreground, its
/// parent in the same session. Returns the run, the terminal's master side,
/// and the program's and aws-credfile's pids; `None` (the test says it
/// skipped) without a pseudo-terminal, bash or setsid here.
fn job_at_a_terminal<'h>(
    h: &'h Harness,
    program_script: &str,
    job_script: &str,
) -> Option<(Daemon<'h>, fs::File, u32, u32)> {
    let missing = ["bash", "setsid"].into_iter().find(|p| which(p).is_none());
    let Some((master, slave)) = open_pty().filter(|_| missing.is_none()) else {
        crate::harness::skip(&format!(
            "no pseudo-terminal, or {missing:?} is not installed"
        ));
        return None;
    };
    // bash takes its terminal from stderr, so that is the terminal too;
    // aws-credfile's own stderr (descriptor 3 in the job) stays the test's.
    let script = format!(
        r#"exec setsid -c -w bash -c '{job_script}' bash "$@" 3>&2 <"$PTY" >"$PTY" 2>"$PTY""#
    );
    let mut d = sh(h, &[], &format!("echo $$ > program.pid; {program_script}"))
        .env("PTY", &slave)
        .wrapped(&["sh", "-c", &script, "sh"])
        .spawn();
    let program: u32 = wait_for_file(h, &mut d, "program.pid")
        .trim()
        .parse()
        .expect("a pid");
    let (_, ours) = state_and_parent(program).expect("the program runs");
    Some((d, master, program, ours))
}

/// A program that runs until a signal ends it, forking nothing: a shell
/// loop around `sleep` is, at times, a shell waiting for a vfork child
/// that has not yet exec'd (dash vforks; gVisor shows it as `D`). A Ctrl-Z
/// landing then stops only that child, and the shell, still waiting on it,
/// never stops: the job does not stop, with or without aws-credfile.
const LOOP: &str = "exec sleep 3600";

fn state(pid: u32) -> Option<char> {
    state_and_parent(pid).map(|(s, _)| s)
}

/// Waits until both are stopped (`stopped`) or both run, and `file` (if
/// any) exists in the scratch directory; panics saying what it saw.
fn wait_job(
    h: &Harness,
    d: &mut Daemon,
    pids: (u32, u32),
    stopped: bool,
    file: Option<&str>,
    when: &str,
) {
    let is = |pid| match state(pid) {
        Some('T') => stopped,
        Some(_) => !stopped,
        None => false,
    };
    let ok = wait_until(SHORT, || {
        is(pids.0) && is(pids.1) && file.is_none_or(|f| h.scratch.join(f).exists())
    });
    assert!(
        ok,
        "{when}: program {:?}, aws-credfile {:?}, expected both {}\n{}",
        state(pids.0),
        state(pids.1),
        if stopped { "stopped" } else { "running" },
        d.snapshot().describe()
    );
}

/// After `fg`: a line typed at the terminal reaches the program (which
/// writes it to `program-read`), and Ctrl-C then ends it and the job: 130.
fn program_reads_then_ctrl_c_ends_it(
    h: &Harness,
    d: &mut Daemon,
    tty: &mut fs::File,
    program: u32,
) {
    use std::io::Write;
    tty.write_all(b"typed\n")
        .expect("type a line for the program");
    let read = wait_until(SHORT, || {
        fs::read_to_string(h.scratch.join("program-read")).is_ok_and(|l| l == "typed\n")
    });
    assert!(
        read,
        "after fg the program never read the terminal (program {:?})\n{}",
        state(program),
        d.snapshot().describe()
    );
    tty.write_all(b"\x03").expect("type Ctrl-C");
    assert_eq!(wait_exit(d), Some(130), "{}", d.snapshot().describe());
}

/// Ctrl-Z at a terminal stopped the program in the
/// foreground, but the shell waits for aws-credfile, which kept running:
/// the terminal stayed with the stopped group and Ctrl-C did nothing. Now
/// aws-credfile takes the terminal back and stops too, as a job does; `fg`
/// continues both, the program with the terminal. After
/// a second Ctrl-Z, `bg` had aws-credfile take the terminal from the shell
/// (which then died); after `bg` the shell keeps it.
#[test]
fn ctrl_z_fg_and_bg_work_as_for_any_job() {
    use std::io::Write;
    let h = harness("sup-ctrl-z", HOUR);
    let job = r#"set -m; "$@" 2>&3; : > stop1; read -r _; fg; : > stop2; read -r _; bg; read -r line; echo "$line" > shell-read; fg"#;
    let Some((mut d, mut tty, program, ours)) = job_at_a_terminal(&h, LOOP, job) else {
        return;
    };
    let pids = (program, ours);
    tty.write_all(b"\x1a").expect("type Ctrl-Z");
    wait_job(&h, &mut d, pids, true, Some("stop1"), "after Ctrl-Z");
    tty.write_all(b"\n").expect("fg");
    wait_job(&h, &mut d, pids, false, None, "after fg");
    tty.write_all(b"\x1a").expect("type Ctrl-Z again");
    wait_job(
        &h,
        &mut d,
        pids,
        true,
        Some("stop2"),
        "after the second Ctrl-Z",
    );
    tty.write_all(b"\n").expect("bg");
    wait_job(&h, &mut d, pids, false, None, "after bg");
    // The shell reads this line only if it still has the terminal.
    tty.write_all(b"kept\n").expect("type a line for the shell");
    let read = wait_until(SHORT, || {
        fs::read_to_string(h.scratch.join("shell-read")).is_ok_and(|l| l == "kept\n")
    });
    assert!(
        read,
        "after bg the shell lost the terminal\n{}",
        d.snapshot().describe()
    );
    // The shell's `fg`: Ctrl-C then reaches the program.
    wait_job(&h, &mut d, pids, false, None, "after the last fg");
    thread::sleep(Duration::from_millis(300));
    tty.write_all(b"\x03").expect("type Ctrl-C");
    assert_eq!(wait_exit(&mut d), Some(130), "{}", d.snapshot().describe());
}

/// A SIGSTOP sent to aws-credfile itself (not through the
/// terminal) stopped the job from the shell's point of view, but `fg` then
/// gave the terminal to aws-credfile's group, and nothing gave it on to the
/// program: a program reading the terminal was stopped for it (SIGTTIN) and
/// typed input went nowhere. Being continued now hands the terminal back
/// to the program, which reads the line typed after `fg`.
#[test]
fn a_stop_sent_to_aws_credfile_itself_is_undone_by_fg() {
    use std::io::Write;
    let h = harness("sup-sigstop", HOUR);
    let job = r#"set -m; "$@" 2>&3; : > stopped; read -r _; fg"#;
    // It reads only when told to: a read already waiting when the terminal
    // changes hands would be served all the same.
    let reads = concat!(
        "while [ ! -e go-read ]; do sleep 0.05; done; ",
        r#"read -r line; echo "$line" > program-read; while :; do sleep 1; done"#
    );
    let Some((mut d, mut tty, program, ours)) = job_at_a_terminal(&h, reads, job) else {
        return;
    };
    // SAFETY: kill(2) takes numbers only.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(ours as libc::pid_t, libc::SIGSTOP);
    }
    let stopped = wait_until(SHORT, || h.scratch.join("stopped").exists());
    assert!(
        stopped,
        "the shell never saw the job stop\n{}",
        d.snapshot().describe()
    );
    tty.write_all(b"\n").expect("fg");
    wait_job(&h, &mut d, (program, ours), false, None, "after fg");
    h.scratch.write("go-read", "");
    program_reads_then_ctrl_c_ends_it(&h, &mut d, &mut tty, program);
}

/// Started in the background (`&`), a program reading
/// the terminal was stopped for it (SIGTTIN) while aws-credfile ran on, so
/// the shell showed the job running; `fg` then gave aws-credfile the
/// terminal and nothing gave it on: typed input and Ctrl-C went nowhere.
/// Job control now follows a job a shell started in the background too:
/// the job shows stopped, and `fg` gives the program the terminal.
#[test]
fn a_job_started_in_the_background_can_be_brought_to_the_foreground() {
    let h = harness("sup-bg-start", HOUR);
    let job = concat!(
        r#"set -m; "$@" 2>&3 & i=0; "#,
        r#"until jobs -s | grep -q . || [ $i -gt 400 ]; do sleep 0.05; i=$((i+1)); done; "#,
        r#"jobs -s > stopped; fg"#
    );
    let reads = r#"read -r line; echo "$line" > program-read; while :; do sleep 1; done"#;
    let Some((mut d, mut tty, program, ours)) = job_at_a_terminal(&h, reads, job) else {
        return;
    };
    let stopped = wait_until(SHORT, || {
        fs::read_to_string(h.scratch.join("stopped")).is_ok_and(|s| !s.is_empty())
    });
    assert!(
        stopped,
        "the shell never saw the job stop (program {:?}, aws-credfile {:?})\n{}",
        state(program),
        state(ours),
        d.snapshot().describe()
    );
    wait_job(&h, &mut d, (program, ours), false, None, "after fg");
    program_reads_then_ctrl_c_ends_it(&h, &mut d, &mut tty, program);
}

/// Run by a shell that does no job control (`sh -c` under `docker run
/// -it`, `ssh -t`), aws-credfile left the terminal with the program's
/// group after the program ended: the shell's next read from the terminal
/// failed (EIO) and Ctrl-C reached nothing. The terminal now goes back to
/// aws-credfile's group, as a shell takes it back from a finished job.
#[test]
fn the_terminal_goes_back_when_the_program_ends() {
    use std::io::Write;
    let h = harness("sup-tty-back", HOUR);
    let job = r#""$@" 2>&3; read -r line; echo "got=$line" > shell-read"#;
    let reads = r#"read -r line; echo "$line" > program-read"#;
    let Some((mut d, mut tty, _, _)) = job_at_a_terminal(&h, reads, job) else {
        return;
    };
    tty.write_all(b"one\n")
        .expect("type a line for the program");
    let read = wait_until(SHORT, || {
        fs::read_to_string(h.scratch.join("program-read")).is_ok_and(|l| l == "one\n")
    });
    assert!(
        read,
        "the program never read its line\n{}",
        d.snapshot().describe()
    );
    tty.write_all(b"two\n").expect("type a line for the shell");
    assert_eq!(wait_exit(&mut d), Some(0), "{}", d.snapshot().describe());
    assert_eq!(
        fs::read_to_string(h.scratch.join("shell-read"))
            .ok()
            .as_deref(),
        Some("got=two\n"),
        "the shell lost its terminal to the ended program\n{}",
        d.snapshot().describe()
    );
}

/// The CPU time `pid` has used, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// A job whose shell is gone (`( cmd & )` at a terminal) is an orphaned
/// group: the kernel discards its stops. Its program reading the terminal
/// from the background was stopped (SIGTTIN); aws-credfile, unable to stop
/// with it, continued it, it stopped again, and so on: a CPU spent for
/// good. Now the program is left stopped, with a warning, as no shell can
/// bring the job to the foreground; SIGTERM still ends both.
#[test]
fn a_program_at_the_terminals_door_of_an_orphaned_job_is_left_stopped() {
    let h = harness("sup-orphan-ttin", HOUR);
    // Without job control a background command reads /dev/null; `<&0` keeps the terminal.
    let job = r#"(set -m; "$@" 2>&3 <&0 &); : > orphaned; read -r _"#;
    let reads = concat!(
        "while [ ! -e orphaned ]; do sleep 0.05; done; ",
        r#"read -r line; echo "$line" > program-read"#
    );
    let Some((mut d, mut tty, program, ours)) = job_at_a_terminal(&h, reads, job) else {
        return;
    };
    let stopped = wait_until(SHORT, || state(program) == Some('T'));
    assert!(
        stopped,
        "the program never stopped at the terminal\n{}",
        d.snapshot().describe()
    );
    let before = cpu_ticks(ours).expect("aws-credfile runs");
    thread::sleep(Duration::from_secs(2));
    let spent = cpu_ticks(ours).expect("aws-credfile runs") - before;
    // A spin spends most of the two seconds; waiting spends next to none.
    assert!(
        spent < 50,
        "aws-credfile spent {spent} ticks in 2 s waiting\n{}",
        d.snapshot().describe()
    );
    assert_eq!(state(program), Some('T'), "{}", d.snapshot().describe());
    // SAFETY: kill(2) takes numbers only; `ours` is this test's aws-credfile.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(ours as libc::pid_t, libc::SIGTERM);
    }
    let ended = wait_until(SHORT, || state(ours).is_none_or(|s| s == 'Z'));
    assert!(
        ended,
        "SIGTERM did not end the job\n{}",
        d.snapshot().describe()
    );
    use std::io::Write;
    tty.write_all(b"\n").expect("end the shell's read");
    wait_exit(&mut d);
    let out = d.snapshot();
    out.assert_stderr_contains("program_stopped_at_terminal");
}

/// SIGTERM or SIGINT before the program started (during
/// the first fetch) ended aws-credfile with 0, so `aws-credfile -- deploy
/// && next` went on to `next` though `deploy` never ran. Now the status is
/// what a shell reports for a command that signal ended: 143, 130.
#[test]
fn a_stop_before_the_program_starts_is_not_success() {
    // SIGQUIT (Ctrl-\) was dropped there, and the program started.
    // SIGUSR1 and SIGUSR2 were dropped there without a word.
    for (sig, code) in [
        (libc::SIGTERM, 143),
        (libc::SIGINT, 130),
        (libc::SIGQUIT, 131),
        (libc::SIGUSR1, 138),
        (libc::SIGUSR2, 140),
    ] {
        let h = Harness::new(&format!("sup-early-stop-{sig}"), |_, _| {
            Answer::issue(HOUR).after(Duration::from_millis(1500))
        });
        let mut d = sh(&h, &[], ": > started").spawn();
        assert!(
            h.sts.wait_for_requests(1, STARTED),
            "no first fetch\n{}",
            d.snapshot().describe()
        );
        d.signal(sig);
        assert_eq!(wait_exit(&mut d), Some(code), "{}", d.snapshot().describe());
        assert!(!h.scratch.join("started").exists(), "the program ran");
    }
}

/// A shell stops the script or loop it runs only when the command it
/// waited for was ended by SIGINT; one that exits with 130 is taken to have
/// handled Ctrl-C itself. aws-credfile exited 130 for a program Ctrl-C
/// killed, and for a Ctrl-C before the program started, so a Ctrl-C'd
/// `for` loop of `aws-credfile -- job` went on to the next job. Now it ends
/// as SIGINT ends it, in both cases; a program's own `exit 130` stays an
/// exit.
#[test]
fn ctrl_c_ends_aws_credfile_as_it_ends_any_command() {
    use std::os::unix::process::ExitStatusExt;
    let h = harness("sup-sigint", HOUR);
    let ended = |script: &str| {
        let mut d = sh(&h, &[], script).spawn();
        let status = d.wait_exit(EXITS).expect("aws-credfile ends");
        (status.code(), status.signal())
    };
    assert_eq!(ended("kill -INT $$"), (None, Some(libc::SIGINT)));
    assert_eq!(ended("exit 130"), (Some(130), None));
    assert_eq!(ended("kill -TERM $$"), (Some(143), None));

    let h = Harness::new("sup-sigint-early", |_, _| {
        Answer::issue(HOUR).after(Duration::from_millis(1500))
    });
    let mut d = sh(&h, &[], ": > started").spawn();
    assert!(h.sts.wait_for_requests(1, STARTED), "no first fetch");
    d.signal(libc::SIGINT);
    let status = d.wait_exit(EXITS).expect("aws-credfile ends");
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
    assert!(!h.scratch.join("started").exists(), "the program ran");
}

/// Signals ignored when aws-credfile started (`nohup`, a job a
/// script starts with `&`) were caught and forwarded anyway, and the
/// program started with them back at their default action: `nohup
/// aws-credfile -- app` died of a SIGHUP. Now they stay ignored, in
/// aws-credfile (no stop, nothing forwarded; SIGHUP still refreshes) and in
/// the program, exactly as without aws-credfile in between.
#[test]
fn signals_ignored_at_start_stay_ignored() {
    let h = harness("sup-ignored", HOUR);
    let program =
        "grep SigIgn /proc/self/status > sigign; : > started; while :; do sleep 0.1; done";
    let mut d = sh(&h, &[], program)
        .wrapped(&["sh", "-c", r#"trap '' HUP INT QUIT; exec "$0" "$@""#])
        .spawn();
    wait_for_file(&h, &mut d, "started");
    let line = fs::read_to_string(h.scratch.join("sigign")).expect("the program's SigIgn");
    let mask = line
        .split_whitespace()
        .last()
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .unwrap_or_else(|| panic!("no mask in {line:?}"));
    let bit = |sig: libc::c_int| 1u64 << (sig - 1);
    for sig in [libc::SIGHUP, libc::SIGINT, libc::SIGQUIT] {
        assert_ne!(
            mask & bit(sig),
            0,
            "signal {sig} not ignored in the program: {line}"
        );
    }
    assert_eq!(mask & bit(libc::SIGTERM), 0, "SIGTERM ignored too: {line}");

    let requests = h.sts.request_count();
    for sig in [libc::SIGHUP, libc::SIGINT, libc::SIGQUIT] {
        d.signal(sig);
    }
    assert!(
        h.sts.wait_for_requests(requests + 1, STARTED),
        "SIGHUP no longer refreshes\n{}",
        d.snapshot().describe()
    );
    thread::sleep(Duration::from_millis(300));
    d.assert_running();
    // SIGTERM was not ignored: it reaches the program, as ever.
    d.signal(libc::SIGTERM);
    assert_eq!(wait_exit(&mut d), Some(143), "{}", d.snapshot().describe());
}

/// A program name or argument that was not UTF-8 was refused
/// (exit 2), though Linux names are bytes and the program's arguments are
/// promised untouched. Now only aws-credfile's own flags must be UTF-8.
#[test]
fn the_programs_name_and_arguments_may_be_any_bytes() {
    use std::ffi::OsString;
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let h = harness("sup-bytes", HOUR);
    let name = OsString::from_vec(b"./run\xe9".to_vec());
    let script = h.scratch.join(std::ffi::OsStr::from_bytes(b"run\xe9"));
    fs::write(&script, "#!/bin/sh\nprintf %s \"$1\" > got\n").expect("write the script");
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
    let arg = OsString::from_vec(b"caf\xe9 \xff".to_vec());
    let out = h
        .cmd(&["--"])
        .arg(name)
        .arg(arg.clone())
        .env("PATH", PATH)
        .run();
    out.assert_code(0);
    let got = fs::read(h.scratch.join("got")).expect("the program's record");
    assert_eq!(got, arg.as_bytes(), "the argument was changed");
}
