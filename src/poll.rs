//! `poll(2)` over a few file descriptors: the one place that needs unsafe
//! code, because std has no way to wait on several sockets at once.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

/// What to wait for on one descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interest {
    Read,
    Write,
}

/// Waits until one of `fds` is ready or `timeout` passes (rounded up to a
/// millisecond, so a short timeout cannot become a busy loop). Returns, for
/// each descriptor, whether it is ready (including error or hang-up, which a
/// following read or write will report).
pub fn poll(fds: &[(BorrowedFd<'_>, Interest)], timeout: Duration) -> Vec<bool> {
    let mut pollfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|(fd, interest)| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: match interest {
                Interest::Read => libc::POLLIN,
                Interest::Write => libc::POLLOUT,
            },
            revents: 0,
        })
        .collect();
    let millis = timeout.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `pollfds` is a valid, exclusively borrowed array of exactly
    // `pollfds.len()` initialised pollfd structs, and every fd in it is
    // borrowed for the duration of the call, so none can be closed meanwhile.
    #[allow(unsafe_code)]
    let n = unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, millis) };
    if n <= 0 {
        // Timeout, or EINTR from a signal (whose handler has already written
        // to the signal pipe): nothing is ready; the caller re-checks.
        return vec![false; fds.len()];
    }
    pollfds.iter().map(|p| p.revents != 0).collect()
}

#[cfg(test)]
mod tests;
