//! Unit tests of `source::web_identity`.

use super::*;

/// A directory of its own, removed when the test ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("aws-credfile-wi-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("the temp directory is writable");
        Scratch(dir)
    }

    fn token(&self, content: &[u8]) -> PathBuf {
        let path = self.0.join("token");
        std::fs::write(&path, content).expect("write the token");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn token_is_trimmed() {
    let dir = Scratch::new("trim");
    let p = dir.token(b"  eyJhbGciOi.payload.sig\n");
    assert_eq!(read_token(&p).unwrap().expose(), "eyJhbGciOi.payload.sig");
}

#[test]
fn bad_tokens_are_refused_without_echoing_them() {
    for (name, content) in [
        ("empty", b"  \n".to_vec()),
        ("binary", vec![0xff, 0xfe, 0x00, 0x41]),
        ("huge", vec![b'a'; 70_000]),
        ("inner", b"secret-part one\ttwo".to_vec()),
    ] {
        let dir = Scratch::new(name);
        let p = dir.token(&content);
        let e = read_token(&p).expect_err(name).to_string();
        assert!(!e.contains("secret-part"), "{e}");
        assert!(e.contains(&p.display().to_string()), "{e}");
    }
    let missing = read_token(Path::new("/nonexistent/token")).unwrap_err();
    assert!(missing.to_string().contains("/nonexistent/token"));
}
