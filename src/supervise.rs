//! `aws-credfile [FLAGS] -- PROGRAM [ARGS…]`: the one program aws-credfile
//! serves, started with the credentials handed over (the file, the
//! endpoint, or both), given the signals aws-credfile receives, and waited
//! for; aws-credfile then exits with its status. As a container's
//! entrypoint (PID 1) it also reaps every orphan that is reparented to it.
//!
//! The program runs in a process group of its own, so a signal forwarded to
//! the group reaches what it started too, as a shell's job control would;
//! when aws-credfile owns the terminal, the program's group is made the
//! foreground one, so a keyboard Ctrl-C reaches it once, not twice, and an
//! interactive program can read the terminal, and a Ctrl-Z that stops it
//! stops aws-credfile too, as a job. If aws-credfile is killed, the
//! kernel kills the program (`PR_SET_PDEATHSIG`): it is never left running
//! without the credentials it depends on being refreshed.
//!
//! Like `poll.rs` and `timer.rs`, this is a place that needs unsafe code:
//! std has no waitpid(-1), kill(2) of a group, prctl or tcsetpgrp.

use std::ffi::OsString;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use signal_hook::consts::{
    SIGCHLD, SIGCONT, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGTSTP, SIGUSR1, SIGUSR2, SIGWINCH,
};

use crate::credentials::Secret;
use crate::credentials_file::ENV_SHARED_CREDENTIALS_FILE;
use crate::error::Error;
use crate::serve::answer::CREDENTIALS_PATH;
use crate::signals::Signal;
use crate::source::container::{
    ENV_CONTAINER_AUTHORIZATION_TOKEN, ENV_CONTAINER_AUTHORIZATION_TOKEN_FILE,
    ENV_CONTAINER_CREDENTIALS_FULL_URI, ENV_CONTAINER_CREDENTIALS_RELATIVE_URI,
};
use crate::source::web_identity::{ENV_ROLE_ARN, ENV_WEB_IDENTITY_TOKEN_FILE};
use crate::source::ENV_ROLE_SESSION_NAME;

mod runnable;
mod terminal;

pub use runnable::check_runnable;
use terminal::{
    at_our_terminal, give_terminal, group_orphaned, is_stopped, our_process_group, owns_terminal,
};

/// What is passed on to the program when aws-credfile receives it.
pub const FORWARDED: [Signal; 7] = [SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH];

/// Forwarded signals whose default action ends a program: a stopped one
/// is continued after them, so that it can.
const WAKE_FOR: [Signal; 4] = [SIGTERM, SIGINT, SIGQUIT, SIGHUP];

/// Handled once the program runs without job control (no terminal): passed
/// on, so `kill -TSTP` pauses the program, and the SIGCONT that follows
/// resumes it, while aws-credfile goes on serving and refreshing
/// (aws-credfile stopped alone, and the program it served ran on with a
/// frozen endpoint). At a terminal, Ctrl-Z stops the whole job instead.
pub const PAUSE_SIGNALS: [Signal; 1] = [SIGTSTP];

/// Handled while supervising, besides the base set: the rest of
/// [`FORWARDED`], the death (or stop) of a child, and being continued.
pub const EXTRA_SIGNALS: [Signal; 6] = [SIGCHLD, SIGCONT, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH];

/// Makes the AWS SDK for JavaScript v2 read the shared files by their
/// variables (and aws-sdk-go v1 the config file).
const ENV_SDK_LOAD_CONFIG: &str = "AWS_SDK_LOAD_CONFIG";

/// The profile the SDKs read by default, `AWS_PROFILE` and its older name.
const ENV_PROFILE: &str = "AWS_PROFILE";
const ENV_DEFAULT_PROFILE: &str = "AWS_DEFAULT_PROFILE";

/// Variables the program must not see: the source's, which aws-credfile
/// consumed (a newer SDK would otherwise prefer web identity over both the
/// file and the endpoint, and skip a chained `--role-arn`), and any
/// credentials or profile choice that would win over the ones handed over.
/// The handed-over ones are set again after these are removed.
pub const REMOVED: [&str; 21] = [
    ENV_ROLE_ARN,
    ENV_WEB_IDENTITY_TOKEN_FILE,
    ENV_ROLE_SESSION_NAME,
    ENV_CONTAINER_CREDENTIALS_FULL_URI,
    ENV_CONTAINER_CREDENTIALS_RELATIVE_URI,
    ENV_CONTAINER_AUTHORIZATION_TOKEN,
    ENV_CONTAINER_AUTHORIZATION_TOKEN_FILE,
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    // The same keys under the names other SDKs also read (the Java v1 and
    // Ruby SDKs), which would be taken before anything handed over.
    "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "AMAZON_ACCESS_KEY_ID",
    "AMAZON_SECRET_ACCESS_KEY",
    "AMAZON_SESSION_TOKEN",
    ENV_PROFILE,
    ENV_DEFAULT_PROFILE,
    ENV_SHARED_CREDENTIALS_FILE,
    // The AWS SDK for Java v1's name for the credentials file.
    ENV_CREDENTIAL_PROFILES_FILE,
];

/// The AWS SDK for Java v1 reads the credentials file from here, not from
/// `AWS_SHARED_CREDENTIALS_FILE`.
pub const ENV_CREDENTIAL_PROFILES_FILE: &str = "AWS_CREDENTIAL_PROFILES_FILE";

/// The credentials handed to the program.
#[derive(Debug, Default)]
pub struct Handoff {
    /// The file and the profile written in it.
    pub file: Option<(PathBuf, String)>,
    /// The endpoint's URL and the `Authorization` value it requires.
    pub endpoint: Option<(String, Secret)>,
}

impl Handoff {
    /// The variables to set, after [`REMOVED`] are gone.
    pub fn variables(&self) -> Vec<(&'static str, String)> {
        let mut vars = Vec::new();
        if let Some((path, profile)) = &self.file {
            // Absolute already (see `credentials_file::path`), so a
            // program that changes directory still finds it.
            let path = path.display().to_string();
            vars.push((ENV_SHARED_CREDENTIALS_FILE, path.clone()));
            vars.push((ENV_CREDENTIAL_PROFILES_FILE, path));
            if profile != "default" {
                vars.push((ENV_PROFILE, profile.clone()));
            }
            // The AWS SDK for JavaScript v2 ignores AWS_SHARED_CREDENTIALS_FILE
            // without it (seen in `make compat`); aws-sdk-go v1 reads the
            // config file with it too, which is what a program expects. A
            // value the caller set is theirs to keep; an empty one, which
            // the SDKs read as unset, is not a value.
            if std::env::var_os(ENV_SDK_LOAD_CONFIG).is_none_or(|v| v.is_empty()) {
                vars.push((ENV_SDK_LOAD_CONFIG, "1".to_string()));
            }
        }
        if let Some((url, token)) = &self.endpoint {
            vars.push((ENV_CONTAINER_CREDENTIALS_FULL_URI, url.clone()));
            // The token as read at start, which is what the endpoint
            // requires, never `--serve-token-file`'s path: botocore prefers
            // the file, sends it raw and refuses one ending in a newline
            // (aws-credfile trims it), and a file changed since would hold a
            // token the endpoint does not take.
            vars.push((
                ENV_CONTAINER_AUTHORIZATION_TOKEN,
                token.expose().to_string(),
            ));
        }
        vars
    }
}

/// The endpoint's URL as the program is to use it. An endpoint bound to
/// every address (`--serve 0.0.0.0:PORT --serve-any-address`) is reached
/// through loopback: the SDKs refuse plain http to 0.0.0.0 or `::`, and a
/// connection to them would leave the machine's choice of address to chance.
pub fn endpoint_url(addr: SocketAddr) -> String {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    format!("http://{addr}{CREDENTIALS_PATH}")
}

/// The program, running.
pub struct Program {
    pid: libc::pid_t,
    /// Our process id, which its process group is not.
    our_pgrp: libc::pid_t,
    /// Whether it runs as a job at a terminal (standard input is our
    /// session's terminal, in the foreground or not): then its stops and
    /// ours are followed as a shell's job control expects.
    job_control: bool,
    /// It stopped to use the terminal from the background where no shell
    /// can bring the job to the foreground: left stopped, to be said so.
    stranded: bool,
}

impl Program {
    /// Starts `argv` (found on `PATH`, arguments untouched) with the handed
    /// over variables, in a process group of its own. It inherits no
    /// descriptor of ours: every one is opened close-on-exec.
    pub fn spawn(
        argv: &[OsString],
        handoff: &Handoff,
        ignored: &[Signal],
    ) -> Result<Program, Error> {
        let (name, args) = argv
            .split_first()
            .ok_or_else(|| Error::Usage("-- needs a program".into()))?;
        let mut cmd = Command::new(name);
        cmd.args(args);
        for var in REMOVED {
            cmd.env_remove(var);
        }
        cmd.envs(handoff.variables());
        cmd.process_group(0);
        let parent = std::process::id();
        let foreground = owns_terminal();
        let ignored = ignored.to_vec();
        let core_limit = crate::process::core_limit_at_start();
        let xfsz_ignored = crate::process::file_size_signal_ignored_at_start();
        let mask = crate::process::mask_at_start();
        // SAFETY: the closure runs in the child between fork and exec and
        // calls only async-signal-safe functions (prctl, getppid, kill,
        // getpid, sigprocmask, tcsetpgrp, signal, setrlimit), allocating
        // nothing.
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(move || {
                // Dies with aws-credfile, even by SIGKILL; and if that
                // already happened before this line, now.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if libc::getppid() as u32 != parent {
                    libc::kill(libc::getpid(), libc::SIGKILL);
                }
                if foreground {
                    give_terminal(libc::getpid());
                }
                // Ignored when aws-credfile started: ignored in the program
                // too, as exec would have passed it on.
                for &sig in &ignored {
                    libc::signal(sig, libc::SIG_IGN);
                }
                // Ignored by aws-credfile for its own writes only.
                if !xfsz_ignored {
                    libc::signal(libc::SIGXFSZ, libc::SIG_DFL);
                }
                // The mask aws-credfile started with, as exec passes it on.
                if let Some(mask) = &mask {
                    libc::pthread_sigmask(libc::SIG_SETMASK, mask, std::ptr::null_mut());
                }
                // Its own core files are its business: the limit it would
                // have had without aws-credfile.
                if let Some((soft, hard)) = core_limit {
                    let limit = libc::rlimit {
                        rlim_cur: soft,
                        rlim_max: hard,
                    };
                    libc::setrlimit(libc::RLIMIT_CORE, &limit);
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|source| {
            // ENOENT for a file that is there: what is missing is the
            // interpreter its #! line names (or its ELF loader).
            let source = if source.kind() == std::io::ErrorKind::NotFound && Path::new(name).is_file() {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{source}: the file is there, so its #! interpreter (or ELF loader) is missing"),
                )
            } else {
                source
            };
            Error::Spawn {
                program: name.to_string_lossy().into_owned(),
                source,
            }
        })?;
        let pid = libc::pid_t::try_from(child.id()).expect("pids fit pid_t");
        // `child` is dropped without waiting: the program is reaped by
        // `reap`, with waitpid, like every other child of a PID 1.
        drop(child);
        Ok(Program {
            pid,
            our_pgrp: our_process_group(),
            job_control: at_our_terminal(),
            stranded: false,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// Whether the program was given the terminal at start, and so job
    /// control (Ctrl-Z) is the terminal's business.
    pub fn job_control(&self) -> bool {
        self.job_control
    }

    /// Passes `sig` on to the program's process group (or to the program
    /// alone, if it has not made its group yet or left it). After a signal
    /// that ends a program by default, the group is continued too, as
    /// `timeout` does: a stopped program would otherwise hold it pending,
    /// and a `docker stop` would wait out its grace period for the SIGKILL.
    pub fn forward(&self, sig: Signal) {
        self.send(sig);
        if WAKE_FOR.contains(&sig) {
            self.send(SIGCONT);
        }
    }

    fn send(&self, sig: Signal) {
        // SAFETY: kill(2) takes no pointers; a failure (the group or process
        // is gone) is reported through the return value only.
        #[allow(unsafe_code)]
        unsafe {
            if self.pid == self.our_pgrp || libc::kill(-self.pid, sig) != 0 {
                libc::kill(self.pid, sig);
            }
        }
    }

    /// Collects every child that has ended (the program, and orphans that
    /// were reparented to us as PID 1). Returns the program's exit status
    /// for aws-credfile to exit with once it has ended: its code, or 128 + N
    /// when a signal N killed it, as shells report it. A program at a
    /// terminal that stopped (Ctrl-Z, or reading the terminal from the
    /// background) is followed.
    pub fn reap(&mut self) -> Option<Exit> {
        let flags = if self.job_control {
            libc::WNOHANG | libc::WUNTRACED
        } else {
            libc::WNOHANG
        };
        let mut ended = None;
        loop {
            let mut status: libc::c_int = 0;
            // SAFETY: waitpid(2) writes one int through the pointer, which
            // points at a live local.
            #[allow(unsafe_code)]
            let pid = unsafe { libc::waitpid(-1, &mut status, flags) };
            if pid <= 0 {
                return ended;
            }
            if pid == self.pid && libc::WIFSTOPPED(status) {
                self.stop_with_it(libc::WSTOPSIG(status));
            } else if pid == self.pid {
                ended = Some(exit_status(status));
                self.take_terminal_back();
            }
        }
    }

    /// The program stopped (Ctrl-Z, or reading the terminal from the
    /// background), but the shell waits for aws-credfile: so aws-credfile
    /// takes the terminal back if the program had it, and stops too, and
    /// the shell regains control of the job. When continued, it continues
    /// the program ([`Program::continue_job`]). As PID 1 or in an orphaned
    /// group, where the stop is discarded and no shell waits, the program
    /// is continued at once. A stop status that is stale (the program was
    /// continued meanwhile) is ignored; a stop while aws-credfile itself
    /// has the terminal (the program read it while aws-credfile was stopped,
    /// and `fg` gave the terminal to aws-credfile) is undone at once.
    ///
    /// A program that stopped to use the terminal from the background
    /// while aws-credfile cannot stop either (an orphaned group: PID 1, or
    /// a job whose shell is gone) is left stopped: continued, it stopped
    /// again at once, and aws-credfile spun a CPU doing that for good.
    fn stop_with_it(&mut self, sig: Signal) {
        if !is_stopped(self.pid) {
            return;
        }
        // SAFETY: tcgetpgrp, getpid and kill(2) take numbers only.
        #[allow(unsafe_code)]
        unsafe {
            let foreground = libc::tcgetpgrp(libc::STDIN_FILENO);
            if foreground == self.pid {
                give_terminal(self.our_pgrp);
            }
            if foreground != self.our_pgrp {
                let at_the_door =
                    foreground != self.pid && (sig == libc::SIGTTIN || sig == libc::SIGTTOU);
                if at_the_door && group_orphaned() {
                    self.stranded = true;
                    return;
                }
                libc::kill(libc::getpid(), libc::SIGTSTP);
            }
        }
        self.continue_job();
    }

    /// Whether the program was left stopped at the terminal's door since
    /// last asked ([`Program::stop_with_it`]).
    pub fn take_stranded(&mut self) -> bool {
        std::mem::take(&mut self.stranded)
    }

    /// The program has ended: the terminal it had goes back to our group,
    /// as a shell takes it back from a finished job. Left with the ended
    /// group, the shell that ran aws-credfile read EIO from its terminal,
    /// and Ctrl-C reached nothing.
    fn take_terminal_back(&self) {
        // SAFETY: tcgetpgrp takes a number only.
        #[allow(unsafe_code)]
        let foreground = unsafe { libc::tcgetpgrp(libc::STDIN_FILENO) };
        if self.job_control && foreground == self.pid {
            give_terminal(self.our_pgrp);
        }
    }

    /// aws-credfile was continued (a shell's `fg` or `bg`, or right after
    /// its own stop): with the terminal (`fg`), the program gets it back;
    /// either way the program continues. Without a terminal, SIGCONT is
    /// passed on, as the SIGTSTP before it was ([`PAUSE_SIGNALS`]).
    pub fn continue_job(&self) {
        if !self.job_control {
            self.send(SIGCONT);
            return;
        }
        // SAFETY: tcgetpgrp and kill(2) take numbers only.
        #[allow(unsafe_code)]
        unsafe {
            if libc::tcgetpgrp(libc::STDIN_FILENO) == self.our_pgrp {
                give_terminal(self.pid);
            }
            libc::kill(-self.pid, libc::SIGCONT);
        }
    }
}

/// How the program ended, as a shell reads its wait status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exit {
    /// Its code, or 128 + N when signal N killed it.
    pub status: u8,
    /// SIGINT killed it.
    pub interrupted: bool,
}

/// The shell's reading of a wait status.
fn exit_status(status: libc::c_int) -> Exit {
    let signaled = libc::WIFSIGNALED(status);
    Exit {
        status: if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status) as u8
        } else if signaled {
            (128 + libc::WTERMSIG(status)) as u8
        } else {
            1
        },
        interrupted: signaled && libc::WTERMSIG(status) == libc::SIGINT,
    }
}

#[cfg(test)]
mod tests;
