//! SIGTERM, SIGINT and SIGHUP for a program that waits in one `poll`: the
//! handlers only set a flag and write a byte into a socket pair the wait
//! polls (see `wait`), so nothing is ever cut short: a stop, however many
//! arrive, is acted on by the loop between steps, never in the middle of a
//! file write.

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::{flag, low_level::pipe};

use crate::error::Error;

/// A signal that arrived and has not been acted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM or SIGINT.
    Stop,
    /// SIGHUP.
    Refresh,
}

/// The installed handlers and the read end of their pipe.
pub struct Signals {
    reader: UnixStream,
    stop: Arc<AtomicBool>,
    refresh: Arc<AtomicBool>,
}

impl Signals {
    /// Installs the handlers. Call before anything else, so that a signal
    /// arriving during start-up is not lost or fatal.
    pub fn install() -> Result<Signals, Error> {
        let setup =
            |e: std::io::Error| Error::Config(format!("could not install signal handlers: {e}"));
        let (reader, writer) = UnixStream::pair().map_err(setup)?;
        reader.set_nonblocking(true).map_err(setup)?;
        let stop = Arc::new(AtomicBool::new(false));
        let refresh = Arc::new(AtomicBool::new(false));
        for sig in [SIGTERM, SIGINT] {
            flag::register(sig, Arc::clone(&stop)).map_err(setup)?;
            pipe::register(sig, writer.try_clone().map_err(setup)?).map_err(setup)?;
        }
        flag::register(SIGHUP, Arc::clone(&refresh)).map_err(setup)?;
        pipe::register(SIGHUP, writer).map_err(setup)?;
        Ok(Signals {
            reader,
            stop,
            refresh,
        })
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

    /// A signal that arrived and has not been acted on. A stop stays
    /// pending (every later wait sees it too); a refresh is taken.
    pub fn pending(&self) -> Option<Signal> {
        if self.stop.load(Ordering::SeqCst) {
            Some(Signal::Stop)
        } else if self.refresh.swap(false, Ordering::SeqCst) {
            Some(Signal::Refresh)
        } else {
            None
        }
    }

    /// Puts a taken SIGHUP back, so the next [`Signals::pending`] returns it.
    pub fn refresh_again(&self) {
        self.refresh.store(true, Ordering::SeqCst);
    }
}
