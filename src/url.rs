//! URLs as this program reads them: one strict reader, [`Url::parse`], over
//! the http crate's `Uri`, for every URL a person configures (the STS
//! endpoint override, the container endpoint), giving the few facts the
//! rules need (scheme, host, port) and the `Host` header a request carries;
//! and the redaction of passwords in URLs for anything printed.

use std::net::IpAddr;

/// A URL checked to be `http(s)://host[:port][/path][?query]`, without user
/// info. The text is kept as given; the host is lowercase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    https: bool,
    /// Lowercase; an IPv6 address without its brackets.
    host: String,
    ip: Option<IpAddr>,
    port: Option<u16>,
    query_or_fragment: bool,
}

impl Url {
    /// Reads `text` strictly. The error says what is wrong in a few words,
    /// for a message that names the setting.
    pub fn parse(text: &str) -> Result<Url, String> {
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("contains whitespace or control characters".into());
        }
        // An HTTP request line is ASCII: other characters would go out as
        // raw bytes while the signature covered them percent-encoded.
        if !text.is_ascii() {
            return Err(
                "contains characters outside ASCII; percent-encode them (%C3%BC for ü)".into(),
            );
        }
        let (scheme, rest) = text.split_once("://").ok_or(
            "is not a URL; expected one like https://host/path or http://127.0.0.1:8080/path",
        )?;
        let https = if scheme.eq_ignore_ascii_case("https") {
            true
        } else if scheme.eq_ignore_ascii_case("http") {
            false
        } else if is_scheme(scheme) {
            return Err(format!("scheme {scheme:?} is not http or https"));
        } else {
            // Not a scheme at all (`user:pa://ss@host`): quoting it could
            // quote a password.
            return Err("does not begin with http:// or https://".into());
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err("must not contain a user name or password; remove them".into());
        }
        let uri: http::Uri = text.parse().map_err(|_| "is not a valid URL".to_owned())?;
        let host = match uri.host() {
            Some(h) if !h.is_empty() && h != "[]" => {
                h.trim_start_matches('[').trim_end_matches(']')
            }
            _ => return Err("has no host".into()),
        };
        // `[::1%lo]` is no address to the resolver, only a name it would
        // look up (in DNS), and a connection would go wherever it answered.
        if host.contains('%') {
            return Err(
                "has an IPv6 zone (%...), which cannot be used here; give the address without it"
                    .into(),
            );
        }
        // http::Uri neither range-checks a port nor refuses an empty one.
        let port = authority_port(authority)
            .map_err(|_| "has a port that is not a number from 1 to 65535".to_owned())?;
        let host = host.to_ascii_lowercase();
        Ok(Url {
            https,
            ip: host.parse().ok(),
            host,
            port,
            query_or_fragment: rest.contains(['?', '#']),
        })
    }

    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The host, lowercase; an IPv6 address without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The host as an address, when it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.ip
    }

    /// `localhost` (or a name under it) or a loopback address, a final
    /// dot allowed, as the resolver reads them: a proxy must never see it.
    pub fn is_loopback(&self) -> bool {
        let host = self.host.strip_suffix('.').unwrap_or(&self.host);
        is_localhost_name(host)
            || host.parse::<std::net::IpAddr>().is_ok_and(|ip| {
                // `::ffff:127.0.0.1` and the unspecified addresses reach
                // this machine too.
                let ip = ip.to_canonical();
                ip.is_loopback() || ip.is_unspecified()
            })
    }

    /// The port, the scheme's default when none is written.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(if self.https { 443 } else { 80 })
    }

    /// Whether it has a query or a fragment.
    pub fn has_query_or_fragment(&self) -> bool {
        self.query_or_fragment
    }

    /// `text` (which must read as a [`Url`]) sent to `ip` instead of its
    /// host, keeping port, path and query: for a connection to an address
    /// chosen without a lookup (`localhost`), so no lookup can send it
    /// elsewhere. The request then carries [`Url::host_header`] itself.
    pub fn pinned_to(text: &str, ip: IpAddr) -> Result<String, String> {
        let url = Url::parse(text)?;
        let mut parts = text
            .parse::<http::Uri>()
            .map_err(|_| "is not a valid URL".to_owned())?
            .into_parts();
        let host = match ip {
            IpAddr::V6(v6) => format!("[{v6}]"),
            IpAddr::V4(v4) => v4.to_string(),
        };
        parts.authority = Some(
            format!("{host}:{}", url.port())
                .parse()
                .map_err(|_| "has no valid authority".to_owned())?,
        );
        http::Uri::from_parts(parts)
            .map(|u| u.to_string())
            .map_err(|_| "is not a valid URL".to_owned())
    }

    /// The `Host` header a request to this URL carries: the host (IPv6 in
    /// brackets), plus `:port` unless it is the scheme's default.
    pub fn host_header(&self) -> String {
        let host = match self.ip {
            Some(IpAddr::V6(_)) => format!("[{}]", self.host),
            _ => self.host.clone(),
        };
        let default_port = if self.https { 443 } else { 80 };
        match self.port {
            Some(p) if p != default_port => format!("{host}:{p}"),
            _ => host,
        }
    }
}

/// What user info in a URL is shown as.
const REDACTED: &str = "***";

/// `url` with any user info (`user:password@`) replaced by `***@`, for
/// messages and logs: proxy URLs legitimately carry a password, and a person
/// may paste one into any URL setting. Everything from the scheme to the
/// last `@` of the whole value goes: a password may hold any character a
/// person can type (`/`, `#`, `?`, a quote, a space), unencoded, so no
/// character can be trusted to end it. Also covers the scheme-less
/// `user:password@host:port` form curl accepts for proxies.
pub fn redact(url: &str) -> String {
    // A `://` counts only after a scheme: in `user:pa://ss@host` it is part
    // of the password.
    let start = url
        .find("://")
        .filter(|&i| is_scheme(&url[..i]))
        .map_or(0, |i| i + 3);
    match url[start..].rfind('@') {
        Some(at) => format!("{}{REDACTED}{}", &url[..start], &url[start + at..]),
        None => url.to_string(),
    }
}

/// [`redact`], cut after the host and port: for a proxy, whose path,
/// query or fragment (`?auth=...`) means nothing to the connection and may
/// hold a token of its own.
pub fn redact_origin(url: &str) -> String {
    let shown = redact(url);
    let start = shown
        .find("://")
        .filter(|&i| is_scheme(&shown[..i]))
        .map_or(0, |i| i + 3);
    let host = shown[start..].rfind('@').map_or(start, |at| start + at + 1);
    match shown[host..].find(['/', '?', '#']) {
        Some(end) => shown[..host + end].to_string(),
        None => shown,
    }
}

/// An endpoint's URL, already accepted, as messages and logs show it:
/// scheme, host, port and path as the request reads them. A query or a
/// fragment shows as `?…`: it may carry a token (a credentials server that
/// authenticates by one), and an `@` in it would read as user info. A URL
/// that does not parse, or that has user info, shows as [`redact_origin`]
/// does, as a value refused at start is shown (whose `#` or `?` may be
/// part of a password, so that only the last `@` can end it).
pub fn shown(url: &str) -> String {
    match url.parse::<http::Uri>() {
        Ok(uri) if uri.authority().is_some_and(|a| !a.as_str().contains('@')) => {
            let (scheme, authority) = (uri.scheme_str().unwrap_or("http"), uri.authority());
            let elided = if uri.query().is_some() || url.contains('#') {
                "?…"
            } else {
                ""
            };
            format!(
                "{scheme}://{}{}{elided}",
                authority.map_or("", |a| a.as_str()),
                uri.path()
            )
        }
        _ => redact_origin(url),
    }
}

/// What of `url` must stay out of messages as a token would, since
/// [`shown`] hides it: its query whole, each of its values as written and
/// percent-decoded (`+` as a space too: a server quoting the request may
/// decode it), and its fragment. A server that echoes the request in an
/// error (`GET /v1/credentials?sig=…`) would otherwise put them in the log.
pub fn query_secrets(url: &str) -> Vec<String> {
    let Some((_, after)) = url.split_once('?').or_else(|| url.split_once('#')) else {
        return Vec::new();
    };
    let (query, fragment) = after.split_once('#').unwrap_or((after, ""));
    let mut secrets = vec![query.to_string(), fragment.to_string()];
    for pair in query.split('&') {
        let value = pair.split_once('=').map_or(pair, |(_, v)| v);
        let decoded = |v: &str| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        };
        secrets.extend([
            value.to_string(),
            decoded(value),
            decoded(&value.replace('+', " ")),
        ]);
    }
    secrets.sort();
    secrets.dedup();
    secrets
}

/// A URL or reference (a redirect's `Location`: `/path?query`) for a
/// message: user info redacted, a query or fragment shown as `?…`.
pub fn shown_reference(reference: &str) -> String {
    match reference.find(['?', '#']) {
        Some(at) => format!("{}?…", redact(&reference[..at])),
        None => redact(reference),
    }
}

/// The port an authority without user info (`host`, `host:port`, `[v6]`,
/// `[v6]:port`) gives: `None` when it gives none. Anything else after the
/// host than a colon and a number from 1 to 65535 in digits is an error:
/// lenient readers take `:3128x`, `:+80`, `:99999` or `:` as some port, or
/// as none, and the failure comes only at the first connection.
pub fn authority_port(authority: &str) -> Result<Option<u16>, String> {
    let after_host = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or("", |(_, rest)| rest),
        None => authority.find(':').map_or("", |at| &authority[at..]),
    };
    if after_host.is_empty() {
        return Ok(None);
    }
    match after_host.strip_prefix(':') {
        Some(p) if p.len() <= 5 && !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            match p.parse::<u16>() {
                Ok(n) if n > 0 => Ok(Some(n)),
                _ => Err("the port is not a number from 1 to 65535".into()),
            }
        }
        _ => Err("the port is not a number from 1 to 65535".into()),
    }
}

/// Whether `text` is a URL scheme (RFC 3986: a letter, then letters,
/// digits, `+`, `-` or `.`).
fn is_scheme(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// `text` with the user info of every `scheme://user:password@host` in it
/// replaced by `***`: the last line of defence for every error message and
/// log line, whatever quoted a URL (a library's error text included). A URL
/// in running text is taken to end at the first whitespace, and its user
/// info at the last `@` before it (from the start of the word when what
/// comes before `://` is no scheme); where the value is known whole, the
/// message quotes it through [`redact`].
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (word, after) = rest.split_at(end);
        redact_word(word, &mut out);
        let spaces = after
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(after.len());
        out.push_str(&after[..spaces]);
        rest = &after[spaces..];
    }
    out
}

/// One word of [`redact_text`], appended to `out`.
fn redact_word(word: &str, out: &mut String) {
    if !word.contains("://") {
        out.push_str(word);
        return;
    }
    // Quoting before the URL stays; the rest is read as `redact` reads a
    // value.
    let lead = word.len()
        - word
            .trim_start_matches(['"', '\'', '(', '<', '[', '`'])
            .len();
    out.push_str(&word[..lead]);
    out.push_str(&redact(&word[lead..]));
}

/// `localhost` or a name under it, in any case, without its final dot:
/// loopback, never looked up (RFC 6761).
pub fn is_localhost_name(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

#[cfg(test)]
mod tests;
