//! One client connection: reading its request, answering it through the
//! server's [`Handler`], writing the answer, then closing.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::time::Timestamp;

use super::http1::{error_code, parse_request, render, Answer, Parsed, MAX_REQUEST};
use super::{event, Handler, Sockets, CONNECTION_DEADLINE};

/// 50 ms: a connection that has not sent its whole request this long after
/// it was accepted is idle or slow, and may be closed to make room; a real
/// SDK's request arrives within a millisecond or two of connecting, and one
/// just accepted may simply not have been read yet.
pub(super) const IDLE_AFTER: Duration = Duration::from_millis(50);

/// One client connection, reading its request or writing its answer.
pub(super) struct Conn {
    pub(super) stream: TcpStream,
    pub(super) peer: SocketAddr,
    /// Accepted plus [`CONNECTION_DEADLINE`].
    pub(super) deadline: Instant,
    /// When the client connected, as far as is known: when it was
    /// accepted, or earlier by the time it spent in the accept queue without
    /// a word (see [`silent_for`]).
    pub(super) connected: Instant,
    pub(super) inbox: Vec<u8>,
    pub(super) outbox: Vec<u8>,
    pub(super) written: usize,
}

impl Conn {
    pub(super) fn writing(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// Still waiting for (the rest of) its request.
    pub(super) fn reading(&self) -> bool {
        !self.writing()
    }

    /// When it may be closed to make room: [`IDLE_AFTER`] after it
    /// connected.
    pub(super) fn idle_from(&self) -> Instant {
        self.connected + IDLE_AFTER
    }

    /// Closed to make room if need be: still without its whole request
    /// [`IDLE_AFTER`] after it connected, so idle or slow, not a
    /// well-behaved client whose request is on its way.
    pub(super) fn idle(&self, now: Instant) -> bool {
        self.reading() && now >= self.idle_from()
    }
}

/// How long the client of `stream` has sent nothing, by the kernel's
/// count (`TCP_INFO`, the last segment received from it), at most
/// [`CONNECTION_DEADLINE`]; `None` where that cannot be read. For a socket
/// that has sent nothing since it connected, this is how long it waited in
/// the accept queue (under a flood of idle sockets, each one was
/// given [`IDLE_AFTER`] from its accept before it could make room, and with
/// few descriptors a probe waited behind them for over a second).
pub(super) fn silent_for(stream: &TcpStream) -> Option<Duration> {
    use std::os::fd::AsRawFd;
    let mut info = std::mem::MaybeUninit::<libc::tcp_info>::zeroed();
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt(2) writes at most `len` bytes into the zeroed
    // tcp_info it is given, which outlives the call, and says how many.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    let needed = std::mem::offset_of!(libc::tcp_info, tcpi_last_ack_recv) + 4;
    if rc != 0 || (len as usize) < needed {
        return None;
    }
    // SAFETY: zeroed, then filled in by the kernel: every field an integer.
    #[allow(unsafe_code)]
    let info = unsafe { info.assume_init() };
    let ms = info.tcpi_last_ack_recv.min(info.tcpi_last_data_recv);
    Some(Duration::from_millis(ms.into()).min(CONNECTION_DEADLINE))
}

impl Sockets {
    /// Moves connection `i` along (reads or writes what it can, answering
    /// through `handler`), and removes it when it is finished.
    pub(super) fn service(&mut self, i: usize, handler: &dyn Handler) {
        let done = if self.conns[i].writing() {
            self.write_some(i)
        } else {
            self.read_some(i, handler)
        };
        if done {
            self.conns.swap_remove(i);
        }
    }

    /// Reads what is there; returns true when the connection is finished.
    fn read_some(&mut self, i: usize, handler: &dyn Handler) -> bool {
        let conn = &mut self.conns[i];
        let mut buf = [0u8; 2048];
        // Until the request is complete or the socket is empty, so that a
        // request is never taken for incomplete while its end sits unread.
        let answer = loop {
            let room = MAX_REQUEST + 1 - conn.inbox.len().min(MAX_REQUEST);
            let want = room.min(buf.len());
            match conn.stream.read(&mut buf[..want]) {
                Ok(0) => return true,
                Ok(n) => conn.inbox.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return true,
            }
            match parse_request(&conn.inbox) {
                Parsed::Incomplete => {}
                Parsed::Bad(status, why) => {
                    self.log.debug(
                        &event(self.events, "bad_request"),
                        &[("peer", &conn.peer), ("status", &status), ("why", &why)],
                    );
                    break Answer::json_error(status, &error_code(status), why);
                }
                Parsed::Request(mut req) => {
                    req.to = conn.stream.local_addr().ok().map(|a| a.ip().to_canonical());
                    let a = handler.answer(&req, Timestamp::now());
                    // A refused Host is worth its own event: it is what a
                    // rebinding attempt looks like. The Host is no secret.
                    let what = if a.status == 403 {
                        "host_refused"
                    } else {
                        "request"
                    };
                    let host = req.host.as_deref().unwrap_or("");
                    self.log.debug(
                        &event(self.events, what),
                        &[
                            ("peer", &conn.peer),
                            ("host", &host),
                            ("method", &req.method),
                            ("path", &req.path),
                            ("status", &a.status),
                        ],
                    );
                    break a;
                }
            }
        };
        handler.answered(answer.status);
        conn.outbox = render(&answer);
        conn.inbox = Vec::new();
        self.write_some(i)
    }

    /// Writes what the socket takes; returns true when done or broken.
    fn write_some(&mut self, i: usize) -> bool {
        let conn = &mut self.conns[i];
        while conn.written < conn.outbox.len() {
            match conn.stream.write(&conn.outbox[conn.written..]) {
                Ok(0) => return true,
                Ok(n) => conn.written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
        // Half-close so the client sees the end before the reset a close
        // with unread input could cause.
        let _ = conn.stream.shutdown(std::net::Shutdown::Write);
        true
    }
}
