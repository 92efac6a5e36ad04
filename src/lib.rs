//! aws-credfile keeps a classic AWS shared credentials file fresh from the
//! identities Kubernetes on AWS hands a pod (IRSA web identity, EKS Pod
//! Identity), for applications whose AWS SDK predates them.
//!
//! The modules are listed in the order data flows through them; each depends
//! only on the ones above it (`cli` and `config` read the command line and
//! environment; `daemon` at the bottom runs the loop).
// Unsafe code is denied everywhere; the two system calls std has no API
// for (`poll(2)`, and `getrlimit(2)` in `serve`) carry their own allow and
// SAFETY note.
#![deny(unsafe_code)]

pub mod cli;
pub mod config;
pub mod credentials;
pub mod credentials_file;
pub mod daemon;
pub mod endpoint;
pub mod error;
pub mod http;
pub mod log;
pub mod poll;
pub mod schedule;
pub mod serve;
pub mod signals;
pub mod source;
pub mod sts;
pub mod time;
pub mod timer;
pub mod url;
