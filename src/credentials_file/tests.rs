//! Unit tests of the credentials file: rendering, merging, writing and
//! checking, with a fixed clock and scratch directories of their own.

use super::lock::LOCK_MODE;
use super::*;
use crate::credentials::Secret;
use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::sync::atomic::{AtomicUsize, Ordering};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY";
const TOKEN: &str = "FwoGZXIvYXdzEBYaDEXAMPLETOKEN+/=";

/// 2024-01-01T00:00:00Z, the fixed "now" of these tests.
fn now() -> Timestamp {
    Timestamp::from_unix(1_704_067_200)
}

fn creds(token: Option<&str>) -> Credentials {
    Credentials {
        access_key_id: "ASIAEXAMPLE".into(),
        secret_access_key: Secret::new(SECRET),
        session_token: token.map(Secret::new),
        expiration: now().plus(Duration::from_secs(3600)),
        account_id: None,
        role_arn: None,
    }
}

fn creds_expiring(secs: u64) -> Credentials {
    Credentials {
        expiration: now().plus(Duration::from_secs(secs)),
        ..creds(Some(TOKEN))
    }
}

fn section(profile: &str) -> String {
    render_section(profile, &creds(Some(TOKEN)), now())
}

/// A scratch directory removed when the test ends (no tempfile crate).
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "aws-credfile-test-{}-{name}-{n}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("the system temp directory is writable");
        TempDir(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn mode_of(path: &Path) -> u32 {
    fs::symlink_metadata(path)
        .expect("path exists")
        .permissions()
        .mode()
        & 0o777
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).expect("file is readable")
}

/// Names in a directory, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

const LOCK: &str = ".credentials.aws-credfile.lock";

/// This process's temporary file name for `credentials`.
fn our_temp() -> String {
    format!(".credentials.aws-credfile.{}.tmp", std::process::id())
}

// ---- render ----

#[test]
fn renders_exactly() {
    assert_eq!(
        section("default"),
        "[default]\n\
         # aws-credfile: expires 2024-01-01T01:00:00Z, refreshed 2024-01-01T00:00:00Z; edits to this section are overwritten\n\
         aws_access_key_id = ASIAEXAMPLE\n\
         aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY\n\
         aws_session_token = FwoGZXIvYXdzEBYaDEXAMPLETOKEN+/=\n"
    );
}

#[test]
fn renders_without_token_when_absent_or_empty() {
    let expected = "[app]\n\
         # aws-credfile: expires 2024-01-01T01:00:00Z, refreshed 2024-01-01T00:00:00Z; edits to this section are overwritten\n\
         aws_access_key_id = ASIAEXAMPLE\n\
         aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY\n";
    assert_eq!(render_section("app", &creds(None), now()), expected);
    assert_eq!(render_section("app", &creds(Some("")), now()), expected);
}

#[test]
fn rendered_marker_parses_back() {
    let text = section("default");
    let marker = text.lines().nth(1).expect("marker line");
    assert_eq!(classify(marker), Line::Marker);
    assert_eq!(
        parse_marker(marker),
        Some(now().plus(Duration::from_secs(3600)))
    );
}

// ---- merge ----

const OTHER: &str = "[other]\naws_access_key_id = OTHER\naws_secret_access_key = othersecret\n";

#[test]
fn merge_into_empty_file() {
    assert_eq!(
        merge("", "default", &section("default")),
        section("default")
    );
}

#[test]
fn merge_appends_when_absent() {
    let out = merge(OTHER, "default", &section("default"));
    assert_eq!(out, format!("{OTHER}\n{}", section("default")));
    // A trailing blank line already separates: no second one.
    let out = merge(&format!("{OTHER}\n"), "default", &section("default"));
    assert_eq!(out, format!("{OTHER}\n{}", section("default")));
}

#[test]
fn merge_profile_first() {
    let existing =
        format!("[default]\naws_access_key_id = OLD\naws_secret_access_key = old\n\n{OTHER}");
    let out = merge(&existing, "default", &section("default"));
    assert_eq!(out, format!("{}\n{OTHER}", section("default")));
}

#[test]
fn merge_profile_middle() {
    let existing = format!(
        "# my credentials\n{OTHER}\n[default]\naws_access_key_id = OLD\naws_secret_access_key = old\naws_session_token = oldtoken\n\n[third]\nregion = x\n"
    );
    let out = merge(&existing, "default", &section("default"));
    assert_eq!(
        out,
        format!(
            "# my credentials\n{OTHER}\n{}\n[third]\nregion = x\n",
            section("default")
        )
    );
}

#[test]
fn merge_profile_last() {
    let existing = format!("{OTHER}\n[default]\naws_access_key_id = OLD\n");
    let out = merge(&existing, "default", &section("default"));
    assert_eq!(out, format!("{OTHER}\n{}", section("default")));
}

#[test]
fn merge_comments() {
    let existing = "; top of file\n\
                    [default]\n\
                    # stale note inside our section\n\
                    aws_access_key_id = OLD\n\
                    # between keys\n\
                    aws_secret_access_key = old\n\
                    \n\
                    # this comment introduces [other]\n\
                    [other]\n\
                    # other's own comment\n\
                    aws_access_key_id = OTHER\n";
    let out = merge(existing, "default", &section("default"));
    assert_eq!(
        out,
        format!(
            "; top of file\n{}\n# this comment introduces [other]\n[other]\n# other's own comment\naws_access_key_id = OTHER\n",
            section("default")
        )
    );
}

#[test]
fn merge_drops_old_marker_even_at_section_end() {
    // A section left with only our marker (keys deleted by hand): the
    // marker is ours, not a comment for the next section.
    let existing = "[default]\n# aws-credfile: expires 2020-01-01T00:00:00Z\n\n[other]\n";
    let out = merge(existing, "default", &section("default"));
    assert_eq!(out, format!("{}\n[other]\n", section("default")));
    assert_eq!(out.matches(MARKER).count(), 1);
}

#[test]
fn merge_keeps_crlf_and_writes_crlf_section() {
    let existing = "[other]\r\naws_access_key_id = OTHER\r\n\r\n[default]\r\naws_access_key_id = OLD\r\n\r\n[third]\r\nx = y\r\n";
    let out = merge(existing, "default", &section("default"));
    let ours = section("default").replace('\n', "\r\n");
    assert_eq!(
        out,
        format!("[other]\r\naws_access_key_id = OTHER\r\n\r\n{ours}\r\n[third]\r\nx = y\r\n")
    );
    // Mixed endings elsewhere are kept as they are.
    let mixed = "[other]\nx = 1\r\ny = 2\n";
    let out = merge(mixed, "default", &section("default"));
    assert_eq!(out, format!("{mixed}\n{}", section("default")));
}

#[test]
fn merge_without_trailing_newline() {
    let out = merge("[other]\nx = 1", "default", &section("default"));
    assert_eq!(out, format!("[other]\nx = 1\n\n{}", section("default")));
    let out = merge("[other]\r\nx = 1", "default", &section("default"));
    assert!(
        out.starts_with("[other]\r\nx = 1\r\n\r\n[default]\r\n"),
        "{out:?}"
    );
    let out = merge(
        "[default]\naws_access_key_id = OLD",
        "default",
        &section("default"),
    );
    assert_eq!(out, section("default"));
    let out = merge(
        "[default]\nx = 1\n# trailing",
        "default",
        &section("default"),
    );
    assert_eq!(out, format!("{}# trailing\n", section("default")));
    let out = merge(
        "[default]\nx = 1\n\n[other]\nx = 2",
        "default",
        &section("default"),
    );
    assert_eq!(out, format!("{}\n[other]\nx = 2\n", section("default")));
}

#[test]
fn merge_duplicates_replaces_first_drops_rest() {
    let existing = "[default]\naws_access_key_id = ONE\n\n[other]\nx = 1\n\n# about the duplicate\n[default]\naws_access_key_id = TWO\n\n[ default ]\naws_access_key_id = THREE\n";
    let out = merge(existing, "default", &section("default"));
    assert_eq!(
        out,
        format!(
            "{}\n[other]\nx = 1\n\n# about the duplicate\n\n",
            section("default")
        )
    );
    assert!(!out.contains("TWO") && !out.contains("THREE"), "{out}");
}

#[test]
fn merge_header_whitespace_and_exact_names() {
    let existing = "\u{feff}  [ default ]  \r\naws_access_key_id = OLD\r\n";
    let out = merge(existing, "default", &section("default"));
    assert_eq!(out, section("default").replace('\n', "\r\n"));
    // Not ours: other names, another case, the config-file prefix, and a
    // header without its bracket.
    for header in ["[profile default]", "[Default]", "[default-2]", "[default"] {
        let existing = format!("{header}\nkeep = me\n");
        let out = merge(&existing, "default", &section("default"));
        assert_eq!(
            out,
            format!("{existing}\n{}", section("default")),
            "{header}"
        );
    }
    // A tab and trailing junk after the bracket still name the section.
    let out = merge(
        "\t[default] ; note\nx = 1\n",
        "default",
        &section("default"),
    );
    assert_eq!(out, section("default"));
}

#[test]
fn merge_is_idempotent() {
    let inputs = [
        "",
        OTHER,
        "# c\n[default]\nx = 1\n# tail\n\n[other]\ny = 2",
        "[a]\r\nx = 1\r\n[default]\r\n\r\n",
        "[default]\n[default]\n[default]",
    ];
    for input in inputs {
        let once = merge(input, "default", &section("default"));
        let twice = merge(&once, "default", &section("default"));
        assert_eq!(once, twice, "{input:?}");
    }
}

#[test]
fn merge_never_panics_on_odd_input() {
    let odd = [
        "",
        "\n",
        "\r",
        "\r\n",
        "[",
        "]",
        "[]",
        "[[default]]",
        "[\u{e9}]\n",
        "\u{feff}",
        "\0",
        "a\rb\rc",
        "[default]\r",
        "= =\n[default] = x",
        "\u{1F600}[default]\u{1F600}",
    ];
    for existing in odd {
        for profile in ["default", "", "]", "[", "a]b", "\n", "\u{e9}"] {
            for section in ["", "x", "[p]\nk = v", "\r\n"] {
                let out = merge(existing, profile, section);
                assert!(out.ends_with('\n'), "{existing:?} {profile:?} {section:?}");
            }
        }
    }
}

/// A small deterministic xorshift generator, enough to vary test input.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Lines "not ours": by a simple independent reading, everything outside
/// a section headed `[profile]`. Compared without their line endings,
/// since the last line may gain one.
fn outside_lines<'a>(text: &'a str, profile: &str) -> Vec<&'a str> {
    let mut inside = false;
    let mut kept = Vec::new();
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if t.starts_with('[') {
            inside = t
                .strip_prefix('[')
                .and_then(|r| r.split_once(']'))
                .map(|(n, _)| n.trim())
                == Some(profile);
        }
        if !inside {
            kept.push(line.trim_end_matches('\n').trim_end_matches('\r'));
        }
    }
    kept
}

/// Only the headers and `key = value` lines.
fn entries<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    lines
        .iter()
        .copied()
        .filter(|l| matches!(classify(l), Line::Header(_) | Line::Entry))
        .collect()
}

#[test]
fn merge_preserves_every_other_line_for_generated_files() {
    const PIECES: &[&str] = &[
        "[default]",
        " [ default ] ",
        "[other]",
        "[profile default]",
        "[default",
        "[]",
        "aws_access_key_id = A",
        "aws_secret_access_key = B",
        "region=eu-west-1",
        "# comment",
        "; comment",
        "# aws-credfile: expires 2020-01-01T00:00:00Z",
        "",
        "   ",
        "garbage without equals",
        "\u{e9}\u{1F600} = \u{feff}",
    ];
    const ENDINGS: &[&str] = &["\n", "\r\n", "\n", "\n"];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let new_section = section("default");
    for round in 0..3000 {
        let mut existing = String::new();
        for _ in 0..rng.below(14) {
            existing.push_str(PIECES[rng.below(PIECES.len())]);
            existing.push_str(ENDINGS[rng.below(ENDINGS.len())]);
        }
        if rng.below(3) == 0 {
            // Drop the final line ending.
            let trimmed = existing.trim_end_matches(['\r', '\n']).len();
            existing.truncate(trimmed);
        }
        let out = merge(&existing, "default", &new_section);

        // Headers and entries outside our section: exactly the same.
        let before = outside_lines(&existing, "default");
        let after = outside_lines(&out, "default");
        assert_eq!(
            entries(&before),
            entries(&after),
            "round {round}: {existing:?} -> {out:?}"
        );
        // Comments and blank lines too, in order, though the trailing
        // comments of a dropped duplicate now follow the section before.
        let mut out_lines = out.lines();
        for line in &before {
            assert!(
                out_lines.any(|l| l.trim_end_matches('\r') == *line),
                "round {round}: lost {line:?}: {existing:?} -> {out:?}"
            );
        }

        assert!(out.ends_with('\n'), "round {round}: {out:?}");
        let kept_markers = before.iter().filter(|l| l.contains(MARKER)).count();
        assert_eq!(
            out.matches(MARKER).count(),
            kept_markers + 1,
            "round {round}: {out:?}"
        );
        let found = inspect(&out, "default");
        assert_eq!(found.sections, 1, "round {round}: {out:?}");
        assert!(found.access_key_id && found.secret_access_key);
        assert_eq!(found.expires, Some(now().plus(Duration::from_secs(3600))));
        assert_eq!(
            merge(&out, "default", &new_section),
            out,
            "round {round}: not idempotent"
        );
    }
}

// ---- write ----

#[test]
fn write_creates_missing_directory_and_file() {
    let tmp = TempDir::new("create");
    let path = tmp.join("home/.aws/credentials");
    FileSink::new(&path, "default")
        .write(&creds(Some(TOKEN)), now(), now())
        .expect("write succeeds");
    assert_eq!(read(&path), section("default"));
    assert_eq!(mode_of(&path), 0o600);
    assert_eq!(mode_of(&tmp.join("home/.aws")), 0o700);
    assert_eq!(mode_of(&tmp.join("home")), 0o700);
    assert_eq!(names(&tmp.join("home/.aws")), [LOCK, "credentials"]);
    assert_eq!(mode_of(&tmp.join("home/.aws").join(LOCK)), 0o200);
}

#[test]
fn write_with_owner_creates_traversable_directories() {
    let tmp = TempDir::new("ownerdirs");
    fs::set_permissions(&tmp.0, fs::Permissions::from_mode(0o750)).expect("chmod");
    let me = fs::metadata(&tmp.0).expect("dir exists");
    let sink = FileSink {
        owner: Some(Owner {
            uid: me.uid(),
            gid: None,
        }),
        ..FileSink::new(tmp.join("a/b/credentials"), "default")
    };
    sink.write(&creds(None), now(), now())
        .expect("write succeeds");
    assert_eq!(mode_of(&tmp.join("a")), 0o711);
    assert_eq!(mode_of(&tmp.join("a/b")), 0o711);
    assert_eq!(
        mode_of(&tmp.0),
        0o750,
        "an existing directory is not changed"
    );
}

#[test]
fn write_keeps_other_profiles_and_sets_mode() {
    let tmp = TempDir::new("keep");
    let path = tmp.join("credentials");
    let existing = format!(
        "# hand-written\n# with a CRLF line\r\n{OTHER}\n[default]\naws_access_key_id = OLD\n"
    );
    fs::write(&path, &existing).expect("seed file");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
    let sink = FileSink {
        mode: Some(0o640),
        ..FileSink::new(&path, "default")
    };
    sink.write(&creds(Some(TOKEN)), now(), now())
        .expect("write succeeds");
    assert_eq!(
        read(&path),
        merge(&existing, "default", &section("default"))
    );
    assert!(read(&path).starts_with(&format!(
        "# hand-written\n# with a CRLF line\r\n{OTHER}\n[default]\n"
    )));
    assert_eq!(mode_of(&path), 0o640);
    // Set-id bits are never applied.
    let sink = FileSink {
        mode: Some(0o4640),
        ..sink
    };
    sink.write(&creds(Some(TOKEN)), now(), now())
        .expect("write succeeds");
    assert_eq!(
        fs::metadata(&path).expect("exists").permissions().mode() & 0o7777,
        0o640
    );
}

#[test]
fn write_sets_owner() {
    let tmp = TempDir::new("owner");
    let path = tmp.join("credentials");
    let me = fs::metadata(&tmp.0).expect("dir exists");
    let sink = FileSink {
        owner: Some(Owner {
            uid: me.uid(),
            gid: Some(me.gid()),
        }),
        ..FileSink::new(&path, "default")
    };
    sink.write(&creds(None), now(), now())
        .expect("chown to ourselves succeeds");
    let meta = fs::metadata(&path).expect("written");
    assert_eq!((meta.uid(), meta.gid()), (me.uid(), me.gid()));
}

#[test]
fn write_does_not_follow_symlink_at_temp_path() {
    let tmp = TempDir::new("plant");
    let path = tmp.join("credentials");
    let victim = tmp.join("victim");
    fs::write(&victim, "precious\n").expect("seed victim");
    for name in [our_temp(), ".credentials.aws-credfile.tmp".into()] {
        std::os::unix::fs::symlink(&victim, tmp.join(&name)).expect("plant link");
    }
    FileSink::new(&path, "default")
        .write(&creds(Some(TOKEN)), now(), now())
        .expect("write succeeds");
    assert_eq!(read(&victim), "precious\n");
    assert_eq!(read(&path), section("default"));
    assert_eq!(names(&tmp.0), [LOCK, "credentials", "victim"]);
}

#[test]
fn write_removes_leftover_temp_files() {
    let tmp = TempDir::new("leftover");
    let path = tmp.join("credentials");
    // Left by killed writers: this process, another, an older version.
    let leftovers = [
        our_temp(),
        ".credentials.aws-credfile.1.tmp".into(),
        ".credentials.aws-credfile.tmp".into(),
    ];
    for name in &leftovers {
        let temp = tmp.join(name);
        fs::write(&temp, "half-written junk from a crash").expect("seed leftover");
        fs::set_permissions(&temp, fs::Permissions::from_mode(0o444)).expect("chmod");
    }
    // Not ours, or not for this file: kept.
    let others = [
        ".credentials.aws-credfile.x1.tmp",
        ".credentials.aws-credfile..tmp",
        ".other.aws-credfile.1.tmp",
        "credentials.aws-credfile.1.tmp",
    ];
    for name in others {
        fs::write(tmp.join(name), "not ours").expect("seed");
    }
    FileSink::new(&path, "default")
        .write(&creds(Some(TOKEN)), now(), now())
        .expect("write succeeds");
    assert_eq!(read(&path), section("default"));
    assert_eq!(mode_of(&path), 0o600);
    let mut expected: Vec<&str> = [LOCK, "credentials"].into_iter().chain(others).collect();
    expected.sort();
    assert_eq!(names(&tmp.0), expected);
}

#[test]
fn recognises_only_our_temporary_names() {
    let ours = OsStr::new("credentials");
    for name in [
        ".credentials.aws-credfile.tmp",
        ".credentials.aws-credfile.1.tmp",
        ".credentials.aws-credfile.4194304.tmp",
    ] {
        assert!(is_our_temp(OsStr::new(name), ours), "{name}");
    }
    for name in [
        "credentials",
        ".credentials.aws-credfile.lock",
        ".credentials.aws-credfile..tmp",
        ".credentials.aws-credfile.-1.tmp",
        ".credentials.aws-credfile.1.tmp.x",
        ".credentials.aws-credfile1.tmp",
        ".credentialsx.aws-credfile.1.tmp",
        ".x.aws-credfile.1.tmp",
    ] {
        assert!(!is_our_temp(OsStr::new(name), ours), "{name}");
    }
}

#[test]
fn write_refuses_a_directory_target() {
    let tmp = TempDir::new("isdir");
    let path = tmp.join("credentials");
    fs::create_dir(&path).expect("mkdir");
    let err = FileSink::new(&path, "default")
        .write(&creds(Some(TOKEN)), now(), now())
        .expect_err("a directory is not a file");
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    let shown = err.to_string();
    assert!(
        shown.contains("is a directory") && shown.contains("--file"),
        "{shown}"
    );
    assert!(fs::metadata(&path).expect("still there").is_dir());
    assert_eq!(names(&tmp.0), [LOCK, "credentials"]);
}

#[test]
fn a_symlinked_target_is_refused_never_read_or_replaced() {
    let tmp = TempDir::new("linked");
    let real = tmp.join("real");
    fs::write(&real, OTHER).expect("seed");
    let path = tmp.join("credentials");
    std::os::unix::fs::symlink(&real, &path).expect("link");
    let link_message = format!(
        "{} is a symbolic link; aws-credfile never reads or writes through one: point --file at the real file or remove the link",
        path.display()
    );

    let err = FileSink::new(&path, "default")
        .preflight()
        .expect_err("refused at start-up");
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert_eq!(err.to_string(), format!("--file {link_message}"));

    let err = FileSink::new(&path, "default")
        .write(&creds(Some(TOKEN)), now(), now())
        .expect_err("refused when writing");
    assert_eq!(err.exit_code(), 1, "at run time a refresh fails: {err:?}");
    assert!(
        err.to_string()
            .contains("is a symbolic link; aws-credfile never"),
        "{err}"
    );
    let err = check(&FileSink::new(&path, "default"), now(), Duration::ZERO)
        .expect_err("refused by check");
    assert_eq!(err.exit_code(), 1, "{err:?}");
    assert!(err.to_string().contains("is a symbolic link"), "{err}");

    assert_eq!(fs::read_link(&path).expect("still a link"), real);
    assert_eq!(read(&real), OTHER);
    // A link in a directory component is fine: only the last one counts.
    let dir_link = tmp.join("dir-link");
    std::os::unix::fs::symlink(&tmp.0, &dir_link).expect("link");
    let through = dir_link.join("through");
    FileSink::new(&through, "default")
        .preflight()
        .expect("a plain file");
    FileSink::new(&through, "default")
        .write(&creds(Some(TOKEN)), now(), now())
        .expect("write succeeds");
    assert_eq!(read(&tmp.join("through")), section("default"));
}

#[test]
fn a_symlink_at_the_lock_file_is_refused() {
    let tmp = TempDir::new("locklink");
    let victim = tmp.join("victim");
    std::os::unix::fs::symlink(&victim, tmp.join(LOCK)).expect("link");
    let err = FileSink::new(tmp.join("credentials"), "default")
        .write(&creds(Some(TOKEN)), now(), now())
        .expect_err("refused");
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert!(!victim.exists(), "nothing created through the link");
}

#[test]
fn the_lock_is_waited_for_then_given_up_naming_it() {
    let tmp = TempDir::new("lockwait");
    let path = tmp.join(LOCK);
    let dir = Dir::walk(&tmp.0, None).expect("the directory opens");
    let name = OsStr::new(LOCK);
    let held = lock(&dir, name, &path, Duration::ZERO, None)
        .expect("opens")
        .expect("free at first");
    // flock locks belong to an open file, so a second open conflicts
    // even in this process.
    assert!(lock(&dir, name, &path, Duration::from_millis(50), None)
        .expect("opens")
        .is_none());
    let err = lock_timeout(&path, Duration::from_millis(50));
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("could not lock {}: ", path.display()))
            && shown.contains("held it for over"),
        "{shown}"
    );
    assert_eq!(err.exit_code(), 1);
    drop(held);
    assert!(
        lock(&dir, name, &path, Duration::ZERO, None)
            .expect("opens")
            .is_some(),
        "released with the file"
    );
    assert_eq!(mode_of(&path), LOCK_MODE);
}

/// A lock file others can open, they can hold to stop every write. One
/// with content was kept as it was (round 32): every lock of this user's is
/// narrowed to LOCK_MODE, whatever it holds.
#[test]
fn a_lock_others_could_open_is_narrowed_whatever_it_holds() {
    let tmp = TempDir::new("lockwide");
    let path = tmp.join(LOCK);
    for content in ["", "x"] {
        fs::write(&path, content).expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let dir = Dir::walk(&tmp.0, None).expect("the directory opens");
        let held = lock(&dir, OsStr::new(LOCK), &path, Duration::ZERO, None).expect("opens");
        assert!(held.is_some(), "free");
        assert_eq!(mode_of(&path), LOCK_MODE, "{content:?}");
    }
}

/// A section written while our fetch was under way (refreshed at or
/// after `fetch_began`) that outlives our credentials is kept; written
/// before, it is replaced whatever its expiry (another role's keys, a
/// longer --duration).
#[test]
fn write_keeps_a_section_that_expires_later() {
    let tmp = TempDir::new("newer");
    let path = tmp.join("credentials");
    let later = creds_expiring(7200);
    FileSink::new(&path, "default")
        .write(&later, now(), now())
        .expect("write succeeds");
    let before = read(&path);
    let kept = FileSink::new(&path, "default")
        .write(&creds(Some(TOKEN)), now(), now())
        .expect("not an error");
    assert_eq!(
        kept,
        Written::KeptNewer {
            expires: later.expiration
        }
    );
    assert_eq!(read(&path), before);
    // The same expiry, or a later one, is written.
    for secs in [7200, 7201] {
        let next = creds_expiring(secs);
        assert_eq!(
            FileSink::new(&path, "default")
                .write(&next, now(), now())
                .expect("write"),
            Written::Replaced
        );
        assert_eq!(read(&path), render_section("default", &next, now()));
    }
    // Written before this fetch began: replaced, though it outlives ours.
    FileSink::new(&path, "default")
        .write(&later, now(), now())
        .expect("write succeeds");
    let after_it = now().plus(Duration::from_secs(1));
    assert_eq!(
        FileSink::new(&path, "default")
            .write(&creds(Some(TOKEN)), after_it, after_it)
            .expect("write"),
        Written::Replaced
    );
    assert_eq!(
        read(&path),
        render_section("default", &creds(Some(TOKEN)), after_it)
    );
    // A later expiry in a section without its keys is no reason to keep it.
    let keyless = "[default]\n# aws-credfile: expires 2099-01-01T00:00:00Z\n";
    fs::write(&path, keyless).expect("seed");
    assert_eq!(
        FileSink::new(&path, "default")
            .write(&creds(Some(TOKEN)), now(), now())
            .expect("write"),
        Written::Replaced
    );
}

#[test]
fn write_never_produces_what_read_refuses() {
    let tmp = TempDir::new("cap");
    let path = tmp.join("credentials");
    let ours = section("default");
    // Padding so the merged file is exactly the cap: accepted, and read back.
    let pad = |len: usize| {
        let mut text = "#".repeat(len - 1);
        text.push('\n');
        text
    };
    let exactly = pad(MAX_FILE_SIZE as usize - ours.len() - 1);
    fs::write(&path, &exactly).expect("seed");
    FileSink::new(&path, "default")
        .write(&creds(Some(TOKEN)), now(), now())
        .expect("exactly the cap is fine");
    assert_eq!(fs::metadata(&path).expect("stat").len(), MAX_FILE_SIZE);
    check(&FileSink::new(&path, "default"), now(), Duration::ZERO).expect("reads back");

    // One byte more is refused, the file untouched, no temporary left.
    let over = pad(MAX_FILE_SIZE as usize - ours.len());
    fs::write(&path, &over).expect("seed");
    let err = FileSink::new(&path, "default")
        .write(&creds(Some(TOKEN)), now(), now())
        .expect_err("past the cap");
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("could not update {}: ", path.display()))
            && shown.contains("past 1 MiB")
            && !shown.contains('\n'),
        "{shown}"
    );
    assert_eq!(err.exit_code(), 1);
    assert_eq!(read(&path), over);
    assert_eq!(names(&tmp.0), [LOCK, "credentials"]);
}

#[test]
fn write_refuses_a_fifo_without_hanging() {
    let tmp = TempDir::new("fifo");
    let path = tmp.join("credentials");
    let made = std::process::Command::new("mkfifo").arg(&path).status();
    if !made.is_ok_and(|s| s.success()) {
        return; // no mkfifo here; nothing to prove
    }
    let err = FileSink::new(&path, "default")
        .write(&creds(Some(TOKEN)), now(), now())
        .expect_err("a FIFO is not a file");
    assert!(err.to_string().contains("named pipe"), "{err}");
}

#[test]
fn write_refuses_files_it_cannot_merge() {
    let tmp = TempDir::new("refuse");
    let path = tmp.join("credentials");
    let binary = b"[other]\nx = \xff\xfe\n".to_vec();
    fs::write(&path, &binary).expect("seed");
    let err = FileSink::new(&path, "default")
        .write(&creds(Some(TOKEN)), now(), now())
        .expect_err("not UTF-8");
    assert!(err.to_string().contains("line 2 is not UTF-8"), "{err}");
    assert_eq!(fs::read(&path).expect("still there"), binary);

    let big = "# padding\n".repeat(110_000);
    fs::write(&path, &big).expect("seed");
    let err = FileSink::new(&path, "default")
        .write(&creds(Some(TOKEN)), now(), now())
        .expect_err("too large");
    assert!(err.to_string().contains("larger than 1 MiB"), "{err}");
    assert_eq!(read(&path), big);
    assert_eq!(names(&tmp.0), [LOCK, "credentials"]);
}

/// Another user made a directory under our temporary name in a
/// sticky /tmp (the process id is easy to read), and every refresh failed
/// on it for good. What cannot be removed is stepped around.
#[test]
fn a_temporary_name_taken_for_good_is_stepped_around() {
    let tmp = TempDir::new("temp-taken");
    let path = tmp.join("credentials");
    fs::write(&path, OTHER).expect("seed");
    let temp = tmp.join(&our_temp());
    fs::create_dir(&temp).expect("mkdir");
    fs::write(temp.join("x"), "x").expect("fill");
    for _ in 0..2 {
        FileSink::new(&path, "default")
            .write(&creds(Some(TOKEN)), now(), now())
            .expect("another name is used");
    }
    assert!(read(&path).contains(TOKEN));
    assert!(read(&path).contains("[other]"));
    // The planted directory is left as it was, and nothing else is left.
    assert!(temp.join("x").exists());
    assert_eq!(
        names(&tmp.0),
        [our_temp(), LOCK.to_string(), "credentials".to_string()]
    );
}

/// A hand-run `--once` without `--mode` beside a sidecar with
/// `--mode 0640` made the file 0600: the app's group lost it, and the
/// sidecar refused every refresh after (it would widen who may read it).
/// Without `--mode`, a file aws-credfile wrote keeps its mode; any other
/// file is still tightened.
#[test]
fn a_second_writer_without_mode_keeps_the_mode_the_sidecar_gave() {
    let tmp = TempDir::new("second-writer");
    let path = tmp.join("credentials");
    let sidecar = FileSink {
        mode: Some(0o640),
        ..FileSink::new(&path, "default")
    };
    sidecar
        .write(&creds(Some(TOKEN)), now(), now())
        .expect("the sidecar writes");
    FileSink::new(&path, "batch")
        .write(&creds(Some(TOKEN)), now(), now())
        .expect("a hand-run --once");
    assert_eq!(mode_of(&path), 0o640);
    sidecar
        .write(&creds(Some(TOKEN)), now(), now())
        .expect("the sidecar's next refresh");

    let touched = tmp.join("touched");
    fs::write(&touched, OTHER).expect("seed");
    fs::set_permissions(&touched, fs::Permissions::from_mode(0o644)).expect("chmod");
    FileSink::new(&touched, "default")
        .write(&creds(Some(TOKEN)), now(), now())
        .expect("written");
    assert_eq!(mode_of(&touched), 0o600, "a file made readable to all");
}

#[test]
fn failed_write_leaves_target_and_no_temp() {
    let tmp = TempDir::new("fail");
    let path = tmp.join("credentials");
    fs::write(&path, OTHER).expect("seed");
    let dir = Dir::walk(&tmp.0, None).expect("the directory opens");
    let err = write_temp(&dir, OsStr::new("credentials"), &tmp.0, |f| {
        f.write_all(b"partial").map_err(|e| ("write", e))?;
        Err(("flush", io::Error::other("disk on fire")))
    })
    .expect_err("fill failed");
    assert_eq!(
        err.to_string(),
        format!(
            "could not flush {}: disk on fire",
            tmp.join("credentials").display()
        )
    );
    assert_eq!(read(&path), OTHER);
    assert_eq!(names(&tmp.0), ["credentials"]);
}

#[test]
fn write_refuses_values_the_file_cannot_hold() {
    let tmp = TempDir::new("values");
    let path = tmp.join("credentials");
    let mut bad = creds(Some(TOKEN));
    bad.secret_access_key = Secret::new(format!("{SECRET}\n[evil]"));
    let err = FileSink::new(&path, "default")
        .write(&bad, now(), now())
        .expect_err("newline in secret");
    assert!(
        err.to_string()
            .contains("secret access key holds characters other than letters, digits"),
        "{err}"
    );
    assert!(!path.exists());
    let mut bad = creds(Some(TOKEN));
    bad.access_key_id = String::new();
    assert!(FileSink::new(&path, "default")
        .write(&bad, now(), now())
        .is_err());
    let mut bad = creds(Some(" padded"));
    bad.access_key_id = "ASIA".into();
    assert!(FileSink::new(&path, "default")
        .write(&bad, now(), now())
        .is_err());
    // An empty token means long-term keys: written without a token line.
    FileSink::new(&path, "default")
        .write(&creds(Some("")), now(), now())
        .expect("empty token is no token");
    assert!(!read(&path).contains(SESSION_TOKEN));
}

#[test]
fn write_refuses_profile_names_that_would_not_read_back() {
    let tmp = TempDir::new("names");
    let path = tmp.join("credentials");
    for bad in [
        "",
        " default",
        "default ",
        "a]b",
        "[a",
        "a\nb",
        "a\u{0}b",
        "#x",
        "a;b",
        "a=b",
        "profile x",
        // aws-sdk-go fails on the whole file at these, and the
        // JavaScript SDKs at __proto__.
        "123456789012:role",
        "a,b",
        "\"x",
        "__proto__",
        "x __proto__",
        // The JavaScript SDK v3 drops a two-word section.
        "my profile",
        "services x",
        // Names that look like another (invisible characters).
        "prod\u{202E}",
        "pro\u{200B}d",
        "\u{FEFF}default",
    ] {
        let err = FileSink::new(&path, bad)
            .write(&creds(Some(TOKEN)), now(), now())
            .expect_err(bad);
        assert!(matches!(err, Error::Config(_)), "{err:?}");
        assert!(!err.to_string().contains('\n'), "{err}");
    }
    assert!(!path.exists());
    for good in ["default", "prod-eu.west_1", "\u{e9}t\u{e9}", "team+x@corp"] {
        validate_profile(good).expect(good);
        let rendered = render_section(good, &creds(None), now());
        let out = merge(&merge("", good, &rendered), good, &rendered);
        assert_eq!(out, rendered, "{good}");
    }
}

// ---- check ----

fn checked(text: &str, min_valid: u64) -> Result<Timestamp, Error> {
    let tmp = TempDir::new("check");
    let path = tmp.join("credentials");
    fs::write(&path, text).expect("seed");
    check(
        &FileSink::new(&path, "default"),
        now(),
        Duration::from_secs(min_valid),
    )
}

fn stale_message(result: Result<Timestamp, Error>) -> String {
    match result {
        Err(Error::Stale(msg)) => msg,
        other => panic!("expected Stale, got {other:?}"),
    }
}

#[test]
fn check_fresh_file() {
    let expiry = now().plus(Duration::from_secs(3600));
    assert_eq!(checked(&section("default"), 300).expect("fresh"), expiry);
    // Exactly min_valid left is still enough.
    assert_eq!(checked(&section("default"), 3600).expect("fresh"), expiry);
    // Written then checked through the real writer.
    let tmp = TempDir::new("roundtrip");
    let path = tmp.join("credentials");
    FileSink::new(&path, "default")
        .write(&creds(Some(TOKEN)), now(), now())
        .expect("write succeeds");
    assert_eq!(
        check(
            &FileSink::new(&path, "default"),
            now(),
            Duration::from_secs(300)
        )
        .expect("fresh"),
        expiry
    );
}

/// `--check` believed any expiry in the comment, so a file baked
/// into an image claiming 9999 passed every probe while nothing refreshed
/// it. An expiry is believed for at most 12 h (the longest STS session)
/// after the section was written.
#[test]
fn check_believes_no_expiry_beyond_the_longest_session() {
    let hour = Duration::from_secs(3600);
    let file = |expires: Timestamp, refreshed: &str| {
        format!(
            "[default]\n# aws-credfile: expires {}, refreshed {refreshed}\n\
             aws_access_key_id = A\naws_secret_access_key = S\n",
            expires.to_rfc3339()
        )
    };
    let far = Timestamp::parse_rfc3339("9999-12-31T23:59:59Z").unwrap();
    let just_now = now().to_rfc3339();
    // Written just now: believed for 12 h, whatever it claims, and that is
    // the expiry it passes with.
    assert_eq!(
        checked(&file(far, &just_now), 300).expect("fresh"),
        now().plus(crate::credentials::LONGEST_SESSION)
    );
    let msg = stale_message(checked(&file(far, &just_now), 13 * 3600));
    assert!(
        msg.contains("more than 12 h after it was written at"),
        "{msg}"
    );
    // Written 13 h ago: no longer.
    let written = Timestamp::from_unix(now().unix() - 13 * 3600).to_rfc3339();
    let msg = stale_message(checked(&file(far, &written), 300));
    assert!(msg.contains("is not believed"), "{msg}");
    // Not saying when, or a time still to come: not believed at all.
    for refreshed in ["whenever", &now().plus(hour).to_rfc3339()] {
        let msg = stale_message(checked(&file(far, refreshed), 300));
        assert!(msg.contains("says no past time it was written"), "{msg}");
        // Nor by the daemon's read-back, which asks for no time left:
        // it passed with an expiry of now (round 41).
        let msg = stale_message(checked(&file(far, refreshed), 0));
        assert!(msg.contains("says no past time it was written"), "{msg}");
    }
    // A real session is judged by its expiry alone.
    let real = now().plus(hour);
    let written = Timestamp::from_unix(now().unix() - 2 * 3600).to_rfc3339();
    assert_eq!(checked(&file(real, &written), 300).expect("fresh"), real);
    assert_eq!(checked(&file(real, "whenever"), 300).expect("fresh"), real);
}

#[test]
fn check_is_tolerant() {
    let text = "[other]\r\naws_access_key_id=X\r\n\r\n[default]  \r\n\
                ;   aws-credfile:   expires   2024-01-01T03:00:00+02:00 ,refreshed whenever\r\n\
                \taws_access_key_id=AKIA\r\n\tAWS_SECRET_ACCESS_KEY   =   s  \r\n[next]\r\naws_secret_access_key =\r\n";
    assert_eq!(
        checked(text, 300).expect("fresh"),
        now().plus(Duration::from_secs(3600))
    );
}

#[test]
fn check_reports_expiring_and_expired() {
    let msg = stale_message(checked(&section("default"), 3601));
    assert!(
        msg.contains("expire at 2024-01-01T01:00:00Z, in 1h") && msg.contains("--min-valid 1h1s"),
        "{msg}"
    );
    let tmp = TempDir::new("expired");
    let path = tmp.join("credentials");
    fs::write(&path, section("default")).expect("seed");
    let later = now().plus(Duration::from_secs(3600 + 120));
    let msg = stale_message(check(
        &FileSink::new(&path, "default"),
        later,
        Duration::from_secs(300),
    ));
    assert!(
        msg.contains("expired at 2024-01-01T01:00:00Z, 2m ago"),
        "{msg}"
    );
}

#[test]
fn check_reports_what_is_missing() {
    let tmp = TempDir::new("missing");
    let msg = stale_message(check(
        &FileSink::new(tmp.join("nope"), "default"),
        now(),
        Duration::ZERO,
    ));
    assert!(msg.contains("does not exist"), "{msg}");

    let msg = stale_message(checked(OTHER, 0));
    assert!(msg.contains("has no [default] profile"), "{msg}");

    let no_secret = section("default").replace(&format!("{SECRET_ACCESS_KEY} = {SECRET}\n"), "");
    let msg = stale_message(checked(&no_secret, 0));
    assert!(msg.contains("has no aws_secret_access_key"), "{msg}");

    let empty_key = section("default").replace("= ASIAEXAMPLE", "=");
    let msg = stale_message(checked(&empty_key, 0));
    assert!(msg.contains("has no aws_access_key_id"), "{msg}");

    let msg = stale_message(checked(
        "[default]\naws_access_key_id = A\naws_secret_access_key = B\n",
        0,
    ));
    assert!(msg.contains("expiry is unknown"), "{msg}");

    let garbled = section("default").replace("2024-01-01T01:00:00Z", "soon");
    let msg = stale_message(checked(&garbled, 0));
    assert!(msg.contains("readable expiry"), "{msg}");

    // Keys in another section do not count for ours.
    let elsewhere = format!("[default]\n# aws-credfile: expires 2030-01-01T00:00:00Z\n{OTHER}");
    let msg = stale_message(checked(&elsewhere, 0));
    assert!(msg.contains("has no aws_access_key_id"), "{msg}");
}

/// A value aws-sdk-go v1 fails the whole file at (`;` or `#` first) or
/// another SDK misreads does not pass the probe, whoever wrote it.
#[test]
fn check_refuses_values_some_sdk_misreads() {
    for (from, to) in [
        (format!("= {SECRET}"), format!("= ;{SECRET}")),
        ("= ASIAEXAMPLE".to_string(), "= #ASIAEXAMPLE".to_string()),
        (format!("= {TOKEN}"), format!("= \"{TOKEN}\"")),
    ] {
        let text = section("default").replace(&from, &to);
        assert_ne!(text, section("default"), "{from}");
        let msg = stale_message(checked(&text, 0));
        assert!(msg.contains("holds characters other than"), "{msg}");
        assert!(!msg.contains(SECRET) && !msg.contains(TOKEN), "{msg}");
    }
    // Python splits at ':' too, and reads an indented line after a value
    // as more of it.
    for (from, to) in [
        (
            format!("aws_session_token = {TOKEN}"),
            format!("aws_session_token : {TOKEN} b"),
        ),
        (
            format!("aws_session_token = {TOKEN}\n"),
            format!("aws_session_token = {TOKEN}\n  continued\n"),
        ),
        // A no-break space, which Java and Ruby keep in the value.
        (
            format!("aws_session_token = {TOKEN}\n"),
            format!("aws_session_token = {TOKEN}\u{a0}\n"),
        ),
        // Blank and comment lines in between do not end the value.
        (
            format!("aws_session_token = {TOKEN}\n"),
            format!("aws_session_token = {TOKEN}\n\n   \n# c\n   more\n"),
        ),
    ] {
        let text = section("default").replace(&from, &to);
        assert_ne!(text, section("default"), "{from}");
        let msg = stale_message(checked(&text, 0));
        assert!(msg.contains("aws_session_token"), "{msg}");
    }
}

/// Two expiry comments in the profile: the earliest counts, never the one
/// that promises most.
#[test]
fn check_believes_the_earliest_of_several_expiry_comments() {
    let text = section("default");
    let marker = text.lines().nth(1).expect("the marker line");
    let expired = "# aws-credfile: expires 2023-12-31T00:00:00Z, refreshed 2023-12-30T23:00:00Z";
    for doubled in [
        text.replacen(marker, &format!("{expired}\n{marker}"), 1),
        text.replacen(marker, &format!("{marker}\n{expired}"), 1),
    ] {
        let msg = stale_message(checked(&doubled, 0));
        assert!(msg.contains("expired"), "{msg}");
    }
}

/// A temporary key (`ASIA…`) without its token is refused by STS, and by
/// every source here; the probe said the file was fine.
#[test]
fn check_refuses_a_temporary_key_without_its_token() {
    let text = section("default");
    let token_line = format!("aws_session_token = {TOKEN}\n");
    assert!(
        text.contains("ASIA") && text.contains(&token_line),
        "{text}"
    );
    for without in [
        text.replace(&token_line, ""),
        text.replace(&token_line, "aws_session_token =\n"),
    ] {
        let msg = stale_message(checked(&without, 0));
        assert!(msg.contains("temporary access key"), "{msg}");
    }
    // Long-term keys need none.
    let long_term = text.replace(&token_line, "").replace("ASIA", "AKIA");
    assert!(checked(&long_term, 0).is_ok());
}

#[test]
fn check_other_failures_are_not_stale() {
    let tmp = TempDir::new("checkdir");
    let err =
        check(&FileSink::new(&tmp.0, "default"), now(), Duration::ZERO).expect_err("a directory");
    // To the probe, a directory at the path is one more reason the file
    // is not fit (exit 1), as a link there is.
    assert!(matches!(err, Error::Stale(_)), "{err:?}");
    let path = tmp.join("bin");
    fs::write(&path, b"\xff").expect("seed");
    let err = check(&FileSink::new(&path, "default"), now(), Duration::ZERO).expect_err("binary");
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
}

#[test]
fn no_error_shows_a_secret() {
    let tmp = TempDir::new("secrets");
    let mut errors = Vec::new();
    // A file full of our secrets that check still rejects.
    let path = tmp.join("credentials");
    let stale = section("default").replace("2024-01-01T01:00:00Z", "2023-01-01T00:00:00Z");
    fs::write(&path, &stale).expect("seed");
    errors
        .push(check(&FileSink::new(&path, "default"), now(), Duration::ZERO).expect_err("expired"));
    fs::write(&path, stale.replace("# aws-credfile", "# x")).expect("seed");
    errors.push(
        check(&FileSink::new(&path, "default"), now(), Duration::ZERO).expect_err("no marker"),
    );
    fs::write(
        &path,
        format!("{SECRET} {TOKEN}\n\u{0}\u{ff}")
            .into_bytes()
            .into_iter()
            .chain([0xff])
            .collect::<Vec<u8>>(),
    )
    .expect("seed");
    errors
        .push(check(&FileSink::new(&path, "default"), now(), Duration::ZERO).expect_err("binary"));
    errors.push(
        FileSink::new(&path, "default")
            .write(&creds(Some(TOKEN)), now(), now())
            .expect_err("binary"),
    );
    // Bad values.
    let mut bad = creds(Some(&format!("{TOKEN} {SECRET}")));
    bad.secret_access_key = Secret::new(format!("{SECRET}\t"));
    errors.push(
        FileSink::new(tmp.join("new"), "default")
            .write(&bad, now(), now())
            .expect_err("tab"),
    );
    let bad = creds(Some(&format!("{TOKEN}\r\n")));
    errors.push(
        FileSink::new(tmp.join("new"), "default")
            .write(&bad, now(), now())
            .expect_err("crlf"),
    );
    // A directory target (inside the scratch directory, so its lock file
    // is made there too and goes with it).
    let dir = tmp.join("a-directory");
    std::fs::create_dir(&dir).unwrap();
    errors.push(
        FileSink::new(&dir, "default")
            .write(&creds(Some(TOKEN)), now(), now())
            .expect_err("dir"),
    );
    for err in &errors {
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains(SECRET) && !shown.contains(TOKEN), "{shown}");
            assert!(
                !shown.contains("wJalrXUtnFEMI") && !shown.contains("FwoGZXIvYXdz"),
                "{shown}"
            );
            assert!(!shown.contains('\n'), "{shown}");
        }
    }
}

// ---- who may have written the file ----

#[test]
fn a_file_others_may_write_is_never_merged_into() {
    let us = super::permissions::our_uid().expect("/proc/self/status");
    assert!(super::permissions::trusted(us, 0o600, None).is_ok());
    assert!(super::permissions::trusted(us, 0o644, None).is_ok());
    for mode in [0o620, 0o602, 0o666, 0o777] {
        let why = super::permissions::trusted(us, mode, None).unwrap_err();
        assert!(
            why.contains("writable by group or others"),
            "{mode:o}: {why}"
        );
    }
    let other = us.wrapping_add(4242);
    let why = super::permissions::trusted(other, 0o600, None).unwrap_err();
    assert!(why.contains(&format!("--owner {other}")), "{why}");
    let theirs = Owner {
        uid: other,
        gid: None,
    };
    assert!(super::permissions::trusted(other, 0o640, Some(theirs)).is_ok());
}

#[test]
fn check_refuses_what_botocore_refuses_and_lone_crs_are_not_merged() {
    // Two [default] sections passed --check, though botocore
    // refuses the whole file; and a file with lone-CR line endings (read
    // by Python as lines) was merged as one line, adding a second section.
    let twice = format!("{}\n{}", section("default"), section("default"));
    let msg = stale_message(checked(&twice, 300));
    assert!(msg.contains("2 [default] sections"), "{msg}");
    // A file Python refuses, without the profile: named as unreadable,
    // not as "not written yet".
    let msg = stale_message(checked("[other]\nnot a key value line\n", 300));
    assert!(
        msg.contains("cannot be read: ") && msg.contains("line 2"),
        "{msg}"
    );

    let tmp = TempDir::new("lone_cr");
    let path = tmp.join("credentials");
    let lone = "[other]\r\naws_access_key_id = AKIAOTHER\r[default]\raws_access_key_id = X\r";
    fs::write(&path, lone).unwrap();
    let err = FileSink::new(&path, "default")
        .write(&creds(Some(TOKEN)), now(), now())
        .expect_err("lone CR");
    assert!(
        err.to_string().contains("line 2 ends in a lone CR"),
        "{err}"
    );
    assert_eq!(read(&path), lone, "the file changed");
    // CRLF is fine.
    let crlf = lone.replace("\r\n", "\r").replace('\r', "\r\n");
    fs::write(&path, crlf).unwrap();
    FileSink::new(&path, "default")
        .write(&creds(Some(TOKEN)), now(), now())
        .expect("CRLF");
}

/// One answer expiring in 2099, written just before, was "newer"
/// than every later fetch, so the profile kept its keys for good. An
/// expiry further off than any session AWS issues (12 h) is not believed.
#[test]
fn an_expiry_beyond_any_session_is_never_kept_as_newer() {
    let tmp = TempDir::new("far_future");
    let path = tmp.join("credentials");
    let bogus = creds_expiring(13 * 3600);
    FileSink::new(&path, "default")
        .write(&bogus, now(), now())
        .expect("write");
    assert_eq!(
        FileSink::new(&path, "default")
            .write(&creds(Some(TOKEN)), now(), now())
            .expect("write"),
        Written::Replaced
    );
    assert_eq!(
        read(&path),
        render_section("default", &creds(Some(TOKEN)), now())
    );
    // Up to 12 h is a session AWS may issue: still kept when newer.
    let twelve = creds_expiring(12 * 3600);
    FileSink::new(&path, "default")
        .write(&twelve, now(), now())
        .expect("write");
    assert!(matches!(
        FileSink::new(&path, "default")
            .write(&creds(Some(TOKEN)), now(), now())
            .expect("write"),
        Written::KeptNewer { .. }
    ));
}

#[test]
fn links_on_the_way_are_followed_only_where_no_one_else_can_swap_them() {
    let tmp = TempDir::new("dirlinks");
    let real = tmp.join("real");
    fs::create_dir(&real).unwrap();
    fs::set_permissions(&tmp.0, fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink(&real, tmp.join("via")).unwrap();
    // In a directory only this user can change: followed, as the kernel
    // would, and the file lands in the real directory.
    let sink = FileSink::new(tmp.join("via/credentials"), "default");
    sink.preflight().expect("a link only we can change");
    sink.write(&creds(Some(TOKEN)), now(), now())
        .expect("written");
    assert!(real.join("credentials").exists());
    // In one others can write: refused, before any write and at one.
    let open = tmp.join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
    std::os::unix::fs::symlink(&real, open.join("via")).unwrap();
    let sink = FileSink::new(open.join("via/x/credentials"), "default");
    let err = sink.preflight().expect_err("refused at start");
    assert_eq!(err.exit_code(), 2);
    assert!(
        err.to_string()
            .contains("\"via\" is a symbolic link in a directory that its group or others can write (mode 777)"),
        "{err}"
    );
    let err = sink
        .write(&creds(Some(TOKEN)), now(), now())
        .expect_err("refused at a write");
    assert!(err.to_string().contains("follows no link there"), "{err}");
    assert!(!real.join("x").exists(), "nothing made through the link");
    // `..` and `.` on the way are walked, not refused.
    let sink = FileSink::new(open.join("../real/./credentials"), "default");
    sink.preflight().expect("no link");
}

/// A file botocore reads as two profiles, both headers indented,
/// was merged into one where `[other]` followed the fresh section still
/// indented, so Python read it (and every later line) as more of the
/// session token: the token broke and `[other]` vanished, while `--check`
/// passed. Indented headers are now refused, by the merge and by `--check`.
#[test]
fn an_indented_header_is_neither_merged_into_nor_passed() {
    let indented = "  [default]\n  aws_access_key_id = OLD\n  aws_secret_access_key = OLDS\n\
                    \t[other]\n  aws_access_key_id = OTHER\n  aws_secret_access_key = OTHERS\n";
    let tmp = TempDir::new("indented");
    let path = tmp.join("credentials");
    fs::write(&path, indented).unwrap();
    let err = FileSink::new(&path, "default")
        .write(&creds(Some(TOKEN)), now(), now())
        .expect_err("indented headers");
    assert!(
        err.to_string()
            .contains("line 1 is an indented section header"),
        "{err}"
    );
    assert_eq!(read(&path), indented, "the file changed");
    // Only the header matters: indented keys are read alike everywhere.
    let keys = format!(
        "{}[other]\n  aws_access_key_id = OTHER\n",
        section("default")
    );
    assert!(super::ini::ambiguity(&keys).is_none());
    let headers = format!("{}\n  [other]\nx = y\n", section("default"));
    let msg = stale_message(checked(&headers, 300));
    assert!(msg.contains("is an indented section header"), "{msg}");
    // A byte-order mark before the first header is no indentation.
    assert!(super::ini::ambiguity(&format!("\u{feff}{}", section("default"))).is_none());
    // Python's strip() takes U+001C..U+001F for whitespace too;
    // and it reads a header's name up to the last ], untrimmed, where Go
    // (and the merge) read it up to the first, trimmed. The line is never
    // quoted: a file may hold anything.
    for odd in [
        "\u{1f}[default]\nx = y\n",
        "\u{1c}[default]\n",
        "[default] [prod]\n",
        "[default]  # ]\n",
        "[default]]\n",
        "[ default ]\n",
        "\t[aws_secret_access_key = TOPSECRET3]\n",
    ] {
        let why = super::ini::ambiguity(odd).expect(odd);
        assert!(why.starts_with("line 1 "), "{why}");
        assert!(!why.contains("TOPSECRET"), "{why}");
    }
    assert!(super::ini::ambiguity("[default]  \n[a.b-c]\n# ] comment\n").is_none());
}

/// A byte-order mark, a key before the first header and an
/// unclosed header made botocore refuse the whole file, while `--check`
/// passed and writes went ahead. Every way Python's configparser refuses a
/// file is now refused by both, naming the line, never quoting it.
#[test]
fn a_file_python_refuses_is_neither_merged_into_nor_passed() {
    let ours = section("default");
    let refused = [
        (format!("\u{feff}[other]\nx = y\n{ours}"), "byte-order mark"),
        (
            format!("secret = TOPSECRET1\n{ours}"),
            "line 1 comes before any",
        ),
        (format!("{ours}[staging\n"), "line 6 is neither"),
        (format!("{ours}[]\n"), "line 6 is neither"),
        (
            format!("{ours}[other]\njust TOPSECRET2 words\n"),
            "line 7 is neither",
        ),
        (
            format!("{ours}[other]\n= TOPSECRET3\n"),
            "line 7 has no key before its =",
        ),
        (
            format!("{ours}[other]\n : x\n"),
            "line 7 has no key before its :",
        ),
        (
            format!("[other]\na = 1\n{ours}[other]\n"),
            "line 8 is the header of line 1",
        ),
        (
            format!("{ours}[other]\nKey = 1\nkey: 2\n"),
            "line 8 sets the key of line 7",
        ),
        (
            format!("{ours}[other]\ns3 =\n  max_concurrent_requests = 1\n  TOPSECRET4\n"),
            "line 9 continues the empty value of line 7",
        ),
    ];
    for (text, why) in &refused {
        let msg = stale_message(checked(text, 300));
        assert!(msg.contains(why), "{text:?}: {msg}");
        assert!(
            msg.contains("refuse the whole file") || msg.contains("botocore fails"),
            "{msg}"
        );
        assert!(!msg.contains("TOPSECRET"), "{msg}");

        let tmp = TempDir::new("python-refuses");
        let path = tmp.join("credentials");
        fs::write(&path, text).unwrap();
        let err = FileSink::new(&path, "default")
            .write(&creds(Some("NEWTOKEN")), now(), now())
            .expect_err(text);
        assert!(err.to_string().contains(why), "{text:?}: {err}");
        assert_eq!(&read(&path), text, "the file changed");
    }
    // What Python reads: [DEFAULT] twice, `key: value`, continued values,
    // nested keys, indented keys under a header, text after a header's ].
    let read_fine = format!(
        "[DEFAULT]\na = 1\n[DEFAULT]\nb = 2\n{ours}[other]\n  region: eu-west-1\n\
         note = one\n  two\n\n    three\ns3 =\n  max_concurrent_requests = 10\n# c\n\
         \n[third] trailing\nx=y\n"
    );
    assert_eq!(super::ini::python_refuses(&read_fine), None);
    assert!(checked(&read_fine, 300).is_ok());
    // Problems inside our own section are gone once it is rewritten: a
    // key twice, a byte-order mark before its header.
    for own in [
        format!("{ours}aws_access_key_id = AGAIN\n[other]\nx = y\n"),
        format!("\u{feff}{ours}[other]\nx = y\n"),
    ] {
        let tmp = TempDir::new("python-own");
        let path = tmp.join("credentials");
        fs::write(&path, &own).unwrap();
        assert!(checked(&own, 300).is_err());
        FileSink::new(&path, "default")
            .write(&creds(Some("NEWTOKEN")), now(), now())
            .expect("our own section is rewritten");
        assert_eq!(super::ini::python_refuses(&read(&path)), None);
        assert!(read(&path).contains("[other]\nx = y\n"));
    }
}

/// Whoever could rename a file onto the path (the `--owner` user
/// in its own home, anyone in a shared directory) could put a root-only
/// file there, and root's next write handed its content to `--owner`, or to
/// everyone `--mode 0644` lets read. Whoever may read the result must have
/// been able to read the file already.
#[test]
fn a_merge_hands_no_one_what_they_could_not_read() {
    use super::permissions::{no_new_readers, Access};
    let access = |uid, gid, mode| Access { uid, gid, mode };
    let ok = |old, new| no_new_readers(old, new, true).is_ok();
    // The same owner, group and mode, or narrower: fine.
    assert!(ok(access(0, 0, 0o600), access(0, 0, 0o600)));
    assert!(ok(access(7, 8, 0o640), access(7, 8, 0o640)));
    assert!(ok(access(7, 8, 0o644), access(7, 8, 0o600)));
    // Readable by all before: may go anywhere.
    assert!(ok(access(0, 0, 0o644), access(7, 8, 0o644)));
    // Root reads everything; an owner may always chmod its own file.
    assert!(ok(access(7, 8, 0o600), access(0, 0, 0o600)));
    assert!(ok(access(7, 8, 0o200 | 0o400), access(7, 8, 0o600)));
    // Root's to another user, to every user, or to a group.
    let why = no_new_readers(access(0, 0, 0o600), access(4001, 0, 0o600), true).unwrap_err();
    assert!(why.contains("chown 4001"), "{why}");
    let why = no_new_readers(access(0, 0, 0o600), access(0, 0, 0o644), true).unwrap_err();
    assert!(why.contains("--mode 0644 would let every user"), "{why}");
    let why = no_new_readers(access(0, 0, 0o600), access(0, 5, 0o640), true).unwrap_err();
    assert!(why.contains("group 5"), "{why}");
    // A mode kept from the file is not blamed on a --mode never given.
    let why = no_new_readers(access(0, 7, 0o640), access(0, 0, 0o640), false).unwrap_err();
    assert!(why.contains("keeping its mode 0640 would let"), "{why}");
    assert!(why.contains("chgrp 0 and chmod g+r it first"), "{why}");
    // The same group, only not reading yet: chmod says it is meant.
    let why = no_new_readers(access(0, 0, 0o600), access(0, 0, 0o640), true).unwrap_err();
    assert!(why.contains("; chmod g+r it first"), "{why}");
    // Group-readable, but by another group.
    assert!(!ok(access(7, 8, 0o640), access(7, 9, 0o640)));
    // Readable by others but not by its group keeps that group
    // out; made readable by all, it would let the group in.
    assert!(!ok(access(0, 5, 0o604), access(0, 0, 0o644)));
    assert!(!ok(access(0, 5, 0o404), access(0, 0, 0o644)));
    assert!(ok(access(0, 5, 0o644), access(0, 0, 0o644)));
    // Kept as it is, it lets no one new in: 0604 was refused as "keeping
    // its mode 0604 would let every user read", chmod it to 0604 first.
    assert!(ok(access(7, 5, 0o604), access(7, 5, 0o604)));
    assert!(ok(access(7, 5, 0o204), access(7, 5, 0o604)));
    assert!(!ok(access(7, 5, 0o604), access(7, 6, 0o604)));
}

/// A `--file` named like another file's lock or leftover
/// temporary file would be locked or removed by another run.
#[test]
fn a_file_named_like_our_own_lock_or_temporary_file_is_refused() {
    use super::atomic::is_ours_for_another;
    use std::ffi::OsStr;
    for name in [
        ".credentials.aws-credfile.lock",
        ".c.aws-credfile.1.tmp",
        ".c.aws-credfile.tmp",
        ".a.b.aws-credfile.42.tmp",
    ] {
        assert!(is_ours_for_another(OsStr::new(name)), "{name}");
    }
    for name in [
        "credentials",
        ".credentials",
        "credentials.aws-credfile.lock",
        ".aws-credfile.lock",
        ".c.aws-credfile.x.tmp",
        ".c.aws-credfile.lock.bak",
    ] {
        assert!(!is_ours_for_another(OsStr::new(name)), "{name}");
    }
    let tmp = TempDir::new("our_names");
    let err = FileSink::new(tmp.join(".credentials.aws-credfile.lock"), "default")
        .preflight()
        .expect_err("a lock's name");
    assert!(matches!(err, Error::Config(_)), "{err}");
}

/// `--mode 0700` was refused as letting "others write or execute" the
/// file; it lets no one else do anything. Each refusal says what the mode
/// really allows.
#[test]
fn a_refused_mode_says_what_it_would_allow() {
    let why = |m: &str| parse_mode(m).expect_err(m);
    assert_eq!(
        why("0700"),
        "0700 makes the credentials file executable; use 0600, 0640 or 0644"
    );
    assert_eq!(
        why("0620"),
        "0620 lets group or others write the credentials file; use 0600, 0640 or 0644"
    );
    assert!(why("0777").contains("executable and lets group or others write"));
    for fine in ["0600", "0640", "0644", "0604"] {
        assert!(parse_mode(fine).is_ok(), "{fine}");
    }
}

/// `aws configure set` rewrites the file in place without the lock: it
/// truncates it, then writes. A write that read it empty in between
/// renamed "empty + our profile" over it, and every other profile was gone
/// for good. A file changed since it was read is not replaced.
#[test]
fn a_file_changed_in_place_since_it_was_read_is_not_replaced() {
    let tmp = TempDir::new("inplace");
    let path = tmp.join("credentials");
    fs::write(&path, "[other]\naws_access_key_id = AKIAOTHER\n").expect("write");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
    let dir = Dir::walk(&tmp.0, None).expect("the directory opens");
    let name = OsStr::new("credentials");
    let read = read_existing(&dir, name, &path)
        .expect("readable")
        .expect("there");
    // The other writer truncates and writes again, in place.
    let mut f = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .expect("open in place");
    f.write_all(b"[other]\naws_access_key_id = AKIAOTHER\n[cli]\nregion = x\n")
        .expect("write in place");
    drop(f);
    let replaced = replace(
        &path,
        &dir,
        name,
        b"[default]\n",
        0o600,
        None,
        Some(read.stamp),
    )
    .expect("no error");
    assert!(!replaced, "replaced a file changed since it was read");
    assert!(fs::read_to_string(&path).expect("read").contains("[cli]"));
    assert_eq!(
        names(&tmp.0),
        vec!["credentials".to_string()],
        "no temporary file left"
    );
    // Unchanged since read, it is replaced.
    let read = read_existing(&dir, name, &path)
        .expect("readable")
        .expect("there");
    assert!(replace(
        &path,
        &dir,
        name,
        b"[default]\n",
        0o600,
        None,
        Some(read.stamp)
    )
    .expect("no error"));
    // A file that appeared since "none" was read is not replaced either.
    let fresh = tmp.join("fresh");
    fs::write(&fresh, "[mine]\n").expect("write");
    assert!(!replace(
        &fresh,
        &dir,
        OsStr::new("fresh"),
        b"[default]\n",
        0o600,
        None,
        None
    )
    .expect("no error"));
    assert_eq!(fs::read_to_string(&fresh).expect("read"), "[mine]\n");
}

/// `[DEFAULT]`'s keys are every profile's to Python's configparser: its
/// stale `aws_security_token` was sent with the fresh keys (botocore
/// prefers it), its `role_arn` broke the profile, and `--check` passed; a
/// hand-added one in the profile passed `--check` too.
#[test]
fn keys_that_change_how_botocore_reads_the_profile_are_refused() {
    let stale = "[DEFAULT]\naws_security_token = STALE\n\n";
    let msg = stale_message(checked(&format!("{stale}{}", section("default")), 300));
    assert!(
        msg.contains("line 2") && msg.contains("aws_security_token in [DEFAULT]"),
        "{msg}"
    );
    let added = format!("{}role_arn = arn:aws:iam::1:role/x\n", section("default"));
    let msg = stale_message(checked(&added, 300));
    assert!(msg.contains("role_arn in the profile"), "{msg}");
    // Indented, the first key of a section is still a key to Python, and
    // so is one indented as deep as the key above it (round 29).
    for default in [
        "[DEFAULT]\n  aws_security_token = STALE\n\n",
        "[DEFAULT]\n\u{a0}role_arn = x\n\n",
        "[DEFAULT]\n  region = x\n  aws_account_id = 999999999999\n\n",
    ] {
        let msg = stale_message(checked(&format!("{default}{}", section("default")), 300));
        assert!(msg.contains("in [DEFAULT]"), "{default:?}: {msg}");
    }
    // Deeper than the key above, it continues that value.
    let continued = format!(
        "[DEFAULT]\nregion = x\n  role_arn = y\n\n{}",
        section("default")
    );
    checked(&continued, 300).expect("a continuation sets no key");
    // What does not change the credentials is fine.
    let harmless = format!("[DEFAULT]\nregion = eu-west-1\n\n{}", section("default"));
    checked(&harmless, 300).expect("a region in [DEFAULT] is harmless");

    let tmp = TempDir::new("default_section");
    let path = tmp.join("credentials");
    let before = "[DEFAULT]\nAWS_Security_Token = STALE\n\n[other]\nx = 1\n".to_string();
    fs::write(&path, &before).expect("seed");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
    let sink = FileSink::new(&path, "default");
    let err = sink
        .write(&creds(Some(TOKEN)), now(), now())
        .expect_err("refused");
    assert!(
        err.to_string()
            .contains("line 2 sets aws_security_token in [DEFAULT]"),
        "{err}"
    );
    assert_eq!(read(&path), before, "the file changed");
    assert!(sink.preflight().is_err(), "refused at start too");
    fs::write(&path, "[DEFAULT]\nregion = x\n").expect("seed");
    sink.write(&creds(Some(TOKEN)), now(), now())
        .expect("merged");
}

/// `--check` passed files aws-sdk-go v1 (Harbor's registry) cannot read,
/// for a line in another profile. Each line below was tried with
/// aws-sdk-go v1.44's shared credentials reader: it failed the file, or
/// read no [default] after it, at the first list and read it at the second.
#[test]
fn check_fails_on_lines_aws_sdk_go_v1_cannot_read() {
    use super::ini::go_v1_refuses;
    let refused = [
        "x = ;foo",
        "y = #bar",
        "k = ,x",
        "x=;",
        "k : ;x",
        "k : ,x",
        "k = ,",
        "k = \t;x",
        ",x = 1",
        "z = \"quoted",
        "k = \"",
        "k = \" ;x",
        "[=]",
        "[;]",
        "[#x]",
        "[[x]",
        "[]",
        "[ =]",
        "[=a]",
        "[ ;x]",
        "[,]",
        "[,a]",
        "[ [x]",
        "[:a]",
        "[\"a]",
        "[ ]",
        "note = he said \"hi",
        "x = 1 \"",
        "x = :\"",
        "x = =\"",
        "[prod #1]",
        "[a ;]",
        "[a #]",
        "[#a b]",
        "x = [e1",
        "x = [.5",
        "x = [-1",
        "x = ].0",
        "k = x[e1",
        "[a \"b]",
        "\"a\" = \"b",
        "[a]==",
        "[a] =x",
        "[a]:",
        "[a],",
        "\u{b}= v",
        "k[0] = v",
        "\"a = v",
        "[!=[",
        "retries = -1",
        "k = -0",
        "k = -.5",
        "k = -x1",
        "k = -xa",
        "k = -b1",
        "k = -o7",
        "k = -e1",
        "k = .5",
        "k = e1",
        "k = e-1",
        "k = E5",
        "k = a -1",
        "k = 1 -1",
        ".5 = v",
        "-2 = v",
        "e20 = v",
        "[_:;]",
        "[28, ;]",
        "[0:#4b]",
        "[\u{e9}:\"]",
    ];
    let read = [
        "k = a,b",
        "k = a;b",
        "k = a#b",
        "k = a b",
        "z = \"q\" x",
        "z = x\"y",
        "[a,b]",
        "[a b]",
        "[a=b]",
        "k=",
        "k = ",
        "k : v",
        "k = [x]",
        "k = =x",
        "k == x",
        "k = \\",
        " k = v",
        "k = \"a\" \"b\"",
        "k = 'a",
        "k = a = b",
        "k = \"\"",
        "k = \"a\"b\"",
        "k, = 1",
        "[a:b]",
        "[a\"b]",
        "[a;b]",
        "[a#b]",
        "k = a #x",
        "k = a ;x",
        "[-1]",
        "[e1]",
        "[.5]",
        "[a \"b\"]",
        "k = a \"b\" c",
        "[a] ; note",
        "[a] x",
        "\"quoted\" = v",
        "[\"x\"]",
        "k = -x",
        "k = -1a",
        "k = -9abc",
        "k = -X1",
        "k = -1,2",
        "k = --1",
        "k = .5x",
        "k = e1x",
        "k = e1.5",
        "k = e+1",
        "k = 5e",
        "k = 10",
        "k = 3.5",
        "k = 0x1",
        "k = us-east-1",
        "-x = v",
        "ex = v",
        "5 = v",
    ];
    let file = |line: &str| format!("[alpha]\n{line}\n\n{}", section("default"));
    for line in refused {
        let why = go_v1_refuses(&file(line)).unwrap_or_else(|| panic!("{line:?} passed"));
        assert!(why.starts_with("line 2 "), "{line:?}: {why}");
    }
    for line in read {
        assert_eq!(go_v1_refuses(&file(line)), None, "{line:?}");
    }
    let msg = stale_message(checked(&file("x = ;foo"), 300));
    assert!(msg.contains("cannot be read by every SDK: line 2"), "{msg}");
}

/// The line rules index into lines by byte: no input, multi-byte
/// characters and lone brackets or quotes included, may panic them.
#[test]
fn the_line_rules_never_panic() {
    use super::ini::{foreign_key, go_v1_refuses};
    let alphabet: Vec<char> = "[]=:;#,\"' \t-.e1xaé\u{a0}\u{2003}\u{b}\nDEFAULT_"
        .chars()
        .collect();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..20_000 {
        let len = (state % 24) as usize;
        let text: String = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                alphabet[(state % alphabet.len() as u64) as usize]
            })
            .collect();
        let _ = go_v1_refuses(&text);
        let _ = foreign_key(&text, "default", true);
        let _ = python_refuses(&text);
    }
}

/// An owner that is no id says what one is: names are not looked up, and
/// an id past u32 is no id either.
#[test]
fn an_owner_that_is_not_an_id_says_what_is() {
    for bad in ["www-data", "99999999999", "1000:staff", "-5"] {
        let msg = parse_owner(bad).unwrap_err();
        assert!(
            msg.contains("numeric id from 0 to 4294967294"),
            "{bad}: {msg}"
        );
    }
}
