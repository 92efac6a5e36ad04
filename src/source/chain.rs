//! `--role-arn`: a second hop that signs sts:AssumeRole (SigV4) with the
//! source's credentials, session token included, on top of any source.

use std::time::{Duration, Instant, SystemTime};

use crate::credentials::{Credentials, Secret};
use crate::error::Error;
use crate::http::{Client, Network};
use crate::sts::endpoint::StsEndpoint;
use crate::sts::{self, AssumeRoleParams};

/// `--role-arn`: a second hop, sts:AssumeRole signed with the source's
/// credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub role_arn: String,
    pub external_id: Option<String>,
    pub session_name: String,
    /// `None` leaves the choice to STS (one hour, the most for a chain).
    pub duration: Option<Duration>,
    pub sts: StsEndpoint,
}

pub struct ChainProvider {
    pub(super) cfg: Settings,
    net: Network,
}

impl ChainProvider {
    pub fn new(cfg: Settings, net: &Network) -> Result<Self, Error> {
        // Built once here only to fail at start on a bad proxy or CA bundle.
        Client::new(&cfg.sts.post_url(), net)?;
        Ok(ChainProvider {
            cfg,
            net: net.clone(),
        })
    }

    /// Assumes the chained role with `base`.
    /// `AssumeRole` signed with `base`. `source_token` is what the source
    /// sent for `base` (the identity token went to the same STS): its
    /// pieces are taken out of this hop's errors as `base`'s secrets are.
    pub fn fetch(
        &self,
        base: &Credentials,
        source_token: Option<&Secret>,
        deadline: Option<Instant>,
    ) -> Result<Credentials, Error> {
        let body = sts::assume_role_body(&AssumeRoleParams {
            role_arn: &self.cfg.role_arn,
            session_name: &self.cfg.session_name,
            external_id: self.cfg.external_id.as_deref(),
            duration: self.cfg.duration,
        });
        let headers = sts::sign(&self.cfg.sts, &body, base, SystemTime::now())?;
        super::call_sts(
            &Client::new(&self.cfg.sts.post_url(), &self.net)?
                .labelled("the AssumeRole of --role-arn"),
            sts::ACTION_ASSUME_ROLE,
            &headers,
            &body,
            &[
                base.secret_access_key.expose(),
                base.session_token
                    .as_ref()
                    .map(Secret::expose)
                    .unwrap_or(""),
                source_token.map(Secret::expose).unwrap_or(""),
                self.cfg.external_id.as_deref().unwrap_or(""),
                signature(&headers),
            ],
            deadline,
        )
    }

    pub fn describe(&self) -> String {
        format!("then {} via {}", self.cfg.role_arn, self.cfg.sts.url)
    }
}

/// The SigV4 signature among `headers`: an answer must not get it quoted
/// into a log (the request it signs could be sent again for minutes).
fn signature(headers: &[(String, String)]) -> &str {
    headers
        .iter()
        .find_map(|(_, v)| v.split_once("Signature="))
        .map_or("", |(_, sig)| sig)
}
