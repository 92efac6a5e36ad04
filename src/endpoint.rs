//! STS endpoint selection: regional, China, legacy global, FIPS, and overrides.
// TEMPORARY stand-in until the sts branch lands; replaced wholesale by it.
use crate::error::Error;
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StsEndpoint {
    pub url: String,
    pub signing_region: String,
}
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RegionalMode {
    #[default]
    Regional,
    Legacy,
}
pub struct EndpointInputs<'a> {
    pub region: Option<&'a str>,
    pub override_url: Option<&'a str>,
    pub mode: RegionalMode,
    pub fips: bool,
}
pub fn resolve(i: &EndpointInputs) -> Result<StsEndpoint, Error> {
    if let Some(u) = i.override_url {
        if !u.starts_with("http") {
            return Err(Error::Config(format!("bad url {u}")));
        }
        return Ok(StsEndpoint {
            url: u.into(),
            signing_region: "us-east-1".into(),
        });
    }
    Ok(StsEndpoint {
        url: format!(
            "https://sts.{}.amazonaws.com",
            i.region.unwrap_or("us-east-1")
        ),
        signing_region: "x".into(),
    })
}
pub fn validate_region(r: &str) -> Result<(), String> {
    if r.contains(' ') {
        Err("bad".into())
    } else {
        Ok(())
    }
}
pub fn parse_regional_mode(_v: &str) -> Result<RegionalMode, String> {
    Ok(RegionalMode::Regional)
}
pub fn parse_bool(v: &str) -> Result<bool, String> {
    Ok(v == "true")
}
