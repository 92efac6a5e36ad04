//! The one wait: signals, the boot-clock timer and every other descriptor
//! the program watches (the endpoint's listener and connections, a fetch's
//! worker, ...), in a single `poll(2)`, returning what happened.
//!
//! Everything that needs the loop's attention is a [`Part`]: it says which
//! descriptors to watch and until when, and handles what became ready. The
//! endpoint answers its clients inside its `ready` and never ends a wait; a
//! worker ends it with [`Wake::Done`]. Adding one more is one more entry in
//! the slice of parts a caller passes to [`Waiter::wait`].
//!
//! While idle, the process sits in one `poll` with no timeout of its own
//! beyond the caller's: zero wake-ups until a signal, a client, or the
//! moment the caller asked for.

use std::cell::Cell;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use crate::poll::{poll, Interest};
use crate::signals::{Signal, Signals};
use crate::time::deadline_after;
use crate::timer::Timer;

/// What ended a wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// A handled signal arrived (see `signals` for the order several are
    /// reported in: a stop first). What it means is the caller's business.
    Signal(Signal),
    /// The time given to [`Waiter::wait`] ran out.
    Timeout,
    /// A part finished the work it stands for (a fetch's worker).
    Done,
}

/// The descriptors to poll: each with what to wait for.
pub type Fds<'a> = Vec<(BorrowedFd<'a>, Interest)>;

/// Something the wait watches besides signals and the timer.
pub trait Part {
    /// Adds the descriptors to watch now to `fds`, and returns the moment
    /// the part needs attention even if none becomes ready (a connection's
    /// deadline), if any.
    fn watch<'a>(&'a self, fds: &mut Fds<'a>) -> Option<Instant>;

    /// Handles readiness, `ready` holding one flag per descriptor `watch`
    /// added (in order), at `now`; called after every poll, ready or not,
    /// so deadlines are kept. A wake ends the wait.
    fn ready(&mut self, ready: &[bool], now: Instant) -> Option<Wake>;
}

/// An absent part (the endpoint without `--serve`) watches nothing.
impl<P: Part> Part for Option<P> {
    fn watch<'a>(&'a self, fds: &mut Fds<'a>) -> Option<Instant> {
        self.as_ref().and_then(|p| p.watch(fds))
    }

    fn ready(&mut self, ready: &[bool], now: Instant) -> Option<Wake> {
        self.as_mut().and_then(|p| p.ready(ready, now))
    }
}

/// The signal handlers and the timer every wait uses.
pub struct Waiter {
    signals: Signals,
    /// Ends waits on the boot clock, which keeps counting through a suspend
    /// (see `timer`); `None` where timerfd is unavailable, and then poll's
    /// own timeout (CLOCK_MONOTONIC) ends them.
    timer: Option<Timer>,
    /// The monotonic end of the wait last started: the backstop to the
    /// timer, and what [`Waiter::resume`] continues.
    deadline: Cell<Instant>,
}

impl Waiter {
    pub fn new(signals: Signals) -> Waiter {
        Waiter {
            signals,
            timer: Timer::new().ok(),
            deadline: Cell::new(Instant::now()),
        }
    }

    /// Watches `parts` until a signal arrives, a part wakes the wait, or
    /// `timeout` passes (on the boot clock, so time spent suspended counts).
    /// A pending signal wins over everything else.
    pub fn wait(&self, parts: &mut [&mut dyn Part], timeout: Duration) -> Wake {
        self.deadline.set(deadline_after(timeout));
        if let Some(timer) = &self.timer {
            // Never seen to fail; the monotonic deadline ends the wait then.
            let _ = timer.arm(timeout);
        }
        self.resume(parts)
    }

    /// Goes on with the wait last started, until the same moment, after it
    /// returned for something that does not end it for the caller (a
    /// signal passed on to a supervised program). The boot-clock timer is
    /// left as it was armed, so a suspend meanwhile still counts.
    pub fn resume(&self, parts: &mut [&mut dyn Part]) -> Wake {
        let deadline = self.deadline.get();
        loop {
            if let Some(sig) = self.signals.take() {
                return Wake::Signal(sig);
            }
            let now = Instant::now();
            if now >= deadline || self.timer.as_ref().is_some_and(Timer::fired) {
                return Wake::Timeout;
            }
            // The signal pipe and the timer (checked above, not by slot)
            // first, then each part's descriptors.
            let mut fds: Fds = vec![(self.signals.fd(), Interest::Read)];
            fds.extend(self.timer.as_ref().map(|t| (t.fd(), Interest::Read)));
            let mut until = deadline;
            let mut slots = Vec::with_capacity(parts.len());
            for part in parts.iter() {
                let first = fds.len();
                if let Some(at) = part.watch(&mut fds) {
                    until = until.min(at);
                }
                slots.push(first..fds.len());
            }
            let ready = poll(&fds, until.saturating_duration_since(now));
            drop(fds);
            if ready[0] {
                self.signals.drain();
            }
            let now = Instant::now();
            for (part, slot) in parts.iter_mut().zip(slots) {
                if let Some(wake) = part.ready(&ready[slot], now) {
                    return wake;
                }
            }
        }
    }

    /// The signal handlers.
    pub fn signals(&self) -> &Signals {
        &self.signals
    }

    /// The signal handlers, to handle more of them (supervising a program).
    pub fn signals_mut(&mut self) -> &mut Signals {
        &mut self.signals
    }
}

#[cfg(test)]
mod tests;
