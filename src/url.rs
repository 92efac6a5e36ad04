//! The few facts this program needs from a URL (scheme, host, port), and
//! which hosts are loopback. Hand-written: full URL parsing is not needed to
//! apply the SDKs' host rules, and the http crate's parser is laxer.

/// The parts of a URL this program needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlParts {
    pub scheme: String,
    /// Lowercase; IPv6 without brackets.
    pub host: String,
    pub port: Option<u16>,
}

/// Splits `scheme://host[:port][/path]`; `None` if it is not that shape.
pub fn url_parts(url: &str) -> Option<UrlParts> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.contains('@') || authority.is_empty() {
        return None;
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?.parse().ok()?),
        };
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p.parse().ok()?)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    Some(UrlParts {
        scheme: scheme.to_ascii_lowercase(),
        host: host.to_ascii_lowercase(),
        port,
    })
}

impl UrlParts {
    /// The `Host` header a request to this URL carries: the host (IPv6 in
    /// brackets), plus `:port` unless it is the scheme's default.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default_port = if self.scheme == "https" { 443 } else { 80 };
        match self.port {
            Some(p) if p != default_port => format!("{host}:{p}"),
            _ => host,
        }
    }
}

/// Loopback names and addresses, which a proxy must never see.
pub fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// What user info in a URL is shown as.
const REDACTED: &str = "***";

/// `url` with any user info (`user:password@`) replaced by `***@`, for
/// messages and logs: proxy URLs legitimately carry a password, and a person
/// may paste one into any URL setting. Also covers the scheme-less
/// `user:password@host:port` form curl accepts for proxies.
pub fn redact(url: &str) -> String {
    if url.contains("://") {
        return redact_text(url);
    }
    let authority_end = url.find(['/', '?', '#']).unwrap_or(url.len());
    match url[..authority_end].rfind('@') {
        Some(at) => format!("{REDACTED}{}", &url[at..]),
        None => url.to_string(),
    }
}

/// `text` with the user info of every `scheme://user:password@host` in it
/// replaced by `***`: the last line of defence for every error message and
/// log line, whatever quoted a URL (a library's error text included).
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends where a path, query, fragment or the quoting
        // around the URL begins.
        let end = tail
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>' | '`') || c.is_whitespace()
            })
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str(REDACTED);
                rest = &tail[at..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts_shapes() {
        let p = url_parts("https://sts.eu-west-1.amazonaws.com").unwrap();
        assert_eq!(
            (p.scheme.as_str(), p.host.as_str(), p.port),
            ("https", "sts.eu-west-1.amazonaws.com", None)
        );
        let p = url_parts("http://127.0.0.1:8080/v1/credentials").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("127.0.0.1", Some(8080)));
        let p = url_parts("http://[fd00:ec2::23]/v1/credentials").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("fd00:ec2::23", None));
        let p = url_parts("http://[::1]:99").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("::1", Some(99)));
        for bad in [
            "",
            "nohost",
            "http://",
            "http://u:p@host",
            "http://h:notaport",
            "http://[::1",
        ] {
            assert!(url_parts(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn user_info_is_redacted() {
        for (given, shown) in [
            ("http://user:pw@proxy:3128", "http://***@proxy:3128"),
            (
                "https://user:p%40ss@host/path?q=a@b",
                "https://***@host/path?q=a@b",
            ),
            ("http://a@b@host:1/x", "http://***@host:1/x"),
            ("user:pw@proxy:3128", "***@proxy:3128"),
            ("http://proxy:3128", "http://proxy:3128"),
            ("proxy:3128", "proxy:3128"),
            ("/v1/creds@x", "/v1/creds@x"),
        ] {
            assert_eq!(redact(given), shown, "{given}");
        }
        assert_eq!(
            redact_text(
                r#"HTTPS_PROXY "http://u:secret@p:1" failed: connect http://v:secret2@q/x, ok"#
            ),
            r#"HTTPS_PROXY "http://***@p:1" failed: connect http://***@q/x, ok"#
        );
        assert_eq!(
            redact_text("no urls here @ all://"),
            "no urls here @ all://"
        );
    }
}
