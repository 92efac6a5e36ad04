//! Where the credentials come from: one base source (web identity or a
//! container endpoint), optionally followed by a chained sts:AssumeRole,
//! behind one `Provider` the daemon calls without knowing which it is.

pub mod chain;
pub mod container;
pub mod web_identity;

use std::sync::Mutex;
use std::time::Instant;

use crate::credentials::{Credentials, Secret};
use crate::env::{var, Env};
use crate::error::Error;
use crate::http::{without_pieces, Client, Network};
use crate::schedule::SAFETY_MARGIN;
use crate::sts;
use crate::time::Timestamp;

use self::chain::ChainProvider;
use self::container::ContainerProvider;
use self::web_identity::WebIdentityProvider;

/// Session name when `--session-name` is absent. EKS does not set it.
pub const ENV_ROLE_SESSION_NAME: &str = "AWS_ROLE_SESSION_NAME";
/// The pod name on Kubernetes; part of the default session name.
pub const ENV_HOSTNAME: &str = "HOSTNAME";

/// Where the source credentials come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    WebIdentity(web_identity::Settings),
    Container(container::Settings),
}

/// Which kind of source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    WebIdentity,
    Container,
}

impl Kind {
    /// The kind the environment names, in the SDKs' order: web identity
    /// before a container endpoint.
    pub fn detect(env: Env) -> Option<Kind> {
        // The SDKs skip web identity unless both its variables are set: a
        // stray AWS_ROLE_ARN in a Pod Identity pod leaves them on the
        // container endpoint, and so it leaves this. Half of IRSA with
        // nothing else is still web identity, to say which half is missing.
        if web_identity::complete(env) {
            Some(Kind::WebIdentity)
        } else if container::configured(env) {
            Some(Kind::Container)
        } else if web_identity::configured(env) {
            Some(Kind::WebIdentity)
        } else {
            None
        }
    }
}

/// A role session name: `flag` (`--session-name`), else
/// `AWS_ROLE_SESSION_NAME`, else `aws-credfile-<pod>`; checked against
/// STS's rules, the error naming where the bad one came from.
/// A token file that could not be used, said as the start says it: its
/// variable, what went wrong, what to check. A refresh failure (`Stale`,
/// `reason=file`); only a limit of the process's stays what it was.
fn token_file_problem(e: Error, variable: &str, check: &str) -> Error {
    if e.is_out_of_resources() {
        return e;
    }
    Error::Stale(format!("{variable}: {e}; check {check}"))
}

/// The same problem found at start: a configuration error (exit 2).
fn at_start(e: Error) -> Error {
    match e {
        Error::Stale(why) => Error::Config(why),
        other => other,
    }
}

pub fn session_name(flag: Option<&str>, env: Env) -> Result<String, Error> {
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

/// `aws-credfile-<pod name>`, in the characters STS accepts and its 64
/// characters; the pod name makes CloudTrail entries traceable. A long pod
/// name keeps its end: that is where Kubernetes puts what tells pods apart
/// (`-0`, `-1` of a StatefulSet, a ReplicaSet's random suffix).
pub fn default_session_name(hostname: Option<&str>) -> String {
    const PREFIX: &str = "aws-credfile";
    let cleaned: String = hostname
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(*c))
        .collect();
    if cleaned.is_empty() {
        return PREFIX.into();
    }
    let room = 64 - PREFIX.len() - 1;
    let tail = &cleaned[cleaned.len().saturating_sub(room)..];
    format!("{PREFIX}-{tail}")
}

enum Base {
    WebIdentity(WebIdentityProvider),
    Container(ContainerProvider),
}

/// A configured credential source, ready to fetch.
pub struct Provider {
    base: Base,
    chain: Option<ChainProvider>,
    /// The source's credentials (and the token sent for them) while the
    /// chained call fails in a way that may pass (throttled, a server error,
    /// the network): the next attempt signs with them again, so a throttling
    /// STS is not asked twice per retry.
    held_base: Mutex<Option<(Credentials, Option<Secret>)>>,
}

impl Provider {
    pub fn new(
        source: &Source,
        chain: Option<&chain::Settings>,
        net: &Network,
    ) -> Result<Provider, Error> {
        let base = match source {
            Source::WebIdentity(cfg) => {
                let mut base = WebIdentityProvider::new(cfg.clone(), net)?;
                base.chained = chain.is_some();
                Base::WebIdentity(base)
            }
            Source::Container(cfg) => Base::Container(ContainerProvider::new(cfg.clone(), net)?),
        };
        let chain = chain
            .map(|c| ChainProvider::new(c.clone(), net))
            .transpose()?;
        Ok(Provider {
            base,
            chain,
            held_base: Mutex::new(None),
        })
    }

    /// Asks the source anew at the next fetch (a SIGHUP: revoked keys).
    pub fn forget_held(&self) {
        self.held().take();
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Option<(Credentials, Option<Secret>)>> {
        self.held_base.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Start-up checks of local inputs (such as token files being readable),
    /// so that a misconfigured pod fails with exit code 2 instead of retrying
    /// forever.
    pub fn preflight(&self) -> Result<(), Error> {
        match &self.base {
            Base::WebIdentity(p) => p.preflight(),
            Base::Container(p) => p.preflight(),
        }
    }

    /// One fresh set of credentials, giving up at `deadline` if there is one.
    pub fn fetch(&self, deadline: Option<Instant>) -> Result<Credentials, Error> {
        let held = self
            .held()
            .take()
            .filter(|(c, _)| Timestamp::now().until(c.expiration) > SAFETY_MARGIN);
        let (base, sent) = match (held, &self.base) {
            (Some(held), _) => held,
            (None, Base::WebIdentity(p)) => p.fetch(deadline).map(|(c, t)| (c, Some(t)))?,
            (None, Base::Container(p)) => p.fetch(deadline)?,
        };
        let now = Timestamp::now();
        let creds = match &self.chain {
            // Never signed with: STS would answer ExpiredToken, which is not
            // retried; the source is asked again, as for any expired answer.
            Some(_) if base.expiration <= now => {
                return Err(Error::ExpiredOnArrival {
                    from: self.describe_base(),
                    expiration: base.expiration,
                    now,
                })
            }
            Some(chain) => match chain.fetch(&base, sent.as_ref(), deadline) {
                Ok(creds) => creds,
                Err(e) => {
                    if e.is_transient() {
                        *self.held() = Some((base, sent));
                    }
                    return Err(e);
                }
            },
            None => base,
        };
        Ok(creds.believed(Timestamp::now()))
    }

    /// An STS endpoint in use that plain http reaches beyond this machine:
    /// the identity token, or the signed request, and the credentials cross
    /// the network readable.
    pub fn cleartext_sts(&self) -> Option<&str> {
        let base = match &self.base {
            Base::WebIdentity(p) => Some(&p.cfg.sts),
            Base::Container(_) => None,
        };
        base.into_iter()
            .chain(self.chain.as_ref().map(|c| &c.cfg.sts))
            .find(|sts| sts.is_cleartext())
            .map(|sts| sts.url.as_str())
    }

    /// What to call the source the chain rests on in logs.
    fn describe_base(&self) -> String {
        match &self.base {
            Base::WebIdentity(p) => p.describe(),
            Base::Container(p) => p.describe(),
        }
    }

    /// What to call the source in logs.
    pub fn describe(&self) -> String {
        let base = self.describe_base();
        match &self.chain {
            Some(chain) => format!("{base}, {}", chain.describe()),
            None => base,
        }
    }
}

/// One STS Query API call: post `body` (with `headers`, if signed) and
/// parse the answer to `action`. Both STS hops go through here.
///
/// `sent` are the secrets the request carries, taken out of the answer
/// before anything in it can reach a message (see `Response::parse_with`).
fn call_sts(
    client: &Client,
    action: &'static str,
    headers: &[(String, String)],
    body: &str,
    sent: &[&str],
    deadline: Option<Instant>,
) -> Result<Credentials, Error> {
    // A redirect's message quotes where it points, which may spell out
    // what was sent: taken out as from the body's errors.
    let resp = client
        .post_form(headers, body, deadline)
        .map_err(|e| e.map_quoted(|text| without_pieces(text, sent)))?;
    let creds = resp.parse_with(sent, |body| {
        sts::parse_response(
            action,
            client.shown_url(),
            resp.status,
            resp.content_type.as_deref(),
            body,
        )
    })?;
    Ok(creds.on_our_clock(resp.date, Timestamp::now()))
}

#[cfg(test)]
mod tests;
