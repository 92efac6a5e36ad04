//! The aws-credfile command: `main` only runs `run`, prints the error once,
//! and exits with the code the error maps to (see `Error::exit_code`). The
//! only place the process exits.

use std::process::ExitCode;

use aws_credfile::config::{self, Config, Plan, Refresh, Run};
use aws_credfile::credentials_file;
use aws_credfile::daemon::Refresher;
use aws_credfile::error::Error;
use aws_credfile::signals::Signals;
use aws_credfile::source::Provider;
use aws_credfile::time::Timestamp;
use aws_credfile::wait::Waiter;
use aws_credfile::{cli, log, serve};

fn main() -> ExitCode {
    // Until the configuration is read, errors are plain lines; after, they
    // follow --log-format so a JSON log pipeline sees every line as JSON.
    let mut json_errors = false;
    match run(&mut json_errors) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let code = err.exit_code();
            if json_errors {
                log::Logger::new(log::Format::Json, log::Level::Error)
                    .error("exiting", &[("error", &err), ("exit_code", &code)]);
            } else {
                eprintln!("aws-credfile: error: {err}");
            }
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
    }
}

fn run(json_errors: &mut bool) -> Result<(), Error> {
    // Signals first, so a stop during start-up is handled, not fatal.
    let signals = Signals::install()?;
    let argv: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| {
            a.into_string()
                .map_err(|a| Error::Usage(format!("argument {a:?} is not valid UTF-8")))
        })
        .collect::<Result<_, _>>()?;
    let args = cli::parse(&argv)?;
    if args.help {
        print!("{}", cli::help());
        return Ok(());
    }
    if args.version {
        println!("aws-credfile {}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    // A value that is not UTF-8 is passed on lossily rather than dropped, so
    // validation names the variable instead of claiming it is not set.
    let Config { logger, plan } = config::build(&args, &|name| {
        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
    })?;
    *json_errors = logger.format() == log::Format::Json;
    match plan {
        Plan::Check { file, min_valid } => {
            let expires =
                credentials_file::check(&file.path, &file.profile, Timestamp::now(), min_valid)?;
            logger.info(
                "check_passed",
                &[
                    ("profile", &file.profile),
                    ("file", &file.path.display()),
                    ("expires", &expires),
                ],
            );
            Ok(())
        }
        Plan::Refresh(plan) => refresh(*plan, signals, logger),
    }
}

/// Checks what can be checked before anything is fetched (a link at
/// `--file`, the token files, the proxy and CA bundle), binds the endpoint,
/// and runs the loop.
fn refresh(plan: Refresh, signals: Signals, logger: log::Logger) -> Result<(), Error> {
    if let Some(sink) = &plan.sink {
        sink.preflight()?;
    }
    let provider = Provider::new(&plan.source, plan.chain.as_ref(), &plan.network)?;
    provider.preflight()?;
    let server = plan
        .serve
        .as_ref()
        .map(|s| serve::start(s, logger))
        .transpose()?;
    let mut refresher = Refresher::new(provider, plan.sink, server, Waiter::new(signals), logger);
    match plan.run {
        Run::Once { timeout } => refresher.once(timeout),
        Run::Daemon => refresher.run(),
    }
    .map(drop)
}
