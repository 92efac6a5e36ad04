//! Unit tests of `timer`.

use super::*;
use crate::poll::{poll, Interest};
use std::time::Instant;

#[test]
fn fires_after_the_wait_and_not_before() {
    let timer = Timer::new().expect("timerfd");
    timer.arm(Duration::from_millis(50)).expect("arm");
    assert!(!timer.fired(), "fired at once");
    let start = Instant::now();
    let ready = poll(&[(timer.fd(), Interest::Read)], Duration::from_secs(5));
    assert_eq!(ready, vec![true]);
    assert!(start.elapsed() >= Duration::from_millis(40));
    assert!(timer.fired());
    assert!(!timer.fired(), "reading clears it");
}

#[test]
fn a_due_time_in_the_past_fires_at_once_and_rearming_replaces() {
    let timer = Timer::new().expect("timerfd");
    timer.arm(Duration::ZERO).expect("arm");
    let ready = poll(&[(timer.fd(), Interest::Read)], Duration::from_secs(5));
    assert_eq!(ready, vec![true]);
    // A firing not yet read is cleared by arming again.
    timer.arm(Duration::from_secs(3600)).expect("re-arm");
    assert!(!timer.fired());
    let ready = poll(&[(timer.fd(), Interest::Read)], Duration::from_millis(20));
    assert_eq!(ready, vec![false]);
}
