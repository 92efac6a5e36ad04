//! What the process makes of itself: before it holds a secret, and each
//! time it goes idle.
//!
//! Not dumpable: no core file is ever written (a crash, an abort, a
//! SIGQUIT would otherwise put the secret key, the session token and the
//! identity token on disk), and other processes of the same user, the
//! supervised program among them, cannot read this one's memory or
//! `/proc/PID/environ` (where a source's token given as a variable sits).
//! The program started by `-- PROGRAM` is dumpable again after its exec,
//! as the kernel does for every exec.
//!
//! Idle, it keeps mapped only the code the wait runs
//! ([`forget_code_pages`]).
//!
//! No signal ends it halfway through writing the credentials file: every
//! signal is held while the file is written ([`with_signals_held`]), and
//! threads start with every signal held, so signals reach only the main
//! thread. A file-size limit makes the write fail (`EFBIG`, exit 1) rather
//! than kill the process (SIGXFSZ is ignored; [`ignore_file_size_signal`]).
//! A mask it inherits is lifted ([`unblock_signals`]), so stops and
//! refreshes always arrive; the program gets the mask back.

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

/// Unmaps, from this process, the pages of its own read-only segments (the
/// code and the constants), so that while idle it holds only what the wait
/// touches again. A refresh runs TLS, XML and file code that the wait
/// never does; left mapped, those pages count as the daemon's resident
/// memory until the next refresh, and the kernel keeps mapped code pages
/// in memory in preference to others. Unmapped, they are ordinary page
/// cache: shared with every process running the same binary, reclaimable
/// under pressure, and faulted back in (from the cache, or the file) when
/// the next refresh runs them.
///
/// Only segments the ELF headers load without write permission, and only
/// the pages wholly inside them, are dropped: those private pages were
/// never written (relocated read-only data lives in the writable segment,
/// made read-only after relocation), so `MADV_DONTNEED` loses nothing.
pub fn forget_code_pages() {
    extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        page: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: the C library calls this with a valid `dl_phdr_info` whose
        // `dlpi_phdr` points at `dlpi_phnum` program headers of a loaded
        // object, and `page` is the `usize` passed below. madvise(2) gets
        // page-aligned ranges inside that object's read-only mappings, which
        // MADV_DONTNEED only unmaps.
        #[allow(unsafe_code)]
        unsafe {
            let info = &*info;
            let page = *page.cast::<usize>();
            let headers = std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum));
            for h in headers {
                if h.p_type != libc::PT_LOAD || h.p_flags & libc::PF_W != 0 {
                    continue;
                }
                let first = info.dlpi_addr as usize + h.p_vaddr as usize;
                let start = first.next_multiple_of(page);
                let end = (first + h.p_memsz as usize) / page * page;
                if start < end {
                    libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
                }
            }
        }
        // The first object is the executable itself; a static binary has no
        // other.
        1
    }
    // SAFETY: sysconf(3) takes a number; `each` matches the callback type
    // and reads `page` only during the call.
    #[allow(unsafe_code)]
    unsafe {
        let mut page = match usize::try_from(libc::sysconf(libc::_SC_PAGESIZE)) {
            Ok(page) if page.is_power_of_two() => page,
            _ => return,
        };
        libc::dl_iterate_phdr(Some(each), (&raw mut page).cast());
    }
}

/// Whether SIGXFSZ was ignored when the process started, for the program.
static XFSZ_IGNORED_AT_START: OnceLock<bool> = OnceLock::new();

/// Ignores SIGXFSZ, whose default would kill the process between writing
/// the temporary file and renaming it (under `ulimit -f`), leaving the
/// keys in it: ignored, the write fails with `EFBIG`, which is reported
/// and cleaned up like any other failed write. A supervised program gets
/// the disposition back ([`file_size_signal_ignored_at_start`]).
pub fn ignore_file_size_signal() {
    // SAFETY: signal(2) with SIG_IGN installs no handler.
    #[allow(unsafe_code)]
    let was = unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let _ = XFSZ_IGNORED_AT_START.set(was == libc::SIG_IGN);
}

/// Whether SIGXFSZ was ignored before [`ignore_file_size_signal`].
pub fn file_size_signal_ignored_at_start() -> bool {
    XFSZ_IGNORED_AT_START.get().copied().unwrap_or(false)
}

/// Runs `f` with every signal held (blocked) on this thread, then lets
/// held ones through: a signal that arrives meanwhile takes effect after
/// `f`, never during it. Used for the write of the credentials file (a
/// signal whose default action ends the process, such as SIGUSR1 or
/// SIGQUIT, would otherwise leave the temporary file holding the keys) and
/// to start threads, which inherit the mask and keep it.
pub fn with_signals_held<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: sigfillset(3) and pthread_sigmask(3) write only to the
    // sigset_t locals passed by exclusive reference, which outlive the
    // calls; the previous mask is restored as it was.
    #[allow(unsafe_code)]
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut before: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        let held = libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut before) == 0;
        let result = f();
        if held {
            libc::pthread_sigmask(libc::SIG_SETMASK, &before, std::ptr::null_mut());
        }
        result
    }
}

/// The signal mask the process started with, for the program.
static MASK_AT_START: OnceLock<libc::sigset_t> = OnceLock::new();

/// Holds every signal, first thing: one that arrives while the process is
/// starting (a SIGHUP a reload script sends right after the spawn; round
/// 16: 169 of 200 such runs died of it) waits for its handler, and
/// [`unblock_signals`] lets it through. The mask as it was is kept for the
/// program ([`mask_at_start`]). Only what the runtime does before `main`
/// is left to the signals' default actions.
pub fn hold_signals() {
    // SAFETY: sigfillset(3) and pthread_sigmask(3) write only to the
    // sigset_t locals passed by exclusive reference.
    #[allow(unsafe_code)]
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut was: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        if libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut was) == 0 {
            let _ = MASK_AT_START.set(was);
        }
    }
}

/// Lets every signal through, once the handlers are in place: a mask
/// inherited with SIGTERM or SIGHUP blocked would leave them pending for
/// good, so that neither stops nor refreshes (nor, passed on, reaches a
/// supervised program). The mask as it was before [`hold_signals`] (or
/// this, without it) is kept for the program ([`mask_at_start`]), as exec
/// would pass it on.
pub fn unblock_signals() {
    // SAFETY: sigemptyset(3) and pthread_sigmask(3) write only to the
    // sigset_t locals passed by exclusive reference.
    #[allow(unsafe_code)]
    unsafe {
        let mut none: libc::sigset_t = std::mem::zeroed();
        let mut was: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        if libc::pthread_sigmask(libc::SIG_SETMASK, &none, &mut was) == 0 {
            let _ = MASK_AT_START.set(was);
        }
    }
}

/// The signal mask the process started with, before [`hold_signals`].
pub fn mask_at_start() -> Option<libc::sigset_t> {
    MASK_AT_START.get().copied()
}

/// Ends the process as SIGINT's default action would. A shell running a
/// script or loop stops it at Ctrl-C only when the command it waited for
/// was ended by SIGINT; one that exits with 130 is taken to have handled
/// Ctrl-C itself, and the loop goes on. As PID 1, where a signal's default
/// action does nothing, this returns, for the caller to exit with 130.
pub fn end_as_interrupted() {
    // SAFETY: getpid(2) and raise(3) take numbers; signal(2) with SIG_DFL
    // installs no handler.
    #[allow(unsafe_code)]
    unsafe {
        if libc::getpid() != 1 {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::raise(libc::SIGINT);
        }
    }
}
