//! The terminal, for job control: who has it, handing it over, and
//! whether a process is stopped. Async-signal-safe where it runs between
//! fork and exec.

/// Whether `pid` is stopped now, from `/proc`; without `/proc`, or with
/// one of another PID namespace (`unshare -pf` without a `/proc` of its
/// own: its `/proc/PID` is someone else), taken to be (the wait status
/// said so).
pub fn is_stopped(pid: libc::pid_t) -> bool {
    if !proc_is_ours() {
        return true;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    matches!(state, Some("T") | None)
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
    // SAFETY: getpid, getppid, getpgrp and getsid take numbers only.
    #[allow(unsafe_code)]
    let (group, session, mut parent) =
        unsafe { (libc::getpgrp(), libc::getsid(0), libc::getppid()) };
    if std::process::id() == 1 || parent == 0 {
        return true;
    }
    if !proc_is_ours() {
        return false;
    }
    // Up our own line only: another member's parent is not looked for.
    for _ in 0..64 {
        let Some((grandparent, pgrp, sid)) = ids(parent) else {
            return false;
        };
        if sid != session {
            return true;
        }
        if pgrp != group {
            return false;
        }
        parent = grandparent;
    }
    false
}

/// The parent, process group and session of `pid`, from `/proc`.
fn ids(pid: libc::pid_t) -> Option<(libc::pid_t, libc::pid_t, libc::pid_t)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(1);
    let mut next = || fields.next()?.parse().ok();
    Some((next()?, next()?, next()?))
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
