//! What a signal means to the loop, by phase: before a program starts,
//! SIGTERM, SIGINT and SIGQUIT stop and SIGHUP refreshes; with a program,
//! the forwarded signals go to it and SIGCHLD may mean it ended.

use signal_hook::consts::{SIGCHLD, SIGCONT, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};

use super::{Ended, Refresher};
use crate::signals::Signal;

/// What a signal means now.
pub(super) enum Reaction {
    Nothing,
    Refresh,
    End(Ended),
}

impl Refresher {
    /// What `sig` means: without a program, SIGTERM and SIGINT stop and
    /// SIGHUP refreshes; with one, every forwarded signal is passed on to
    /// it (SIGHUP also refreshes) and SIGCHLD may mean it ended.
    pub(super) fn react(&mut self, sig: Signal) -> Reaction {
        // A SIGHUP asks the source: credentials the file could not take
        // are not written again instead, nor are a chain's source
        // credentials signed with again (revoked keys, say).
        if sig == SIGHUP {
            self.unwritten = None;
            self.provider.forget_held();
        }
        if self.ignored.contains(&sig) {
            // Ignored when aws-credfile started: nothing to stop, nothing to
            // pass on (a program has it ignored too). SIGHUP still asks
            // aws-credfile itself for a refresh.
            return if sig == SIGHUP {
                Reaction::Refresh
            } else {
                Reaction::Nothing
            };
        }
        let Some(program) = &mut self.program else {
            return match sig {
                // SIGQUIT, SIGUSR1 and SIGUSR2 are handled only when a
                // program is to come: before it starts, there is no one to
                // pass them to, so they stop aws-credfile as their default
                // action would (128 + N), as TERM and INT do (Ctrl-\ at a
                // terminal among them); never silently dropped. SIGWINCH's
                // default is to ignore.
                SIGTERM | SIGINT | SIGQUIT | SIGUSR1 | SIGUSR2 => Reaction::End(self.stopping(sig)),
                SIGHUP => Reaction::Refresh,
                _ => Reaction::Nothing,
            };
        };
        if sig == SIGCONT {
            program.continue_job();
            return Reaction::Nothing;
        }
        if sig == SIGCHLD {
            let reaped = program.reap();
            if program.take_stranded() {
                self.log.warn(
                    "program_stopped_at_terminal",
                    &[
                        ("risk", &"it used the terminal from the background, and no shell can bring this job to the foreground; it stays stopped until aws-credfile gets SIGCONT: run it in the foreground, or with </dev/null"),
                    ],
                );
            }
            return match reaped {
                Some(exit) => {
                    self.log.info("program_exited", &[("status", &exit.status)]);
                    Reaction::End(match exit.interrupted {
                        true => Ended::Interrupted,
                        false => Ended::Exited(exit.status),
                    })
                }
                None => Reaction::Nothing,
            };
        }
        program.forward(sig);
        self.log.debug("signal_forwarded", &[("signal", &sig)]);
        if sig == SIGHUP {
            Reaction::Refresh
        } else {
            Reaction::Nothing
        }
    }

    fn stopping(&self, sig: Signal) -> Ended {
        self.log.info("stopping", &[("reason", &"signal")]);
        Ended::Stopped(sig)
    }
}
