//! A fetch on a worker thread, so that the wait goes on meanwhile.

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crate::credentials::Credentials;
use crate::error::Error;
use crate::poll::Interest;
use crate::source::Provider;
use crate::wait::{Fds, Part, Wake};

/// A fetch on its own thread, as a part of the wait: its socket becomes
/// readable when the result is ready.
pub(super) struct Worker {
    handle: JoinHandle<Result<Credentials, Error>>,
    done: UnixStream,
}

impl Worker {
    pub(super) fn start(
        provider: Arc<Provider>,
        deadline: Option<Instant>,
    ) -> std::io::Result<Worker> {
        let (done, mut ring) = UnixStream::pair()?;
        done.set_nonblocking(true)?;
        // Every signal held in the thread (it inherits the mask), so that
        // signals reach only the main thread, which waits for them.
        let handle = crate::process::with_signals_held(|| {
            std::thread::Builder::new()
                .name("fetch".into())
                .spawn(move || {
                    let result = provider.fetch(deadline);
                    // Wakes the wait; if this fails, the wait's backstop finds
                    // the thread finished.
                    let _ = ring.write_all(b"!");
                    result
                })
        })?;
        Ok(Worker { handle, done })
    }

    pub(super) fn finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// The fetch's result; waits for the thread if it is not done yet.
    pub(super) fn result(self) -> Result<Credentials, Error> {
        match self.handle.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Part for Worker {
    fn watch<'a>(&'a self, fds: &mut Fds<'a>) -> Option<Instant> {
        fds.push((self.done.as_fd(), Interest::Read));
        None
    }

    fn ready(&mut self, ready: &[bool], _now: Instant) -> Option<Wake> {
        ready[0].then_some(Wake::Done)
    }
}
