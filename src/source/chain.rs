//! `--role-arn`: a second hop that signs sts:AssumeRole (SigV4) with the
//! source's credentials, session token included, on top of any source.

use std::time::{Instant, SystemTime};

use crate::config::{Chain, Network};
use crate::credentials::Credentials;
use crate::error::Error;
use crate::http::Client;
use crate::sts::{self, AssumeRoleParams};

pub struct ChainProvider {
    cfg: Chain,
    net: Network,
}

impl ChainProvider {
    pub fn new(cfg: Chain, net: &Network) -> Result<Self, Error> {
        // Built once here only to fail at start on a bad proxy or CA bundle.
        Client::new(&cfg.sts.post_url(), net)?;
        Ok(ChainProvider {
            cfg,
            net: net.clone(),
        })
    }

    /// Assumes the chained role with `base`.
    pub fn fetch(
        &self,
        base: &Credentials,
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
            &Client::new(&self.cfg.sts.post_url(), &self.net)?,
            sts::ACTION_ASSUME_ROLE,
            &headers,
            &body,
            deadline,
        )
    }

    pub fn describe(&self) -> String {
        format!("then {} via {}", self.cfg.role_arn, self.cfg.sts.url)
    }
}
