//! Listening sockets: the queue's size, and which failures to listen are
//! whose (the address's, the machine's, this process's limits).

use std::net::{SocketAddr, TcpListener};

use crate::error::Error;

/// A listening socket at `addr`, not blocking, with an accept queue of
/// [`BACKLOG`].
pub(super) fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use std::os::fd::AsRawFd;
    let listener = TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    // SAFETY: listen(2) on the socket just bound and listening, to size
    // its queue again; it takes no pointers.
    #[allow(unsafe_code)]
    let _ = unsafe { libc::listen(listener.as_raw_fd(), BACKLOG) };
    Ok(listener)
}

/// 1024 connections may wait to be accepted (the kernel caps this at
/// `net.core.somaxconn`, 4096 by default), not the 128 the standard library
/// asks for: when the queue is full, a client's SYN is dropped and it
/// tries again only a second later, a kubelet probe's whole timeout
/// (round 14: a flood of idle sockets kept 128 full). Sockets that wait
/// there silently are closed as soon as they are taken.
const BACKLOG: libc::c_int = 1024;

/// That address does not exist here: a loopback the machine lacks.
pub(super) fn absent(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EADDRNOTAVAIL | libc::EAFNOSUPPORT)
    )
}

/// Out of descriptors is this process's limit, not the address's fault
/// (round 13: exit 2, blaming a --serve never given); anything else is the
/// address's, told by `describe`.
pub(super) fn listen_error(
    e: std::io::Error,
    describe: impl FnOnce(&std::io::Error) -> String,
) -> Error {
    if crate::error::is_out_of_resources(&e) {
        return Error::OutOfResources {
            doing: "open the listening socket",
            source: e,
        };
    }
    Error::Config(describe(&e))
}

/// What to do when listening failed with `e`.
pub(super) fn remedy(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => "stop what listens there, or choose another port",
        _ => "choose an address of this machine and a port this user may use",
    }
}

/// The other loopback address on the same port, for `127.0.0.1:PORT` and
/// `[::1]:PORT`: clients given `localhost` resolve it to both, most SDKs
/// trying `::1` first, so whoever listened on the other one would get
/// their requests, tokens and all (any local user could). The IPv4
/// wildcard `0.0.0.0:PORT` leaves `[::1]:PORT` free the same way; `[::]`
/// takes both families.
pub(super) fn other_loopback(addr: SocketAddr) -> Option<SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr};
    let ip: std::net::IpAddr = match addr.ip() {
        ip if ip == Ipv4Addr::LOCALHOST || ip == Ipv4Addr::UNSPECIFIED => {
            Ipv6Addr::LOCALHOST.into()
        }
        ip if ip == Ipv6Addr::LOCALHOST => Ipv4Addr::LOCALHOST.into(),
        _ => return None,
    };
    Some(SocketAddr::new(ip, addr.port()))
}
