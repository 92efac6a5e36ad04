//! How many connections and how fast: the cap on open connections under
//! the process's descriptor limit, and the pause in accepting while
//! `accept` fails for want of descriptors or memory.

use std::time::{Duration, Instant};

use super::MAX_CONNECTIONS;

/// The first pause in accepting after `accept` failed for want of
/// descriptors or memory and closing an idle connection did not help; it
/// doubles with each such failure up to [`ACCEPT_PAUSE_MAX`], and is back
/// to this after a connection is accepted.
pub(super) const ACCEPT_PAUSE_MIN: Duration = Duration::from_millis(50);

pub(super) const ACCEPT_PAUSE_MAX: Duration = Duration::from_secs(1);

/// At most one warning per this period while accepting fails; each says how
/// many failures there were since the last.
pub(super) const ACCEPT_WARNING_INTERVAL: Duration = Duration::from_secs(10);
/// Descriptors kept out of the connection cap for everything else the
/// daemon opens: stdio, the signal pipe, the listener, a refresh's
/// connection to STS or the agent and its worker's pipe, the credentials
/// file and its temporary file.
pub(super) const RESERVED_FDS: u64 = 32;

/// How many connections may be open at once under a descriptor limit of
/// `fd_limit` (None: no limit): [`MAX_CONNECTIONS`], or fewer so that
/// [`RESERVED_FDS`] stay free for the refresh.
pub(super) fn connection_cap(fd_limit: Option<u64>) -> usize {
    fd_limit.map_or(MAX_CONNECTIONS, |limit| {
        spare(limit).clamp(1, MAX_CONNECTIONS)
    })
}

/// The descriptors a limit of `limit` leaves for connections after
/// [`RESERVED_FDS`].
fn spare(limit: u64) -> usize {
    usize::try_from(limit.saturating_sub(RESERVED_FDS)).unwrap_or(usize::MAX)
}

/// The caps of the credentials endpoint and the metrics listener when both
/// run, under a descriptor limit of `fd_limit`: together they keep
/// [`RESERVED_FDS`] free, and the metrics get a quarter of what is left,
/// so a flood on a port that may face the pod network takes neither the
/// endpoint's share nor the refresh's. Each is at most
/// [`MAX_CONNECTIONS`] and at least 1. (endpoint, metrics).
pub(super) fn shared_caps(fd_limit: Option<u64>) -> (usize, usize) {
    let Some(limit) = fd_limit else {
        return (MAX_CONNECTIONS, MAX_CONNECTIONS);
    };
    let free = spare(limit);
    let metrics = (free / 4).clamp(1, MAX_CONNECTIONS);
    let endpoint = free.saturating_sub(metrics).clamp(1, MAX_CONNECTIONS);
    (endpoint, metrics)
}

/// This process's soft RLIMIT_NOFILE, or None when it is unlimited.
pub(super) fn fd_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) writes one rlimit into the struct passed by
    // exclusive reference, which lives across the call.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (rc == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

/// `accept` failing for want of descriptors or memory: the connection it
/// could not take stays queued, so the listener stays readable, and
/// polling it again at once would spin. Accepting pauses instead, longer
/// while failures continue, and a warning goes out at most once per
/// [`ACCEPT_WARNING_INTERVAL`].
#[derive(Debug)]
pub(super) struct AcceptFailures {
    /// The listener is left out of `poll` until then.
    paused_until: Option<Instant>,
    /// The pause the next failure starts.
    next_pause: Duration,
    /// Failures since the last warning.
    unreported: u64,
    last_warning: Option<Instant>,
}

impl AcceptFailures {
    pub(super) fn new() -> Self {
        AcceptFailures {
            paused_until: None,
            next_pause: ACCEPT_PAUSE_MIN,
            unreported: 0,
            last_warning: None,
        }
    }

    /// Counts a failure at `now`; returns the number of failures to report
    /// when a warning is due.
    pub(super) fn failed(&mut self, now: Instant) -> Option<u64> {
        self.unreported += 1;
        let due = self
            .last_warning
            .is_none_or(|at| now.duration_since(at) >= ACCEPT_WARNING_INTERVAL);
        if !due {
            return None;
        }
        self.last_warning = Some(now);
        Some(std::mem::take(&mut self.unreported))
    }

    /// Pauses accepting from `now`; returns for how long.
    pub(super) fn pause(&mut self, now: Instant) -> Duration {
        let pause = self.next_pause;
        self.paused_until = Some(now + pause);
        self.next_pause = (pause * 2).min(ACCEPT_PAUSE_MAX);
        pause
    }

    /// A connection was accepted: the next pause is short again.
    pub(super) fn succeeded(&mut self) {
        self.next_pause = ACCEPT_PAUSE_MIN;
    }

    /// When accepting resumes, if it is paused at `now`.
    pub(super) fn paused(&self, now: Instant) -> Option<Instant> {
        self.paused_until.filter(|&until| until > now)
    }
}
