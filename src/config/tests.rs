//! Unit tests of configuration: defaults, precedence, and every bad flag
//! or variable naming itself in a one-line error with exit code 2.
use super::*;
use std::collections::HashMap;

/// The refresh a configuration plans; fails the test for a check.
fn refresh(c: Config) -> Refresh {
    match c.plan {
        Plan::Refresh(r) => *r,
        other => panic!("not a refresh: {other:?}"),
    }
}

fn build_with(argv: &[&str], vars: &[(&str, &str)]) -> Result<Config, Error> {
    let args = crate::cli::parse(
        &argv
            .iter()
            .map(std::ffi::OsString::from)
            .collect::<Vec<_>>(),
    )?;
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    build(&args, &|name| map.get(name).cloned())
}

const POD_IDENTITY: [(&str, &str); 2] = [
    ("HOME", "/h"),
    (
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "http://169.254.170.23/v1/credentials",
    ),
];

const IRSA: [(&str, &str); 4] = [
    ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/app"),
    (
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
    ),
    ("AWS_REGION", "eu-west-1"),
    ("HOME", "/home/app"),
];

#[test]
fn irsa_defaults() {
    let r = refresh(build_with(&[], &IRSA).unwrap());
    assert_eq!(r.run, Run::Daemon);
    let sink = r.sink.unwrap();
    assert_eq!(sink.path, PathBuf::from("/home/app/.aws/credentials"));
    assert_eq!(sink.profile, "default");
    assert_eq!(sink.mode, None, "the file's own, or 0600 for a new one");
    let Source::WebIdentity(w) = r.source else {
        panic!("not web identity")
    };
    assert_eq!(w.session_name, "aws-credfile");
    assert_eq!(w.sts.url, "https://sts.eu-west-1.amazonaws.com");
    assert_eq!(w.duration, None);
}

#[test]
fn file_precedence() {
    let mut vars = IRSA.to_vec();
    vars.push(("AWS_SHARED_CREDENTIALS_FILE", "~/creds"));
    assert_eq!(
        refresh(build_with(&[], &vars).unwrap()).sink.unwrap().path,
        PathBuf::from("/home/app/creds")
    );
    assert_eq!(
        refresh(build_with(&["--file", "/x/y"], &vars).unwrap())
            .sink
            .unwrap()
            .path,
        PathBuf::from("/x/y")
    );
    // A relative path is made absolute once, at start (see
    // `credentials_file::path`).
    let cwd = std::env::current_dir().expect("a working directory");
    assert_eq!(
        refresh(build_with(&["--file", "c/credentials"], &vars).unwrap())
            .sink
            .unwrap()
            .path,
        cwd.join("c/credentials")
    );
}

#[test]
fn endpoint_override_precedence() {
    let mut vars = IRSA.to_vec();
    vars.push(("AWS_ENDPOINT_URL", "http://127.0.0.1:1"));
    let sts = |c: Config| match refresh(c).source {
        Source::WebIdentity(w) => w.sts.url,
        other => panic!("{other:?}"),
    };
    assert_eq!(sts(build_with(&[], &vars).unwrap()), "http://127.0.0.1:1");
    vars.push(("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:2"));
    assert_eq!(sts(build_with(&[], &vars).unwrap()), "http://127.0.0.1:2");
    assert_eq!(
        sts(build_with(&["--sts-endpoint", "http://127.0.0.1:3"], &vars).unwrap()),
        "http://127.0.0.1:3"
    );
    // As the SDKs do: the variables are ignored, the flag is not. They
    // were used, and a pod-wide AWS_ENDPOINT_URL got the identity token.
    vars.push(("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"));
    assert_eq!(
        sts(build_with(&[], &vars).unwrap()),
        "https://sts.eu-west-1.amazonaws.com"
    );
    assert_eq!(
        sts(build_with(&["--sts-endpoint", "http://127.0.0.1:3"], &vars).unwrap()),
        "http://127.0.0.1:3"
    );
    vars.pop();
    vars.push(("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "maybe"));
    let err = build_with(&[], &vars).unwrap_err().to_string();
    assert!(
        err.starts_with("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"),
        "{err}"
    );
}

#[test]
fn check_needs_no_identity() {
    let c = build_with(&["--check", "--min-valid", "10m"], &[("HOME", "/h")]).unwrap();
    assert_eq!(
        c.plan,
        Plan::Check {
            file: FileSink::new("/h/.aws/credentials", "default"),
            min_valid: Duration::from_secs(600)
        }
    );
}

#[test]
fn configuration_errors_exit_2_and_name_the_culprit() {
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (vec![], vec![("HOME", "/h")], "AWS_ROLE_ARN"),
        (
            vec![],
            vec![("HOME", "/h"), ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t")],
            "AWS_ROLE_ARN",
        ),
        (
            vec![],
            vec![
                ("HOME", "/h"),
                ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/x"),
            ],
            "AWS_WEB_IDENTITY_TOKEN_FILE",
        ),
        (vec!["--duration", "5x"], IRSA.to_vec(), "--duration"),
        // One port cannot be both listeners' (round 32).
        (
            vec!["--serve", "127.0.0.1:9911", "--metrics", "9911"],
            IRSA.to_vec(),
            "--metrics",
        ),
        (
            vec!["--serve", "[::1]:9911", "--metrics", "0.0.0.0:9911"],
            IRSA.to_vec(),
            "--metrics",
        ),
        (vec!["--duration", "60"], IRSA.to_vec(), "--duration"),
        (vec!["--once", "--check"], IRSA.to_vec(), "--check"),
        (
            vec!["--check", "--credential-process"],
            IRSA.to_vec(),
            "--check",
        ),
        (vec!["--once", "--print", "env"], IRSA.to_vec(), "--once"),
        (vec!["--profile", "a]b"], IRSA.to_vec(), "--profile"),
        (vec!["--profile", "a\nb"], IRSA.to_vec(), "--profile"),
        (vec!["--mode", "0644x"], IRSA.to_vec(), "--mode"),
        (vec!["--mode", "0400"], IRSA.to_vec(), "--mode"),
        (vec!["--mode", "0666"], IRSA.to_vec(), "--mode"),
        (vec!["--mode", "0620"], IRSA.to_vec(), "--mode"),
        (vec!["--mode", "0700"], IRSA.to_vec(), "--mode"),
        (vec!["--owner", "app"], IRSA.to_vec(), "--owner"),
        (vec!["--owner", "+1000"], IRSA.to_vec(), "--owner"),
        (vec!["--owner", "1000:+5"], IRSA.to_vec(), "--owner"),
        (vec!["--mode", "+0600"], IRSA.to_vec(), "--mode"),
        (vec!["--mode", "+644"], IRSA.to_vec(), "--mode"),
        (vec!["--log-format", "xml"], IRSA.to_vec(), "--log-format"),
        (
            vec!["--session-name", "a b"],
            IRSA.to_vec(),
            "--session-name",
        ),
        (vec!["--sts-endpoint", "ftp://x"], IRSA.to_vec(), "ftp://x"),
        // Nothing to apply them to: refused, not silently ignored.
        (
            vec!["--credential-process", "--mode", "0600"],
            IRSA.to_vec(),
            "--mode",
        ),
        (
            vec!["--print", "env", "--profile", "p"],
            IRSA.to_vec(),
            "--profile",
        ),
        (
            vec!["--serve", "127.0.0.1:0", "--owner", "1"],
            IRSA.to_vec(),
            "--owner",
        ),
        (
            vec!["--once", "--min-valid", "5m"],
            IRSA.to_vec(),
            "--min-valid",
        ),
        (
            vec!["--duration", "1h1h"],
            POD_IDENTITY.to_vec(),
            "--duration",
        ),
        (
            vec!["--duration", "1h"],
            POD_IDENTITY.to_vec(),
            "--duration",
        ),
        (
            vec!["--session-name", "a b"],
            POD_IDENTITY.to_vec(),
            "--session-name",
        ),
        (
            vec!["--sts-endpoint", "ftp://x"],
            POD_IDENTITY.to_vec(),
            "--sts-endpoint",
        ),
        (
            vec![],
            [IRSA.to_vec(), vec![("AWS_ROLE_ARN", "not-an-arn")]].concat(),
            "AWS_ROLE_ARN",
        ),
        (
            vec![],
            [IRSA.to_vec(), vec![("AWS_REGION", "EU WEST")]].concat(),
            "AWS_REGION",
        ),
        (
            vec![],
            vec![
                ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/x"),
                ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t"),
            ],
            "HOME",
        ),
    ];
    for (argv, vars, culprit) in cases {
        let err = build_with(&argv, &vars).expect_err(culprit);
        assert_eq!(err.exit_code(), 2, "{err}");
        let shown = err.to_string();
        assert!(shown.contains(culprit), "{shown:?} should name {culprit}");
        assert!(!shown.contains('\n'), "{shown:?}");
    }
}
