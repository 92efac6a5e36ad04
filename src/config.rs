//! Flags plus environment into one validated [`Plan`]: what to do, with
//! settings that cannot be wrong. The second of the two steps from the
//! command line (`cli` is the first): each part of the program owns its
//! environment variables and reads them itself (`source::web_identity`,
//! `source::container`, `sts::endpoint`, `http`, `credentials_file`); this
//! module decides which parts are needed, turns flag text into values, and
//! assembles the result. The environment comes in as a lookup function, so
//! tests pass exactly the environment they mean.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::Args;
use crate::credentials::LONGEST_SESSION;
use crate::credentials_file::{self, FileSink};
use crate::env::Env;
use crate::error::Error;
use crate::http::{self, Network};
use crate::log::{Format, Level, Logger};
use crate::metrics;
use crate::serve;
use crate::source::{self, chain, container, web_identity, Kind, Source};
use crate::sts::{self, endpoint};
use crate::time::{format_duration, parse_duration};

/// Defaults to the `default` profile, as every SDK does.
pub const DEFAULT_PROFILE: &str = "default";
/// Defaults to 5 minutes: long enough for an app that caches credentials to
/// use them, short enough that a probe does not fail on a healthy refresh.
pub const DEFAULT_MIN_VALID: Duration = Duration::from_secs(300);
/// Defaults to one minute of retrying transient failures in `--once`.
pub const DEFAULT_ONCE_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest any duration setting may be: no setting here means anything
/// beyond a day (STS sessions last at most 12 h), and a bound keeps deadline
/// arithmetic sane.
pub const MAX_SETTING_DURATION: Duration = Duration::from_secs(86_400);

/// What to do, and everything needed to do it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// `--check`: read the file and say whether `file.profile` is good for
    /// `min_valid` more. Nothing else is read.
    Check { file: FileSink, min_valid: Duration },
    /// Obtain credentials and deliver them.
    Refresh(Box<Refresh>),
}

/// Obtaining and delivering credentials: once or forever.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refresh {
    pub run: Run,
    pub source: Source,
    /// `--role-arn`, on top of the source.
    pub chain: Option<chain::Settings>,
    pub network: Network,
    /// Absent only with `--serve` and no `--file`: an app pointed at the
    /// endpoint must not find a stale file first (the SDKs try the file
    /// before it).
    pub sink: Option<FileSink>,
    pub serve: Option<serve::Settings>,
    pub metrics: Option<metrics::Settings>,
    /// `--min-valid`, for `/readyz`.
    pub min_valid: Duration,
    /// How long the credentials must stay valid at all times: `--min-valid`
    /// when given or `/readyz` asks for it (the refresh comes before less
    /// is left), else zero.
    pub keep_valid: Duration,
}

/// How long to go on, and what for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Run {
    /// Refresh forever (the daemon).
    Daemon,
    /// Refresh once, retrying transient failures for at most `timeout`.
    Once { timeout: Duration },
    /// `-- PROGRAM`: obtain credentials as `Once` does, then run `program`
    /// and refresh for as long as it runs.
    Supervise {
        program: Vec<std::ffi::OsString>,
        timeout: Duration,
    },
    /// `--credential-process`, `--print env`: obtain as `Once` does and
    /// print them; nothing is written.
    Print { format: Print, timeout: Duration },
}

/// What `Run::Print` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Print {
    /// The `credential_process` JSON.
    CredentialProcess,
    /// Shell `export` lines.
    Env,
}

/// The plan and how to log while carrying it out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub logger: Logger,
    pub plan: Plan,
}

/// Builds the validated configuration. `args.help`/`args.version` are the
/// caller's business and ignored here.
pub fn build(args: &Args, env: Env) -> Result<Config, Error> {
    let logger = logger(args)?;
    if args.once && args.check {
        return Err(Error::Usage("--once and --check cannot be combined".into()));
    }
    let print = print(args)?;
    if print.is_some() && (args.once || args.check) {
        // --check would run and print nothing; --once would be ignored.
        return Err(Error::Usage(
            "--credential-process and --print obtain once and print; they cannot be combined with --once or --check".into(),
        ));
    }
    if let Some(program) = &args.program {
        if args.once || args.check || print.is_some() {
            return Err(Error::Usage(
                "-- PROGRAM runs the program under aws-credfile, which keeps refreshing; it cannot be combined with --once, --check, --credential-process or --print".into(),
            ));
        }
        if program.iter().any(|a| a.as_encoded_bytes().contains(&0)) {
            return Err(Error::Usage(
                "the program's arguments contain a NUL byte".into(),
            ));
        }
    }
    let daemon = !args.once && !args.check && print.is_none();
    // --check takes the sidecar's own command line (an exec probe reusing
    // it), so its --serve and --metrics are checked, then left unused.
    let serve = serve(args, daemon || args.check)?;
    let metrics = metrics(args, daemon || args.check)?;
    // Both listen on loopback's two addresses, or every address: one port
    // cannot be both (it was "stop what listens there", aws-credfile itself).
    if let (Some(s), Some(m)) = (&serve, &metrics) {
        let (s, m) = (s.addr, m.addr);
        let (a, b) = (s.ip(), m.ip());
        let meet = a == b
            || a.is_unspecified()
            || b.is_unspecified()
            || (a.is_loopback() && b.is_loopback());
        if s.port() == m.port() && s.port() != 0 && meet {
            return Err(Error::Usage(format!(
                "--metrics {m} and --serve {s} would share a port; give each its own"
            )));
        }
    }
    // Held to 12 h below, not to the 24 h of other durations.
    let min_valid =
        parsed_duration(args.min_valid.as_deref(), "--min-valid")?.unwrap_or(DEFAULT_MIN_VALID);
    // `--check` never believes more than 12 h (see credentials_file::check):
    // a probe asking for more could only ever fail.
    if min_valid > LONGEST_SESSION {
        return Err(Error::Usage(format!(
            "--min-valid {}: no credentials last longer than {} (the longest session STS issues), so none could stay valid that long; give at most {}",
            format_duration(min_valid),
            format_duration(LONGEST_SESSION),
            format_duration(LONGEST_SESSION)
        )));
    }
    if args.check {
        unused::check_ignored_flags(args, min_valid)?;
        // The sidecar this probe copies writes no file with --serve alone:
        // the probe could never pass.
        if serve.is_some() && args.file.is_none() {
            return Err(Error::Usage(
                "--check reads the credentials file, and with --serve and no --file the sidecar writes none, so this probe could never pass; probe the endpoint's sidecar with --metrics and /readyz, or give both the same --file".into(),
            ));
        }
        return Ok(Config {
            logger,
            plan: Plan::Check {
                file: sink(args, env)?,
                min_valid,
            },
        });
    }
    // The credentials are kept valid for --min-valid at all times (and
    // /readyz asks for it): ones that never last that long never are.
    if daemon {
        // --duration's own range first: a short one is its fault, not
        // --min-valid's.
        let max = identity::duration_max(args);
        identity::min_valid_within(min_valid, identity::role_duration(args, max)?)?;
    }
    let timeout = once_timeout(args)?;
    let (run, sink, serve) = match (&args.program, print) {
        (Some(program), _) => {
            // The file only when asked for; an endpoint unless only the file
            // was asked for: in a read-only scratch image, with no flags at
            // all, the program still gets credentials.
            let sink = args.file.is_some().then(|| sink(args, env)).transpose()?;
            let serve = match (serve, &sink) {
                (Some(s), _) => Some(serve::Settings {
                    random_token: s.token_file.is_none(),
                    ..s
                }),
                (None, Some(_)) => None,
                (None, None) => Some(serve::Settings {
                    addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                    token_file: None,
                    any_address: false,
                    random_token: true,
                }),
            };
            let run = Run::Supervise {
                program: program.clone(),
                timeout,
            };
            (run, sink, serve)
        }
        (None, Some(format)) => {
            if args.file.is_some() {
                return Err(Error::Usage(
                    "--credential-process and --print write no file; drop --file".into(),
                ));
            }
            (Run::Print { format, timeout }, None, None)
        }
        (None, None) => {
            let run = if args.once {
                Run::Once { timeout }
            } else {
                Run::Daemon
            };
            // With --serve alone nothing is written (see Refresh::sink).
            let sink = match (&serve, &args.file) {
                (Some(_), None) => None,
                _ => Some(sink(args, env)?),
            };
            (run, sink, serve)
        }
    };
    unused::refuse_unused_flags(args, sink.is_some(), daemon)?;
    if matches!(run, Run::Daemon) && args.once_timeout.is_some() {
        return Err(Error::Usage(
            "--once-timeout bounds --once, --credential-process, --print and the first fetch of -- PROGRAM; the daemon retries until stopped: drop it".into(),
        ));
    }
    // The flags' own values before the environment's: an operator who
    // fixes the environment should not learn of a bad flag only then.
    identity::role_duration(args, identity::duration_max(args))?;
    if let Some(name) = &args.session_name {
        source::session_name(Some(name), env)?;
    }
    let chain = identity::chain(args, env)?;
    let source = identity::source(args, env, chain.is_some())?;
    // No STS to reach, and an agent is always reached directly: a proxy
    // set pod-wide for other tools is not this run's to read or refuse.
    let sts = !matches!(source, Source::Container(_)) || chain.is_some();
    let network = Network::from_env(&|name| {
        let proxy = http::ENV_HTTPS_PROXY.contains(&name) || http::ENV_NO_PROXY.contains(&name);
        if proxy && !sts {
            return None;
        }
        env(name)
    });
    network.check()?;
    Ok(Config {
        logger,
        plan: Plan::Refresh(Box::new(Refresh {
            run,
            source,
            chain,
            network,
            sink,
            serve,
            keep_valid: if args.min_valid.is_some() || metrics.is_some() {
                min_valid
            } else {
                Duration::ZERO
            },
            metrics,
            min_valid,
        })),
    })
}

/// `--metrics ADDR:PORT`, which needs a process that stays, as `--serve`
/// does (`daemon`; or `--check` given the sidecar's flags); any address,
/// since it serves no secret.
fn metrics(args: &Args, daemon: bool) -> Result<Option<metrics::Settings>, Error> {
    let Some(text) = args.metrics.as_deref() else {
        return Ok(None);
    };
    if !daemon {
        return Err(Error::Usage(
            "--metrics runs with the daemon or -- PROGRAM, not with --once, --credential-process or --print".into(),
        ));
    }
    // A port alone is loopback's: the metrics leave the machine only
    // when an address says so.
    let port_alone = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let addr = match text.parse::<u16>().ok().filter(|_| port_alone) {
        Some(port) => Ok(SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port))),
        None => text.parse::<SocketAddr>(),
    }
    .map_err(|_| {
        Error::Usage(format!(
            "--metrics {text:?} is not PORT (on loopback) or ADDR:PORT, such as 9912 or 0.0.0.0:9912 (every address, for scraping)"
        ))
    })?;
    Ok(Some(metrics::Settings { addr }))
}

/// The logger `--log-format` and `--log-level` ask for. Printing for
/// another tool (`--credential-process`, `--print`) logs only warnings and
/// errors unless asked otherwise: what it prints is the point.
fn logger(args: &Args) -> Result<Logger, Error> {
    let printing = args.credential_process || args.print.is_some();
    let default_level = if printing { Level::Warn } else { Level::Info };
    Ok(Logger::new(
        parse_choice(
            args.log_format.as_deref(),
            "--log-format",
            &[("text", Format::Text), ("json", Format::Json)],
            Format::Text,
        )?,
        parse_choice(
            args.log_level.as_deref(),
            "--log-level",
            &[
                ("debug", Level::Debug),
                ("info", Level::Info),
                ("warn", Level::Warn),
                ("error", Level::Error),
            ],
            default_level,
        )?,
    ))
}

/// `--credential-process` or `--print FORMAT`, if either.
fn print(args: &Args) -> Result<Option<Print>, Error> {
    match (args.credential_process, args.print.as_deref()) {
        (true, Some(_)) => Err(Error::Usage(
            "--credential-process and --print cannot be combined".into(),
        )),
        (true, None) => Ok(Some(Print::CredentialProcess)),
        (false, Some(format)) => {
            parse_choice(Some(format), "--print", &[("env", Print::Env)], Print::Env).map(Some)
        }
        (false, None) => Ok(None),
    }
}

/// `--serve` and its companions; `daemon` says whether the run stays (the
/// endpoint needs a process that does), or is `--check` given the
/// sidecar's flags.
fn serve(args: &Args, daemon: bool) -> Result<Option<serve::Settings>, Error> {
    let Some(text) = args.serve.as_deref() else {
        let needs = if args.serve_token_file.is_some() {
            "--serve-token-file needs --serve ADDR:PORT"
        } else if args.serve_any_address {
            "--serve-any-address needs --serve ADDR:PORT"
        } else {
            return Ok(None);
        };
        return Err(Error::Usage(needs.into()));
    };
    if !daemon {
        return Err(Error::Usage(
            "--serve runs with the daemon or -- PROGRAM, not with --once, --credential-process or --print".into(),
        ));
    }
    let addr: SocketAddr = text.parse().map_err(|_| {
        Error::Usage(format!(
            "--serve {text:?} is not ADDR:PORT, such as 127.0.0.1:9911 or [::1]:9911"
        ))
    })?;
    if !addr.ip().is_loopback() && !args.serve_any_address {
        return Err(Error::Usage(format!(
            "--serve {addr}: not a loopback address; the app in the same pod reaches 127.0.0.1, and anything else exposes the credentials to the network (--serve-any-address overrides)"
        )));
    }
    Ok(Some(serve::Settings {
        addr,
        token_file: args.serve_token_file.as_ref().map(PathBuf::from),
        any_address: args.serve_any_address,
        random_token: false,
    }))
}

fn parse_choice<T: Copy>(
    value: Option<&str>,
    flag: &str,
    choices: &[(&str, T)],
    default: T,
) -> Result<T, Error> {
    let Some(value) = value else {
        return Ok(default);
    };
    choices
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(value))
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
            Error::Usage(format!(
                "{flag} {value:?} is not one of {}",
                names.join(", ")
            ))
        })
}

/// `--once-timeout`, or its default; never zero, which leaves no time.
fn once_timeout(args: &Args) -> Result<Duration, Error> {
    let timeout = duration_flag(args.once_timeout.as_deref(), "--once-timeout")?
        .unwrap_or(DEFAULT_ONCE_TIMEOUT);
    if timeout.is_zero() {
        return Err(Error::Usage(
            "--once-timeout 0 leaves no time to obtain credentials; give at least 1s".into(),
        ));
    }
    Ok(timeout)
}

/// A duration flag's value, if given, held to [`MAX_SETTING_DURATION`].
fn duration_flag(value: Option<&str>, flag: &str) -> Result<Option<Duration>, Error> {
    let Some(d) = parsed_duration(value, flag)? else {
        return Ok(None);
    };
    if d > MAX_SETTING_DURATION {
        let v = value.unwrap_or_default();
        return Err(Error::Usage(format!(
            "{flag} {v:?}: at most {}",
            format_duration(MAX_SETTING_DURATION)
        )));
    }
    Ok(Some(d))
}

/// A duration flag's value, if given, read but not yet bounded: for the
/// flags with a tighter bound of their own and a message that says it.
fn parsed_duration(value: Option<&str>, flag: &str) -> Result<Option<Duration>, Error> {
    value
        .map(|v| parse_duration(v).map_err(|e| Error::Usage(format!("{flag}: {e}"))))
        .transpose()
}

fn sink(args: &Args, env: Env) -> Result<FileSink, Error> {
    let path = credentials_file::path(args.file.as_deref(), env)?;
    let profile = args
        .profile
        .clone()
        .unwrap_or_else(|| DEFAULT_PROFILE.into());
    credentials_file::validate_profile(&profile)?;
    let mode = args
        .mode
        .as_deref()
        .map(|m| {
            credentials_file::parse_mode(m).map_err(|e| Error::Usage(format!("--mode {m:?}: {e}")))
        })
        .transpose()?;
    let owner = args
        .owner
        .as_deref()
        .map(|o| {
            credentials_file::parse_owner(o)
                .map_err(|e| Error::Usage(format!("--owner {o:?}: {e}")))
        })
        .transpose()?;
    Ok(FileSink {
        path,
        profile,
        mode,
        owner,
    })
}

mod identity;
mod unused;

#[cfg(test)]
mod tests;
