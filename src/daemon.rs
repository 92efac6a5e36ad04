//! The refresh loop: obtain credentials, deliver them (the file, the
//! endpoint), and wait for the next refresh, a signal, or a retry; all in
//! the one wait (see `wait`). `--once` is the same refresh with a bounded
//! retry budget instead of a loop.
//!
//! A fetch (the only step that can take seconds) runs on a short-lived
//! worker thread while this thread stays in the wait: the endpoint keeps
//! answering, a SIGHUP is noted, and a stop returns at once, leaving the
//! worker to end with the process (it holds no file and no lock). Writing
//! the file happens here, between waits, so no stop ever lands in the middle
//! of it. While idle there is one thread and one `poll`.

mod react;
mod refresh;
mod report;
mod worker;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::credentials::Credentials;
use crate::credentials_file::FileSink;
use crate::error::Error;
use crate::log::Logger;
use crate::metrics::{Metrics, Shared};
use crate::schedule::{self, backoff, falls_short, random_unit, refresh_delay_keeping, MIN_WAIT};
use crate::serve::answer::Endpoint;
use crate::serve::Server;
use crate::signals::Signal;
use crate::source::Provider;
use crate::supervise::{self, Handoff, Program, EXTRA_SIGNALS, FORWARDED, PAUSE_SIGNALS};
use crate::time::{deadline_after, Timestamp};
use crate::wait::{Waiter, Wake};
use react::Reaction;

/// Signals that end a one-shot run besides SIGTERM and SIGINT.
const ONE_SHOT_STOPS: [Signal; 3] = [libc::SIGQUIT, libc::SIGUSR1, libc::SIGUSR2];

/// How often a write tries the file's lock again while another aws-credfile
/// process holds it: often, since the lock is free only between that
/// writer's writes.
const LOCK_RETRY: Duration = Duration::from_millis(2);

/// What `--once` keeps of its budget for a last attempt, the backoff before
/// it cut short to fit: enough to connect on loopback and ask an agent.
const LAST_ATTEMPT: Duration = Duration::from_millis(200);

/// A minute: how often a wait for a fetch comes round without
/// the worker's wake-up byte (never seen; the worker always writes it).
const FETCH_BACKSTOP: Duration = Duration::from_secs(60);

/// How a run ended when it did not fail.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// `--once` wrote the credentials.
    Done,
    /// SIGTERM or SIGINT (which one).
    Stopped(Signal),
    /// The supervised program ended; aws-credfile exits with this status.
    Exited(u8),
    /// Ctrl-C ended a one-shot job, or killed the supervised program:
    /// aws-credfile ends as SIGINT would end it, for a shell to stop the
    /// script or loop it runs in, as it does for any command Ctrl-C ends.
    Interrupted,
}

/// A one-shot job (`--once`, printing, starting a program) stopped by
/// signal N before it was done ends as a shell reports a command killed by
/// N: 128 + N (143 for SIGTERM), never 0; SIGINT ends it as Ctrl-C does.
fn unfinished(ended: Ended) -> Ended {
    match ended {
        Ended::Stopped(libc::SIGINT) => Ended::Interrupted,
        Ended::Stopped(sig) => Ended::Exited(128 + sig as u8),
        other => other,
    }
}

/// Whether to go on, or how it ended.
enum Flow<T> {
    Go(T),
    End(Ended),
}

/// Attempts in a row that fail for want of a thread before a fetch is made
/// on the loop's own thread after all.
const THREAD_RETRIES: u32 = 3;

/// 5 seconds: the most a fetch on the loop's own thread may take. The
/// endpoint, the metrics and a stop all wait for it; a source answers in
/// well under a second, and a slow one would hold them for the whole
/// request timeout (20 s), every fourth attempt.
const INLINE_FETCH_LIMIT: Duration = Duration::from_secs(5);

/// Everything the loop needs.
pub struct Refresher {
    provider: Arc<Provider>,
    /// The file; absent when only serving.
    sink: Option<FileSink>,
    /// The loopback endpoint, when serving.
    server: Option<Server<Endpoint>>,
    waiter: Waiter,
    log: Logger,
    /// The program under supervision (`-- PROGRAM`), once started.
    program: Option<Program>,
    /// The `--metrics` listener, and what it reports.
    metrics: Option<Server<Metrics>>,
    status: Option<Shared>,
    /// A SIGHUP arrived while a refresh was under way: one more after it
    /// (that refresh may have read the token before whatever the SIGHUP is
    /// about).
    again: bool,
    /// When the last fetch began, to keep SIGHUP refreshes a second apart.
    last_fetch: Option<Instant>,
    /// The signals that were ignored when aws-credfile started (`nohup`, a
    /// job a script starts with `&`). They stay ignored in every mode: no
    /// stop, nothing forwarded, and a program starts with them ignored, as
    /// it would have without aws-credfile. (SIGHUP still refreshes.)
    ignored: Vec<Signal>,
    /// The last credentials stored. An upstream that fails may quote them
    /// (they are still in the file, and served): any later error has them
    /// taken out, as a request's own secrets are.
    held: Option<Credentials>,
    /// Credentials the file could not take (a full or read-only disk, a
    /// lock held), and when their fetch began: the next attempt writes them
    /// again rather than asking the source for new ones, while they last.
    unwritten: Option<(Credentials, Timestamp)>,
    /// The stamp (a whole second) of this process's last write. A section
    /// stamped then is its own, not another writer's from during the next
    /// fetch, though that fetch began in the same second.
    last_stamp: Option<Timestamp>,
    /// Attempts in a row whose fetch could not get a thread.
    threads_refused: u32,
    /// How long the credentials must stay valid at all times (`--min-valid`,
    /// when given or asked for by `/readyz`); zero for nothing beyond the
    /// usual margin.
    keep_valid: Duration,
}

impl Refresher {
    pub fn new(
        provider: Provider,
        sink: Option<FileSink>,
        server: Option<Server<Endpoint>>,
        waiter: Waiter,
        log: Logger,
    ) -> Refresher {
        let ignored = FORWARDED
            .into_iter()
            .filter(|&sig| waiter.signals().was_ignored(sig))
            .collect();
        // Said in every mode, the one-shot ones included: the token and the
        // keys cross the network readable whichever asked for them.
        if let Some(url) = provider.cleartext_sts() {
            log.warn(
                "sts_endpoint_cleartext",
                &[
                    ("url", &url),
                    ("risk", &"the identity token and the credentials cross the network unencrypted; use https"),
                ],
            );
        }
        if let Some(open) = sink.as_ref().and_then(FileSink::replaceable_by_anyone) {
            log.warn(
                "file_directory_open",
                &[
                    ("directory", &open.display()),
                    ("risk", &"any user may replace the file: this directory on its path is writable by others and not sticky; keep the file where only the writer may write, or make it sticky (chmod +t)"),
                ],
            );
        }
        Refresher {
            provider: Arc::new(provider),
            sink,
            server,
            waiter,
            log,
            program: None,
            metrics: None,
            status: None,
            again: false,
            last_fetch: None,
            ignored,
            held: None,
            unwritten: None,
            last_stamp: None,
            threads_refused: 0,
            keep_valid: Duration::ZERO,
        }
    }

    /// Keeps the credentials valid for `keep` at all times: the refresh
    /// comes before less is left (see `schedule::refresh_delay_keeping`).
    pub fn keeping_valid_for(mut self, keep: Duration) -> Refresher {
        self.keep_valid = keep;
        self
    }

    /// Reports to `status`, served by `metrics` (`--metrics`).
    pub fn with_metrics(mut self, mut metrics: Server<Metrics>, status: Shared) -> Refresher {
        if let Some(server) = &mut self.server {
            server.share_connections(&mut metrics);
        }
        self.metrics = Some(metrics);
        self.status = Some(status);
        self
    }

    /// `--once`: one refresh, retrying transient failures until `budget` is
    /// spent. Stopped by a signal before it was done, nothing was written:
    /// the exit is 128 + N, as a shell reports a command ended by signal N,
    /// so `aws-credfile --once && next` does not go on to `next`.
    pub fn once(&mut self, budget: Duration) -> Result<Ended, Error> {
        Ok(match self.obtain_once(budget)? {
            Flow::Go(_) => Ended::Done,
            Flow::End(ended) => unfinished(ended),
        })
    }

    /// What `--once` and printing share: SIGQUIT, SIGUSR1 and SIGUSR2 stop
    /// them as their default action would (128 + N), handled rather than
    /// left to that action, which the kernel does not apply to PID 1: an
    /// init container told to stop with them went on and wrote.
    fn obtain_once(&mut self, budget: Duration) -> Result<Flow<(Credentials, Duration)>, Error> {
        self.waiter.signals_mut().add(&ONE_SHOT_STOPS)?;
        self.obtain(budget, false)
    }

    /// `--credential-process`, `--print`: the credentials obtained as
    /// `--once` obtains them, for the caller to print; how it ended (128 +
    /// N, as for `--once`) when stopped first, with nothing to print.
    pub fn print(&mut self, budget: Duration) -> Result<Result<Credentials, Ended>, Error> {
        Ok(match self.obtain_once(budget)? {
            Flow::Go((creds, _)) => Ok(creds),
            Flow::End(ended) => Err(unfinished(ended)),
        })
    }

    /// The daemon: refresh now, then before every expiry, until stopped.
    /// Failures are logged and retried with backoff; the file keeps the last
    /// good credentials meanwhile.
    pub fn run(&mut self) -> Result<Ended, Error> {
        self.log_started();
        Ok(self.keep_fresh(Duration::ZERO))
    }

    /// `-- PROGRAM`: credentials first (as `--once` obtains them; if that
    /// fails, the program is never started), then the program, with them
    /// handed over, kept fresh for as long as it runs.
    pub fn supervise(
        &mut self,
        argv: &[std::ffi::OsString],
        budget: Duration,
        handoff: impl FnOnce(&Self) -> Handoff,
    ) -> Result<Ended, Error> {
        if let Some(name) = argv.first() {
            supervise::check_runnable(name)?;
        }
        self.log_started();
        self.waiter.signals_mut().add(&EXTRA_SIGNALS)?;
        let next = match self.obtain(budget, true)? {
            Flow::Go((_, next)) => next,
            // Stopped before the program ran: as a shell reports a command
            // a signal ended, so `aws-credfile -- deploy && next` stops too.
            Flow::End(ended) => return Ok(unfinished(ended)),
        };
        let program = Program::spawn(argv, &handoff(self), &self.ignored)?;
        if !program.job_control() {
            self.waiter.signals_mut().add(&PAUSE_SIGNALS)?;
        }
        self.log.info(
            "program_started",
            &[
                ("program", &argv[0].to_string_lossy()),
                ("pid", &program.pid()),
            ],
        );
        self.program = Some(program);
        Ok(self.keep_fresh(next))
    }

    /// The loopback endpoint, to hand its address and token to a program.
    pub fn server(&self) -> Option<&Server<Endpoint>> {
        self.server.as_ref()
    }

    /// Waits `first`, then refreshes before every expiry until a stop or the
    /// supervised program's end.
    fn keep_fresh(&mut self, first: Duration) -> Ended {
        let mut wait = first;
        let mut failures = 0;
        let mut short_lived = 0;
        loop {
            let asked = std::mem::take(&mut self.again);
            if asked {
                // A SIGHUP came while the last refresh was under way (and,
                // with a program, was passed on then): one more refresh.
                self.log.info(
                    "refresh_requested",
                    &[("reason", &"SIGHUP during a refresh")],
                );
                wait = wait.min(self.until_fetch_allowed());
            }
            if let Some(ended) = self.idle(wait, asked) {
                return ended;
            }
            wait = match self.refresh(None) {
                Flow::End(ended) => return ended,
                Flow::Go(Ok((creds, written))) => {
                    failures = 0;
                    short_lived = match Timestamp::now().until(creds.expiration) {
                        left if left < schedule::SHORT_LIVED => short_lived + 1,
                        _ => 0,
                    };
                    // Scheduled from what we fetched even when newer keys
                    // were kept: earlier, never later, than needed.
                    let next = self.next_refresh(&creds, short_lived);
                    self.log_written(&creds, written, Some(next));
                    next
                }
                Flow::Go(Err(err)) => {
                    failures += 1;
                    let wait = backoff(failures, schedule::BACKOFF_CAP, random_unit());
                    self.log_failure(&err, failures, wait);
                    wait
                }
            };
            self.planned(wait);
        }
    }

    /// The wait before refreshing `creds`, keeping them valid for
    /// `--min-valid` at all times when asked to. Credentials the plan
    /// cannot keep that valid (they last too little, or it would take
    /// refreshing more often than an eighth of their lifetime) are said so
    /// at each refresh: a probe with that `--min-valid` fails for a while
    /// before every refresh. The `short_lived`-th short-lived answer in a
    /// row waits at least `schedule::short_lived_floor`, said so too.
    fn next_refresh(&self, creds: &Credentials, short_lived: u32) -> Duration {
        let keep = self.keep_valid;
        let now = Timestamp::now();
        let wait = refresh_delay_keeping(now, creds.expiration, keep, random_unit());
        let lasting = now.until(creds.expiration);
        let floor = schedule::short_lived_floor(short_lived, random_unit());
        if !floor.is_zero() {
            self.log_short_lived(lasting, short_lived, wait.max(floor));
            return wait.max(floor);
        }
        let short = falls_short(now, creds.expiration, keep, wait);
        if !short.is_zero() {
            self.log_too_short(lasting, keep, short);
        }
        wait
    }

    /// How long until a refresh asked for by SIGHUP may start: at most one
    /// fetch a second however many arrive, so a SIGHUP storm never becomes
    /// an STS storm.
    fn until_fetch_allowed(&self) -> Duration {
        let since = self.last_fetch.map_or(MIN_WAIT, |t| t.elapsed());
        MIN_WAIT.saturating_sub(since)
    }

    /// Notes when the next refresh or retry is due, for the metrics.
    fn planned(&self, wait: Duration) {
        if let Some(status) = &self.status {
            status.borrow_mut().next_refresh = Some(Timestamp::now().plus(wait));
        }
    }

    /// Obtains credentials as `--once` does: retrying transient failures
    /// until `budget` is spent. With `kept_fresh`, the next refresh is
    /// planned (and logged) from them; otherwise there is none (zero).
    fn obtain(
        &mut self,
        budget: Duration,
        kept_fresh: bool,
    ) -> Result<Flow<(Credentials, Duration)>, Error> {
        let deadline = deadline_after(budget);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let err = match self.refresh(Some(deadline)) {
                Flow::End(ended) => return Ok(Flow::End(ended)),
                Flow::Go(Ok((creds, written))) => {
                    let next = kept_fresh.then(|| self.next_refresh(&creds, 0));
                    self.log_written(&creds, written, next);
                    let left = Timestamp::now().until(creds.expiration);
                    if !kept_fresh && left < schedule::SHORT_LIVED {
                        self.log_expiring_unrefreshed(left);
                    }
                    if let Some(next) = next {
                        self.planned(next);
                    }
                    return Ok(Flow::Go((creds, next.unwrap_or_default())));
                }
                Flow::Go(Err(e)) => e,
            };
            // The budget is spent to its end: a backoff longer than what is
            // left is cut short for a last attempt with 200 ms to go (an
            // agent up a few seconds late was given up on with half a
            // 10 s budget unspent).
            let left = deadline.saturating_duration_since(Instant::now());
            let last_try = left.saturating_sub(LAST_ATTEMPT);
            if !err.is_transient() || last_try.is_zero() {
                return Err(err);
            }
            let wait = backoff(attempt, schedule::ONCE_BACKOFF_CAP, random_unit()).min(last_try);
            self.log_failure(&err, attempt, wait);
            self.planned(wait);
            if let Some(ended) = self.idle(wait, false) {
                return Ok(Flow::End(ended));
            }
        }
    }

    /// Waits up to `timeout`, serving meanwhile and passing signals on to a
    /// supervised program. `None` when it is time to refresh (the time ran
    /// out, or SIGHUP). `asked`: a refresh was asked for already (and
    /// said so), so a SIGHUP now joins it.
    fn idle(&mut self, timeout: Duration, asked: bool) -> Option<Ended> {
        // Going idle after a refresh (or the start): the code it ran is not
        // needed until the next one.
        crate::process::forget_code_pages();
        let mut wake = self
            .waiter
            .wait(&mut [&mut self.server, &mut self.metrics], timeout);
        // A SIGHUP already waits for the refresh it asked for (`asked`: one
        // during the last refresh did): more of them join it, and say so
        // only at debug level (a storm of them is one refresh, not a storm
        // of log lines).
        let mut asked = asked;
        loop {
            match wake {
                Wake::Timeout | Wake::Done => return None,
                Wake::Signal(sig) => match self.react(sig) {
                    Reaction::End(ended) => return Some(ended),
                    Reaction::Refresh => {
                        match std::mem::replace(&mut asked, true) {
                            false => self.log.info("refresh_requested", &[("reason", &"SIGHUP")]),
                            true => self.log.debug(
                                "refresh_requested",
                                &[("reason", &"SIGHUP, joining the refresh already asked for")],
                            ),
                        }
                        match Some(self.until_fetch_allowed()).filter(|d| !d.is_zero()) {
                            None => return None,
                            Some(rest) => {
                                wake = self
                                    .waiter
                                    .wait(&mut [&mut self.server, &mut self.metrics], rest);
                                continue;
                            }
                        }
                    }
                    Reaction::Nothing => {}
                },
            }
            wake = self
                .waiter
                .resume(&mut [&mut self.server, &mut self.metrics]);
        }
    }

    /// Waits `pause` in the loop (serving, handling signals) without ending
    /// for a SIGHUP: a refresh is under way already, so it asks for one
    /// more after it.
    fn pause(&mut self, pause: Duration) -> Option<Ended> {
        let mut wake = self
            .waiter
            .wait(&mut [&mut self.server, &mut self.metrics], pause);
        loop {
            match wake {
                Wake::Timeout | Wake::Done => return None,
                Wake::Signal(sig) => match self.react(sig) {
                    Reaction::End(ended) => return Some(ended),
                    Reaction::Refresh => self.again = true,
                    Reaction::Nothing => {}
                },
            }
            wake = self
                .waiter
                .resume(&mut [&mut self.server, &mut self.metrics]);
        }
    }
}
