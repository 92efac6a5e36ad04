//! A one-shot timer that keeps counting while the machine is suspended, as a
//! descriptor `poll(2)` can wait on.
//!
//! poll's own timeout runs on `CLOCK_MONOTONIC`, which stops while a VM or a
//! laptop is suspended: a daemon that planned to refresh in 30 minutes and
//! was suspended for an hour after 10 would still wait 20 more after resume,
//! with credentials that may have expired meanwhile. A timerfd on
//! `CLOCK_BOOTTIME` counts the suspended time too, so a refresh that fell due
//! while suspended fires at once on resume. Like `poll.rs`, this is one of
//! the few places that need unsafe code: std has no timerfd.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// An armed-or-idle `CLOCK_BOOTTIME` timerfd.
pub struct Timer {
    fd: File,
}

impl Timer {
    /// A new, disarmed timer (non-blocking, closed on exec).
    pub fn new() -> io::Result<Timer> {
        // SAFETY: timerfd_create takes no pointers; a negative return is an
        // error reported through errno.
        #[allow(unsafe_code)]
        let raw = unsafe {
            libc::timerfd_create(libc::CLOCK_BOOTTIME, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC)
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a descriptor timerfd_create just opened for us
        // and nothing else owns it.
        #[allow(unsafe_code)]
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Timer { fd: File::from(fd) })
    }

    /// Fires once, `after` from now on the boot clock (replacing any earlier
    /// arming, and clearing a firing not yet read).
    pub fn arm(&self, after: Duration) -> io::Result<()> {
        self.clear();
        // An all-zero value would disarm the timer; the shortest wait is a
        // nanosecond, which fires at once.
        let after = after.max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                // time_t is 64 bits on every target this builds for (musl's
                // too, since 1.2); a wait beyond i64 seconds is clamped.
                tv_sec: after.as_secs().min(i64::MAX as u64) as _,
                tv_nsec: after.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: `spec` is a valid itimerspec for the duration of the call,
        // the old-value pointer may be null, and the descriptor is ours.
        #[allow(unsafe_code)]
        let rc =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Whether the timer has fired since it was armed; reading clears it.
    pub fn fired(&self) -> bool {
        let mut expirations = [0u8; 8];
        matches!((&self.fd).read(&mut expirations), Ok(8))
    }

    /// Forgets a firing that was not read.
    fn clear(&self) {
        let _ = self.fired();
    }

    /// The descriptor that becomes readable when the timer fires.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests;
