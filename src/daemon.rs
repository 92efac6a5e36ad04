//! The refresh loop: obtain credentials, write them, and wait for the next
//! refresh, a signal, or a retry. `--once` is the same refresh with a
//! bounded retry budget instead of a loop.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::credentials::Credentials;
use crate::credentials_file::{FileSink, Written};
use crate::error::Error;
use crate::log::Logger;
use crate::schedule::{self, backoff, deadline_after, random_unit, refresh_delay};
use crate::serve::{Server, CREDENTIALS_PATH};
use crate::signals::{Signals, Wake};
use crate::source::Provider;
use crate::time::{format_duration, Timestamp};

/// Everything one refresh needs.
pub struct Refresher<'a> {
    pub provider: &'a Provider,
    /// The file; absent when only serving.
    pub sink: Option<&'a FileSink>,
    /// The loopback endpoint, when `--serve` is on.
    pub server: Option<Server>,
    pub signals: &'a Signals,
    pub log: &'a Logger,
}

impl Refresher<'_> {
    /// Fetches and writes once. A failure at any step leaves the file as it was.
    fn refresh(&self, deadline: Option<Instant>) -> Result<(Credentials, Written), Error> {
        let began = Timestamp::now();
        let creds = self
            .signals
            .interruptible(|| self.provider.fetch(deadline))?;
        self.store(creds, began)
    }

    /// Checks fetched credentials and writes them; the part of a refresh
    /// that never runs off the main thread. `began` is when their fetch
    /// began (see `FileSink::write`). Without a file there is nothing to
    /// keep, so that counts as written.
    fn store(&self, creds: Credentials, began: Timestamp) -> Result<(Credentials, Written), Error> {
        let now = Timestamp::now();
        if creds.expiration <= now {
            return Err(Error::ExpiredOnArrival {
                from: self.provider.describe(),
                expiration: creds.expiration,
                now,
            });
        }
        let written = match self.sink {
            Some(sink) => sink.write(&creds, now, began)?,
            None => Written::Replaced,
        };
        Ok((creds, written))
    }

    /// Where the credentials go, as log fields: `profile` and `file` when
    /// writing the file, `endpoint` when serving.
    fn destination(&self) -> Vec<(&'static str, String)> {
        let mut fields = Vec::new();
        if let Some(sink) = self.sink {
            fields.push(("profile", sink.profile.clone()));
            fields.push(("file", sink.path.display().to_string()));
        }
        if let Some(addr) = self.server.as_ref().and_then(Server::local_addr) {
            fields.push(("endpoint", format!("http://{addr}{CREDENTIALS_PATH}")));
        }
        fields
    }

    /// Logs `event` with the destination fields followed by `extra`.
    fn log_with_destination(&self, event: &str, extra: &[(&str, &dyn std::fmt::Display)]) {
        let dest = self.destination();
        let mut fields: Vec<(&str, &dyn std::fmt::Display)> = dest
            .iter()
            .map(|(k, v)| (*k, v as &dyn std::fmt::Display))
            .collect();
        fields.extend_from_slice(extra);
        self.log.info(event, &fields);
    }

    /// Logs a refresh that succeeded: the new credentials written, or the
    /// newer ones another aws-credfile process wrote kept (not a failure:
    /// the file is as fresh as it can be).
    fn log_written(&self, creds: &Credentials, written: Written, next: Option<Duration>) {
        let next = next
            .map(format_duration_ms)
            .unwrap_or_else(|| "none".into());
        match written {
            Written::Replaced => self.log_with_destination(
                "credentials_refreshed",
                &[
                    ("access_key_id", &creds.access_key_id),
                    ("expires", &creds.expiration),
                    ("next_refresh_in", &next),
                ],
            ),
            Written::KeptNewer { expires } => self.log_with_destination(
                "newer_credentials_kept",
                &[
                    ("expires", &expires),
                    ("fetched_expires", &creds.expiration),
                    ("next_refresh_in", &next),
                ],
            ),
        }
    }

    fn log_failure(&self, err: &Error, attempt: u32, retry_in: Duration) {
        self.log.warn(
            "refresh_failed",
            &[
                ("attempt", &attempt),
                ("retry_in", &format_duration_ms(retry_in)),
                ("error", err),
            ],
        );
    }

    /// `--once`: one refresh, retrying transient failures until `budget` is
    /// spent. A stop signal ends it with success, as in the daemon.
    pub fn once(&self, budget: Duration) -> Result<(), Error> {
        let deadline = deadline_after(budget);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let err = match self.refresh(Some(deadline)) {
                Ok((creds, written)) => {
                    self.log_written(&creds, written, None);
                    return Ok(());
                }
                Err(e) => e,
            };
            let wait = backoff(attempt, schedule::ONCE_BACKOFF_CAP, random_unit());
            let left = deadline.saturating_duration_since(Instant::now());
            if !err.is_transient() || wait >= left {
                return Err(err);
            }
            self.log_failure(&err, attempt, wait);
            if self.signals.wait(wait) == Wake::Terminate {
                self.log.info("stopping", &[("reason", &"signal")]);
                return Ok(());
            }
        }
    }

    /// The daemon: refresh now, then before every expiry, forever. Failures
    /// are logged and retried with backoff; the file keeps the last good
    /// credentials meanwhile.
    pub fn run(&mut self) -> Result<(), Error> {
        self.log_with_destination(
            "started",
            &[
                ("version", &env!("CARGO_PKG_VERSION")),
                ("source", &self.provider.describe()),
            ],
        );
        let mut failures = 0;
        // The last good credentials, which the endpoint serves.
        let mut current: Option<Credentials> = None;
        loop {
            let result = if self.server.is_some() {
                self.refresh_while_serving(current.as_ref())
            } else {
                self.refresh(None)
            };
            let wait = match result {
                Ok((creds, written)) => {
                    failures = 0;
                    // Scheduled from what we fetched even when newer keys
                    // were kept: earlier, never later, than needed.
                    let next = refresh_delay(Timestamp::now(), creds.expiration, random_unit());
                    self.log_written(&creds, written, Some(next));
                    current = Some(creds);
                    next
                }
                Err(err) => {
                    failures += 1;
                    let wait = backoff(failures, schedule::BACKOFF_CAP, random_unit());
                    self.log_failure(&err, failures, wait);
                    wait
                }
            };
            let wake = match &mut self.server {
                Some(server) => server.wait(self.signals, wait, current.as_ref()),
                None => self.signals.wait(wait),
            };
            match wake {
                Wake::Timeout => {}
                Wake::Refresh => self.log.info("refresh_requested", &[("reason", &"SIGHUP")]),
                Wake::Terminate => {
                    self.log.info("stopping", &[("reason", &"signal")]);
                    return Ok(());
                }
            }
        }
    }

    /// A refresh that keeps the endpoint answering meanwhile: the fetch (the
    /// only step that can take seconds) runs on a short-lived worker thread
    /// while this thread keeps serving the current credentials and watching
    /// signals. Nothing else ever leaves this thread, and an idle daemon
    /// still has only the one.
    fn refresh_while_serving(
        &mut self,
        current: Option<&Credentials>,
    ) -> Result<(Credentials, Written), Error> {
        let Ok((done_reader, done_writer)) = UnixStream::pair() else {
            return self.refresh(None);
        };
        let provider = self.provider;
        let began = Timestamp::now();
        let mut again = false;
        let fetched = std::thread::scope(|scope| {
            let worker = scope.spawn(move || {
                let result = provider.fetch(None);
                // Wakes the poll below; if this fails, the join still works
                // once the wait's timeout comes round.
                let _ = (&done_writer).write_all(b"!");
                result
            });
            let server = self.server.as_mut().expect("called only when serving");
            let _ = done_reader.set_nonblocking(true);
            loop {
                // The minute is only a backstop: the worker's byte ends the wait.
                let wake = server.wait_or(
                    self.signals,
                    Some(done_reader.as_fd()),
                    Duration::from_secs(60),
                    current,
                );
                match wake {
                    Wake::Terminate => {
                        // The worker holds no file or lock; ending the
                        // process now is the prompt stop the signal asks for.
                        self.log.info("stopping", &[("reason", &"signal")]);
                        std::process::exit(0);
                    }
                    // This fetch may have read the token before whatever
                    // the SIGHUP is about; refresh once more after it.
                    Wake::Refresh => again = true,
                    Wake::Timeout => {}
                }
                let done = matches!((&done_reader).read(&mut [0u8; 1]), Ok(1));
                if done || worker.is_finished() {
                    break;
                }
            }
            worker.join()
        });
        if again {
            self.signals.refresh_again();
        }
        match fetched {
            Ok(result) => self.store(result?, began),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// Sub-second precision for retry waits, which are often below a second.
fn format_duration_ms(d: Duration) -> String {
    if d < Duration::from_secs(10) {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format_duration(d)
    }
}
