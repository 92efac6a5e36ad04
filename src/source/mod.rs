//! Where the source credentials come from, behind one `Provider` the daemon
//! calls without knowing which kind it is.

pub mod web_identity;

use crate::config::{Network, Source};
use crate::credentials::Credentials;
use crate::error::Error;

/// A configured credential source, ready to fetch.
pub enum Provider {
    WebIdentity(web_identity::WebIdentityProvider),
}

impl Provider {
    pub fn new(source: &Source, net: &Network) -> Result<Provider, Error> {
        match source {
            Source::WebIdentity(cfg) => Ok(Provider::WebIdentity(
                web_identity::WebIdentityProvider::new(cfg.clone(), net)?,
            )),
        }
    }

    /// Start-up checks of local inputs (such as the token file being
    /// readable), so that a misconfigured pod fails with exit code 2 instead
    /// of retrying forever.
    pub fn preflight(&self) -> Result<(), Error> {
        match self {
            Provider::WebIdentity(p) => p.preflight(),
        }
    }

    /// One fresh set of credentials.
    pub fn fetch(&self) -> Result<Credentials, Error> {
        match self {
            Provider::WebIdentity(p) => p.fetch(),
        }
    }

    /// What to call the source in logs.
    pub fn describe(&self) -> String {
        match self {
            Provider::WebIdentity(p) => p.describe(),
        }
    }
}
