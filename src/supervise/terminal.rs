//! The terminal, for job control: who has it, handing it over, and
//! whether a process is stopped. Async-signal-safe where it runs between
//! fork and exec.

/// Whether `pid` is stopped now, from `/proc`; without `/proc`, or with
/// one of another PID namespace (`unshare -pf` without a `/proc` of its
/// own: its `/proc/PID` is someone else), taken to be (the wait status
/// said so).
pub fn is_stopped(pid: libc::pid_t) -> bool {
    !proc_is_ours() || stat_field(pid, 0).is_none_or(|state| state == "T")
}

/// Field `n` of `/proc/PID/stat` after the command name (0: the state,
/// 1: the parent).
fn stat_field(pid: libc::pid_t, n: usize) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(
        stat.rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(n)?
            .to_owned(),
    )
}

/// Whether `/proc` is of our PID namespace, so `/proc/PID` is that PID.
fn proc_is_ours() -> bool {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok())
        == Some(std::process::id())
}

/// Whether our process group is orphaned (POSIX): no shell of our session
/// can stop or continue it as a job, and the kernel discards a SIGTSTP
/// sent to it. So it is as PID 1, and when the first of our ancestors
/// outside our group is outside our session too (a job whose shell is
/// gone, or a non-interactive shell that leads its session). Not
/// orphaned when `/proc` cannot tell.
pub fn group_orphaned() -> bool {
    // SAFETY: getpgrp, getppid, getsid and getpgid take numbers only.
    #[allow(unsafe_code)]
    unsafe {
        let (group, session) = (libc::getpgrp(), libc::getsid(0));
        let mut parent = libc::getppid();
        if std::process::id() == 1 || parent == 0 {
            return true;
        }
        // Up our own line only: another member's parent is not looked for.
        for _ in 0..64 {
            if libc::getsid(parent) != session {
                return true;
            }
            if libc::getpgid(parent) != group {
                return false;
            }
            let Some(up) = stat_field(parent, 1).and_then(|p| p.parse().ok()) else {
                return false;
            };
            if !proc_is_ours() {
                return false;
            }
            parent = up;
        }
        false
    }
}

/// Makes `pgrp` the terminal's foreground process group. From a background
/// group the call would stop the caller with SIGTTOU, so that is blocked
/// around it, then the mask is as it was. Async-signal-safe (it runs
/// between fork and exec too).
pub fn give_terminal(pgrp: libc::pid_t) {
    // SAFETY: the sets are live locals; sigprocmask and tcsetpgrp take
    // pointers to them or numbers only.
    #[allow(unsafe_code)]
    unsafe {
        let mut block: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut block);
        libc::sigaddset(&mut block, libc::SIGTTOU);
        libc::sigprocmask(libc::SIG_BLOCK, &block, &mut old);
        libc::tcsetpgrp(libc::STDIN_FILENO, pgrp);
        libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
}

/// Whether standard input is the terminal of our session, whoever has it
/// now: a job a shell started, in the foreground or in the background.
pub fn at_our_terminal() -> bool {
    // SAFETY: isatty, tcgetsid and getsid take numbers only.
    #[allow(unsafe_code)]
    unsafe {
        libc::isatty(libc::STDIN_FILENO) == 1
            && libc::tcgetsid(libc::STDIN_FILENO) == libc::getsid(0)
    }
}

/// Whether standard input is a terminal whose foreground process group is
/// ours: then the program's group should take the terminal over.
pub fn owns_terminal() -> bool {
    // SAFETY: isatty and tcgetpgrp take a descriptor number only.
    #[allow(unsafe_code)]
    unsafe {
        libc::isatty(libc::STDIN_FILENO) == 1
            && libc::tcgetpgrp(libc::STDIN_FILENO) == our_process_group()
    }
}

pub fn our_process_group() -> libc::pid_t {
    // SAFETY: getpgrp takes no arguments and cannot fail.
    #[allow(unsafe_code)]
    unsafe {
        libc::getpgrp()
    }
}
