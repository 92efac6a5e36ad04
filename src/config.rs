//! Flags plus environment into one validated, immutable `Config`.
//!
//! This is the only place that reads environment variables, and it gets them
//! through a lookup function so tests can pass exactly the environment they
//! mean. Everything below receives values that cannot be wrong.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::Args;
use crate::credentials::Secret;
use crate::credentials_file::{self, FileSink, Owner};
use crate::endpoint::{self, EndpointInputs, StsEndpoint};
use crate::error::Error;
use crate::log::{Format, Level, Logger};
use crate::sts;
use crate::time::{format_duration, parse_duration};
use crate::url::{is_loopback, redact, url_parts};
use std::net::IpAddr;

/// IRSA: the role to assume with the web identity token.
pub const ENV_ROLE_ARN: &str = "AWS_ROLE_ARN";
/// IRSA: path of the projected service-account token (the kubelet rotates it).
pub const ENV_WEB_IDENTITY_TOKEN_FILE: &str = "AWS_WEB_IDENTITY_TOKEN_FILE";
/// Session name when `--session-name` is absent. EKS does not set it.
pub const ENV_ROLE_SESSION_NAME: &str = "AWS_ROLE_SESSION_NAME";
/// Region, then the older fallback name.
pub const ENV_REGION: &str = "AWS_REGION";
pub const ENV_DEFAULT_REGION: &str = "AWS_DEFAULT_REGION";
/// Endpoint overrides, service-specific first.
pub const ENV_ENDPOINT_URL_STS: &str = "AWS_ENDPOINT_URL_STS";
pub const ENV_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
/// `regional` (default) or `legacy`.
pub const ENV_STS_REGIONAL_ENDPOINTS: &str = "AWS_STS_REGIONAL_ENDPOINTS";
/// `true` selects the FIPS endpoint.
pub const ENV_USE_FIPS_ENDPOINT: &str = "AWS_USE_FIPS_ENDPOINT";
/// The credentials file when `--file` is absent.
pub const ENV_SHARED_CREDENTIALS_FILE: &str = "AWS_SHARED_CREDENTIALS_FILE";
pub const ENV_HOME: &str = "HOME";
/// The pod name on Kubernetes; part of the default session name.
pub const ENV_HOSTNAME: &str = "HOSTNAME";
/// Container credentials (EKS Pod Identity, ECS): a full URL ...
pub const ENV_CONTAINER_CREDENTIALS_FULL_URI: &str = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
/// ... or a path on the ECS agent's address.
pub const ENV_CONTAINER_CREDENTIALS_RELATIVE_URI: &str = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI";
/// The `Authorization` value for the container endpoint, from a file
/// (re-read at every refresh; wins) or the variable itself.
pub const ENV_CONTAINER_AUTHORIZATION_TOKEN_FILE: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";
pub const ENV_CONTAINER_AUTHORIZATION_TOKEN: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN";
/// The ECS agent's address, to which a relative URI is appended.
pub const ECS_AGENT_ORIGIN: &str = "http://169.254.170.2";
/// The hosts the AWS SDKs accept over plain http besides loopback: the ECS
/// agent and the EKS Pod Identity agent (IPv4 and IPv6).
pub const ALLOWED_HTTP_HOSTS: [&str; 3] = ["169.254.170.2", "169.254.170.23", "fd00:ec2::23"];
/// Extra trusted CA certificates (PEM), on top of the embedded Mozilla roots.
pub const ENV_CA_BUNDLE: &str = "AWS_CA_BUNDLE";
/// Proxy settings, each checked in upper then lower case as curl does.
pub const ENV_HTTPS_PROXY: [&str; 2] = ["HTTPS_PROXY", "https_proxy"];
pub const ENV_NO_PROXY: [&str; 2] = ["NO_PROXY", "no_proxy"];

/// Defaults to the `default` profile, as every SDK does.
pub const DEFAULT_PROFILE: &str = "default";
/// Defaults to 5 minutes: long enough for an app that caches credentials to
/// use them, short enough that a probe does not fail on a healthy refresh.
pub const DEFAULT_MIN_VALID: Duration = Duration::from_secs(300);
/// Defaults to one minute of retrying transient failures in `--once`.
pub const DEFAULT_ONCE_TIMEOUT: Duration = Duration::from_secs(60);

/// What the process does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Refresh forever.
    Daemon,
    /// Refresh once, retrying transient failures for at most `timeout`.
    Once { timeout: Duration },
    /// Read the file and say whether it is good for `min_valid` more.
    Check { min_valid: Duration },
}

/// Where the source credentials come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    WebIdentity(WebIdentity),
    Container(Container),
}

/// EKS Pod Identity or ECS: a credentials endpoint answering JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    /// Checked against the SDKs' rules (plain http only to loopback and the agents).
    pub url: String,
    pub token: ContainerToken,
}

/// Where the container endpoint's `Authorization` value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContainerToken {
    None,
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN`, checked for line breaks.
    Value(Secret),
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`, read at every refresh.
    File(PathBuf),
}

/// `--role-arn`: a second hop, sts:AssumeRole signed with the source's credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    pub role_arn: String,
    pub external_id: Option<String>,
    pub session_name: String,
    pub duration: Option<Duration>,
    pub sts: StsEndpoint,
}

/// IRSA: a token file exchanged with STS AssumeRoleWithWebIdentity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebIdentity {
    pub role_arn: String,
    pub token_file: PathBuf,
    pub session_name: String,
    pub duration: Option<Duration>,
    pub sts: StsEndpoint,
}

/// How to reach servers beyond the pod.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Network {
    /// `HTTPS_PROXY`, used for STS.
    pub https_proxy: Option<String>,
    /// `NO_PROXY` entries, lowercased, spaces trimmed.
    pub no_proxy: Vec<String>,
    /// `AWS_CA_BUNDLE`: more roots to trust, beside the embedded ones.
    pub ca_bundle: Option<PathBuf>,
}

/// `--serve`: the loopback credentials endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Serve {
    pub addr: SocketAddr,
    /// Read at start; its content is the required `Authorization` value.
    pub token_file: Option<PathBuf>,
    /// `--serve-any-address`: clients on other hosts may name the endpoint
    /// by any IP address in `Host`, not only a loopback one.
    pub any_address: bool,
}

/// Everything the program needs, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub mode: Mode,
    /// Absent only with `--serve` and no `--file`.
    pub sink: Option<FileSink>,
    pub serve: Option<Serve>,
    /// Absent only for `--check`, which reads nothing but the file.
    pub source: Option<Source>,
    /// `--role-arn`, on top of the source.
    pub chain: Option<Chain>,
    pub network: Network,
    pub logger: Logger,
}

/// A lookup in the environment; empty values count as unset, as in the SDKs.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

fn var(env: Env, name: &str) -> Option<String> {
    env(name).filter(|v| !v.trim().is_empty())
}

fn first_var(env: Env, names: &[&str]) -> Option<(String, String)> {
    names
        .iter()
        .find_map(|n| var(env, n).map(|v| (n.to_string(), v)))
}

/// Builds the validated configuration. `args.help`/`args.version` are the
/// caller's business and ignored here.
pub fn build(args: &Args, env: Env) -> Result<Config, Error> {
    let logger = Logger::new(
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
            Level::Info,
        )?,
    );
    if args.once && args.check {
        return Err(Error::Usage("--once and --check cannot be combined".into()));
    }
    let mode = if args.check {
        Mode::Check {
            min_valid: duration_flag(args.min_valid.as_deref(), "--min-valid")?
                .unwrap_or(DEFAULT_MIN_VALID),
        }
    } else if args.once {
        Mode::Once {
            timeout: duration_flag(args.once_timeout.as_deref(), "--once-timeout")?
                .unwrap_or(DEFAULT_ONCE_TIMEOUT),
        }
    } else {
        Mode::Daemon
    };
    let serve = serve(args, &mode)?;
    // With --serve alone nothing is written: an app pointed at the endpoint
    // must not find a stale file first (the SDKs try the file before it).
    let sink = match (&serve, &args.file) {
        (Some(_), None) => None,
        _ => Some(sink(args, env)?),
    };
    let (source, chain) = match mode {
        Mode::Check { .. } => (None, None),
        _ => {
            let chain = chain(args, env)?;
            (Some(source(args, env, chain.is_some())?), chain)
        }
    };
    Ok(Config {
        mode,
        sink,
        serve,
        source,
        chain,
        network: network(env),
        logger,
    })
}

fn serve(args: &Args, mode: &Mode) -> Result<Option<Serve>, Error> {
    let Some(text) = args.serve.as_deref() else {
        if args.serve_token_file.is_some() || args.serve_any_address {
            return Err(Error::Usage(
                "--serve-token-file and --serve-any-address need --serve".into(),
            ));
        }
        return Ok(None);
    };
    if *mode != Mode::Daemon {
        return Err(Error::Usage(
            "--serve runs with the daemon, not with --once or --check".into(),
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
    Ok(Some(Serve {
        addr,
        token_file: args.serve_token_file.as_ref().map(PathBuf::from),
        any_address: args.serve_any_address,
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

/// Defaults to a day: no setting here means anything beyond that (STS
/// sessions last at most 12 h), and a bound keeps deadline arithmetic sane.
pub const MAX_SETTING_DURATION: Duration = Duration::from_secs(86_400);

fn duration_flag(value: Option<&str>, flag: &str) -> Result<Option<Duration>, Error> {
    let Some(v) = value else { return Ok(None) };
    let d = parse_duration(v).map_err(|e| Error::Usage(format!("{flag}: {e}")))?;
    if d > MAX_SETTING_DURATION {
        return Err(Error::Usage(format!(
            "{flag} {v:?}: at most {}",
            format_duration(MAX_SETTING_DURATION)
        )));
    }
    Ok(Some(d))
}

fn sink(args: &Args, env: Env) -> Result<FileSink, Error> {
    let path = match (&args.file, var(env, ENV_SHARED_CREDENTIALS_FILE)) {
        (Some(f), _) if f.trim().is_empty() => return Err(Error::Usage("--file is empty".into())),
        (Some(f), _) => expand_home(f, env, "--file")?,
        (None, Some(f)) => expand_home(&f, env, ENV_SHARED_CREDENTIALS_FILE)?,
        (None, None) => match var(env, ENV_HOME) {
            Some(home) => PathBuf::from(home).join(".aws").join("credentials"),
            None => {
                return Err(Error::Config(format!(
                    "no credentials file: set --file, {ENV_SHARED_CREDENTIALS_FILE} or {ENV_HOME}"
                )))
            }
        },
    };
    let profile = args
        .profile
        .clone()
        .unwrap_or_else(|| DEFAULT_PROFILE.into());
    credentials_file::validate_profile(&profile)?;
    let mode = match &args.mode {
        None => credentials_file::DEFAULT_MODE,
        Some(m) => parse_mode(m).map_err(|e| Error::Usage(format!("--mode {m:?}: {e}")))?,
    };
    let owner = args
        .owner
        .as_deref()
        .map(|o| parse_owner(o).map_err(|e| Error::Usage(format!("--owner {o:?}: {e}"))))
        .transpose()?;
    Ok(FileSink {
        path,
        profile,
        mode,
        owner,
    })
}

/// `~/x` means `$HOME/x`, as the SDKs read `AWS_SHARED_CREDENTIALS_FILE`.
fn expand_home(path: &str, env: Env, name: &str) -> Result<PathBuf, Error> {
    match path.strip_prefix("~/") {
        None => Ok(PathBuf::from(path)),
        Some(rest) => var(env, ENV_HOME)
            .map(|home| PathBuf::from(home).join(rest))
            .ok_or_else(|| {
                Error::Config(format!("{name} starts with ~/ but {ENV_HOME} is not set"))
            }),
    }
}

fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    let mode = u32::from_str_radix(digits, 8)
        .map_err(|_| "not an octal mode like 0600 or 0640".to_string())?;
    if mode > 0o777 {
        return Err("only permission bits (at most 0777) are allowed".into());
    }
    if mode & 0o600 != 0o600 {
        return Err("the owner needs read and write permission (0600 at least)".into());
    }
    Ok(mode)
}

fn parse_owner(text: &str) -> Result<Owner, String> {
    let num = |s: &str| {
        s.parse::<u32>()
            .map_err(|_| format!("{s:?} is not a numeric id"))
    };
    match text.split_once(':') {
        None => Ok(Owner {
            uid: num(text)?,
            gid: None,
        }),
        Some((u, g)) => Ok(Owner {
            uid: num(u)?,
            gid: Some(num(g)?),
        }),
    }
}

fn network(env: Env) -> Network {
    Network {
        https_proxy: first_var(env, &ENV_HTTPS_PROXY).map(|(_, v)| v.trim().to_string()),
        no_proxy: first_var(env, &ENV_NO_PROXY)
            .map(|(_, v)| {
                v.split(',')
                    .map(|e| e.trim().to_ascii_lowercase())
                    .filter(|e| !e.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        ca_bundle: var(env, ENV_CA_BUNDLE).map(PathBuf::from),
    }
}

/// Which kind of source: `--source`, else detected in the SDKs' order (web
/// identity before container).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    WebIdentity,
    Container,
}

fn source(args: &Args, env: Env, chained: bool) -> Result<Source, Error> {
    let kind = match args.source.as_deref() {
        Some("web-identity") => Kind::WebIdentity,
        Some("container") => Kind::Container,
        Some(other) => {
            return Err(Error::Usage(format!(
                "--source {other:?} is not one of web-identity, container"
            )))
        }
        None if var(env, ENV_ROLE_ARN).is_some() || var(env, ENV_WEB_IDENTITY_TOKEN_FILE).is_some() => {
            Kind::WebIdentity
        }
        None if var(env, ENV_CONTAINER_CREDENTIALS_FULL_URI).is_some()
            || var(env, ENV_CONTAINER_CREDENTIALS_RELATIVE_URI).is_some() =>
        {
            Kind::Container
        }
        None => {
            return Err(Error::Config(format!(
                "no identity configured: looked for IRSA ({ENV_ROLE_ARN} and {ENV_WEB_IDENTITY_TOKEN_FILE}) and a container endpoint ({ENV_CONTAINER_CREDENTIALS_FULL_URI} or {ENV_CONTAINER_CREDENTIALS_RELATIVE_URI}); on EKS, annotate the service account with eks.amazonaws.com/role-arn or create a Pod Identity association"
            )))
        }
    };
    match kind {
        Kind::WebIdentity => web_identity(args, env, chained).map(Source::WebIdentity),
        Kind::Container => container(env).map(Source::Container),
    }
}

/// With `--role-arn`, `--session-name` and `--duration` belong to the
/// chained hop, and the web identity hop uses its own defaults.
fn web_identity(args: &Args, env: Env, chained: bool) -> Result<WebIdentity, Error> {
    let token_file = var(env, ENV_WEB_IDENTITY_TOKEN_FILE);
    let role_arn = var(env, ENV_ROLE_ARN);
    let (role_arn, token_file) = match (role_arn, token_file) {
        (Some(r), Some(t)) => (r, t),
        (None, _) => {
            return Err(Error::Config(format!(
                "{ENV_ROLE_ARN} is not set: set it to the IAM role to assume with the web identity token (on EKS, annotate the service account with eks.amazonaws.com/role-arn)"
            )))
        }
        (Some(_), None) => {
            return Err(Error::Config(format!(
                "{ENV_ROLE_ARN} is set but {ENV_WEB_IDENTITY_TOKEN_FILE} is not: set it to the projected service-account token's path"
            )))
        }
    };
    let role_arn = role_arn.trim().to_string();
    sts::validate_role_arn(&role_arn)
        .map_err(|e| Error::Config(format!("{ENV_ROLE_ARN} {role_arn:?}: {e}")))?;
    let (session_flag, duration) = if chained {
        (None, None)
    } else {
        (
            args.session_name.as_deref(),
            role_duration(args, sts::MAX_DURATION)?,
        )
    };
    Ok(WebIdentity {
        role_arn,
        token_file: PathBuf::from(token_file),
        session_name: session_name(session_flag, env)?,
        duration,
        sts: sts_endpoint(args, env)?,
    })
}

fn container(env: Env) -> Result<Container, Error> {
    let url = match (
        var(env, ENV_CONTAINER_CREDENTIALS_FULL_URI),
        var(env, ENV_CONTAINER_CREDENTIALS_RELATIVE_URI),
    ) {
        // The SDKs prefer the relative URI when both are set.
        (_, Some(rel)) => {
            let rel = rel.trim();
            if !rel.starts_with('/') {
                return Err(Error::Config(format!(
                    "{ENV_CONTAINER_CREDENTIALS_RELATIVE_URI} {rel:?} must start with /"
                )));
            }
            format!("{ECS_AGENT_ORIGIN}{rel}")
        }
        (Some(full), None) => {
            let full = full.trim().to_string();
            validate_container_url(&full)
                .map_err(|e| Error::Config(format!("{ENV_CONTAINER_CREDENTIALS_FULL_URI} {:?}: {e}", redact(&full))))?;
            full
        }
        (None, None) => {
            return Err(Error::Config(format!(
                "--source container needs {ENV_CONTAINER_CREDENTIALS_FULL_URI} or {ENV_CONTAINER_CREDENTIALS_RELATIVE_URI}"
            )))
        }
    };
    let token = match (
        var(env, ENV_CONTAINER_AUTHORIZATION_TOKEN_FILE),
        env(ENV_CONTAINER_AUTHORIZATION_TOKEN).filter(|v| !v.is_empty()),
    ) {
        (Some(file), _) => ContainerToken::File(PathBuf::from(file)),
        (None, Some(value)) => {
            let secret = Secret::new(value);
            validate_container_token(&secret)
                .map_err(|e| Error::Config(format!("{ENV_CONTAINER_AUTHORIZATION_TOKEN}: {e}")))?;
            ContainerToken::Value(secret)
        }
        (None, None) => ContainerToken::None,
    };
    Ok(Container { url, token })
}

fn chain(args: &Args, env: Env) -> Result<Option<Chain>, Error> {
    let Some(role_arn) = args.role_arn.as_deref() else {
        if args.external_id.is_some() {
            return Err(Error::Usage("--external-id needs --role-arn".into()));
        }
        return Ok(None);
    };
    sts::validate_role_arn(role_arn)
        .map_err(|e| Error::Usage(format!("--role-arn {role_arn:?}: {e}")))?;
    if let Some(id) = args.external_id.as_deref() {
        sts::validate_external_id(id).map_err(|e| Error::Usage(format!("--external-id: {e}")))?;
    }
    Ok(Some(Chain {
        role_arn: role_arn.to_string(),
        external_id: args.external_id.clone(),
        session_name: session_name(args.session_name.as_deref(), env)?,
        duration: role_duration(args, sts::MAX_CHAINED_DURATION)?,
        sts: sts_endpoint(args, env)?,
    }))
}

/// `--session-name`, else `AWS_ROLE_SESSION_NAME`, else `aws-credfile-<pod>`.
fn session_name(flag: Option<&str>, env: Env) -> Result<String, Error> {
    match (flag, var(env, ENV_ROLE_SESSION_NAME)) {
        (Some(s), _) => {
            sts::validate_session_name(s)
                .map_err(|e| Error::Usage(format!("--session-name {s:?}: {e}")))?;
            Ok(s.to_string())
        }
        (None, Some(s)) => {
            sts::validate_session_name(&s)
                .map_err(|e| Error::Config(format!("{ENV_ROLE_SESSION_NAME} {s:?}: {e}")))?;
            Ok(s)
        }
        (None, None) => Ok(default_session_name(var(env, ENV_HOSTNAME).as_deref())),
    }
}

/// `--duration`, within STS's bounds for this hop.
fn role_duration(args: &Args, max: Duration) -> Result<Option<Duration>, Error> {
    let duration = duration_flag(args.duration.as_deref(), "--duration")?;
    if let Some(d) = duration {
        sts::validate_duration(d, max).map_err(|e| {
            let chained = if max == sts::MAX_CHAINED_DURATION {
                " (AWS caps a chained --role-arn session at 1h)"
            } else {
                ""
            };
            Error::Usage(format!("--duration {}: {e}{chained}", format_duration(d)))
        })?;
    }
    Ok(duration)
}

fn sts_endpoint(args: &Args, env: Env) -> Result<StsEndpoint, Error> {
    let region = first_var(env, &[ENV_REGION, ENV_DEFAULT_REGION]);
    if let Some((name, region)) = &region {
        endpoint::validate_region(region)
            .map_err(|e| Error::Config(format!("{name} {region:?}: {e}")))?;
    }
    // Which setting the override came from, so an error can name it.
    let override_url = match &args.sts_endpoint {
        Some(url) => Some(("--sts-endpoint".to_string(), url.clone())),
        None => first_var(env, &[ENV_ENDPOINT_URL_STS, ENV_ENDPOINT_URL]),
    };
    let mode = match var(env, ENV_STS_REGIONAL_ENDPOINTS) {
        Some(v) => endpoint::parse_regional_mode(&v)
            .map_err(|e| Error::Config(format!("{ENV_STS_REGIONAL_ENDPOINTS} {v:?}: {e}")))?,
        None => Default::default(),
    };
    let fips = match var(env, ENV_USE_FIPS_ENDPOINT) {
        Some(v) => endpoint::parse_bool(&v)
            .map_err(|e| Error::Config(format!("{ENV_USE_FIPS_ENDPOINT} {v:?}: {e}")))?,
        None => false,
    };
    endpoint::resolve(&EndpointInputs {
        region: region.as_ref().map(|(_, r)| r.as_str()),
        override_url: override_url.as_ref().map(|(_, url)| url.as_str()),
        mode,
        fips,
    })
    .map_err(|e| match (&override_url, e) {
        (Some((name, _)), Error::Config(msg)) => Error::Config(format!("{name}: {msg}")),
        (_, e) => e,
    })
}

/// A token goes into a header verbatim: it must be non-empty and free of
/// line breaks and other control characters.
pub fn validate_container_token(token: &Secret) -> Result<(), String> {
    let t = token.expose();
    if t.is_empty() {
        return Err("the token is empty".into());
    }
    if t.contains(['\r', '\n']) {
        return Err("the token contains a line break (CR or LF), which would inject HTTP headers; refusing to send it".into());
    }
    if t.chars().any(|c| c.is_control()) {
        return Err("the token contains control characters".into());
    }
    Ok(())
}

/// Checks a container endpoint URL as the SDKs do: https may go anywhere;
/// plain http only to loopback or the ECS/EKS agent addresses.
pub fn validate_container_url(url: &str) -> Result<(), String> {
    let authority = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split(['/', '?', '#']).next());
    if authority.is_some_and(|a| a.contains('@')) {
        return Err("must not contain a user name or password; the token goes in AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE)".into());
    }
    let parts = url_parts(url).ok_or_else(|| "not an absolute http(s) URL".to_string())?;
    match parts.scheme.as_str() {
        "https" => Ok(()),
        "http" => {
            let host = parts.host.as_str();
            let loopback = is_loopback(host);
            let agent = host
                .parse::<IpAddr>()
                .map(|ip| {
                    ALLOWED_HTTP_HOSTS
                        .iter()
                        .any(|a| a.parse::<IpAddr>() == Ok(ip))
                })
                .unwrap_or(false);
            if loopback || agent {
                Ok(())
            } else {
                Err(format!(
                    "plain http is allowed only to loopback, 169.254.170.2, 169.254.170.23 and fd00:ec2::23, not {host}; use https"
                ))
            }
        }
        other => Err(format!("scheme {other} is not http or https")),
    }
}

/// `aws-credfile-<pod name>`, cut to STS's 64 characters and to the
/// characters it accepts; the pod name makes CloudTrail entries traceable.
pub fn default_session_name(hostname: Option<&str>) -> String {
    let mut name = String::from("aws-credfile");
    if let Some(host) = hostname {
        let cleaned: String = host
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(*c))
            .collect();
        if !cleaned.is_empty() {
            name.push('-');
            name.push_str(&cleaned);
        }
    }
    name.truncate(64);
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn http_hosts_follow_the_sdks() {
        for ok in [
            "http://169.254.170.2/v2/credentials/abc",
            "http://169.254.170.23/v1/credentials",
            "http://[fd00:ec2::23]/v1/credentials",
            "http://127.0.0.1:9911/v1/credentials",
            "http://127.1.2.3/x",
            "http://[::1]:80/x",
            "http://localhost:8080/creds",
            "https://creds.example.com/v1",
        ] {
            assert!(validate_container_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://169.254.169.254/latest",
            "http://10.0.0.1/creds",
            "http://example.com/creds",
            "http://[fd00:ec2::24]/x",
            "ftp://127.0.0.1/x",
            "169.254.170.2/v1",
        ] {
            assert!(validate_container_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_with_line_breaks_are_refused() {
        assert!(validate_container_token(&Secret::new("abc")).is_ok());
        assert!(validate_container_token(&Secret::new("abc\r\nX-Evil: 1")).is_err());
        assert!(validate_container_token(&Secret::new("abc\n")).is_err());
        assert!(validate_container_token(&Secret::new("")).is_err());
        let msg = validate_container_token(&Secret::new("secret-part\nx")).unwrap_err();
        assert!(!msg.contains("secret-part"));
    }

    fn build_with(argv: &[&str], vars: &[(&str, &str)]) -> Result<Config, Error> {
        let args = crate::cli::parse(&argv.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        build(&args, &|name| map.get(name).cloned())
    }

    const IRSA: [(&str, &str); 4] = [
        ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/app"),
        (
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
        ),
        ("AWS_REGION", "eu-west-1"),
        ("HOME", "/home/app"),
    ];

    #[test]
    fn irsa_defaults() {
        let c = build_with(&[], &IRSA).unwrap();
        assert_eq!(c.mode, Mode::Daemon);
        let sink = c.sink.unwrap();
        assert_eq!(sink.path, PathBuf::from("/home/app/.aws/credentials"));
        assert_eq!(sink.profile, "default");
        assert_eq!(sink.mode, 0o600);
        let Some(Source::WebIdentity(w)) = c.source else {
            panic!("no source")
        };
        assert_eq!(w.session_name, "aws-credfile");
        assert_eq!(w.sts.url, "https://sts.eu-west-1.amazonaws.com");
        assert_eq!(w.duration, None);
    }

    #[test]
    fn file_precedence() {
        let mut vars = IRSA.to_vec();
        vars.push(("AWS_SHARED_CREDENTIALS_FILE", "~/creds"));
        assert_eq!(
            build_with(&[], &vars).unwrap().sink.unwrap().path,
            PathBuf::from("/home/app/creds")
        );
        assert_eq!(
            build_with(&["--file", "/x/y"], &vars)
                .unwrap()
                .sink
                .unwrap()
                .path,
            PathBuf::from("/x/y")
        );
    }

    #[test]
    fn endpoint_override_precedence() {
        let mut vars = IRSA.to_vec();
        vars.push(("AWS_ENDPOINT_URL", "http://127.0.0.1:1"));
        let sts = |c: Config| match c.source {
            Some(Source::WebIdentity(w)) => w.sts.url,
            other => panic!("{other:?}"),
        };
        assert_eq!(sts(build_with(&[], &vars).unwrap()), "http://127.0.0.1:1");
        vars.push(("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:2"));
        assert_eq!(sts(build_with(&[], &vars).unwrap()), "http://127.0.0.1:2");
        assert_eq!(
            sts(build_with(&["--sts-endpoint", "http://127.0.0.1:3"], &vars).unwrap()),
            "http://127.0.0.1:3"
        );
    }

    #[test]
    fn check_needs_no_identity() {
        let c = build_with(&["--check", "--min-valid", "10m"], &[("HOME", "/h")]).unwrap();
        assert_eq!(
            c.mode,
            Mode::Check {
                min_valid: Duration::from_secs(600)
            }
        );
        assert!(c.source.is_none());
    }

    #[test]
    fn configuration_errors_exit_2_and_name_the_culprit() {
        type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
        let cases: Vec<Case> = vec![
            (vec![], vec![("HOME", "/h")], "AWS_ROLE_ARN"),
            (
                vec![],
                vec![("HOME", "/h"), ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t")],
                "AWS_ROLE_ARN",
            ),
            (
                vec![],
                vec![
                    ("HOME", "/h"),
                    ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/x"),
                ],
                "AWS_WEB_IDENTITY_TOKEN_FILE",
            ),
            (vec!["--duration", "5x"], IRSA.to_vec(), "--duration"),
            (vec!["--duration", "60"], IRSA.to_vec(), "--duration"),
            (vec!["--once", "--check"], IRSA.to_vec(), "--check"),
            (vec!["--profile", "a]b"], IRSA.to_vec(), "--profile"),
            (vec!["--profile", "a\nb"], IRSA.to_vec(), "--profile"),
            (vec!["--mode", "0644x"], IRSA.to_vec(), "--mode"),
            (vec!["--mode", "0400"], IRSA.to_vec(), "--mode"),
            (vec!["--owner", "app"], IRSA.to_vec(), "--owner"),
            (vec!["--log-format", "xml"], IRSA.to_vec(), "--log-format"),
            (
                vec!["--session-name", "a b"],
                IRSA.to_vec(),
                "--session-name",
            ),
            (vec!["--sts-endpoint", "ftp://x"], IRSA.to_vec(), "ftp://x"),
            (
                vec![],
                [IRSA.to_vec(), vec![("AWS_ROLE_ARN", "not-an-arn")]].concat(),
                "AWS_ROLE_ARN",
            ),
            (
                vec![],
                [IRSA.to_vec(), vec![("AWS_REGION", "EU WEST")]].concat(),
                "AWS_REGION",
            ),
            (
                vec![],
                vec![
                    ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/x"),
                    ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t"),
                ],
                "HOME",
            ),
        ];
        for (argv, vars, culprit) in cases {
            let err = build_with(&argv, &vars).expect_err(culprit);
            assert_eq!(err.exit_code(), 2, "{err}");
            let shown = err.to_string();
            assert!(shown.contains(culprit), "{shown:?} should name {culprit}");
            assert!(!shown.contains('\n'), "{shown:?}");
        }
    }

    #[test]
    fn session_name_defaults_to_the_pod() {
        assert_eq!(
            default_session_name(Some("harbor-registry-7d9f-x2x")),
            "aws-credfile-harbor-registry-7d9f-x2x"
        );
        assert_eq!(
            default_session_name(Some("weird host!")),
            "aws-credfile-weirdhost"
        );
        assert_eq!(default_session_name(Some(&"h".repeat(100))).len(), 64);
        assert_eq!(default_session_name(None), "aws-credfile");
    }
}
