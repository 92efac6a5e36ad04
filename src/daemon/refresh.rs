//! One refresh: the fetch on a worker while the wait goes on, the write on
//! this thread, then the endpoint, the listeners and the metrics told.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::react::Reaction;
use super::worker::Worker;
use super::{Flow, Refresher, FETCH_BACKSTOP, INLINE_FETCH_LIMIT, LOCK_RETRY, THREAD_RETRIES};
use crate::credentials::Credentials;
use crate::credentials_file::{check, Written, LOCK_WAIT};
use crate::error::{one_line_ours, Error};
use crate::http::without_pieces;
use crate::schedule::SAFETY_MARGIN;
use crate::serve::Server;
use crate::time::Timestamp;
use crate::wait::Wake;

impl Refresher {
    /// Fetches and stores once; the endpoint serves what was stored, or
    /// what was fetched when only the file could not take it. A failure at
    /// any step leaves the file as it was.
    pub(super) fn refresh(
        &mut self,
        deadline: Option<Instant>,
    ) -> Flow<Result<(Credentials, Written), Error>> {
        // Only the file failed last time: the same credentials are written
        // again while they have the usual margin left, so that a full or
        // read-only disk is not a call to the source at every retry.
        let began = Timestamp::now();
        let unwritten = self
            .unwritten
            .take()
            .filter(|(c, _)| began.until(c.expiration) > SAFETY_MARGIN);
        let (fetched, began) = match unwritten {
            Some((creds, fetched_at)) => (Ok(creds), fetched_at),
            None => match self.fetch(deadline) {
                Flow::Go(fetched) => (fetched, began),
                Flow::End(ended) => return Flow::End(ended),
            },
        };
        let (stored, copy) = match fetched {
            Ok(creds) => {
                let copy = creds.clone();
                // Served while the write waits for a lock another writer
                // holds (up to `LOCK_WAIT`), not only once it is done.
                if let Some(server) = &mut self.server {
                    server.handler_mut().creds = Some(copy.clone());
                }
                match self.store(creds, began) {
                    Flow::Go(stored) => {
                        if matches!(&stored, Err(e) if !refused_itself(e)) {
                            self.unwritten = Some((copy.clone(), began));
                        }
                        (stored, Some(copy))
                    }
                    Flow::End(ended) => return Flow::End(ended),
                }
            }
            Err(err) => (Err(self.without_held(err)), None),
        };
        // A full disk or a lock another writer holds is the file's trouble,
        // not the endpoint's: its clients get the fresh credentials rather
        // than 503 once the old ones expire. The refresh still failed (the
        // file, `/readyz` and the metrics say so) and is retried. Credentials
        // that were themselves refused are served nowhere.
        let served = match (&stored, copy) {
            (Ok((creds, _)), _) => Some(creds.clone()),
            (Err(e), _) if refused_itself(e) => None,
            (Err(_), fetched) => fetched,
        };
        if let Some(creds) = served {
            self.held = Some(creds);
        }
        if let Some(server) = &mut self.server {
            server.handler_mut().creds = self.held.clone();
        }
        self.claim_other_loopbacks();
        // What the app reads now, by the rule of `--check`, whatever this
        // process wrote: a failed write may have found a directory or a link
        // at the path, and a good one keeps a line of another profile's
        // that an SDK fails the whole file at.
        let (mut found, mut unfit) = (None, None);
        match self
            .sink
            .as_ref()
            .map(|sink| check(sink, Timestamp::now(), Duration::ZERO))
        {
            Some(Ok(expiry)) => found = Some(expiry),
            Some(Err(e)) => unfit = Some(one_line_ours(&e.to_string())),
            None => {}
        }
        if let (Ok(_), Some(why)) = (&stored, &unfit) {
            self.log.warn("file_unfit", &[("error", why)]);
        }
        if let Some(status) = &self.status {
            let mut status = status.borrow_mut();
            match &stored {
                Ok((creds, _)) => status.succeeded(creds.expiration, Timestamp::now()),
                Err(err) => status.failed(err),
            }
            status.file_unfit = unfit;
            // Keys in the file that expire sooner than the ones reported
            // (rewritten by another writer, or by hand) are what the app
            // has: reported, as `--check` would find them.
            if let Some(found) = found {
                status.expiry = Some(status.expiry.map_or(found, |e| e.min(found)));
            }
        }
        Flow::Go(stored)
    }

    /// The listeners take a loopback address that has appeared since they
    /// started (see `Server::claim_other_loopback`); one someone else holds
    /// is warned about at each refresh.
    fn claim_other_loopbacks(&mut self) {
        let claims = [
            (
                "serve",
                self.server.as_mut().map(Server::claim_other_loopback),
            ),
            (
                "metrics",
                self.metrics.as_mut().map(Server::claim_other_loopback),
            ),
        ];
        for (listener, claim) in claims {
            if let Some(Err(why)) = claim {
                self.log.warn(
                    "loopback_taken",
                    &[("listener", &listener), ("error", &why)],
                );
            }
        }
    }

    /// `err` with any piece it quotes of what this process holds secret
    /// taken out: the held credentials' secrets, the endpoint's token.
    fn without_held(&self, err: Error) -> Error {
        let mut secrets = Vec::new();
        if let Some(held) = &self.held {
            secrets.push(held.secret_access_key.expose());
            secrets.extend(held.session_token.as_ref().map(|t| t.expose()));
        }
        let server = self.server.as_ref();
        secrets.extend(
            server
                .and_then(|s| s.handler().token.as_ref())
                .map(|t| t.expose()),
        );
        err.map_quoted(|text| without_pieces(text, &secrets))
    }

    /// Runs the provider's fetch on a worker while the wait goes on. A
    /// SIGHUP meanwhile asks for one more refresh after this one (this fetch
    /// may have read the token before whatever the SIGHUP is about).
    fn fetch(&mut self, deadline: Option<Instant>) -> Flow<Result<Credentials, Error>> {
        let mut worker = match Worker::start(Arc::clone(&self.provider), deadline) {
            Ok(worker) => {
                self.threads_refused = 0;
                worker
            }
            // No thread or socket to spare, usually for a moment (a burst
            // at the pods limit): a failed attempt, retried after a backoff,
            // since a fetch here would hold up the endpoint, the probes and
            // a stop for as long as it takes. Refused again and again, the
            // limit is lasting: fetch here after all, rather than never.
            Err(e) if self.threads_refused < THREAD_RETRIES => {
                self.threads_refused += 1;
                return Flow::Go(Err(Error::OutOfResources {
                    doing: "start a thread for the fetch",
                    source: e,
                }));
            }
            Err(_) => {
                self.threads_refused = 0;
                let soon = Instant::now() + INLINE_FETCH_LIMIT;
                return Flow::Go(
                    self.provider
                        .fetch(Some(deadline.map_or(soon, |d| d.min(soon)))),
                );
            }
        };
        self.last_fetch = Some(Instant::now());
        loop {
            match self.waiter.wait(
                &mut [&mut self.server, &mut self.metrics, &mut worker],
                FETCH_BACKSTOP,
            ) {
                Wake::Signal(sig) => match self.react(sig) {
                    Reaction::End(ended) => return Flow::End(ended),
                    Reaction::Refresh => self.again = true,
                    Reaction::Nothing => {}
                },
                Wake::Done => break,
                Wake::Timeout if worker.finished() => break,
                Wake::Timeout => {}
            }
        }
        Flow::Go(worker.result())
    }

    /// Checks fetched credentials and writes them; the part of a refresh
    /// that never runs off this thread. `began` is when their fetch began
    /// (see `FileSink::write`). Without a file there is nothing to keep, so
    /// that counts as written. While another writer holds the file's lock,
    /// the wait goes on between tries (the endpoint answers, a stop ends it
    /// at once, with nothing written), for at most `LOCK_WAIT`.
    fn store(
        &mut self,
        creds: Credentials,
        began: Timestamp,
    ) -> Flow<Result<(Credentials, Written), Error>> {
        let began = match self.last_stamp {
            Some(ours) => began.max(ours.plus(Duration::from_secs(1))),
            None => began,
        };
        let waiting = Instant::now();
        loop {
            // Checked at each try: credentials that ran out while another
            // writer held the lock never replace the ones in the file.
            let now = Timestamp::now();
            if creds.expiration <= now {
                return Flow::Go(Err(Error::ExpiredOnArrival {
                    from: self.provider.describe(),
                    expiration: creds.expiration,
                    now,
                }));
            }
            let Some(sink) = &self.sink else {
                return Flow::Go(Ok((creds, Written::Replaced)));
            };
            // No signal takes effect halfway through the write.
            let written = crate::process::with_signals_held(|| sink.try_write(&creds, now, began));
            match written {
                Ok(Some(written)) => {
                    if written == Written::Replaced {
                        self.last_stamp = Some(now);
                    }
                    return Flow::Go(Ok((creds, written)));
                }
                // At start a directory or a device at the path is a
                // setting to fix (exit 2); one put there since is the
                // file's trouble, counted as such.
                Err(Error::Config(why)) => return Flow::Go(Err(Error::Stale(why))),
                Err(err) => return Flow::Go(Err(err)),
                Ok(None) if waiting.elapsed() >= LOCK_WAIT => {
                    return Flow::Go(Err(sink.lock_timeout(LOCK_WAIT)))
                }
                Ok(None) => {
                    if let Some(ended) = self.pause(LOCK_RETRY) {
                        return Flow::End(ended);
                    }
                }
            }
        }
    }
}

/// Whether the credentials were refused for what they are (expired, or
/// values no file or client can hold), not for where they were to go.
fn refused_itself(err: &Error) -> bool {
    matches!(
        err,
        Error::ExpiredOnArrival { .. } | Error::BadResponse { .. }
    )
}
