//! What a test does to, or reads about, a process it started: signals,
//! descriptor limits, and the resident memory, CPU time, open descriptors
//! and armed timers `/proc` reports; and whether the tests run as root.

use std::io;
use std::time::Duration;

/// Sends `sig` to a child process of this test.
pub fn send_signal(pid: u32, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("a pid fits pid_t");
    // SAFETY: kill(2) takes two integers and touches none of our memory.
    // The pid is our own child that has not been reaped yet (callers check),
    // so it cannot have been reused for another process.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig}): {}", io::Error::last_os_error());
}

/// Whether strace is installed and may trace here; when not, the test
/// says it skips (a seccomp profile or a container without ptrace forbids
/// tracing: nothing is wrong with the code then).
pub fn strace_usable() -> bool {
    match std::process::Command::new("strace")
        .args(["-qq", "-o", "/dev/null", "true"])
        .status()
    {
        Err(_) => {
            super::skip("needs strace (make deps installs it)");
            false
        }
        Ok(status) if !status.success() => {
            super::skip_without("strace cannot trace here (no ptrace allowed)");
            false
        }
        Ok(_) => true,
    }
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

/// Sets a running child's soft RLIMIT_AS (address space) to `bytes`, as
/// [`set_fd_limit`] does for descriptors: mappings it already has stay,
/// new ones past the limit fail (a thread's stack among them).
pub fn set_as_limit(pid: u32, bytes: u64) {
    let pid = libc::pid_t::try_from(pid).expect("a pid fits pid_t");
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: prlimit(2) only reads `limit`, which we own; the pid is our
    // own child that has not been reaped yet (callers check).
    let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_AS, &limit, std::ptr::null_mut()) };
    assert_eq!(
        rc,
        0,
        "prlimit({pid}, AS, {bytes}): {}",
        io::Error::last_os_error()
    );
}

/// Whether the tests run as root, which the permission and ownership
/// cases need.
pub fn is_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Resident memory of a process in KiB, from `/proc/PID/status`.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A process's address space now (`VmSize:` in `/proc/PID/status`), in
/// bytes.
pub fn vm_size(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
}

/// How many threads a process has now (`Threads:` in `/proc/PID/status`).
pub fn threads(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
}

/// CPU time (user and system) a process has used so far, from
/// `/proc/PID/stat`.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after it don't. utime
    // and stime are fields 14 and 15, the 12th and 13th after the name.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    // SAFETY: sysconf takes an integer and touches none of our memory.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = u64::try_from(ticks).ok().filter(|&t| t > 0)?;
    Some(Duration::from_millis((utime + stime) * 1000 / ticks))
}

/// How many descriptors a process has open, from `/proc/PID/fd`.
pub fn open_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// The `(seconds, clock id)` of every armed timerfd `pid` holds, from
/// /proc/<pid>/fdinfo.
pub fn armed_timers(pid: u32) -> Vec<(u64, u32)> {
    let mut timers = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fdinfo"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let info = std::fs::read_to_string(entry.path()).unwrap_or_default();
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
        };
        let (Some(clock), Some(value)) = (field("clockid:"), field("it_value:")) else {
            continue;
        };
        let secs = value
            .trim_start_matches('(')
            .split(',')
            .next()
            .and_then(|s| s.trim().parse::<u64>().ok());
        if let (Ok(clock), Some(secs)) = (clock.parse::<u32>(), secs) {
            if secs > 0 {
                timers.push((secs, clock));
            }
        }
    }
    timers
}
