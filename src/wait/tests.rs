//! Unit tests of `wait`.

use super::*;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

/// A part that wakes the wait with `Done` when its socket has a byte.
struct Doorbell {
    rx: UnixStream,
    rang: usize,
}

impl Part for Doorbell {
    fn watch<'a>(&'a self, fds: &mut Fds<'a>) -> Option<Instant> {
        fds.push((self.rx.as_fd(), Interest::Read));
        None
    }

    fn ready(&mut self, ready: &[bool], _now: Instant) -> Option<Wake> {
        assert_eq!(ready.len(), 1, "one flag per descriptor watched");
        ready[0].then(|| {
            self.rang += 1;
            Wake::Done
        })
    }
}

#[test]
fn a_part_ends_the_wait_and_time_runs_out_otherwise() {
    let waiter = Waiter::new(Signals::install().expect("handlers"));
    let (rx, mut tx) = UnixStream::pair().expect("socket pair");
    let mut bell = Doorbell { rx, rang: 0 };
    let mut none: Option<Doorbell> = None;
    let start = Instant::now();
    assert_eq!(
        waiter.wait(&mut [&mut none, &mut bell], Duration::from_millis(30)),
        Wake::Timeout
    );
    assert!(start.elapsed() >= Duration::from_millis(25));
    tx.write_all(b"!").expect("ring");
    assert_eq!(
        waiter.wait(&mut [&mut none, &mut bell], Duration::from_secs(10)),
        Wake::Done
    );
    assert_eq!(bell.rang, 1);
}
