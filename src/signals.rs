//! SIGTERM, SIGINT and SIGHUP for a single-threaded program: handlers write
//! into a socket pair the main loop polls with a timeout, so an idle daemon
//! sleeps in one `poll` and wakes only for a signal or its next refresh.

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::{flag, low_level::pipe};

use crate::error::Error;
use crate::poll::{poll, Interest};
use crate::schedule::deadline_after;
use crate::timer::Timer;

/// What ended a wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// The time ran out.
    Timeout,
    /// SIGHUP: refresh now.
    Refresh,
    /// SIGTERM or SIGINT: stop.
    Terminate,
}

/// The installed handlers and the read end of their pipe.
pub struct Signals {
    reader: UnixStream,
    terminate: Arc<AtomicBool>,
    refresh: Arc<AtomicBool>,
    /// While set, SIGTERM/SIGINT end the process at once with status 0: set
    /// around network calls (which can take many seconds) and never around
    /// file writes, so a stop is prompt but never lands mid-rename.
    exit_at_once: Arc<AtomicBool>,
    /// Ends waits on the boot clock, which keeps counting through a suspend
    /// (see `timer`); `None` where timerfd is unavailable, and then poll's
    /// own timeout ends them.
    timer: Option<Timer>,
}

impl Signals {
    /// Installs the handlers. Call before anything else, so that a signal
    /// arriving during start-up is not lost or fatal.
    pub fn install() -> Result<Signals, Error> {
        let setup =
            |e: std::io::Error| Error::Config(format!("could not install signal handlers: {e}"));
        let (reader, writer) = UnixStream::pair().map_err(setup)?;
        reader.set_nonblocking(true).map_err(setup)?;
        let terminate = Arc::new(AtomicBool::new(false));
        let refresh = Arc::new(AtomicBool::new(false));
        let exit_at_once = Arc::new(AtomicBool::new(false));
        for sig in [SIGTERM, SIGINT] {
            // Order matters: handlers run in registration order. A stop
            // during a network call exits right away with 0; otherwise the
            // flag and a wake-up byte, however many stops arrive: a second
            // one must not cut short a file write (which is bounded and
            // short) and leave its temporary file behind.
            flag::register_conditional_shutdown(sig, 0, Arc::clone(&exit_at_once))
                .map_err(setup)?;
            flag::register(sig, Arc::clone(&terminate)).map_err(setup)?;
            pipe::register(sig, writer.try_clone().map_err(setup)?).map_err(setup)?;
        }
        flag::register(SIGHUP, Arc::clone(&refresh)).map_err(setup)?;
        pipe::register(SIGHUP, writer).map_err(setup)?;
        Ok(Signals {
            reader,
            terminate,
            refresh,
            exit_at_once,
            timer: Timer::new().ok(),
        })
    }

    /// Blocks until a signal arrives or `timeout` passes (on the boot clock,
    /// so time spent suspended counts). A pending stop wins over a pending
    /// refresh.
    pub fn wait(&self, timeout: Duration) -> Wake {
        let deadline = self.start_timeout(timeout);
        loop {
            if let Some(wake) = self.pending() {
                return wake;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.timed_out() {
                return Wake::Timeout;
            }
            let mut fds = vec![(self.fd(), Interest::Read)];
            fds.extend(self.timer_fd().map(|fd| (fd, Interest::Read)));
            if poll(&fds, left)[0] {
                self.drain();
            }
        }
    }

    /// Starts a wait of `timeout`: arms the boot-clock timer, and returns
    /// the monotonic deadline that ends the wait if the timer cannot.
    pub fn start_timeout(&self, timeout: Duration) -> Instant {
        if let Some(timer) = &self.timer {
            if timer.arm(timeout).is_err() {
                // Never seen; the monotonic deadline still ends the wait.
            }
        }
        deadline_after(timeout)
    }

    /// Whether the wait started by [`Signals::start_timeout`] is over by the
    /// boot clock (which also counts time spent suspended).
    pub fn timed_out(&self) -> bool {
        self.timer.as_ref().is_some_and(Timer::fired)
    }

    /// The timer's descriptor, readable when the wait is over, for callers
    /// that poll more than signals.
    pub fn timer_fd(&self) -> Option<BorrowedFd<'_>> {
        self.timer.as_ref().map(Timer::fd)
    }

    /// The descriptor that becomes readable when a signal arrives, for
    /// callers that wait on more than signals.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.reader.as_fd()
    }

    /// Empties the wake-up pipe after `fd` was readable; the flags, not the
    /// bytes, say which signal came.
    pub fn drain(&self) {
        let mut buf = [0u8; 64];
        while matches!((&self.reader).read(&mut buf), Ok(n) if n > 0) {}
    }

    /// A signal that arrived and has not been acted on.
    pub fn pending(&self) -> Option<Wake> {
        if self.terminate.load(Ordering::SeqCst) {
            Some(Wake::Terminate)
        } else if self.refresh.swap(false, Ordering::SeqCst) {
            Some(Wake::Refresh)
        } else {
            None
        }
    }

    /// Puts back a SIGHUP that was taken by [`Signals::pending`] while a
    /// refresh was already under way, so the next wait returns it at once:
    /// a refresh asked for mid-refresh causes one more, never none.
    pub fn refresh_again(&self) {
        self.refresh.store(true, Ordering::SeqCst);
    }

    /// Runs `f` (a network call) so that SIGTERM/SIGINT during it exit the
    /// process at once with status 0 instead of waiting for timeouts.
    pub fn interruptible<T>(&self, f: impl FnOnce() -> T) -> T {
        if self.terminate.load(Ordering::SeqCst) {
            signal_hook::low_level::exit(0);
        }
        self.exit_at_once.store(true, Ordering::SeqCst);
        let out = f();
        self.exit_at_once.store(false, Ordering::SeqCst);
        out
    }
}
