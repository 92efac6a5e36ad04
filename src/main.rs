//! The aws-credfile command: `main` only runs `run`, prints the error once,
//! and exits with the code the error maps to (see `Error::exit_code`).

use std::process::ExitCode;

use aws_credfile::config::{self, Mode};
use aws_credfile::credentials_file;
use aws_credfile::daemon::Refresher;
use aws_credfile::error::Error;
use aws_credfile::signals::Signals;
use aws_credfile::source::Provider;
use aws_credfile::time::Timestamp;
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
    let cfg = config::build(&args, &|name| {
        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
    })?;
    let log: &log::Logger = &cfg.logger;
    *json_errors = log.format() == log::Format::Json;

    if let Mode::Check { min_valid } = cfg.mode {
        let sink = cfg
            .sink
            .as_ref()
            .expect("config always sets the file for --check");
        let expires =
            credentials_file::check(&sink.path, &sink.profile, Timestamp::now(), min_valid)?;
        log.info(
            "check_passed",
            &[
                ("profile", &sink.profile),
                ("file", &sink.path.display()),
                ("expires", &expires),
            ],
        );
        return Ok(());
    }

    // Before anything is fetched: a link at --file is a configuration error.
    if let Some(sink) = &cfg.sink {
        sink.preflight()?;
    }
    let source = cfg
        .source
        .as_ref()
        .expect("config always sets a source outside --check");
    let provider = Provider::new(source, cfg.chain.as_ref(), &cfg.network)?;
    provider.preflight()?;
    let server = cfg
        .serve
        .as_ref()
        .map(|s| serve::start(s, *log))
        .transpose()?;
    let mut refresher = Refresher {
        provider: &provider,
        sink: cfg.sink.as_ref(),
        server,
        signals: &signals,
        log,
    };
    match cfg.mode {
        Mode::Once { timeout } => refresher.once(timeout),
        _ => refresher.run(),
    }
}
