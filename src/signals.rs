//! Signals for a program that waits in one `poll`: each handler only sets a
//! flag and writes a byte into a socket pair the wait polls (see `wait`),
//! so nothing is ever cut short: a stop, however many arrive, is acted on by
//! the loop between steps, never in the middle of a file write.
//!
//! SIGTERM, SIGINT and SIGHUP are handled from the start. Supervising a
//! program adds the ones it forwards and SIGCHLD ([`Signals::add`]); until
//! then they keep their default action, so a daemon still dumps core on
//! SIGQUIT and ends on SIGUSR1 as any program does. Which signals were
//! ignored when the process started (`nohup`, a job a script starts with
//! `&`) is recorded first, for the supervisor to keep them ignored.

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::{flag, low_level::pipe};

use crate::error::Error;

/// A signal number (`libc::SIGTERM`, ...).
pub type Signal = libc::c_int;

/// The signals handled from the start, in the order they are reported when
/// several are pending: a stop first.
pub const BASE: [Signal; 3] = [SIGTERM, SIGINT, SIGHUP];

/// The installed handlers and the read end of their pipe.
pub struct Signals {
    reader: UnixStream,
    writer: UnixStream,
    /// One flag per handled signal, in reporting order.
    arrived: Vec<(Signal, Arc<AtomicBool>)>,
    /// Bit N: signal N's action was "ignore" before any was installed.
    ignored_at_start: u64,
}

impl Signals {
    /// Installs the handlers for [`BASE`]. Call before anything else, so
    /// that a signal arriving during start-up is not lost or fatal.
    pub fn install() -> Result<Signals, Error> {
        let ignored_at_start = (1..32)
            .filter(|&sig| is_ignored(sig))
            .fold(0u64, |set, sig| set | 1 << sig);
        let (reader, writer) = UnixStream::pair().map_err(setup)?;
        reader.set_nonblocking(true).map_err(setup)?;
        let mut signals = Signals {
            reader,
            writer,
            arrived: Vec::new(),
            ignored_at_start,
        };
        signals.register(&BASE)?;
        Ok(signals)
    }

    /// Whether `sig`'s action was "ignore" when the process started.
    pub fn was_ignored(&self, sig: Signal) -> bool {
        (1..64).contains(&sig) && self.ignored_at_start & (1 << sig) != 0
    }

    /// Handles `more` as well, reported after those handled already; but
    /// for SIGCHLD and SIGCONT, which the supervisor needs, not those that
    /// were ignored at start: they stay ignored, as `exec` passes on.
    pub fn add(&mut self, more: &[Signal]) -> Result<(), Error> {
        let needed = |sig| sig == libc::SIGCHLD || sig == libc::SIGCONT;
        let wanted: Vec<Signal> = more
            .iter()
            .copied()
            .filter(|&sig| needed(sig) || !self.was_ignored(sig))
            .collect();
        self.register(&wanted)
    }

    fn register(&mut self, sigs: &[Signal]) -> Result<(), Error> {
        for &sig in sigs {
            let arrived = Arc::new(AtomicBool::new(false));
            flag::register(sig, Arc::clone(&arrived)).map_err(setup)?;
            pipe::register(sig, self.writer.try_clone().map_err(setup)?).map_err(setup)?;
            self.arrived.push((sig, arrived));
        }
        Ok(())
    }

    /// The descriptor that becomes readable when a signal arrives.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.reader.as_fd()
    }

    /// Empties the wake-up pipe after `fd` was readable; the flags, not the
    /// bytes, say which signal came.
    pub fn drain(&self) {
        let mut buf = [0u8; 64];
        while matches!((&self.reader).read(&mut buf), Ok(n) if n > 0) {}
    }

    /// Takes a signal that arrived and has not been acted on, the first in
    /// reporting order. Several of one kind before it is taken count once.
    pub fn take(&self) -> Option<Signal> {
        self.arrived
            .iter()
            .find(|(_, arrived)| arrived.swap(false, Ordering::SeqCst))
            .map(|(sig, _)| *sig)
    }
}

/// Whether `sig`'s action is "ignore" now.
fn is_ignored(sig: Signal) -> bool {
    // SAFETY: sigaction(2) with a null new action only writes the current
    // one into `old`, a zeroed local we own.
    #[allow(unsafe_code)]
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

fn setup(e: std::io::Error) -> Error {
    if crate::error::is_out_of_resources(&e) {
        return Error::OutOfResources {
            doing: "install signal handlers",
            source: e,
        };
    }
    Error::Config(format!("could not install signal handlers: {e}"))
}
