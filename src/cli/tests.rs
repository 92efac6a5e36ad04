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
