//! The command line, close to how it was typed: getopts flags into `Args`,
//! with no validation beyond "is this flag known and does it have a value".
//! `config` turns `Args` plus the environment into the validated `Config`.

use getopts::Options;
use std::ffi::OsString;

use crate::error::Error;

/// The flags as given; every value still unvalidated text.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Args {
    pub help: bool,
    pub version: bool,
    pub once: bool,
    pub check: bool,
    pub file: Option<String>,
    pub profile: Option<String>,
    pub source: Option<String>,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub session_name: Option<String>,
    pub duration: Option<String>,
    pub min_valid: Option<String>,
    pub once_timeout: Option<String>,
    pub sts_endpoint: Option<String>,
    pub owner: Option<String>,
    pub mode: Option<String>,
    pub log_format: Option<String>,
    pub log_level: Option<String>,
    pub serve: Option<String>,
    pub serve_token_file: Option<String>,
    pub serve_any_address: bool,
    pub metrics: Option<String>,
    pub credential_process: bool,
    pub print: Option<String>,
    /// Everything after the first `--`: the program to supervise and its
    /// arguments, untouched. `None` without `--`.
    pub program: Option<Vec<OsString>>,
}

/// Every flag, with the help text `--help` shows. Defaults are stated here
/// and enforced in `config`; keep the two in step.
fn options() -> Options {
    let mut o = Options::new();
    o.optflag("", "once", "Obtain and write the credentials once, then exit (retries transient failures for up to --once-timeout).");
    o.optflag("", "check", "Probe: exit 0 iff the file holds the profile with credentials valid for at least --min-valid. Reads only the file.");
    o.optopt("", "file", "Credentials file to keep fresh. Default: $AWS_SHARED_CREDENTIALS_FILE, else $HOME/.aws/credentials; with -- PROGRAM, none unless given.", "PATH");
    o.optopt(
        "",
        "profile",
        "Profile (section) to write. Default: default.",
        "NAME",
    );
    o.optopt("", "source", "Where the source identity comes from: web-identity (IRSA) or container (Pod Identity, ECS). Default: detected from the environment, web identity first.", "KIND");
    o.optopt(
        "",
        "role-arn",
        "Chain: assume this role with the source credentials (sts:AssumeRole, SigV4).",
        "ARN",
    );
    o.optopt(
        "",
        "external-id",
        "External id for the chained --role-arn.",
        "ID",
    );
    o.optopt(
        "",
        "session-name",
        "Role session name of the last hop (the chained role with --role-arn). Default: $AWS_ROLE_SESSION_NAME, else aws-credfile-$HOSTNAME.",
        "NAME",
    );
    o.optopt(
        "",
        "duration",
        "Session duration to ask STS for: 900s to 12h, at most 1h with --role-arn. Default: the role's default (1h).",
        "D",
    );
    o.optopt(
        "",
        "min-valid",
        "How long the credentials must still be valid: for --check and /readyz, and kept to by a refreshing run given it. Default: 5m.",
        "D",
    );
    o.optopt(
        "",
        "once-timeout",
        "With --once, and for the first credentials of -- PROGRAM, --credential-process and --print: give up retrying after this long. Default: 1m.",
        "D",
    );
    o.optopt("", "sts-endpoint", "STS endpoint URL. Default: $AWS_ENDPOINT_URL_STS, else $AWS_ENDPOINT_URL, else the regional endpoint.", "URL");
    o.optopt(
        "",
        "owner",
        "chown the written file to this numeric user (and group; without one, the file's group is kept). Default: the running user. An existing file must belong to the running user or to this one.",
        "UID[:GID]",
    );
    o.optopt(
        "",
        "mode",
        "Permissions of the written file, in octal, such as 0600, 0640 or 0644; group and others may never write. Default: a file aws-credfile wrote keeps its own, any other gets 0600.",
        "OCTAL",
    );
    o.optopt("", "serve", "Also serve the credentials at http://ADDR:PORT/v1/credentials (container-credentials JSON) for SDKs that never re-read the file. With --serve the file is written only if --file is given.", "ADDR:PORT");
    o.optopt("", "serve-token-file", "With --serve: require this file's content as the Authorization header (the app sets AWS_CONTAINER_AUTHORIZATION_TOKEN to it). Read once, at start.", "PATH");
    o.optflag("", "serve-any-address", "With --serve: allow binding a non-loopback address (the credentials become reachable from the network; avoid), and also answer a Host that is the IP address the client connected to.");
    o.optopt(
        "",
        "log-format",
        "Log line format on stderr: text or json. Default: text.",
        "FORMAT",
    );
    o.optopt(
        "",
        "log-level",
        "Least severe level logged: debug, info, warn or error. Default: info (warn with --credential-process and --print).",
        "LEVEL",
    );
    o.optopt("", "metrics", "Serve Prometheus metrics at http://ADDR:PORT/metrics, and /healthz and /readyz (ready iff the credentials are valid for at least --min-valid) for HTTP probes. Never credentials; a port alone is on loopback (127.0.0.1), any address allowed.", "[ADDR:]PORT");
    o.optflag("", "credential-process", "Print the credentials as credential_process JSON (Version 1) on stdout and exit, for `credential_process = aws-credfile --credential-process` in an AWS config file. Retries like --once.");
    o.optopt("", "print", "Print the credentials and exit: env prints shell export lines for eval \"$(aws-credfile --print env)\". Retries like --once.", "FORMAT");
    o.optflag("h", "help", "Print this help and exit.");
    o.optflag("V", "version", "Print the version and exit.");
    o
}

/// Parses the command line (without the program name). Everything after
/// the first `--` is the program to supervise, passed on untouched, in
/// whatever bytes it is (a flag whose value is `--` is written `--flag=--`);
/// the flags before it must be UTF-8.
pub fn parse(argv: &[OsString]) -> Result<Args, Error> {
    let (flags, program) = match argv.iter().position(|a| a == "--") {
        Some(at) => (&argv[..at], Some(argv[at + 1..].to_vec())),
        None => (argv, None),
    };
    let flags = flags
        .iter()
        .enumerate()
        .map(|(i, a)| {
            a.to_str().map(str::to_string).ok_or_else(|| {
                // Name the flag: the bad bytes are its value, or in it.
                let flag = a
                    .as_encoded_bytes()
                    .starts_with(b"-")
                    .then_some(a)
                    .or_else(|| i.checked_sub(1).map(|p| &flags[p]))
                    .map(|f| f.to_string_lossy())
                    .and_then(|f| {
                        let name = f.split('=').next().unwrap_or_default().to_string();
                        name.starts_with('-').then_some(name)
                    });
                Error::Usage(match flag {
                    Some(flag) => format!("{flag}: {a:?} is not valid UTF-8"),
                    None => format!("argument {a:?} is not valid UTF-8"),
                })
            })
        })
        .collect::<Result<Vec<String>, Error>>()?;
    if program
        .as_ref()
        .is_some_and(|p| p.first().is_none_or(|name| name.is_empty()))
    {
        return Err(Error::Usage(
            "-- must be followed by the program to run, such as -- /app/server --port 8080".into(),
        ));
    }
    let m = options()
        .parse(&flags)
        .map_err(|e| Error::Usage(e.to_string()))?;
    // `--file --once` gave --file the value "--once" and ran a daemon
    // writing ./--once: no value of these starts with `--` or is a short
    // flag (`--file -h`).
    let mut taken = VALUE_FLAGS.iter().filter_map(|&f| {
        let value = m.opt_str(f)?;
        (value.starts_with("--") || value == "-h" || value == "-V").then_some((f, value))
    });
    if let Some((flag, value)) = taken.next() {
        return Err(Error::Usage(format!(
            "--{flag} took {value:?}, a flag, as its value; give --{flag} its value first"
        )));
    }
    if let Some(extra) = m.free.first() {
        return Err(Error::Usage(format!(
            "unexpected argument {extra:?}; aws-credfile takes flags, then optionally -- PROGRAM [ARGS...]"
        )));
    }
    Ok(Args {
        help: m.opt_present("help"),
        version: m.opt_present("version"),
        once: m.opt_present("once"),
        check: m.opt_present("check"),
        file: m.opt_str("file"),
        profile: m.opt_str("profile"),
        source: m.opt_str("source"),
        role_arn: m.opt_str("role-arn"),
        external_id: m.opt_str("external-id"),
        session_name: m.opt_str("session-name"),
        duration: m.opt_str("duration"),
        min_valid: m.opt_str("min-valid"),
        once_timeout: m.opt_str("once-timeout"),
        sts_endpoint: m.opt_str("sts-endpoint"),
        owner: m.opt_str("owner"),
        mode: m.opt_str("mode"),
        log_format: m.opt_str("log-format"),
        log_level: m.opt_str("log-level"),
        serve: m.opt_str("serve"),
        serve_token_file: m.opt_str("serve-token-file"),
        serve_any_address: m.opt_present("serve-any-address"),
        metrics: m.opt_str("metrics"),
        credential_process: m.opt_present("credential-process"),
        print: m.opt_str("print"),
        program,
    })
}

/// The flags that take a value.
const VALUE_FLAGS: [&str; 18] = [
    "file",
    "profile",
    "source",
    "role-arn",
    "external-id",
    "session-name",
    "duration",
    "min-valid",
    "once-timeout",
    "sts-endpoint",
    "owner",
    "mode",
    "log-format",
    "log-level",
    "serve",
    "serve-token-file",
    "metrics",
    "print",
];

/// The `--help` text: usage, every flag with its default, every environment
/// variable read, exit codes and signals.
pub fn help() -> String {
    let brief = "\
aws-credfile keeps an AWS shared credentials file fresh from IRSA (web identity)
or EKS Pod Identity / ECS (container endpoint), optionally chaining
sts:AssumeRole, for applications whose AWS SDK cannot use them directly.

Usage: aws-credfile [--once | --check] [options]
       aws-credfile [options] -- PROGRAM [ARGS...]
       aws-credfile --credential-process | --print env [options]

With neither --once nor --check it runs as a daemon: writes the credentials at
once, then refreshes them well before they expire, until SIGTERM or SIGINT.

With -- PROGRAM it obtains credentials first (as --once does), then runs
PROGRAM with them and keeps them fresh while it runs: with --file, the file
(AWS_SHARED_CREDENTIALS_FILE, and AWS_PROFILE for another profile); with
--serve, the endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI and
AWS_CONTAINER_AUTHORIZATION_TOKEN, random per run unless --serve-token-file);
with neither, an endpoint on a free loopback port. PROGRAM does not see the
source's variables. SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2 and
SIGWINCH are forwarded to its process group (SIGHUP also refreshes); it
exits with PROGRAM's status (128+N after signal N), 126/127 when PROGRAM
cannot be started.";
    format!(
        "{}\n{}",
        options().usage(brief),
        "\
Environment (the AWS SDKs' names):
  AWS_ROLE_ARN                 IRSA: the role to assume with the web identity token
  AWS_WEB_IDENTITY_TOKEN_FILE  IRSA: the projected service-account token, re-read at every refresh
  AWS_ROLE_SESSION_NAME        session name when --session-name is not given
  AWS_CONTAINER_CREDENTIALS_FULL_URI       Pod Identity/ECS endpoint (http only to loopback and the agents)
  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI   ECS: path on http://169.254.170.2
  AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE   Authorization for it, re-read at every refresh (wins)
  AWS_CONTAINER_AUTHORIZATION_TOKEN        Authorization for it
  AWS_CA_BUNDLE                PEM roots to trust besides the embedded Mozilla roots
  AWS_REGION, AWS_DEFAULT_REGION   region of the STS endpoint (none: the global endpoint)
  AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL   STS endpoint override (http allowed)
  AWS_IGNORE_CONFIGURED_ENDPOINT_URLS      true: the two above are ignored
  AWS_STS_REGIONAL_ENDPOINTS   legacy: the 16 legacy regions use https://sts.amazonaws.com
  AWS_USE_FIPS_ENDPOINT        true: the FIPS STS endpoint
  AWS_SHARED_CREDENTIALS_FILE, HOME   default --file
  HTTPS_PROXY, NO_PROXY        proxy for STS (lowercase names too)
  HOSTNAME                     part of the default session name

Exit codes: 0 success; 1 credentials could not be obtained or written (or
--check found them missing or stale); 2 usage or configuration error; with
-- PROGRAM, PROGRAM's own; 128+N when signal N stopped a one-shot run
(--once, --credential-process, --print, or -- PROGRAM before it started)
before it was done.
Signals: SIGTERM and SIGINT stop promptly (the daemon exits 0); SIGHUP
refreshes now. With -- PROGRAM they are forwarded to PROGRAM instead (see
above).
"
    )
}

#[cfg(test)]
mod tests;
