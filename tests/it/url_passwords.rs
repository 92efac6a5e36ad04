//! A password inside a URL setting is never echoed: not in a configuration
//! error, not in a runtime error, not in any log line, in either log format.
//! Proxy URLs legitimately carry one (`http://user:password@proxy:3128`), and
//! a person may paste one into any URL setting by mistake.

use std::time::Duration;

use crate::harness::{Answer, Harness, HOUR};

/// One setting with a password in it, and what the run must still name.
struct Row {
    name: &'static str,
    args: Vec<&'static str>,
    env: Vec<(&'static str, &'static str)>,
    /// Variables of the harness's environment to remove.
    unset: Vec<&'static str>,
    /// Exit code expected.
    code: i32,
    /// The setting the one-line error must name.
    culprit: &'static str,
    password: &'static str,
}

fn rows() -> Vec<Row> {
    vec![
        Row {
            name: "proxy that cannot be reached",
            // https to a name only the proxy could resolve: the request goes
            // to the proxy, which is not there.
            args: vec![
                "--sts-endpoint",
                "https://sts.example.invalid",
                "--once-timeout",
                "2s",
            ],
            env: vec![("HTTPS_PROXY", "http://proxyuser:Pr0xyPassw0rdA@127.0.0.1:9")],
            unset: vec![],
            code: 1,
            // The proxy is named, redacted (a refused
            // proxy read as STS refusing).
            culprit: "(through the proxy http://***@127.0.0.1:9; check HTTPS_PROXY",
            password: "Pr0xyPassw0rdA",
        },
        Row {
            name: "lowercase proxy that is not a URL",
            // Only https goes through the proxy; this makes it needed.
            args: vec!["--sts-endpoint", "https://sts.example.invalid"],
            env: vec![("https_proxy", "http://proxyuser:Pr0xyPassw0rdB@[not-a-host")],
            unset: vec![],
            code: 2,
            // Named as it was set (it was called HTTPS_PROXY).
            culprit: "https_proxy",
            password: "Pr0xyPassw0rdB",
        },
        Row {
            name: "proxy whose port is not a port",
            // Ureq took `:3128x` (and `:99999`, `:-1`) for port 80,
            // and the run failed at its first connection, exit 1.
            args: vec!["--sts-endpoint", "https://sts.example.invalid"],
            env: vec![(
                "HTTPS_PROXY",
                "http://proxyuser:Pr0xyPassw0rdG@127.0.0.1:3128x",
            )],
            unset: vec![],
            code: 2,
            culprit: "HTTPS_PROXY",
            password: "Pr0xyPassw0rdG",
        },
        Row {
            name: "STS override from the service variable",
            args: vec![],
            env: vec![(
                "AWS_ENDPOINT_URL_STS",
                "http://stsuser:StsPassw0rdC@127.0.0.1:9",
            )],
            unset: vec![],
            code: 2,
            culprit: "AWS_ENDPOINT_URL_STS",
            password: "StsPassw0rdC",
        },
        Row {
            name: "STS override from the general variable",
            args: vec![],
            env: vec![(
                "AWS_ENDPOINT_URL",
                "https://u:GeneralPassw0rdD@sts.example.com/",
            )],
            unset: vec!["AWS_ENDPOINT_URL_STS"],
            code: 2,
            culprit: "AWS_ENDPOINT_URL",
            password: "GeneralPassw0rdD",
        },
        Row {
            name: "STS override flag",
            args: vec![
                "--sts-endpoint",
                "http://flaguser:FlagPassw0rdE@127.0.0.1:9",
            ],
            env: vec![],
            unset: vec![],
            code: 2,
            culprit: "--sts-endpoint",
            password: "FlagPassw0rdE",
        },
        Row {
            name: "container endpoint",
            args: vec!["--source", "container"],
            env: vec![(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://agent:AgentPassw0rdF@127.0.0.1:9/v1/credentials",
            )],
            unset: vec![],
            code: 2,
            culprit: "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            password: "AgentPassw0rdF",
        },
        // A password holding a character it should have encoded
        // (`/`, a space, a quote, `#`, `?`) was echoed whole: the redaction
        // took the first of them for the end of the user info.
        Row {
            name: "proxy password with a slash",
            args: vec!["--sts-endpoint", "https://sts.example.invalid"],
            env: vec![(
                "HTTPS_PROXY",
                "http://user:SlashHeadH/SlashTailH@127.0.0.1:3128",
            )],
            unset: vec![],
            code: 2,
            culprit: "HTTPS_PROXY",
            password: "SlashHeadH/SlashTailH",
        },
        Row {
            name: "proxy password with a space",
            args: vec!["--sts-endpoint", "https://sts.example.invalid"],
            env: vec![(
                "https_proxy",
                "http://user:SpaceHeadI SpaceTailI@127.0.0.1:3128",
            )],
            unset: vec![],
            code: 2,
            culprit: "https_proxy",
            password: "SpaceHeadI SpaceTailI",
        },
        Row {
            name: "STS override password with a quote",
            args: vec![],
            env: vec![(
                "AWS_ENDPOINT_URL_STS",
                "https://user:QuoteHeadJ\"QuoteTailJ@sts.example.com/",
            )],
            unset: vec![],
            code: 2,
            culprit: "AWS_ENDPOINT_URL_STS",
            password: "QuoteHeadJ\"QuoteTailJ",
        },
        Row {
            name: "container endpoint password with a hash",
            args: vec!["--source", "container"],
            env: vec![(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://agent:HashHeadK#HashTailK@127.0.0.1:8443/v1/credentials",
            )],
            unset: vec![],
            code: 2,
            culprit: "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            password: "HashHeadK#HashTailK",
        },
        Row {
            name: "STS override flag password with a slash and a question mark",
            args: vec![
                "--sts-endpoint",
                "https://u:FlagHeadL/?FlagTailL@sts.example.com/",
            ],
            env: vec![],
            unset: vec![],
            code: 2,
            culprit: "--sts-endpoint",
            password: "FlagHeadL/?FlagTailL",
        },
        // A `://` inside the password was taken for the end of
        // a scheme, and the "scheme" before it was quoted.
        Row {
            name: "container endpoint password holding ://, no scheme",
            args: vec!["--source", "container"],
            env: vec![(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "agent:SchemeHeadM://SchemeTailM@127.0.0.1:9/v1/credentials",
            )],
            unset: vec![],
            code: 2,
            culprit: "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            password: "SchemeHeadM://SchemeTailM",
        },
        // A token in an endpoint's query was echoed by
        // configuration errors (runtime messages had stopped showing it).
        Row {
            name: "container endpoint token in the query",
            args: vec!["--source", "container"],
            env: vec![(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://10.0.0.1/v1/credentials?token=QueryTokenN0123",
            )],
            unset: vec![],
            code: 2,
            culprit: "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            password: "QueryTokenN0123",
        },
        Row {
            name: "relative container endpoint token in the query",
            args: vec!["--source", "container"],
            env: vec![(
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "v2/credentials?token=QueryTokenO0123",
            )],
            unset: vec![],
            code: 2,
            culprit: "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            password: "QueryTokenO0123",
        },
        Row {
            name: "STS override with a key in the query",
            args: vec![],
            env: vec![(
                "AWS_ENDPOINT_URL_STS",
                "https://sts.example.com/?apikey=QueryKeyP0123",
            )],
            unset: vec![],
            code: 2,
            culprit: "STS endpoint override",
            password: "QueryKeyP0123",
        },
    ]
}

/// The password and each distinctive piece of it, split where it holds a
/// character other than a letter or digit.
fn pieces(password: &str) -> impl Iterator<Item = &str> {
    std::iter::once(password).chain(
        password
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|p| p.len() >= 6),
    )
}

#[test]
fn passwords_in_urls_are_never_echoed() {
    let h = Harness::new("url-passwords", |_, _| Answer::issue(HOUR));
    for row in rows() {
        for format in ["text", "json"] {
            let mut args = vec!["--once", "--log-level", "debug", "--log-format", format];
            args.extend(&row.args);
            let mut cmd = h.cmd(&args).timeout(Duration::from_secs(30));
            for (k, v) in &row.env {
                cmd = cmd.env(k, *v);
            }
            for k in &row.unset {
                cmd = cmd.env_remove(k);
            }
            let out = cmd.run();
            let shown = format!("{}\n{}", out.stdout, out.stderr);
            assert_eq!(
                out.code(),
                Some(row.code),
                "{}: {}",
                row.name,
                out.describe()
            );
            for piece in pieces(row.password) {
                assert!(
                    !shown.contains(piece),
                    "{} ({format}): the password ({piece:?}) reached the output:\n{shown}",
                    row.name
                );
            }
            let last = out.stderr.lines().last().unwrap_or_default();
            assert!(
                last.contains(row.culprit),
                "{} ({format}): the error should name {}: {last}",
                row.name,
                row.culprit
            );
            if row.code == 2 {
                assert_eq!(
                    h.sts.request_count(),
                    0,
                    "{}: a config error must come before any request",
                    row.name
                );
            }
        }
    }
}
