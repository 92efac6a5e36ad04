//! The integration tests: the built binary against local fakes, one module
//! per area, all in one test binary so the shared harness is compiled once.
//!
//! `harness` is what every module shares (scratch directories, the fake STS
//! and container agent, running the binary, the secret scan); the other
//! modules are the tests. `cargo test --test it MODULE::` runs one area;
//! the `#[ignore]`d stress tests are `crash::` and `fleet::` (`make stress`).
//!
//! `AWS_CREDFILE_TEST_BIN=/path/to/aws-credfile` runs the tests against that
//! build instead of the one cargo made: how a regression test (`hardening::`)
//! is shown to fail on the commit before its fix.

mod harness;

mod bad_input;
mod chain;
mod check;
mod cli;
mod container;
mod crash;
mod daemon;
mod faults;
mod fleet;
mod fs_faults;
mod hardening;
mod limits;
mod messages;
mod metrics;
mod once;
mod print;
mod serve;
mod supervise;
mod url_passwords;
