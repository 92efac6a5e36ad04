//! Reads a shared credentials file the way the old SDKs do: `[name]`
//! headers, `key = value` lines, whole-line `#`/`;` comments.

use std::collections::BTreeMap;

/// The marker of the whole-line comment in which aws-credfile records the
/// expiry.
pub const EXPIRY_COMMENT: &str = "# aws-credfile:";

/// One `[name]` section: its lines after the header, without line endings.
#[derive(Clone, Debug)]
pub struct Section {
    pub name: String,
    pub lines: Vec<String>,
}

impl Section {
    /// `key = value` pairs, trimmed, in file order.
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.lines
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect()
    }
}

/// Every section, in order; lines before the first header are dropped.
pub fn sections(text: &str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        let trimmed = line.trim();
        if trimmed.starts_with('[') && trimmed.ends_with(']') {
            out.push(Section {
                name: trimmed[1..trimmed.len() - 1].trim().to_string(),
                lines: Vec::new(),
            });
        } else if let Some(section) = out.last_mut() {
            section.lines.push(line.to_string());
        }
    }
    out
}

/// The one section with this name; an error if it is missing or repeated.
pub fn section(text: &str, name: &str) -> Result<Section, String> {
    let found: Vec<Section> = sections(text)
        .into_iter()
        .filter(|s| s.name == name)
        .collect();
    match found.len() {
        1 => Ok(found.into_iter().next().expect("length checked")),
        0 => Err(format!("no [{name}] section in:\n{text}")),
        n => Err(format!("{n} [{name}] sections in:\n{text}")),
    }
}

/// The key/value map of one section; an error if a key repeats.
pub fn values(text: &str, name: &str) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    for (k, v) in section(text, name)?.pairs() {
        if map.insert(k.clone(), v).is_some() {
            return Err(format!("key {k} repeated in [{name}] of:\n{text}"));
        }
    }
    Ok(map)
}

/// The credentials of one profile, all three keys present and non-empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

pub fn profile(text: &str, name: &str) -> Result<Profile, String> {
    let map = values(text, name)?;
    let get = |key: &str| match map.get(key) {
        Some(v) if !v.is_empty() => Ok(v.clone()),
        _ => Err(format!("[{name}] has no {key} in:\n{text}")),
    };
    Ok(Profile {
        access_key_id: get("aws_access_key_id")?,
        secret_access_key: get("aws_secret_access_key")?,
        session_token: get("aws_session_token")?,
    })
}

impl From<&super::Issued> for Profile {
    fn from(i: &super::Issued) -> Profile {
        Profile {
            access_key_id: i.access_key_id.clone(),
            secret_access_key: i.secret_access_key.clone(),
            session_token: i.session_token.clone(),
        }
    }
}
