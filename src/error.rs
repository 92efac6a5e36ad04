//! The one error type, what each failure means for the exit code, and
//! messages that say what failed, with what, and what to do about it.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::time::Timestamp;

mod text;
pub use text::{
    cut_middle, is_invisible, one_line, one_line_ours, one_line_within, quote_body,
    BODY_PREFIX_CHARS,
};

/// Everything that can go wrong. Each `Display` is one line for a person;
/// none of them may contain a secret.
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// The command line is wrong: an unknown flag, a missing or malformed
    /// value. Exit code 2.
    Usage(String),
    /// The environment or a file the configuration names is missing or
    /// invalid (no `AWS_ROLE_ARN`, an unreadable token file at start, ...).
    /// Exit code 2.
    Config(String),
    /// STS answered with an `ErrorResponse`.
    Sts {
        /// The call it answered (`AssumeRoleWithWebIdentity`, or the
        /// `AssumeRole` of `--role-arn`): with a chain, which trust policy
        /// to look at.
        action: &'static str,
        /// The HTTP status it came with.
        status: u16,
        /// The STS error code, such as `AccessDenied`.
        code: String,
        /// STS's own explanation.
        message: String,
    },
    /// A container credentials endpoint answered with an error status.
    Endpoint {
        /// The endpoint's URL (it holds no secret; the token is a header).
        url: String,
        status: u16,
        /// The error body, as plain text or `code: message` from JSON.
        message: String,
    },
    /// The request never got a complete answer: DNS, connect, TLS, timeout,
    /// a reset or a truncated body.
    Network {
        /// Who we were talking to.
        url: String,
        detail: String,
        /// Whether it was a timeout (connect, the whole exchange, or the
        /// `--once-timeout` budget), rather than a refusal or a reset.
        timed_out: bool,
        /// How far it got.
        reach: Reach,
    },
    /// An answer arrived but is not what the protocol promises (HTML from a
    /// proxy, truncated XML, missing fields, an oversized body).
    BadResponse {
        /// Who answered.
        from: String,
        /// The HTTP status of the answer.
        status: u16,
        detail: String,
    },
    /// Reading or writing a file failed.
    Io {
        /// What we were doing, such as "write the temporary file".
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// `--check` found the profile missing, incomplete or about to expire;
    /// or a refresh found something not a file put at the path since start.
    Stale(String),
    /// The program to supervise (`-- PROGRAM`) could not be started. Exit
    /// code 127 when it or its `#!` interpreter was not found, 126 otherwise.
    Spawn { program: String, source: io::Error },
    /// A limit on threads, processes, descriptors or memory was reached
    /// (the pod's pids limit, `RLIMIT_NPROC`, `RLIMIT_NOFILE`): not the
    /// configuration's fault, so exit code 1, and retried by the daemon
    /// (a fetch whose thread was refused, say: one on the loop's own thread
    /// would hold up the endpoint, the probes and a stop).
    OutOfResources {
        /// What could not be done, such as "start a thread for the fetch".
        doing: &'static str,
        source: io::Error,
    },
    /// Credentials arrived already expired by the local clock: the clock is
    /// wrong, or the source is. Retried, and never written.
    ExpiredOnArrival {
        /// Who issued them.
        from: String,
        expiration: Timestamp,
        now: Timestamp,
    },
}

/// How far a failed exchange got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// No answer: DNS, a refused or reset connection, a timeout.
    Unreached,
    /// An answer came, broken: not HTTP, cut short, too large.
    Broken,
    /// It fails the same way until someone changes something: a
    /// certificate that is not trusted, a proxy that refuses the tunnel.
    /// Retrying within a `--once` budget cannot help.
    Lasting,
}

impl Error {
    /// The process exit code this error maps to: 2 for usage and
    /// configuration mistakes a person must fix, 1 for everything that went
    /// wrong at run time.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::Config(_) => 2,
            // Not found: the program, or the interpreter its #! line
            // names (127, as dash, bash 5.2 and env report it); a file that
            // is there but cannot run is 126.
            Error::Spawn { source, .. } if source.kind() == io::ErrorKind::NotFound => 127,
            // Out of descriptors, processes or memory: aws-credfile's own
            // limits at run time, not the program's fault.
            Error::Spawn { source, .. } if is_out_of_resources(source) => 1,
            Error::Spawn { .. } => 126,
            _ => 1,
        }
    }

    /// Whether trying again later may succeed: throttling, server errors,
    /// network trouble, and the STS codes the AWS SDKs retry.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Sts { status, code, .. } => {
                *status == 429 || *status >= 500 || is_transient_sts_code(code)
            }
            Error::Endpoint {
                status, message, ..
            } => *status == 429 || *status >= 500 || is_throttling(endpoint_code(message)),
            Error::BadResponse { status, .. } => *status == 429 || *status >= 500,
            Error::Network { reach, .. } => *reach != Reach::Lasting,
            Error::ExpiredOnArrival { .. } | Error::OutOfResources { .. } => true,
            _ => false,
        }
    }

    /// The error with `f` applied to every text it quotes from an answer
    /// (an STS code and message, an endpoint's message, a bad answer's
    /// detail); the rest is ours and stays.
    pub fn map_quoted(self, f: impl Fn(&str) -> String) -> Error {
        match self {
            Error::Sts {
                action,
                status,
                code,
                message,
            } => {
                // Taken as printed, `code: message`: a secret cut in two,
                // half in the code and half in the message (the request id
                // is in it), is no secret taken out of either half alone.
                let whole = f(&format!("{code}\n{message}"));
                let (code, message) = whole.split_once('\n').unwrap_or((&whole, ""));
                Error::Sts {
                    action,
                    status,
                    code: code.to_string(),
                    message: message.to_string(),
                }
            }
            Error::Endpoint {
                url,
                status,
                message,
            } => Error::Endpoint {
                url,
                status,
                message: f(&message),
            },
            Error::BadResponse {
                from,
                status,
                detail,
            } => Error::BadResponse {
                from,
                status,
                detail: f(&detail),
            },
            other => other,
        }
    }

    /// Why a refresh failed, as one word of a small fixed set: the
    /// `reason` label of `aws_credfile_refresh_failures_total`. The status
    /// decides before the body: a load balancer's 502 page or a proxy's 429
    /// in HTML is the server's trouble or a throttle, as it is for
    /// `is_transient`, not a garbled answer.
    pub fn reason(&self) -> &'static str {
        match self {
            // A limit of this process's, whatever it was doing.
            _ if self.is_out_of_resources() => "other",
            Error::Sts { status, code, .. } if *status == 429 || is_throttling(code) => "throttled",
            Error::Endpoint { status: 429, .. } | Error::BadResponse { status: 429, .. } => {
                "throttled"
            }
            Error::Endpoint { message, .. } if is_throttling(endpoint_code(message)) => "throttled",
            Error::Sts { status, .. }
            | Error::Endpoint { status, .. }
            | Error::BadResponse { status, .. }
                if *status >= 500 =>
            {
                "server_error"
            }
            // Retried (see `is_transient_sts_code`), but what lasts is a
            // refusal: no OIDC provider for the cluster in the account, or
            // an audience or issuer the role does not trust.
            Error::Sts { code, .. } if code == "InvalidIdentityToken" => "denied",
            Error::Sts { code, .. } if is_transient_sts_code(code) => "server_error",
            Error::Sts { .. } | Error::Endpoint { .. } => "denied",
            Error::Network {
                timed_out: true, ..
            } => "timeout",
            Error::Network { .. } => "network",
            Error::BadResponse { .. } => "bad_response",
            Error::ExpiredOnArrival { .. } => "expired_on_arrival",
            Error::OutOfResources { .. } => "other",
            Error::Io { .. } | Error::Stale(_) => "file",
            Error::Usage(_) | Error::Config(_) | Error::Spawn { .. } => "config",
        }
    }

    /// Whether this failed for want of descriptors, processes or memory:
    /// the process's limits, never the configuration's fault (so never
    /// made a configuration error at start).
    pub fn is_out_of_resources(&self) -> bool {
        match self {
            Error::Io { source, .. } | Error::OutOfResources { source, .. } => {
                is_out_of_resources(source)
            }
            _ => false,
        }
    }

    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// STS error codes worth retrying. `InvalidIdentityToken` is among them
/// because the Go SDKs retry it: the OIDC provider's keys may still be
/// propagating.
fn is_transient_sts_code(code: &str) -> bool {
    is_throttling(code)
        || matches!(
            code,
            "IDPCommunicationError"
                | "InvalidIdentityToken"
                | "ServiceUnavailable"
                | "InternalFailure"
                | "InternalError"
                | "RequestTimeout"
                | "RequestTimeoutException"
        )
}

/// The code an endpoint's error message starts with (`code: message`, or
/// the code alone, see `source::container`).
fn endpoint_code(message: &str) -> &str {
    message.split(':').next().unwrap_or_default().trim()
}

/// The STS codes that mean "slow down".
fn is_throttling(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestThrottledException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded"
    )
}

/// What a person can do about an STS error code. Worded to read right both
/// in a retry's log line and in the final error after retries ran out.
fn sts_hint(action: &str, code: &str) -> &'static str {
    let chained = action == crate::sts::ACTION_ASSUME_ROLE;
    match code {
        "AccessDenied" if chained => "check that the --role-arn role's trust policy lets the source role assume it, and that the source role may sts:AssumeRole it",
        "AccessDenied" => "check the role's trust policy allows this identity (the cluster's OIDC provider and this service account)",
        "InvalidIdentityToken" | "IDPRejectedClaim" if chained => "AssumeRole sends no identity token: check AWS_ENDPOINT_URL_STS names STS itself",
        "InvalidIdentityToken" => "check the cluster's OIDC provider is registered in IAM and the token's audience is sts.amazonaws.com",
        "IDPRejectedClaim" => "check the role's trust policy conditions (aud, sub) match this service account's token",
        "ExpiredTokenException" | "ExpiredToken" if chained => "the source credentials have expired; check the source's expiry and this node's clock",
        "ExpiredTokenException" | "ExpiredToken" => "the identity token has expired; check the kubelet rotates the projected token, and this node's clock",
        "InvalidClientTokenId" | "SignatureDoesNotMatch" if chained => "the source credentials or their signature were rejected; check the source identity, that AWS_REGION fits the STS endpoint, and that no proxy alters the request",
        "InvalidClientTokenId" | "SignatureDoesNotMatch" => "this call is not signed, so STS did not say this: check AWS_ENDPOINT_URL_STS and any proxy",
        "InvalidParameterValue" | "ValidationError" if chained => "check --role-arn, --session-name, --external-id and --duration",
        "InvalidParameterValue" | "ValidationError" => "check AWS_ROLE_ARN, the session name (--session-name, AWS_ROLE_SESSION_NAME, else from HOSTNAME) and --duration",
        "MalformedPolicyDocument" | "PackedPolicyTooLarge" => "aws-credfile sends no session policy: check AWS_ENDPOINT_URL_STS names STS itself",
        "RegionDisabledException" => "activate STS in this region in the IAM console, or set AWS_REGION to another",
        "IDPCommunicationError" => "STS could not reach the cluster's OIDC provider; this is usually temporary",
        _ if is_transient_sts_code(code) => "STS is throttling or briefly unavailable; this is usually temporary",
        _ => "see the STS documentation for this code",
    }
}

/// What a person can do about a container endpoint's error, worded as
/// [`sts_hint`] is for a retry's line and the final error alike.
fn endpoint_hint(status: u16, message: &str) -> &'static str {
    match status {
        _ if status == 429 || is_throttling(endpoint_code(message)) => {
            "the endpoint is throttling; this is usually temporary"
        }
        500.. => "the endpoint (the Pod Identity agent, or the service it asks) failed; this is usually temporary",
        400 | 401 | 403 => "check the token in AWS_CONTAINER_AUTHORIZATION_TOKEN or _FILE and, with EKS Pod Identity, that the service account has an association",
        404 => "check the path of AWS_CONTAINER_CREDENTIALS_FULL_URI or _RELATIVE_URI",
        _ => "check that AWS_CONTAINER_CREDENTIALS_FULL_URI names a container credentials endpoint",
    }
}

/// What to do when a limit of the process's was reached.
const OUT_OF_RESOURCES: &str = "a limit on threads, processes, descriptors or memory is reached (the pod's pids limit or memory limit, ulimit -u, -n or -v): raise it if this lasts";

/// Whether something failed for want of descriptors, processes or memory.
pub fn is_out_of_resources(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::EAGAIN | libc::ENOMEM)
    )
}

impl fmt::Display for Error {
    /// The message, with the user info of any URL in it redacted: proxy URLs
    /// carry passwords, and whatever quoted one (a library's error text
    /// too) must not show it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::url::redact_text(&Message(self).to_string()))
    }
}

/// The message before redaction.
struct Message<'a>(&'a Error);

impl fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Error::Usage(msg) => write!(f, "{msg} (see --help)"),
            Error::Config(msg) => f.write_str(msg),
            Error::Sts {
                action,
                status,
                code,
                message,
            } => write!(
                f,
                "STS refused {action}: {code}: {} (HTTP {status}); {}",
                one_line(message),
                sts_hint(action, code)
            ),
            Error::Endpoint {
                url,
                status,
                message,
            } => write!(
                f,
                "container credentials endpoint {url} answered HTTP {status}: {}; {}",
                one_line(message),
                endpoint_hint(*status, message)
            ),
            Error::Network {
                url,
                detail,
                reach: Reach::Broken,
                ..
            } => write!(
                f,
                "no usable answer from {url}: {}; check what answers there (a proxy or load balancer in between?)",
                one_line_ours(detail)
            ),
            Error::Network { url, detail, .. } => {
                // The whole exchange's time ran out, in the connect or
                // later: "could not reach" would be wrong when it was later.
                let lead = match detail.contains(STALLED) {
                    true => "no answer in time from",
                    false => "could not reach",
                };
                write!(
                    f,
                    "{lead} {url}: {}; {}",
                    one_line_ours(detail),
                    network_hint(detail)
                )
            }
            Error::BadResponse {
                from,
                status,
                detail,
            } => {
                write!(
                    f,
                    "unexpected answer from {from} (HTTP {status}): {}",
                    one_line(detail)
                )?;
                // Said once, where the detail does not say what to do.
                match detail.contains("; ") {
                    true => Ok(()),
                    false => f.write_str("; check that the URL names STS or the container credentials endpoint itself, and not a proxy, load balancer or login page answering in its place"),
                }
            }
            Error::Io {
                action,
                path,
                source,
            } if is_out_of_resources(source) => write!(
                f,
                "could not {action} {}: {source}; {OUT_OF_RESOURCES}",
                path.display()
            ),
            Error::Io {
                action,
                path,
                source,
            } => {
                write!(f, "could not {action} {}: {source}", path.display())?;
                match io_hint(source) {
                    Some(hint) => write!(f, "; {hint}"),
                    None => Ok(()),
                }
            }
            Error::Stale(msg) => f.write_str(msg),
            Error::Spawn { program, source } => {
                let hint = match source.kind() {
                    _ if is_out_of_resources(source) => {
                        "aws-credfile ran out of descriptors, processes or memory (ulimit -n, -u, the pod's pids limit); raise the limit"
                    }
                    io::ErrorKind::NotFound if source.get_ref().is_some() => {
                        "install the interpreter, or fix the #! line"
                    }
                    io::ErrorKind::NotFound => "give a program on PATH or its full path",
                    _ if source.raw_os_error() == Some(libc::E2BIG) => {
                        "its arguments and environment (with the variables aws-credfile adds) are longer than the system allows; shorten them"
                    }
                    io::ErrorKind::PermissionDenied => {
                        "it must be an executable file the user may run (chmod +x, a mount without noexec)"
                    }
                    _ => "it must be an executable for this machine, or a script with a #! line",
                };
                write!(f, "could not start {program:?}: {source}; {hint}")
            }
            Error::OutOfResources { doing, source } => {
                write!(f, "could not {doing}: {source}; {OUT_OF_RESOURCES}")
            }
            Error::ExpiredOnArrival {
                from,
                expiration,
                now,
            } => write!(
                f,
                "credentials from {from} expire at {expiration} by this node's clock (their lifetime counted from the answer's Date header, when it has one), which is not after the local time {now}: the source issued them expired (or so short-lived that they ran out while another writer held the file's lock), or this node's clock and the source's disagree; check the source, and both clocks (NTP)"
            ),
        }
    }
}

/// What to do about a system call's failure, for the errors whose cause
/// lies outside aws-credfile; `None` for the rest, whose messages say it
/// already (or have nothing useful to add).
fn io_hint(e: &io::Error) -> Option<&'static str> {
    Some(match e.raw_os_error()? {
        libc::EFBIG => "the file size limit (ulimit -f) is below what the file needs; raise it",
        libc::ENOSPC => "the file system is full, of space or of inodes (df, df -i); free some there",
        libc::EDQUOT => "this user's disk quota is used up; free space or raise it",
        libc::EROFS => "the file system is mounted read-only; give --file a path on a writable one (an emptyDir)",
        libc::EACCES | libc::EPERM => {
            "this user may not do that there; check the owner, mode and attributes (lsattr: append-only, immutable) of the file and the directories on its way"
        }
        libc::EISDIR | libc::ENXIO => "something other than a file (a directory, a named pipe) stands there; remove it",
        libc::ENOTDIR => "a file stands where a directory must be on the way; remove it, or fix the path",
        libc::ELOOP => "a symbolic link on the way loops; fix or remove it",
        libc::EIO => "the disk reported an error; check the node",
        libc::EBUSY => "it is a mount point (a subPath or single-file mount), which cannot be replaced; mount its directory instead and give --file a path in it",
        _ => return None,
    })
}

/// How `http::transport` says the time for the whole exchange ran out
/// (ureq cannot say in which step).
pub const STALLED: &str = "timed out before the whole answer came";

/// How `http::transport` says a handshake found no TLS version or cipher
/// suite in common.
pub const NO_COMMON_TLS: &str =
    "the server offers no TLS version or cipher suite aws-credfile accepts (TLS 1.2 or 1.3, with forward secrecy)";

/// What to do about a server not reached, when nothing says more.
const REACH_HINT: &str = "check that the server runs and that this pod may reach it (network policy, security group, HTTPS_PROXY / NO_PROXY)";

/// What to do when a server could not be reached, by what went wrong.
fn network_hint(detail: &str) -> &'static str {
    let d = detail.to_ascii_lowercase();
    // Before the TLS words below: a handshake that never ends is no
    // certificate's fault.
    if d.contains("timed out connecting") {
        return REACH_HINT;
    }
    if detail.contains(NO_COMMON_TLS) {
        "the server (or a TLS-inspecting proxy) must offer TLS 1.2 or 1.3 with ECDHE and AES-GCM or ChaCha20; update its TLS settings"
    } else if d.contains("corrupt message") {
        "the server does not speak TLS there: give http:// if it serves plain HTTP (a container endpoint's only on loopback or the agents' addresses), or check the port"
    } else if d.contains("certificate") || d.contains("tls") {
        "check the server's certificate, or give AWS_CA_BUNDLE the CA of a TLS-inspecting proxy"
    } else if d.contains("host not found") || d.contains("dns") {
        "check the host name and this pod's DNS"
    } else if d.contains("https_proxy") {
        "check the proxy"
    } else if d.contains("refused") {
        "nothing listens there: check the address and port, and that the server (the Pod Identity agent, a proxy) runs"
    } else if d.contains(STALLED) {
        "check that the server runs and answers promptly (STS, the Pod Identity agent or a proxy in between may be stalled or overloaded), and that this pod may reach it (network policy, security group, HTTPS_PROXY / NO_PROXY)"
    } else {
        REACH_HINT
    }
}

/// `source()` is deliberately not implemented for `Io`: its `Display`
/// already includes the inner error, and printing a chain would repeat it.
impl std::error::Error for Error {}

#[cfg(test)]
mod tests;
