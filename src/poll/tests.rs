//! Unit tests of `poll`.

use super::*;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::Instant;

#[test]
fn reports_readiness_and_times_out() {
    let (a, mut b) = UnixStream::pair().unwrap();
    let start = Instant::now();
    assert_eq!(
        poll(&[(a.as_fd(), Interest::Read)], Duration::from_millis(20)),
        vec![false]
    );
    assert!(start.elapsed() >= Duration::from_millis(15));
    b.write_all(b"x").unwrap();
    assert_eq!(
        poll(
            &[(a.as_fd(), Interest::Read), (b.as_fd(), Interest::Write)],
            Duration::from_secs(5)
        ),
        vec![true, true]
    );
}
