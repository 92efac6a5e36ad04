//! What every integration test shares. A [`Harness`] is one test's world:
//! a scratch directory (`scratch`), a fake STS and, for the container
//! source, a fake agent (`fake`), the environment that points the binary at
//! them, and the check that no secret ever reaches the binary's output.
//! `run` is the one way the tests start the binary, with a clean
//! environment and a deadline (the binary cargo built, or the older build
//! `AWS_CREDFILE_TEST_BIN` names, to show a test failing before its fix);
//! `process` signals and inspects it; `client` talks to its `--serve`
//! endpoint; `ini` reads the file it writes; `time` writes timestamps as STS
//! does. Polling with deadlines is here, and the tests of the harness itself
//! are in `tests`.

pub mod client;
pub mod fake;
pub mod ini;
pub mod process;
mod run;
mod scratch;
pub mod time;

mod tests;

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use fake::{Answer, Fake, Issued, Request};
pub use run::{private_hosts_unsupported, shell_code, Daemon, Invocation, Outcome};
pub use scratch::Scratch;

/// The lock file aws-credfile keeps (and never deletes) beside a file
/// named `credentials`.
pub const LOCK_FILE: &str = ".credentials.aws-credfile.lock";

pub const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/aws-credfile-test";

pub const HOUR: Duration = Duration::from_secs(3600);

/// One test's world: a scratch directory with a home and an identity token
/// file, a fake STS (and maybe a fake agent), the environment that points
/// the binary at them, and every secret the binary must never print.
pub struct Harness {
    // Declared before `scratch` so the fakes stop before the directory goes.
    pub sts: Fake,
    /// A fake container credentials endpoint, for the tests that use one.
    pub agent: Option<Fake>,
    pub scratch: Scratch,
    pub home: PathBuf,
    pub token_file: PathBuf,
    /// Where `AWS_SHARED_CREDENTIALS_FILE` points; its directory does not
    /// exist until the binary creates it (or the test writes the file).
    pub cred_file: PathBuf,
    /// The environment every run starts from.
    env: BTreeMap<String, OsString>,
    /// Every identity token written, plus secrets the test added.
    secrets: Mutex<Vec<String>>,
    token: Mutex<String>,
    next_output: AtomicUsize,
}

impl Harness {
    pub fn new(
        name: &str,
        script: impl Fn(usize, &Request) -> Answer + Send + Sync + 'static,
    ) -> Harness {
        let scratch = Scratch::new(name);
        let sts = Fake::start(script);
        let home = scratch.join("home");
        fs::create_dir_all(&home).expect("create the scratch home");
        let token_file = scratch.join("token/token");
        let cred_file = scratch.join("aws/credentials");
        let env = [
            ("HOME", OsString::from(&home)),
            ("AWS_ROLE_ARN", ROLE_ARN.into()),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.clone().into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL_STS", sts.url().into()),
            ("AWS_SHARED_CREDENTIALS_FILE", cred_file.clone().into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let harness = Harness {
            sts,
            agent: None,
            scratch,
            home,
            token_file,
            cred_file,
            env,
            secrets: Mutex::new(Vec::new()),
            token: Mutex::new(String::new()),
            next_output: AtomicUsize::new(0),
        };
        harness.set_token(&jwt_like(name));
        harness
    }

    /// A harness whose source is the container endpoint `agent` (at
    /// `/v1/credentials`): the IRSA variables are left out (see
    /// [`Invocation::with_irsa`]); the fake STS is there for `--role-arn`.
    pub fn with_agent(
        name: &str,
        sts_script: impl Fn(usize, &Request) -> Answer + Send + Sync + 'static,
        agent: Fake,
    ) -> Harness {
        let mut h = Harness::new(name, sts_script);
        h.env.remove("AWS_ROLE_ARN");
        h.env.remove("AWS_WEB_IDENTITY_TOKEN_FILE");
        h.env.insert(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI".to_string(),
            format!("{}/v1/credentials", agent.url()).into(),
        );
        h.agent = Some(agent);
        h
    }

    /// The fake container endpoint; the harness must have one.
    pub fn agent(&self) -> &Fake {
        self.agent
            .as_ref()
            .expect("this harness was made with_agent")
    }

    /// The identity token the file holds now.
    pub fn token(&self) -> String {
        self.token.lock().expect("token lock").clone()
    }

    /// Replaces the token file atomically, as the kubelet does.
    pub fn set_token(&self, token: &str) {
        self.set_token_file_contents(token, token);
    }

    /// Writes `contents` to the token file; `token` is what the binary
    /// should send (the contents trimmed).
    pub fn set_token_file_contents(&self, contents: &str, token: &str) {
        self.add_secret(token);
        *self.token.lock().expect("token lock") = token.to_string();
        let tmp = self.scratch.write("token/.token.tmp", contents);
        fs::rename(&tmp, &self.token_file).expect("rename the token file into place");
    }

    /// Registers a value that must never appear in the binary's output.
    pub fn add_secret(&self, secret: &str) {
        if !secret.trim().is_empty() {
            self.secrets
                .lock()
                .expect("secrets lock")
                .push(secret.to_string());
        }
    }

    /// Every secret known so far: identity tokens, everything the fake
    /// issued, and what the test added.
    pub fn secrets(&self) -> Vec<String> {
        let mut all = self.secrets.lock().expect("secrets lock").clone();
        let agent_issued = self.agent.iter().flat_map(Fake::issued);
        for issued in self.sts.issued().into_iter().chain(agent_issued) {
            all.push(issued.secret_access_key);
            all.push(issued.session_token);
        }
        all
    }

    /// Fails the test if `text` holds any known secret, whole, encoded, or
    /// any [`PIECE`] bytes in a row of one (a quote cut to a length or from
    /// an offset).
    pub fn assert_no_secrets(&self, what: &str, text: &str) {
        let seen: HashSet<&[u8]> = text.as_bytes().windows(PIECE).collect();
        for secret in self.secrets() {
            for form in secret_forms(&secret) {
                let piece = if form.len() < PIECE {
                    text.contains(&form).then_some(form.as_bytes())
                } else {
                    form.as_bytes().windows(PIECE).find(|w| seen.contains(w))
                };
                if let Some(piece) = piece {
                    panic!(
                        "{what} leaks a secret (it contains {:?}, part of a secret):\n{text}",
                        String::from_utf8_lossy(piece)
                    );
                }
            }
        }
    }

    /// Writes the credentials file before a run; its secrets join the
    /// secret list.
    pub fn write_cred_file(&self, contents: &str) {
        for (_, v) in ini::sections(contents).iter().flat_map(|s| s.pairs()) {
            if v.len() >= 16 && !v.starts_with("AKIA") && !v.starts_with("arn:") {
                self.add_secret(&v);
            }
        }
        self.scratch.write(
            self.cred_file
                .strip_prefix(self.scratch.path())
                .expect("the credentials file is in the scratch directory"),
            contents,
        );
    }

    pub fn read_cred_file(&self) -> String {
        fs::read_to_string(&self.cred_file).unwrap_or_else(|e| {
            panic!("read {}: {e}", self.cred_file.display());
        })
    }

    /// A run of the binary with these arguments and the harness's
    /// environment (and nothing else from this process's environment).
    pub fn cmd(&self, args: &[&str]) -> Invocation<'_> {
        Invocation::new(self, args)
    }

    /// Where the next run's stdout and stderr go.
    fn output_paths(&self) -> (PathBuf, PathBuf) {
        let n = self.next_output.fetch_add(1, Ordering::Relaxed);
        let dir = self.scratch.join("output");
        fs::create_dir_all(&dir).expect("create the output directory");
        (
            dir.join(format!("{n}.stdout")),
            dir.join(format!("{n}.stderr")),
        )
    }
}

/// The whole secret and its percent-encoded form; `assert_no_secrets` looks
/// for every [`PIECE`] bytes of each, since a line printing half a token
/// leaks it too.
fn secret_forms(secret: &str) -> Vec<String> {
    vec![secret.to_string(), fake::percent_encode(secret)]
}

/// How many bytes of a secret in a row count as leaking it.
const PIECE: usize = 16;

/// An identity token shaped like a projected service-account JWT, unique
/// to this test.
fn jwt_like(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    // Encoded as a real token's claims are: a name in it as plain text
    // would match the words of a message it names ("once_invalid_param"
    // and "InvalidParameterValue"), which no real token does.
    let unique: String = base64(format!("{name}{nanos}").as_bytes())
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!(
        "eyJhbGciOiJSUzI1NiIsImtpZCI6Iml0ZXN0In0.eyJpdGVzdCI6{unique}In0.c2lnbmF0dXJl{unique}_-Zz"
    )
}

/// A test that cannot run here for want of a privilege or a tool (root, a
/// namespace, a mount, a pseudo-terminal, bash) says so and passes, when
/// run by hand; under `make test-rust` (`AWS_CREDFILE_TEST_STRICT=1`, as CI
/// runs it, as root) it fails instead, so a run that proves nothing cannot
/// pass. What a machine may simply not have (IPv6 loopback, a network
/// address) is [`skip_without`]'s.
pub fn skip(why: &str) {
    if std::env::var_os("AWS_CREDFILE_TEST_STRICT").is_some_and(|v| v == "1") {
        panic!("cannot run here: {why} (AWS_CREDFILE_TEST_STRICT=1: make test-rust needs root)");
    }
    eprintln!("skipped: {why}");
}

/// A test that needs what a machine may lack without anything being wrong
/// (IPv6 loopback, a non-loopback address): skipped, saying why, even under
/// `make test-rust`.
pub fn skip_without(what: &str) {
    eprintln!("skipped: {what}");
}

/// The uid and gid of `nobody`: the other user tests run the binary as.
pub const NOBODY: u32 = 65534;

impl Harness {
    /// The credentials file's directory, made and given to [`NOBODY`], so
    /// that runs as nobody can write there.
    pub fn nobodys_file_directory(&self) -> PathBuf {
        let dir = self.cred_file.parent().expect("dir").to_path_buf();
        fs::create_dir_all(&dir).expect("the directory");
        std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY)).expect("chown to nobody");
        dir
    }
}

/// Polls `cond` until it holds (true) or the deadline passes (false).
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the file exists and contains `needle`; its text then.
pub fn wait_for_file_containing(path: &Path, needle: &str, timeout: Duration) -> Option<String> {
    let mut text = None;
    wait_until(timeout, || {
        text = fs::read_to_string(path).ok().filter(|t| t.contains(needle));
        text.is_some()
    })
    .then(|| text.expect("set when the wait succeeded"))
}

/// Makes a named pipe at `path`.
pub fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()))
        .expect("a path has no NUL");
    // SAFETY: mkfifo(3) reads one NUL-terminated string that lives across
    // the call and touches no other memory of ours.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(
        rc,
        0,
        "mkfifo {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

/// Permission bits of a path.
pub fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Names in a directory, sorted.
pub fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .map(|e| {
            e.expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Whether `name` is a valid STS RoleSessionName: 2-64 of `[\w+=,.@-]`.
pub fn is_valid_session_name(name: &str) -> bool {
    (2..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
}

/// Standard base64, padded.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
