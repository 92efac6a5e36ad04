//! What every integration test shares: a scratch directory per test, a fake
//! STS (and container agent) per test, running the real binary with a clean
//! environment and a deadline, signals, polling with deadlines, and the
//! check that no secret ever reaches the binary's output.

pub mod client;
pub mod fake;
pub mod ini;
pub mod time;

mod tests;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use fake::{Answer, Fake, Issued, Request};

/// The lock file aws-credfile keeps (and never deletes) beside a file
/// named `credentials`.
pub const LOCK_FILE: &str = ".credentials.aws-credfile.lock";

/// The binary under test, as cargo built it.
pub const BIN: &str = env!("CARGO_BIN_EXE_aws-credfile");

pub const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/aws-credfile-test";

pub const HOUR: Duration = Duration::from_secs(3600);

/// How long a run may take before the harness kills it and fails the test.
/// Only a backstop against hangs, far above anything a test expects.
const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(90);

/// A directory of its own for one test, removed when the test passes and
/// kept (and its path printed) when it fails.
pub struct Scratch {
    root: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .subsec_nanos();
        let root = std::env::temp_dir().join(format!(
            "aws-credfile-itest-{name}-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&root).expect("create the scratch directory");
        Scratch { root }
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join(rel)
    }

    /// Writes a file, creating its parent directories.
    pub fn write(&self, rel: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent directories");
        }
        fs::write(&path, contents).expect("write a scratch file");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("keeping scratch directory {}", self.root.display());
        } else {
            let _ = fs::remove_dir_all(&self.root);
        }
    }
}

/// One test's world: a scratch directory with a home and an identity token
/// file, a fake STS, the environment that points the binary at them, and
/// every secret the binary must never print.
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
    env: BTreeMap<String, String>,
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
        let mut env = BTreeMap::new();
        for (k, v) in [
            ("HOME", home.display().to_string()),
            ("AWS_ROLE_ARN", ROLE_ARN.to_string()),
            (
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                token_file.display().to_string(),
            ),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_ENDPOINT_URL_STS", sts.url()),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                cred_file.display().to_string(),
            ),
        ] {
            env.insert(k.to_string(), v);
        }
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
            format!("{}/v1/credentials", agent.url()),
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
    /// a distinctive piece of one.
    pub fn assert_no_secrets(&self, what: &str, text: &str) {
        for secret in self.secrets() {
            for form in secret_forms(&secret) {
                assert!(
                    !text.contains(&form),
                    "{what} leaks a secret (it contains {form:?}, part of a secret):\n{text}"
                );
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
        Invocation {
            harness: self,
            args: args.iter().map(OsString::from).collect(),
            env: self.env.clone(),
            timeout: DEFAULT_RUN_TIMEOUT,
            fd_limit: None,
        }
    }

    pub fn env_value(&self, key: &str) -> Option<&str> {
        self.env.get(key).map(String::as_str)
    }

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

/// The whole secret, its percent-encoded form, and every piece of it
/// between separators long enough to be unmistakable: a log line printing
/// half a token leaks it too.
fn secret_forms(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_string(), fake::percent_encode(secret)];
    for piece in secret.split(['.', '/', '+', '=', '&', '%', ' ']) {
        if piece.len() >= 16 {
            forms.push(piece.to_string());
        }
    }
    forms
}

/// An identity token shaped like a projected service-account JWT, unique
/// to this test.
fn jwt_like(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    let unique: String = format!("{name}{nanos}")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!(
        "eyJhbGciOiJSUzI1NiIsImtpZCI6Iml0ZXN0In0.eyJpdGVzdCI6{unique}In0.c2lnbmF0dXJl{unique}_-Zz"
    )
}

/// A run being prepared: arguments, environment, deadline.
pub struct Invocation<'h> {
    harness: &'h Harness,
    args: Vec<OsString>,
    env: BTreeMap<String, String>,
    timeout: Duration,
    /// RLIMIT_NOFILE for the binary, when the test sets one.
    fd_limit: Option<u64>,
}

impl<'h> Invocation<'h> {
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.insert(key.to_string(), value.into());
        self
    }

    /// Adds the IRSA variables (role and token file) to a harness made
    /// `with_agent`, so both sources are configured.
    pub fn with_irsa(self) -> Self {
        let token_file = self.harness.token_file.display().to_string();
        self.env("AWS_ROLE_ARN", ROLE_ARN)
            .env("AWS_WEB_IDENTITY_TOKEN_FILE", token_file)
    }

    pub fn env_remove(mut self, key: &str) -> Self {
        self.env.remove(key);
        self
    }

    /// Nothing at all in the environment.
    pub fn env_empty(mut self) -> Self {
        self.env.clear();
        self
    }

    /// A backstop: past it the run is killed and the test fails.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Starts the binary with at most `n` open file descriptors (soft and
    /// hard RLIMIT_NOFILE), as a container's ulimit would.
    pub fn fd_limit(mut self, n: u64) -> Self {
        self.fd_limit = Some(n);
        self
    }

    fn command(&self, stdout: &Path, stderr: &Path) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(&self.args)
            .env_clear()
            .envs(&self.env)
            .current_dir(self.harness.scratch.path())
            .stdin(Stdio::null())
            .stdout(fs::File::create(stdout).expect("create the stdout file"))
            .stderr(fs::File::create(stderr).expect("create the stderr file"));
        if let Some(n) = self.fd_limit {
            let limit = libc::rlimit {
                rlim_cur: n,
                rlim_max: n,
            };
            // SAFETY: the closure runs in the forked child before exec and
            // makes one async-signal-safe system call on a value it owns; it
            // allocates nothing and takes no lock.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::last_os_error())
                    }
                });
            }
        }
        cmd
    }

    /// Runs to completion (or the backstop), then checks the output for
    /// secrets.
    pub fn run(self) -> Outcome {
        let (stdout, stderr) = self.harness.output_paths();
        let started = Instant::now();
        let mut child = self
            .command(&stdout, &stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {BIN}: {e}"));
        let status = wait_child(&mut child, self.timeout);
        let outcome = Outcome {
            status,
            stdout: read_lossy(&stdout),
            stderr: read_lossy(&stderr),
            elapsed: started.elapsed(),
            args: self.args.clone(),
        };
        let Some(_) = status else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the binary did not finish within {:?}\n{}",
                self.timeout,
                outcome.describe()
            );
        };
        outcome.check_secrets(self.harness);
        outcome
    }

    /// Starts the binary in the background (the daemon).
    pub fn spawn(self) -> Daemon<'h> {
        let (stdout, stderr) = self.harness.output_paths();
        let child = self
            .command(&stdout, &stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {BIN}: {e}"));
        Daemon {
            harness: self.harness,
            child,
            stdout,
            stderr,
            started: Instant::now(),
            exited: None,
            checked: false,
            args: self.args,
        }
    }
}

fn read_lossy(path: &Path) -> String {
    String::from_utf8_lossy(&fs::read(path).unwrap_or_default()).into_owned()
}

/// Polls the child until it exits or the deadline passes (None).
fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// How a finished run went.
pub struct Outcome {
    /// None only when a daemon had to be killed.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    pub args: Vec<OsString>,
}

impl Outcome {
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// Everything worth seeing when an assertion fails.
    pub fn describe(&self) -> String {
        format!(
            "args {:?}: exit {:?} after {:.1?}\n--- stdout\n{}--- stderr\n{}---",
            self.args, self.status, self.elapsed, self.stdout, self.stderr
        )
    }

    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code(), Some(code), "{}", self.describe());
        self
    }

    pub fn assert_stderr_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr should mention {needle:?}\n{}",
            self.describe()
        );
        self
    }

    /// The lines of stderr that hold anything.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }

    fn check_secrets(&self, harness: &Harness) {
        harness.assert_no_secrets("stdout", &self.stdout);
        harness.assert_no_secrets("stderr", &self.stderr);
    }
}

/// The binary running in the background. Dropping it kills the process if
/// it is still running and checks its output for secrets.
pub struct Daemon<'h> {
    harness: &'h Harness,
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    started: Instant,
    exited: Option<ExitStatus>,
    checked: bool,
    args: Vec<OsString>,
}

impl Daemon<'_> {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal; the process must still be running (or at least not
    /// yet reaped, so its pid cannot belong to anyone else).
    pub fn signal(&mut self, sig: libc::c_int) {
        assert!(
            self.exited.is_none(),
            "signal {sig} to a daemon that already exited\n{}",
            self.snapshot().describe()
        );
        send_signal(self.child.id(), sig);
    }

    /// The exit status, if it has exited.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().expect("wait for the daemon");
        }
        self.exited
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Fails the test if the daemon has exited.
    pub fn assert_running(&mut self) {
        if self.try_exit().is_some() {
            panic!("the daemon exited early\n{}", self.snapshot().describe());
        }
    }

    pub fn stderr(&self) -> String {
        read_lossy(&self.stderr)
    }

    /// The output so far, and the status if it has exited.
    pub fn snapshot(&self) -> Outcome {
        Outcome {
            status: self.exited,
            stdout: read_lossy(&self.stdout),
            stderr: read_lossy(&self.stderr),
            elapsed: self.started.elapsed(),
            args: self.args.clone(),
        }
    }

    /// SIGTERM, wait (generously) for the exit, check the output.
    pub fn stop(mut self) -> Outcome {
        if self.try_exit().is_none() {
            self.signal(libc::SIGTERM);
        }
        if self.wait_exit(Duration::from_secs(10)).is_none() {
            self.kill();
            panic!(
                "the daemon ignored SIGTERM for 10 s\n{}",
                self.snapshot().describe()
            );
        }
        self.outcome()
    }

    /// The output of an exited daemon, checked for secrets.
    pub fn outcome(&mut self) -> Outcome {
        let outcome = self.snapshot();
        self.checked = true;
        outcome.check_secrets(self.harness);
        outcome
    }

    fn kill(&mut self) {
        if self.try_exit().is_none() {
            let _ = self.child.kill();
            self.exited = self.child.wait().ok();
        }
    }
}

impl Drop for Daemon<'_> {
    fn drop(&mut self) {
        self.kill();
        if !self.checked && !thread::panicking() {
            self.snapshot().check_secrets(self.harness);
        }
    }
}

/// Sends `sig` to a child process of this test.
pub fn send_signal(pid: u32, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("a pid fits pid_t");
    // SAFETY: kill(2) takes two integers and touches none of our memory.
    // The pid is our own child that has not been reaped yet (callers check),
    // so it cannot have been reused for another process.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig}): {}", io::Error::last_os_error());
}

/// Sets a running child's soft RLIMIT_NOFILE to `n` (at most its hard
/// limit, which stays, so the limit can be raised again): how a test runs a
/// process out of descriptors without the process having sized itself for
/// the lower limit at start.
pub fn set_fd_limit(pid: u32, n: u64) {
    let pid = libc::pid_t::try_from(pid).expect("a pid fits pid_t");
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: prlimit(2) with a null new limit only writes the current one
    // into `limit`, which we own; with a new limit and a null old one it
    // only reads `limit`. The pid is our own child that has not been
    // reaped yet (callers check), so it is no one else's.
    let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, std::ptr::null(), &mut limit) };
    assert_eq!(rc, 0, "prlimit({pid}): {}", io::Error::last_os_error());
    limit.rlim_cur = n.min(limit.rlim_max);
    // SAFETY: as above.
    let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &limit, std::ptr::null_mut()) };
    assert_eq!(
        rc,
        0,
        "prlimit({pid}, NOFILE, {n}): {}",
        io::Error::last_os_error()
    );
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
