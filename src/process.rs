//! What the process makes of itself before it holds a secret.
//!
//! Not dumpable: no core file is ever written (a crash, an abort, a
//! SIGQUIT would otherwise put the secret key, the session token and the
//! identity token on disk), and other processes of the same user, the
//! supervised program among them, cannot read this one's memory or
//! `/proc/PID/environ` (where a source's token given as a variable sits).
//! The program started by `-- PROGRAM` is dumpable again after its exec,
//! as the kernel does for every exec.

use std::sync::OnceLock;

/// The core-file limit the process started with, for the program.
static CORE_LIMIT_AT_START: OnceLock<(libc::rlim_t, libc::rlim_t)> = OnceLock::new();

/// The core-file limit (soft, hard) as it was before [`not_dumpable`]; a
/// supervised program gets it back, since its cores hold none of ours.
pub fn core_limit_at_start() -> Option<(libc::rlim_t, libc::rlim_t)> {
    CORE_LIMIT_AT_START.get().copied()
}

/// Turns core dumps off (the soft `RLIMIT_CORE` to 0; a system whose
/// `fs.suid_dumpable` is 2 dumps even processes that are not dumpable) and
/// makes the process not dumpable (`PR_SET_DUMPABLE` 0). The core limit as
/// it was is kept for the supervised program ([`core_limit_at_start`]).
/// Failure is not fatal: both are defences, and neither fails for an
/// ordinary process.
pub fn not_dumpable() {
    let mut was = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) and setrlimit(2) take a pointer to a live local
    // struct; prctl(2) with PR_SET_DUMPABLE takes numbers only.
    #[allow(unsafe_code)]
    unsafe {
        if libc::getrlimit(libc::RLIMIT_CORE, &mut was) == 0 {
            let _ = CORE_LIMIT_AT_START.set((was.rlim_cur, was.rlim_max));
            let off = libc::rlimit {
                rlim_cur: 0,
                rlim_max: was.rlim_max,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &off);
        }
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}
