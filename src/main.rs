//! The aws-credfile command: `main` only runs `run`, prints the error once,
//! and exits with the code the error maps to (see `Error::exit_code`). The
//! only place the process exits.

use std::process::ExitCode;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;

use aws_credfile::config::{self, Config, Plan, Print, Refresh, Run};
use aws_credfile::credentials_file;
use aws_credfile::daemon::{Ended, Refresher};
use aws_credfile::error::{one_line_within, Error};
use aws_credfile::metrics::{self, Shared, Status};
use aws_credfile::signals::Signals;
use aws_credfile::source::Provider;
use aws_credfile::supervise::{self, Handoff};
use aws_credfile::time::Timestamp;
use aws_credfile::wait::Waiter;
use aws_credfile::{cli, log, print, process, serve};

fn main() -> ExitCode {
    // Until the command line is read, errors are plain lines; after, they
    // follow --log-format so a JSON log pipeline sees every line as JSON.
    let mut json_errors = false;
    match run(&mut json_errors) {
        // A supervised program's status, or 0.
        Ok(Ended::Exited(status)) => ExitCode::from(status),
        Ok(Ended::Done | Ended::Stopped(_)) => ExitCode::SUCCESS,
        Ok(Ended::Interrupted) => {
            // Everything of `run`'s is dropped and cleaned up by now.
            process::end_as_interrupted();
            ExitCode::from(130)
        }
        Err(err) => {
            let code = err.exit_code();
            if json_errors {
                log::Logger::new(log::Format::Json, log::Level::Error)
                    .error("exiting", &[("error", &err), ("exit_code", &code)]);
            } else {
                // Every part of a message is one line already; this is the
                // last guard for the terminal and the log pipeline.
                // Where stderr cannot take it (closed, full, a broken
                // pipe), the exit code still says it.
                log::write_stderr(&format!(
                    "aws-credfile: error: {}\n",
                    one_line_within(&err.to_string(), log::MAX_LINE - 64)
                ));
            }
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
    }
}

/// Does what the command line says; how it ended, when it did not fail.
fn run(json_errors: &mut bool) -> Result<Ended, Error> {
    // Signals held until their handlers are in place, so a stop or a
    // SIGHUP during start-up is handled, not fatal.
    process::hold_signals();
    // Before any secret is read: no core file, no reading by others.
    process::not_dumpable();
    process::ignore_file_size_signal();
    let signals = Signals::install()?;
    process::unblock_signals();
    let argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let args = cli::parse(&argv)?;
    if args.help {
        write_stdout(&cli::help())?;
        return Ok(Ended::Done);
    }
    if args.version {
        write_stdout(&format!("aws-credfile {}\n", env!("CARGO_PKG_VERSION")))?;
        return Ok(Ended::Done);
    }
    // Asked for JSON: the configuration's own errors are JSON lines too.
    *json_errors = args.log_format.as_deref() == Some("json");
    // Every variable read must be UTF-8: a path with another byte in it,
    // passed on lossily, would name another file (and --check would pass
    // on that one). The value is still passed on, so that validation runs,
    // but the first such variable is the error, whatever else happened.
    let not_utf8 = RefCell::new(None);
    let built = config::build(&args, &|name| {
        let value = std::env::var_os(name)?;
        Some(value.into_string().unwrap_or_else(|raw| {
            not_utf8
                .borrow_mut()
                .get_or_insert_with(|| name.to_string());
            raw.to_string_lossy().into_owned()
        }))
    });
    if let Some(name) = not_utf8.into_inner() {
        return Err(Error::Config(format!(
            "{name} is not valid UTF-8; give it as UTF-8 text (aws-credfile reads no variable byte by byte, and a path with other bytes would name another file)"
        )));
    }
    let Config { logger, plan } = built?;
    *json_errors = logger.format() == log::Format::Json;
    match plan {
        Plan::Check { file, min_valid } => {
            let expires = credentials_file::check(&file, Timestamp::now(), min_valid)?;
            logger.info(
                "check_passed",
                &[
                    ("profile", &file.profile),
                    ("file", &file.path.display()),
                    ("expires", &expires),
                ],
            );
            Ok(Ended::Done)
        }
        Plan::Refresh(plan) => refresh(*plan, signals, logger),
    }
}

/// Checks what can be checked before anything is fetched (a link at
/// `--file`, the token files, the proxy and CA bundle), binds the endpoint,
/// and runs the loop.
fn refresh(plan: Refresh, signals: Signals, logger: log::Logger) -> Result<Ended, Error> {
    if let Run::Print { format, .. } = &plan.run {
        print::check_stdout(match format {
            Print::CredentialProcess => "--credential-process",
            Print::Env => "--print env",
        })?;
    }
    if let Some(sink) = &plan.sink {
        sink.preflight()?;
    }
    let provider = Provider::new(&plan.source, plan.chain.as_ref(), &plan.network)?;
    provider.preflight()?;
    let mut server = plan
        .serve
        .as_ref()
        .map(|s| serve::start(s, logger))
        .transpose()?;
    let metrics = match &plan.metrics {
        None => None,
        Some(settings) => {
            // A restarted sidecar finds the file its last run wrote, which
            // the app reads: its expiry, if `--check` would pass it, is the
            // expiry to report until the first refresh, not none (round 41:
            // NaN and 503 through a source outage with valid keys there).
            let found = plan.sink.as_ref().and_then(|sink| {
                credentials_file::check(sink, Timestamp::now(), std::time::Duration::ZERO).ok()
            });
            let status: Shared = Rc::new(RefCell::new(Status {
                expiry: found,
                min_valid: plan.min_valid,
                endpoint: server.as_ref().map(|_| BTreeMap::new()),
                ..Status::default()
            }));
            if let Some(server) = &mut server {
                server.handler_mut().status = Some(Rc::clone(&status));
            }
            Some((
                metrics::start(settings, Rc::clone(&status), logger)?,
                status,
            ))
        }
    };
    let file = plan
        .sink
        .as_ref()
        .map(|sink| (sink.path.clone(), sink.profile.clone()));
    let mut refresher = Refresher::new(provider, plan.sink, server, Waiter::new(signals), logger)
        .keeping_valid_for(plan.keep_valid);
    if let Some((listener, status)) = metrics {
        refresher = refresher.with_metrics(listener, status);
    }
    let ended = match plan.run {
        Run::Once { timeout } => refresher.once(timeout)?,
        Run::Daemon => refresher.run()?,
        Run::Supervise { program, timeout } => {
            refresher.supervise(&program, timeout, |r| handoff(r, file))?
        }
        Run::Print { format, timeout } => match refresher.print(timeout)? {
            Ok(creds) => {
                let text = match format {
                    Print::CredentialProcess => print::credential_process(&creds),
                    Print::Env => print::env(&creds),
                };
                write_stdout(&text)?;
                Ended::Done
            }
            Err(stopped) => stopped,
        },
    };
    Ok(ended)
}

/// Writes `text` to standard output, all of it, or says why not. (A
/// standard output closed at start is `/dev/null` by then: Rust's runtime
/// fills 0, 1 and 2, so nothing of ours takes their numbers.)
fn write_stdout(text: &str) -> Result<(), Error> {
    use std::os::fd::AsFd;
    let failed = |e| Error::io("write to", "standard output", e);
    // Through a file of our own on it: the standard library's stdout takes
    // EBADF (a descriptor 1 opened read-only) for success, and nothing
    // would be printed with exit 0.
    let fd = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map_err(failed)?;
    std::fs::File::from(fd)
        .write_all(text.as_bytes())
        .map_err(failed)
}

/// What a supervised program is handed: the file, and the endpoint with
/// the token it requires.
fn handoff(r: &Refresher, file: Option<(PathBuf, String)>) -> Handoff {
    let endpoint = r.server().and_then(|server| {
        let addr = server.local_addr()?;
        let token = server.handler().token.clone()?;
        Some((supervise::endpoint_url(addr), token))
    });
    Handoff { file, endpoint }
}
