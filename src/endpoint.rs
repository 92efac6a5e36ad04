//! STS endpoint selection: which URL an STS request goes to and which region
//! it is signed for, from the region, an override URL, the regional/legacy
//! switch and the FIPS switch. Pure: config hands the values in already read
//! from flags and the environment, and nothing here touches the network.
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
//! this program uses the global endpoint, as DESIGN.md asks; and an override
//! URL together with FIPS is an error in the rule set but here the override
//! simply wins, because the person named the exact URL to use.

use crate::error::Error;
use crate::url::redact;

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
    /// Scheme, host, optional port and optional path, never a trailing
    /// slash, such as `https://sts.eu-west-1.amazonaws.com`.
    pub url: String,
    /// The region in the SigV4 credential scope.
    pub signing_region: String,
}

impl StsEndpoint {
    /// The URL to `POST` the Query API form to: [`StsEndpoint::url`] plus
    /// `/`, as the SDKs join an endpoint with the operation path `/`. The
    /// signature covers this exact path, so the HTTP client must use it.
    pub fn post_url(&self) -> String {
        format!("{}/", self.url)
    }
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
        let url = check_override_url(url)
            .map_err(|e| Error::Config(format!("STS endpoint override {:?}: {e}", redact(url))))?;
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
        // The rule set would fail with "Missing Region"; DESIGN.md chooses
        // the global endpoint, which is what pods without AWS_REGION reached
        // with the SDKs of their day.
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

/// Checks an override URL and returns it without its one trailing slash.
/// Only what a person would mean as an STS endpoint passes: http or https,
/// a host, optionally a port and a path; no user info, query or fragment.
fn check_override_url(url: &str) -> Result<String, String> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains whitespace or control characters".into());
    }
    let (scheme, rest) = url.split_once("://").ok_or(
        "is not a URL; expected something like https://sts.example.com or http://127.0.0.1:8080",
    )?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(format!("scheme {scheme:?} is not http or https"));
    }
    if rest.contains('?') || rest.contains('#') {
        return Err("must not have a query or fragment".into());
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err("must not contain user info".into());
    }
    let uri: http::Uri = url.parse().map_err(|_| "is not a valid URL".to_owned())?;
    match uri.host() {
        Some(h) if !h.is_empty() && h != "[]" => {}
        _ => return Err("has no host".into()),
    }
    // http::Uri neither range-checks a port nor refuses an empty one, so
    // look at the text after the host (after the brackets of an IPv6 host).
    let after_host = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or("", |(_, rest)| rest),
        None => authority.rsplit_once(':').map_or("", |(_, port)| port),
    };
    let port = after_host.strip_prefix(':').unwrap_or(after_host);
    let port_ok = port.is_empty() && !authority.ends_with(':')
        || matches!(port.parse::<u16>(), Ok(n) if n > 0);
    if !port_ok {
        return Err("has an invalid port".into());
    }
    Ok(url.strip_suffix('/').unwrap_or(url).to_owned())
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
mod tests {
    use super::*;

    fn inputs(region: Option<&str>) -> EndpointInputs<'_> {
        EndpointInputs {
            region,
            ..EndpointInputs::default()
        }
    }

    fn ok(i: &EndpointInputs) -> (String, String) {
        let e = resolve(i).expect("valid inputs");
        (e.url, e.signing_region)
    }

    fn pair(url: &str, region: &str) -> (String, String) {
        (url.to_owned(), region.to_owned())
    }

    fn config_error(i: &EndpointInputs) -> String {
        match resolve(i) {
            Err(Error::Config(msg)) => {
                assert!(!msg.contains('\n'), "{msg}");
                msg
            }
            other => panic!("expected a Config error, got {other:?}"),
        }
    }

    #[test]
    fn regional_by_default() {
        assert_eq!(
            ok(&inputs(Some("us-east-1"))),
            pair("https://sts.us-east-1.amazonaws.com", "us-east-1")
        );
        assert_eq!(
            ok(&inputs(Some("eu-west-1"))),
            pair("https://sts.eu-west-1.amazonaws.com", "eu-west-1")
        );
        assert_eq!(
            ok(&inputs(Some("ap-east-1"))),
            pair("https://sts.ap-east-1.amazonaws.com", "ap-east-1")
        );
        // A region newer than this code still resolves, in the aws partition.
        assert_eq!(
            ok(&inputs(Some("xx-future-9"))),
            pair("https://sts.xx-future-9.amazonaws.com", "xx-future-9")
        );
    }

    #[test]
    fn other_partitions() {
        assert_eq!(
            ok(&inputs(Some("cn-north-1"))),
            pair("https://sts.cn-north-1.amazonaws.com.cn", "cn-north-1")
        );
        assert_eq!(
            ok(&inputs(Some("cn-northwest-1"))),
            pair(
                "https://sts.cn-northwest-1.amazonaws.com.cn",
                "cn-northwest-1"
            )
        );
        assert_eq!(
            ok(&inputs(Some("us-gov-west-1"))),
            pair("https://sts.us-gov-west-1.amazonaws.com", "us-gov-west-1")
        );
        assert_eq!(
            ok(&inputs(Some("us-iso-east-1"))),
            pair("https://sts.us-iso-east-1.c2s.ic.gov", "us-iso-east-1")
        );
        assert_eq!(
            ok(&inputs(Some("us-isob-east-1"))),
            pair("https://sts.us-isob-east-1.sc2s.sgov.gov", "us-isob-east-1")
        );
        assert_eq!(
            ok(&inputs(Some("us-isof-south-1"))),
            pair(
                "https://sts.us-isof-south-1.csp.hci.ic.gov",
                "us-isof-south-1"
            )
        );
        assert_eq!(
            ok(&inputs(Some("eu-isoe-west-1"))),
            pair(
                "https://sts.eu-isoe-west-1.cloud.adc-e.uk",
                "eu-isoe-west-1"
            )
        );
        assert_eq!(
            ok(&inputs(Some("eusc-de-east-1"))),
            pair("https://sts.eusc-de-east-1.amazonaws.eu", "eusc-de-east-1")
        );
    }

    #[test]
    fn no_region_and_aws_global_use_the_global_endpoint() {
        let global = pair("https://sts.amazonaws.com", "us-east-1");
        assert_eq!(ok(&inputs(None)), global);
        assert_eq!(ok(&inputs(Some(""))), global);
        // aws-global is global even in regional mode, as in the rule set.
        assert_eq!(ok(&inputs(Some("aws-global"))), global);
    }

    #[test]
    fn legacy_mode_sends_only_the_sixteen_regions_to_global() {
        let global = pair("https://sts.amazonaws.com", "us-east-1");
        for region in LEGACY_GLOBAL_REGIONS {
            let i = EndpointInputs {
                region: Some(region),
                mode: RegionalMode::Legacy,
                ..EndpointInputs::default()
            };
            assert_eq!(ok(&i), global, "{region}");
        }
        for (region, url) in [
            ("ap-east-1", "https://sts.ap-east-1.amazonaws.com"),
            ("ap-northeast-2", "https://sts.ap-northeast-2.amazonaws.com"),
            ("me-south-1", "https://sts.me-south-1.amazonaws.com"),
            ("cn-north-1", "https://sts.cn-north-1.amazonaws.com.cn"),
            ("us-gov-west-1", "https://sts.us-gov-west-1.amazonaws.com"),
        ] {
            let i = EndpointInputs {
                region: Some(region),
                mode: RegionalMode::Legacy,
                ..EndpointInputs::default()
            };
            assert_eq!(ok(&i), pair(url, region), "{region}");
        }
        let none = EndpointInputs {
            mode: RegionalMode::Legacy,
            ..EndpointInputs::default()
        };
        assert_eq!(ok(&none), global);
    }

    #[test]
    fn fips() {
        let fips = |region, mode| EndpointInputs {
            region: Some(region),
            mode,
            fips: true,
            ..EndpointInputs::default()
        };
        assert_eq!(
            ok(&fips("us-east-1", RegionalMode::Regional)),
            pair("https://sts-fips.us-east-1.amazonaws.com", "us-east-1")
        );
        // The legacy branch of the rule set requires FIPS off, so a legacy
        // region with FIPS goes to its regional FIPS endpoint.
        assert_eq!(
            ok(&fips("us-west-2", RegionalMode::Legacy)),
            pair("https://sts-fips.us-west-2.amazonaws.com", "us-west-2")
        );
        assert_eq!(
            ok(&fips("ca-central-1", RegionalMode::Regional)),
            pair(
                "https://sts-fips.ca-central-1.amazonaws.com",
                "ca-central-1"
            )
        );
        // GovCloud's ordinary endpoint is already FIPS.
        assert_eq!(
            ok(&fips("us-gov-west-1", RegionalMode::Regional)),
            pair("https://sts.us-gov-west-1.amazonaws.com", "us-gov-west-1")
        );
        assert_eq!(
            ok(&fips("us-gov-east-1", RegionalMode::Legacy)),
            pair("https://sts.us-gov-east-1.amazonaws.com", "us-gov-east-1")
        );
        assert_eq!(
            ok(&fips("cn-north-1", RegionalMode::Regional)),
            pair("https://sts-fips.cn-north-1.amazonaws.com.cn", "cn-north-1")
        );

        let msg = config_error(&EndpointInputs {
            fips: true,
            ..EndpointInputs::default()
        });
        assert!(msg.contains("AWS_REGION"), "{msg}");
        let msg = config_error(&fips("aws-global", RegionalMode::Regional));
        assert!(msg.contains("aws-global"), "{msg}");
    }

    #[test]
    fn override_wins_over_region_fips_and_legacy() {
        let i = EndpointInputs {
            region: Some("eu-west-1"),
            override_url: Some("http://127.0.0.1:8080/"),
            mode: RegionalMode::Legacy,
            fips: true,
        };
        assert_eq!(ok(&i), pair("http://127.0.0.1:8080", "eu-west-1"));

        let no_region = EndpointInputs {
            override_url: Some("https://sts.example.com"),
            ..EndpointInputs::default()
        };
        assert_eq!(ok(&no_region), pair("https://sts.example.com", "us-east-1"));

        let global = EndpointInputs {
            region: Some("aws-global"),
            override_url: Some("http://localhost:4566"),
            ..EndpointInputs::default()
        };
        assert_eq!(ok(&global), pair("http://localhost:4566", "us-east-1"));

        // An empty override is no override.
        let empty = EndpointInputs {
            region: Some("eu-west-1"),
            override_url: Some(""),
            ..EndpointInputs::default()
        };
        assert_eq!(
            ok(&empty),
            pair("https://sts.eu-west-1.amazonaws.com", "eu-west-1")
        );
    }

    #[test]
    fn override_urls_accepted_as_given() {
        for (given, kept) in [
            ("http://127.0.0.1:34567", "http://127.0.0.1:34567"),
            ("http://127.0.0.1:34567/", "http://127.0.0.1:34567"),
            ("https://sts.example.com/", "https://sts.example.com"),
            ("HTTPS://sts.example.com", "HTTPS://sts.example.com"),
            ("http://[::1]:8080/", "http://[::1]:8080"),
            ("http://localhost:4566/sts/", "http://localhost:4566/sts"),
            // Only one slash is stripped.
            ("http://localhost//", "http://localhost/"),
        ] {
            let i = EndpointInputs {
                override_url: Some(given),
                ..EndpointInputs::default()
            };
            assert_eq!(resolve(&i).expect(given).url, kept, "{given}");
        }
    }

    #[test]
    fn bad_override_urls() {
        for bad in [
            "sts.example.com",
            "ftp://sts.example.com",
            "file:///etc/passwd",
            "http://",
            "http:///path",
            "https://user:pw@sts.example.com",
            "https://sts.example.com/?x=1",
            "https://sts.example.com/#frag",
            "https://sts.example.com:99999",
            "https://sts.example.com:port",
            "https://sts.example.com:",
            "https://sts.exa mple.com",
            "https://sts.example.com\n",
            "http://[]:80",
            "://x",
        ] {
            let i = EndpointInputs {
                override_url: Some(bad),
                ..EndpointInputs::default()
            };
            let msg = config_error(&i);
            assert!(msg.contains("override"), "{bad}: {msg}");
        }
    }

    #[test]
    fn region_validation() {
        for good in [
            "us-east-1",
            "eu-west-1",
            "cn-north-1",
            "us-gov-west-1",
            "aws-global",
            "us-isob-east-1",
        ] {
            assert_eq!(validate_region(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "u",
            "US-EAST-1",
            "us_east_1",
            "us-east-1 ",
            "1us-east",
            "us-east-",
            "-us-east-1",
            "us.east.1",
            "us-east-1/../x",
            "ëu-west-1",
            &"a".repeat(64),
        ] {
            assert!(validate_region(bad).is_err(), "{bad:?}");
        }
        let i = inputs(Some("EU-WEST-1"));
        let msg = config_error(&i);
        assert!(
            msg.contains("EU-WEST-1") && msg.contains("AWS_REGION"),
            "{msg}"
        );
    }

    #[test]
    fn modes_and_bools() {
        assert_eq!(parse_regional_mode("regional"), Ok(RegionalMode::Regional));
        assert_eq!(parse_regional_mode("Legacy"), Ok(RegionalMode::Legacy));
        assert_eq!(parse_regional_mode("LEGACY"), Ok(RegionalMode::Legacy));
        assert!(parse_regional_mode("global").is_err());
        assert!(parse_regional_mode("").is_err());
        assert_eq!(RegionalMode::default(), RegionalMode::Regional);

        assert_eq!(parse_bool("true"), Ok(true));
        assert_eq!(parse_bool("TRUE"), Ok(true));
        assert_eq!(parse_bool("False"), Ok(false));
        for bad in ["", "1", "0", "yes", "on", "truee"] {
            assert!(parse_bool(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn post_url_appends_the_operation_path() {
        let e = StsEndpoint {
            url: "http://127.0.0.1:8080".into(),
            signing_region: "us-east-1".into(),
        };
        assert_eq!(e.post_url(), "http://127.0.0.1:8080/");
    }
}
