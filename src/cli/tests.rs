//! Unit tests of `cli`.

use super::*;

fn args(list: &[&str]) -> Result<Args, Error> {
    parse(&list.iter().map(OsString::from).collect::<Vec<_>>())
}

#[test]
fn parses_flags() {
    let a = args(&["--once", "--file", "/x", "--profile=p", "--duration", "15m"]).unwrap();
    assert!(a.once && !a.check);
    assert_eq!(a.file.as_deref(), Some("/x"));
    assert_eq!(a.profile.as_deref(), Some("p"));
    assert_eq!(a.duration.as_deref(), Some("15m"));
}

#[test]
fn rejects_unknown_and_free_arguments() {
    assert_eq!(args(&["--nope"]).unwrap_err().exit_code(), 2);
    assert_eq!(args(&["stray"]).unwrap_err().exit_code(), 2);
    assert_eq!(args(&["--file"]).unwrap_err().exit_code(), 2);
}

/// A flag missing its value took the next flag as it (`--file --once` ran
/// a daemon writing ./--once, round 32): no value may start with `--`.
#[test]
fn a_flag_is_never_another_flags_value() {
    for list in [
        &["--file", "--once"][..],
        &["--profile", "--check"],
        &["--serve-token-file=--x"],
        &["--role-arn", "--file", "f"],
        &["--file", "-h"],
    ] {
        let err = args(list).expect_err("refused").to_string();
        assert!(err.contains(", a flag, as its value"), "{list:?}: {err}");
        assert!(
            err.starts_with(list[0].split('=').next().unwrap_or_default()),
            "{err}"
        );
    }
    // Every flag that takes a value (`--name VALUE` in the usage) is checked.
    let usage = options().usage("");
    for word in usage.split_whitespace().collect::<Vec<_>>().windows(2) {
        if let (Some(name), true) = (
            word[0].strip_prefix("--"),
            word[1]
                .chars()
                .all(|c| c.is_ascii_uppercase() || ":[]".contains(c)),
        ) {
            assert!(
                VALUE_FLAGS.contains(&name),
                "--{name} is missing from VALUE_FLAGS"
            );
        }
    }
    for flag in VALUE_FLAGS {
        let err = args(&[&format!("--{flag}"), "--once"])
            .expect_err(flag)
            .to_string();
        assert!(err.starts_with(&format!("--{flag} took")), "{err}");
    }
    assert!(args(&["--file", "-", "--once"]).is_ok());
}
