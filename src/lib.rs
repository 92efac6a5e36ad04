//! aws-credfile keeps a classic AWS shared credentials file fresh from the
//! identities Kubernetes on AWS hands a pod (IRSA web identity, EKS Pod
//! Identity), for applications whose AWS SDK predates them.
//!
//! Data flows from the command line and environment (`cli`, then `config`,
//! which reads each part's own settings) to a `Plan`; `daemon` carries it
//! out: a `source` fetches credentials (over `http`, from `sts` or a
//! container endpoint), and they are delivered to the `credentials_file`
//! and the `serve` endpoint, in the one `wait` over every descriptor.
//! Nothing below `config` imports it, and the leaves (`env`, `token`, `poll`,
//! `url`, `credentials`, `time`, `error`, `log`) import only each other.
//! ARCHITECTURE.md has the map.
// Unsafe code is denied everywhere; each call of a system call std lacks
// carries its own allow and SAFETY note: poll(2) (`poll`), timerfd
// (`timer`), getrlimit (`serve::limits`), sigaction (`signals`), prctl,
// getrlimit, setrlimit, madvise and dl_iterate_phdr (`process`), the `*at` file calls
// that work in an open directory (`credentials_file::dir`), and for
// `-- PROGRAM` waitpid, kill, prctl, access, signal, sigprocmask and the
// terminal calls (`supervise`).
#![deny(unsafe_code)]

pub mod cli;
pub mod config;
pub mod credentials;
pub mod credentials_file;
pub mod daemon;
pub mod env;
pub mod error;
pub mod http;
pub mod json;
pub mod log;
pub mod metrics;
pub mod poll;
pub mod print;
pub mod process;
pub mod schedule;
pub mod serve;
pub mod signals;
pub mod source;
pub mod sts;
pub mod supervise;
pub mod time;
pub mod timer;
pub mod token;
pub mod url;
pub mod wait;
