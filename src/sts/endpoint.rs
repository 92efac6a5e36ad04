//! STS endpoint selection: which URL an STS request goes to and which region
//! it is signed for, from the region, an override URL, the regional/legacy
//! switch and the FIPS switch, read from the environment the SDKs define
//! ([`from_env`]). Nothing here touches the network.
//!
//! The rules follow the STS endpoint rule set the AWS SDKs generate their
//! resolvers from (botocore `data/sts/2011-06-15/endpoint-rule-set-1.json`
//! and `data/partitions.json`, checked at botocore 1.44.8):
//!
//! - regional: `https://sts.{region}.{dnsSuffix}`, signed for the region;
//!   the DNS suffix comes from the region's partition (`amazonaws.com`,
//!   `amazonaws.com.cn` for `cn-*`, `c2s.ic.gov` for `us-iso-*`, ...);
//! - `aws-global`, and with `AWS_STS_REGIONAL_ENDPOINTS=legacy` the sixteen
//!   regions in [`LEGACY_GLOBAL_REGIONS`]: `https://sts.amazonaws.com`,
//!   signed for `us-east-1` (the rule set skips this when FIPS is on);
//! - FIPS: `https://sts-fips.{region}.{dnsSuffix}`, except in GovCloud
//!   where the rule set answers the ordinary `https://sts.{region}.amazonaws.com`
//!   because that endpoint already is FIPS-validated.
//!
//! Two deliberate differences from the rule set, both documented where they
//! happen: with no region at all the rule set fails ("Missing Region") while
//! this program uses the global endpoint, which pods without `AWS_REGION`
//! reached with the SDKs of their day; and an override URL together with
//! FIPS is an error in the rule set but here the override simply wins,
//! because the person named the exact URL to use.

use crate::env::{first_var, var, Env};
use crate::error::Error;
use crate::url::{redact_origin, Url};

/// Region, then the older fallback name.
pub const ENV_REGION: &str = "AWS_REGION";
pub const ENV_DEFAULT_REGION: &str = "AWS_DEFAULT_REGION";
/// Endpoint overrides, service-specific first.
pub const ENV_ENDPOINT_URL_STS: &str = "AWS_ENDPOINT_URL_STS";
pub const ENV_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
/// `true`: the two above are ignored, as the SDKs ignore them
/// (`--sts-endpoint` still counts, as an endpoint given in code does).
pub const ENV_IGNORE_CONFIGURED_ENDPOINT_URLS: &str = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS";
/// `regional` (the default) or `legacy`.
pub const ENV_STS_REGIONAL_ENDPOINTS: &str = "AWS_STS_REGIONAL_ENDPOINTS";
/// `true` selects the FIPS endpoint.
pub const ENV_USE_FIPS_ENDPOINT: &str = "AWS_USE_FIPS_ENDPOINT";

/// The endpoint every region maps to when the global endpoint is chosen.
pub const GLOBAL_URL: &str = "https://sts.amazonaws.com";

/// The region requests to the global endpoint (and overrides without a
/// region) are signed for.
pub const GLOBAL_SIGNING_REGION: &str = "us-east-1";

/// The pseudo-region that always names the global endpoint.
pub const AWS_GLOBAL: &str = "aws-global";

/// Regions that `AWS_STS_REGIONAL_ENDPOINTS=legacy` sends to the global
/// endpoint: exactly the list in the rule set's `UseGlobalEndpoint` branch
/// (and aws-sdk-go v1's `sts_legacy_regions.go`). Every other region stays
/// regional even in legacy mode.
pub const LEGACY_GLOBAL_REGIONS: [&str; 16] = [
    "ap-northeast-1",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "aws-global",
    "ca-central-1",
    "eu-central-1",
    "eu-north-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
];

/// Where to send STS requests and the region to sign them for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StsEndpoint {
    /// Scheme, host, optional port and optional path, as given, but never
    /// a path of just `/`: `https://sts.eu-west-1.amazonaws.com`,
    /// `https://proxy.internal/sts/`.
    pub url: String,
    /// The region in the SigV4 credential scope.
    pub signing_region: String,
}

impl StsEndpoint {
    /// The URL to `POST` the Query API form to: [`StsEndpoint::url`], with
    /// `/` when it has no path, as the SDKs join an endpoint with the
    /// operation path `/` (a path given stays as written, trailing slash
    /// or not). The signature covers this exact path, so the HTTP client
    /// must use it.
    pub fn post_url(&self) -> String {
        match path_of(&self.url) {
            "" => format!("{}/", self.url),
            _ => self.url.clone(),
        }
    }
}

impl StsEndpoint {
    /// Whether requests cross a network in clear text: plain http to a
    /// host other than this machine (an emulator on 127.0.0.1 is fine).
    pub fn is_cleartext(&self) -> bool {
        Url::parse(&self.url).is_ok_and(|u| !u.is_https() && !u.is_loopback())
    }
}

/// The path of an absolute URL without query: from the first `/` after
/// the authority, empty if none.
fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.find('/').map_or("", |at| &rest[at..])
}

/// `AWS_STS_REGIONAL_ENDPOINTS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RegionalMode {
    /// Every region uses its own endpoint. The SDKs' current default.
    #[default]
    Regional,
    /// The sixteen [`LEGACY_GLOBAL_REGIONS`] use the global endpoint, as old
    /// SDKs did by default.
    Legacy,
}

/// Everything endpoint selection depends on, already chosen by config.
#[derive(Clone, Copy, Debug, Default)]
pub struct EndpointInputs<'a> {
    /// From `AWS_REGION`, else `AWS_DEFAULT_REGION`. Empty counts as unset.
    pub region: Option<&'a str>,
    /// From `--sts-endpoint`, else `AWS_ENDPOINT_URL_STS`, else
    /// `AWS_ENDPOINT_URL`. Empty counts as unset.
    pub override_url: Option<&'a str>,
    /// From `AWS_STS_REGIONAL_ENDPOINTS`.
    pub mode: RegionalMode,
    /// From `AWS_USE_FIPS_ENDPOINT`.
    pub fips: bool,
}

/// The STS endpoint the environment asks for: `AWS_REGION` (else
/// `AWS_DEFAULT_REGION`), the override `flag` (`--sts-endpoint`) else
/// `AWS_ENDPOINT_URL_STS` else `AWS_ENDPOINT_URL`, `AWS_STS_REGIONAL_ENDPOINTS`
/// and `AWS_USE_FIPS_ENDPOINT`. Errors name the setting at fault.
pub fn from_env(flag: Option<&str>, env: Env) -> Result<StsEndpoint, Error> {
    let region = first_var(env, &[ENV_REGION, ENV_DEFAULT_REGION]);
    if let Some((name, region)) = &region {
        validate_region(region).map_err(|e| Error::Config(format!("{name} {region:?}: {e}")))?;
    }
    // Which setting the override came from, so an error can name it.
    let override_url = match flag {
        Some(url) if url.trim().is_empty() => {
            return Err(Error::Usage("--sts-endpoint is empty".into()))
        }
        Some(url) => Some(("--sts-endpoint".to_string(), url.to_string())),
        None => match var(env, ENV_IGNORE_CONFIGURED_ENDPOINT_URLS) {
            Some(v)
                if parse_bool(&v).map_err(|e| {
                    Error::Config(format!("{ENV_IGNORE_CONFIGURED_ENDPOINT_URLS} {v:?}: {e}"))
                })? =>
            {
                None
            }
            _ => first_var(env, &[ENV_ENDPOINT_URL_STS, ENV_ENDPOINT_URL]),
        },
    };
    let mode = match var(env, ENV_STS_REGIONAL_ENDPOINTS) {
        Some(v) => parse_regional_mode(&v)
            .map_err(|e| Error::Config(format!("{ENV_STS_REGIONAL_ENDPOINTS} {v:?}: {e}")))?,
        None => Default::default(),
    };
    let fips = match var(env, ENV_USE_FIPS_ENDPOINT) {
        Some(v) => parse_bool(&v)
            .map_err(|e| Error::Config(format!("{ENV_USE_FIPS_ENDPOINT} {v:?}: {e}")))?,
        None => false,
    };
    resolve(&EndpointInputs {
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

/// Picks the STS endpoint. Fails with [`Error::Config`] for an override URL
/// that is not a plain http(s) URL, an invalid region, or FIPS without a
/// region to have a FIPS endpoint in.
pub fn resolve(inputs: &EndpointInputs) -> Result<StsEndpoint, Error> {
    let region = inputs.region.filter(|r| !r.is_empty());
    if let Some(r) = region {
        validate_region(r)
            .map_err(|e| Error::Config(format!("AWS_REGION / AWS_DEFAULT_REGION: {e}")))?;
    }

    if let Some(url) = inputs.override_url.filter(|u| !u.is_empty()) {
        let url = check_override_url(url).map_err(|e| {
            Error::Config(format!(
                "STS endpoint override {:?}: {e}",
                redact_origin(url)
            ))
        })?;
        // The SigV4 scope of an override still needs a region; aws-global is
        // not one a server would accept.
        let signing_region = match region {
            Some(r) if r != AWS_GLOBAL => r,
            _ => GLOBAL_SIGNING_REGION,
        };
        return Ok(StsEndpoint {
            url,
            signing_region: signing_region.to_owned(),
        });
    }

    let Some(region) = region else {
        if inputs.fips {
            return Err(Error::Config(
                "AWS_USE_FIPS_ENDPOINT=true needs a region (FIPS STS endpoints are regional); \
                 set AWS_REGION"
                    .into(),
            ));
        }
        // The rule set would fail with "Missing Region"; the global
        // endpoint is what pods without AWS_REGION reached with the SDKs of
        // their day.
        return Ok(global());
    };

    let partition = Partition::of(region);
    if inputs.fips {
        if region == AWS_GLOBAL {
            return Err(Error::Config(
                "AWS_USE_FIPS_ENDPOINT=true has no global endpoint; set AWS_REGION to a region \
                 such as us-east-1 instead of aws-global"
                    .into(),
            ));
        }
        // GovCloud's ordinary endpoint is the FIPS one; the rule set answers
        // it for UseFIPS in the aws-us-gov partition.
        let url = if partition.name == "aws-us-gov" {
            format!("https://sts.{region}.{}", partition.dns_suffix)
        } else {
            format!("https://sts-fips.{region}.{}", partition.dns_suffix)
        };
        return Ok(StsEndpoint {
            url,
            signing_region: region.to_owned(),
        });
    }

    if region == AWS_GLOBAL
        || (inputs.mode == RegionalMode::Legacy && LEGACY_GLOBAL_REGIONS.contains(&region))
    {
        return Ok(global());
    }

    Ok(StsEndpoint {
        url: format!("https://sts.{region}.{}", partition.dns_suffix),
        signing_region: region.to_owned(),
    })
}

fn global() -> StsEndpoint {
    StsEndpoint {
        url: GLOBAL_URL.to_owned(),
        signing_region: GLOBAL_SIGNING_REGION.to_owned(),
    }
}

/// The part of an AWS partition endpoint selection needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Partition {
    name: &'static str,
    dns_suffix: &'static str,
}

impl Partition {
    /// The partition a region belongs to, by the region-name patterns of
    /// botocore's `partitions.json`. Unknown names fall back to `aws`, as
    /// the rule set's `aws.partition` function does. Every partition there
    /// supports FIPS, so FIPS never needs to be refused here.
    fn of(region: &str) -> Partition {
        // More specific prefixes first: "us-isob-" also starts with "us-iso".
        const PARTITIONS: [(&str, Partition); 7] = [
            ("cn-", Partition::new("aws-cn", "amazonaws.com.cn")),
            ("us-gov-", Partition::new("aws-us-gov", "amazonaws.com")),
            ("us-isob-", Partition::new("aws-iso-b", "sc2s.sgov.gov")),
            ("us-isof-", Partition::new("aws-iso-f", "csp.hci.ic.gov")),
            ("us-iso-", Partition::new("aws-iso", "c2s.ic.gov")),
            ("eu-isoe-", Partition::new("aws-iso-e", "cloud.adc-e.uk")),
            ("eusc-", Partition::new("aws-eusc", "amazonaws.eu")),
        ];
        PARTITIONS
            .iter()
            .find(|(prefix, _)| region.starts_with(prefix))
            .map(|(_, p)| *p)
            .unwrap_or(Partition::new("aws", "amazonaws.com"))
    }

    const fn new(name: &'static str, dns_suffix: &'static str) -> Partition {
        Partition { name, dns_suffix }
    }
}

/// Checks an override URL and returns it without a path of just `/`.
/// Only what a person would mean as an STS endpoint passes: http or https,
/// a host, optionally a port and a path; no user info, query or fragment.
pub fn check_override_url(url: &str) -> Result<String, String> {
    let parsed = Url::parse(url)?;
    if parsed.has_query_or_fragment() {
        return Err("must not have a query or fragment".into());
    }
    // TLS checks the certificate against the host as written: an address
    // spelled otherwise (`127.1`, `2130706433`, `127.0.0.1.`) is neither an
    // address nor a name to it, and every call would fail.
    if parsed.is_https()
        && parsed.ip().is_none()
        && rustls::pki_types::ServerName::try_from(parsed.host()).is_err()
    {
        return Err(format!(
            "{:?} is not a host name TLS can check a certificate against; write an address as 127.0.0.1 or [::1]",
            parsed.host()
        ));
    }
    match path_of(url) {
        "/" => Ok(url[..url.len() - 1].to_owned()),
        _ => Ok(url.to_owned()),
    }
}

/// Checks that a region name can be put into a host name: lowercase ASCII
/// letters, digits and hyphens, starting with a letter, not ending with a
/// hyphen, at most 63 characters (one DNS label), like `us-east-1`.
pub fn validate_region(region: &str) -> Result<(), String> {
    let bytes = region.as_bytes();
    let ok = (2..=63).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes[bytes.len() - 1] != b'-'
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{region:?} is not an AWS region; expected lowercase letters, digits and hyphens \
             like us-east-1"
        ))
    }
}

/// Parses `AWS_STS_REGIONAL_ENDPOINTS`: `regional` or `legacy`, any case,
/// as the SDKs accept it.
pub fn parse_regional_mode(value: &str) -> Result<RegionalMode, String> {
    let v = value.trim();
    if v.eq_ignore_ascii_case("regional") {
        Ok(RegionalMode::Regional)
    } else if v.eq_ignore_ascii_case("legacy") {
        Ok(RegionalMode::Legacy)
    } else {
        Err(format!("{value:?} is neither \"regional\" nor \"legacy\""))
    }
}

/// Parses a boolean setting such as `AWS_USE_FIPS_ENDPOINT`: `true` or
/// `false`, any case. Anything else is an error rather than quietly false
/// (botocore's reading), so a typo cannot silently turn FIPS off.
pub fn parse_bool(value: &str) -> Result<bool, String> {
    let v = value.trim();
    if v.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if v.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(format!("{value:?} is neither \"true\" nor \"false\""))
    }
}

#[cfg(test)]
mod tests;
