//! Running the binary: an [`Invocation`] (arguments, environment, limits,
//! user, a private `/etc/hosts`) made by [`Harness::cmd`], run to completion
//! into an [`Outcome`] or spawned as a [`Daemon`]. Every run starts from the
//! harness's environment and nothing else, writes its output to files in the
//! scratch directory, and has that output checked for secrets.

use std::collections::BTreeMap;
use std::ffi::{CString, OsString};
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::process::send_signal;
use super::{Harness, ROLE_ARN};

/// Names another build of the binary to run instead of the one cargo built:
/// how a regression test is shown to fail on the code before its fix (build
/// that commit in a scratch worktree, point this at its binary, run the
/// tests). Never set in normal runs.
pub const ENV_TEST_BIN: &str = "AWS_CREDFILE_TEST_BIN";

/// The binary under test: as cargo built it, unless [`ENV_TEST_BIN`] says
/// otherwise.
pub fn bin() -> PathBuf {
    std::env::var_os(ENV_TEST_BIN)
        .filter(|v| !v.is_empty())
        .map_or_else(
            || PathBuf::from(env!("CARGO_BIN_EXE_aws-credfile")),
            PathBuf::from,
        )
}

/// How long a run may take before the harness kills it and fails the test.
/// Only a backstop against hangs, far above anything a test expects.
const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(90);

/// A run being prepared: arguments, environment, deadline, limits, user.
pub struct Invocation<'h> {
    harness: &'h Harness,
    args: Vec<OsString>,
    env: BTreeMap<String, OsString>,
    timeout: Duration,
    /// RLIMIT_NOFILE for the binary, when the test sets one.
    fd_limit: Option<u64>,
    /// RLIMIT_AS (bytes of address space) for the binary, when the test
    /// sets one.
    memory_limit: Option<u64>,
    /// The user and group to run as, when not the test's own.
    user: Option<(u32, u32)>,
    /// A file the binary sees as `/etc/hosts`, in a mount namespace of its
    /// own.
    hosts_file: Option<PathBuf>,
    /// A command the binary runs under (`unshare ...`, `sh -c ...`), given
    /// the binary's path and arguments after its own.
    wrapper: Vec<OsString>,
    /// Whether every descriptor above 2 is closed at exec.
    only_std_fds: bool,
    /// Whether stdout is scanned for secrets (not when printing them is
    /// the point of the run).
    scan_stdout: bool,
}

impl<'h> Invocation<'h> {
    pub(super) fn new(harness: &'h Harness, args: &[&str]) -> Invocation<'h> {
        Invocation {
            harness,
            args: args.iter().map(OsString::from).collect(),
            env: harness.env.clone(),
            timeout: DEFAULT_RUN_TIMEOUT,
            fd_limit: None,
            memory_limit: None,
            user: None,
            hosts_file: None,
            wrapper: Vec::new(),
            only_std_fds: false,
            scan_stdout: true,
        }
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn env(mut self, key: &str, value: impl Into<OsString>) -> Self {
        self.env.insert(key.to_string(), value.into());
        self
    }

    /// Adds the IRSA variables (role and token file) to a harness made
    /// `with_agent`, so both sources are configured.
    pub fn with_irsa(self) -> Self {
        let token_file = self.harness.token_file.clone();
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

    /// Starts the binary with at most `bytes` of address space (soft and
    /// hard RLIMIT_AS): an allocation past it fails, so a binary that reads
    /// without bound stops there instead of filling the machine's memory.
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// Runs the binary in a mount namespace of its own in which `hosts` is
    /// bind-mounted over `/etc/hosts`, so that names resolve as the test
    /// says (`localhost` to another address). Needs root and unshare(2)
    /// (so not with [`Invocation::user`]: std changes the user first); see
    /// [`private_hosts_unsupported`] to skip where they are missing.
    pub fn hosts_file(mut self, hosts: impl Into<PathBuf>) -> Self {
        self.hosts_file = Some(hosts.into());
        self
    }

    /// Runs the binary as this user and group, with no supplementary
    /// groups (only root can): how a test meets the permission checks root
    /// would skip. The scratch directory must be reachable for them.
    pub fn user(mut self, uid: u32, gid: u32) -> Self {
        self.user = Some((uid, gid));
        self
    }

    /// Runs the binary under `wrapper`: `wrapper[0] wrapper[1..] BIN ARGS`,
    /// such as `unshare --pid --fork` to make it PID 1, or `sh -c SCRIPT`
    /// (which then finds the binary as `$0` and its arguments as `$@`).
    pub fn wrapped(mut self, wrapper: &[&str]) -> Self {
        self.wrapper = wrapper.iter().map(OsString::from).collect();
        self
    }

    /// Starts the binary with only descriptors 0, 1 and 2 open, as a
    /// container's entrypoint starts, whatever this test process holds
    /// (make's jobserver pipes, say): every other one is marked
    /// close-on-exec in the child. Then any other descriptor a program
    /// started by the binary has is one the binary leaked.
    pub fn only_std_fds(mut self) -> Self {
        self.only_std_fds = true;
        self
    }

    /// For runs whose point is printing credentials on stdout
    /// (`--credential-process`, `--print`): only stderr is scanned for
    /// secrets. The test checks stdout itself.
    pub fn secrets_on_stdout(mut self) -> Self {
        self.scan_stdout = false;
        self
    }

    fn command(&self, stdout: &Path, stderr: &Path) -> Command {
        let mut cmd = match self.wrapper.split_first() {
            None => Command::new(bin()),
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(bin());
                cmd
            }
        };
        cmd.args(&self.args)
            .env_clear()
            .envs(&self.env)
            .current_dir(self.harness.scratch.path())
            .stdin(Stdio::null())
            .stdout(fs::File::create(stdout).expect("create the stdout file"))
            .stderr(fs::File::create(stderr).expect("create the stderr file"));
        if let Some((uid, gid)) = self.user {
            // std drops the supplementary groups when it changes the user.
            cmd.uid(uid).gid(gid);
        }
        let limits: Vec<_> = [
            (libc::RLIMIT_NOFILE, self.fd_limit),
            (libc::RLIMIT_AS, self.memory_limit),
        ]
        .into_iter()
        .filter_map(|(resource, n)| n.map(|n| (resource, n)))
        .collect();
        for (resource, n) in limits {
            let limit = libc::rlimit {
                rlim_cur: n,
                rlim_max: n,
            };
            // SAFETY: the closure runs in the forked child before exec and
            // makes one async-signal-safe system call on a value it owns; it
            // allocates nothing and takes no lock.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setrlimit(resource, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::last_os_error())
                    }
                });
            }
        }
        if let Some(hosts) = &self.hosts_file {
            with_private_hosts(&mut cmd, hosts);
        }
        if self.only_std_fds {
            // The highest descriptor any test process plausibly holds;
            // fcntl on one that is not open fails harmlessly.
            const HIGHEST: libc::c_int = 4096;
            // SAFETY: the closure runs in the forked child before exec and
            // makes only fcntl calls on integers; it allocates nothing and
            // takes no lock. std's own exec-error pipe is close-on-exec
            // already, so marking it again changes nothing.
            unsafe {
                cmd.pre_exec(|| {
                    for fd in 3..HIGHEST {
                        let flags = libc::fcntl(fd, libc::F_GETFD);
                        if flags >= 0 {
                            libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
                        }
                    }
                    Ok(())
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
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin().display()));
        let status = wait_child(&mut child, self.timeout);
        let outcome = Outcome {
            status,
            stdout: read_lossy(&stdout),
            stderr: read_lossy(&stderr),
            elapsed: started.elapsed(),
            args: self.args.clone(),
            scan_stdout: self.scan_stdout,
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
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin().display()));
        Daemon {
            harness: self.harness,
            child,
            stdout,
            stderr,
            started: Instant::now(),
            exited: None,
            checked: false,
            args: self.args,
            scan_stdout: self.scan_stdout,
        }
    }
}

/// Makes `cmd` run in a mount namespace of its own (unshare(2), as
/// `unshare --mount` does) where `hosts` is bind-mounted over `/etc/hosts`.
/// The namespace's mounts are made private first, so nothing leaks back to
/// the test's own.
fn with_private_hosts(cmd: &mut Command, hosts: &Path) {
    let hosts = CString::new(hosts.as_os_str().as_bytes()).expect("a path has no NUL");
    // SAFETY: the closure runs in the forked child before exec and makes
    // three async-signal-safe system calls on C strings it owns (built
    // before the fork) and on literals; it allocates nothing and takes no
    // lock. The namespace is the child's alone.
    unsafe {
        cmd.pre_exec(move || {
            let root = c"/";
            let none = c"none";
            let target = c"/etc/hosts";
            let ok = libc::unshare(libc::CLONE_NEWNS) == 0
                && libc::mount(
                    none.as_ptr(),
                    root.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) == 0
                && libc::mount(
                    hosts.as_ptr(),
                    target.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                ) == 0;
            if ok {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        });
    }
}

/// Why [`Invocation::hosts_file`] cannot work here, if it cannot: not root,
/// or no unshare(2) or bind mounts allowed (a container without
/// CAP_SYS_ADMIN). Tried on `true` with an empty hosts file of `scratch`'s.
pub fn private_hosts_unsupported(scratch: &Path) -> Option<String> {
    if !super::process::is_root() {
        return Some("not root, so no mount namespace of its own".into());
    }
    let hosts = scratch.join("probe-hosts");
    fs::write(&hosts, "").expect("write a probe hosts file");
    let mut probe = Command::new("true");
    probe
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    with_private_hosts(&mut probe, &hosts);
    let result = probe.status();
    let _ = fs::remove_file(&hosts);
    match result {
        Ok(status) if status.success() => None,
        Ok(status) => Some(format!("`true` in a private mount namespace: {status}")),
        Err(e) => Some(format!("unshare(2) and a bind mount over /etc/hosts: {e}")),
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
    /// Whether stdout must be free of secrets too.
    scan_stdout: bool,
}

impl Outcome {
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// The status as a shell reports it: the exit code, or 128 + N when
    /// signal N ended the process.
    pub fn shell_code(&self) -> Option<i32> {
        self.status.and_then(shell_code)
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
        if self.scan_stdout {
            harness.assert_no_secrets("stdout", &self.stdout);
        }
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
    scan_stdout: bool,
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

    /// Fails the test, saying `what` and showing the output, unless the
    /// daemon's stderr holds `needle` within `timeout`.
    pub fn assert_logs_within(&self, needle: &str, timeout: Duration, what: &str) {
        assert!(
            super::wait_until(timeout, || self.stderr().contains(needle)),
            "{what}: no {needle:?} within {timeout:?}\n{}",
            self.snapshot().describe()
        );
    }

    /// The output so far, and the status if it has exited.
    pub fn snapshot(&self) -> Outcome {
        Outcome {
            status: self.exited,
            stdout: read_lossy(&self.stdout),
            stderr: read_lossy(&self.stderr),
            elapsed: self.started.elapsed(),
            args: self.args.clone(),
            scan_stdout: self.scan_stdout,
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

/// A status as a shell reports it: the exit code, or 128 + N when signal N
/// ended the process.
pub fn shell_code(status: ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.code().or(status.signal().map(|sig| 128 + sig))
}
