//! Where the credentials come from: one base source (web identity or a
//! container endpoint), optionally followed by a chained sts:AssumeRole,
//! behind one `Provider` the daemon calls without knowing which it is.

pub mod chain;
pub mod container;
pub mod web_identity;

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::Instant;

use crate::config::{Chain, Network, Source};
use crate::credentials::Credentials;
use crate::error::Error;
use crate::http::Client;
use crate::sts;

use self::chain::ChainProvider;
use self::container::ContainerProvider;
use self::web_identity::WebIdentityProvider;

enum Base {
    WebIdentity(WebIdentityProvider),
    Container(ContainerProvider),
}

/// A configured credential source, ready to fetch.
pub struct Provider {
    base: Base,
    chain: Option<ChainProvider>,
}

impl Provider {
    pub fn new(source: &Source, chain: Option<&Chain>, net: &Network) -> Result<Provider, Error> {
        let base = match source {
            Source::WebIdentity(cfg) => {
                Base::WebIdentity(WebIdentityProvider::new(cfg.clone(), net)?)
            }
            Source::Container(cfg) => Base::Container(ContainerProvider::new(cfg.clone(), net)?),
        };
        let chain = chain
            .map(|c| ChainProvider::new(c.clone(), net))
            .transpose()?;
        Ok(Provider { base, chain })
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
        let base = match &self.base {
            Base::WebIdentity(p) => p.fetch(deadline)?,
            Base::Container(p) => p.fetch(deadline)?,
        };
        match &self.chain {
            Some(chain) => chain.fetch(&base, deadline),
            None => Ok(base),
        }
    }

    /// What to call the source in logs.
    pub fn describe(&self) -> String {
        let base = match &self.base {
            Base::WebIdentity(p) => p.describe(),
            Base::Container(p) => p.describe(),
        };
        match &self.chain {
            Some(chain) => format!("{base}, {}", chain.describe()),
            None => base,
        }
    }
}

/// Why a token file could not be read as text.
pub enum TokenFileError {
    /// Opening or reading failed.
    Io(std::io::Error),
    /// Larger than the cap given: not the file it should be.
    TooLarge,
    /// Not UTF-8.
    NotText,
}

/// Reads a small token file (the web identity token, the agent's token,
/// `--serve-token-file`) as text with surrounding whitespace trimmed,
/// refusing anything over `max` bytes without reading it all.
pub fn read_token_text(path: &Path, max: u64) -> Result<String, TokenFileError> {
    let file = File::open(path).map_err(TokenFileError::Io)?;
    let mut raw = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut raw)
        .map_err(TokenFileError::Io)?;
    if raw.len() as u64 > max {
        return Err(TokenFileError::TooLarge);
    }
    let text = String::from_utf8(raw).map_err(|_| TokenFileError::NotText)?;
    Ok(text.trim().to_string())
}

/// One STS Query API call: post `body` (with `headers`, if signed) and
/// parse the answer to `action`. Both STS hops go through here.
fn call_sts(
    client: &Client,
    action: &str,
    headers: &[(String, String)],
    body: &str,
    deadline: Option<Instant>,
) -> Result<Credentials, Error> {
    let resp = client.post_form(headers, body, deadline)?;
    sts::parse_response(
        action,
        client.url(),
        resp.status,
        resp.content_type.as_deref(),
        &resp.body,
    )
}
