//! Taking connections: accepting (answering at once what already came),
//! making room at the cap, backing off when descriptors run out; and the
//! server as a `Part` of the one wait.

use std::io::ErrorKind;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use super::conn::{silent_for, Conn};
use super::{Handler, Server, Sockets, CONNECTION_DEADLINE};
use crate::poll::Interest;
use crate::wait::{Fds, Part, Wake};

/// At most this many connections are accepted per wake-up, so that a flood
/// of new ones cannot keep the loop from signals and from the connections
/// already open.
const ACCEPT_BATCH: usize = 64;

impl Sockets {
    /// Whether new connections are taken now: not while accepting is paused,
    /// and not at the cap with no connection that could make room (new
    /// clients then wait in the kernel's accept queue until one finishes or
    /// expires, rather than the listener being reported ready again and
    /// again).
    pub(super) fn accepting(&self, now: Instant) -> bool {
        self.accept_failures.paused(now).is_none() && self.has_room(now)
    }

    /// Below the cap, or at it with an idle connection that can go.
    pub(super) fn has_room(&self, now: Instant) -> bool {
        self.conns.len() < self.cap || self.conns.iter().any(|c| c.idle(now))
    }

    /// Takes new connections, answering each one whose request is already
    /// there at once, so a burst of well-behaved clients is served as it
    /// arrives without filling the connection set. Past the cap, the
    /// connection that has waited longest for its request makes room.
    pub(super) fn accept(&mut self, listener: usize, handler: &dyn Handler) {
        // Whether the last failure closed a connection to free a descriptor.
        let mut freed = false;
        for _ in 0..ACCEPT_BATCH {
            if !self.has_room(Instant::now()) {
                // No one could make room: the rest wait in the kernel's
                // accept queue.
                return;
            }
            match self.listeners[listener].accept() {
                Ok((stream, peer)) => {
                    freed = false;
                    self.accept_failures.succeeded();
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    let now = Instant::now();
                    self.conns.push(Conn {
                        stream,
                        peer,
                        deadline: now + CONNECTION_DEADLINE,
                        connected: now,
                        inbox: Vec::new(),
                        outbox: Vec::new(),
                        written: 0,
                    });
                    // A client sends its request as soon as it is
                    // connected, so it is usually there already.
                    let last = self.conns.len() - 1;
                    self.service(last, handler);
                    // Still waiting for it: how long it has, counting its
                    // silence in the accept queue.
                    if let Some(conn) = self.conns.get_mut(last).filter(|c| c.reading()) {
                        if let Some(silent) = silent_for(&conn.stream) {
                            conn.connected = now.checked_sub(silent).unwrap_or(now);
                        }
                    }
                    if self.conns.len() > self.cap {
                        self.make_room(handler);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                // A signal, or a client that gave up while queued: go on.
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::Interrupted | ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) => {
                    // EMFILE, ENFILE, ENOBUFS, ENOMEM. Closing an idle
                    // connection frees a descriptor, so the queued client
                    // can be taken at once; when there is none to close, or
                    // that did not help (memory, the system's file table),
                    // accepting pauses.
                    let now = Instant::now();
                    let report = self.accept_failures.failed(now);
                    freed = !freed && self.make_room(handler);
                    let pause = if freed {
                        Duration::ZERO
                    } else {
                        self.accept_failures.pause(now)
                    };
                    if let Some(failures) = report {
                        self.log.warn(
                            &self.event("accept_failed"),
                            &[
                                ("error", &e),
                                ("failures", &failures),
                                ("accepting_again_in", &format!("{}ms", pause.as_millis())),
                            ],
                        );
                    }
                    if !freed {
                        return;
                    }
                }
            }
        }
    }

    /// Frees a slot by closing the connection that has waited longest
    /// without sending a whole request, once it is idle (see
    /// [`conn::IDLE_AFTER`]): a real SDK request is complete in milliseconds, so
    /// that one is idle or slow. It is read once more
    /// first, and answered instead if its request has arrived meanwhile
    /// (then the next one is considered, unless answering freed the slot). A
    /// connection writing its answer is never closed. False when no
    /// connection could go.
    pub(super) fn make_room(&mut self, handler: &dyn Handler) -> bool {
        let open = self.conns.len();
        let now = Instant::now();
        loop {
            let Some(oldest) = (0..self.conns.len())
                .filter(|&i| self.conns[i].idle(now))
                .min_by_key(|&i| self.conns[i].connected)
            else {
                return false;
            };
            self.service(oldest, handler);
            if self.conns.len() < open {
                return true;
            }
            if self.conns[oldest].reading() {
                let gone = self.conns.swap_remove(oldest);
                self.log
                    .debug(&self.event("evicted"), &[("peer", &gone.peer)]);
                return true;
            }
        }
    }

    /// Drops connections past their deadline (a `408` is not worth a write
    /// to a client that is not reading).
    pub(super) fn expire(&mut self, now: Instant) {
        let (log, event) = (self.log, self.event("timeout"));
        self.conns.retain(|c| {
            let alive = c.deadline > now;
            if !alive {
                log.debug(&event, &[("peer", &c.peer)]);
            }
            alive
        });
    }
}

impl Sockets {
    /// Each connection (for reading its request or writing its answer),
    /// then the listener while accepting; until the nearest connection
    /// deadline or the end of a pause in accepting. No timer of its own
    /// while idle: both exist only while there is work.
    fn watch<'a>(&'a self, fds: &mut Fds<'a>) -> Option<Instant> {
        let now = Instant::now();
        for c in &self.conns {
            let interest = if c.writing() {
                Interest::Write
            } else {
                Interest::Read
            };
            fds.push((c.stream.as_fd(), interest));
        }
        if self.accepting(now) {
            for listener in &self.listeners {
                fds.push((listener.as_fd(), Interest::Read));
            }
        }
        // At the cap, also when the oldest waiting connection turns idle
        // and can make room for a client in the accept queue.
        let turns_idle = (self.conns.len() >= self.cap)
            .then(|| {
                self.conns
                    .iter()
                    .filter(|c| c.reading())
                    .map(Conn::idle_from)
                    // Already idle: the listener is watched; no timer.
                    .filter(|at| *at > now)
                    .min()
            })
            .flatten();
        self.conns
            .iter()
            .map(|c| c.deadline)
            .chain(self.accept_failures.paused(now))
            .chain(turns_idle)
            .min()
    }

    /// Serves what is ready (connections first, in reverse so that
    /// swap_remove only moves ones already handled, then new ones) and
    /// drops connections past their deadline.
    fn serve(&mut self, ready: &[bool], now: Instant, handler: &dyn Handler) {
        // `watch` added one flag per connection, then the listeners' if it
        // was accepting; nothing changed the connections since.
        let open = self.conns.len();
        for i in (0..open).rev() {
            if ready[i] {
                self.service(i, handler);
            }
        }
        for listener in 0..self.listeners.len() {
            if ready.get(open + listener).copied().unwrap_or(false) {
                self.accept(listener, handler);
            }
        }
        self.expire(now);
    }
}

impl<H: Handler> Part for Server<H> {
    fn watch<'a>(&'a self, fds: &mut Fds<'a>) -> Option<Instant> {
        self.sockets.watch(fds)
    }

    /// Never ends the wait.
    fn ready(&mut self, ready: &[bool], now: Instant) -> Option<Wake> {
        self.sockets.serve(ready, now, &self.handler);
        None
    }
}
