//! HTTP/1.x on the wire, deliberately minimal and strict: a request head
//! parsed into what routing needs (method, path, `Host`, `Authorization`),
//! and an answer rendered as a complete response that closes the
//! connection. Anything that is not a well-formed request is a 4xx.

use std::net::IpAddr;

use crate::credentials::Secret;
use crate::json;

/// 8 KiB for the request line and headers; an SDK sends a few
/// hundred bytes.
pub const MAX_REQUEST: usize = 8 * 1024;

/// No method is longer (`OPTIONS`, `CONNECT`, with room to spare).
const MAX_METHOD: usize = 16;

/// A parsed request: only what routing needs.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// The `Host` header, trimmed; absent only in HTTP/1.0, where it is
    /// optional (the credentials endpoint refuses it even there).
    pub host: Option<String>,
    /// The address the client connected to (this end of the connection),
    /// as `Host` may name it under `--serve-any-address`; set by the server.
    pub to: Option<IpAddr>,
    /// The `Authorization` header; compared, never logged.
    pub authorization: Option<Secret>,
}

/// The result of looking at the bytes received so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// The headers have not ended yet.
    Incomplete,
    Request(Request),
    /// A malformed request, with the status to answer and why.
    Bad(u16, &'static str),
}

/// Parses a request head strictly: `METHOD SP target SP HTTP/1.x CRLF`,
/// header lines with a colon, an empty line. Anything else is a 4xx.
pub fn parse_request(buf: &[u8]) -> Parsed {
    // Refuse at the first byte that cannot begin a request (a TLS
    // ClientHello, binary noise) instead of waiting for a line end that
    // may never come.
    let method_len = buf.iter().position(|&b| b == b' ').unwrap_or(buf.len());
    if method_len > MAX_METHOD || !buf[..method_len].iter().all(u8::is_ascii_uppercase) {
        return Parsed::Bad(400, "not an HTTP request");
    }
    // A line ended by LF or CR alone never becomes the CRLF CRLF that ends
    // a head: refuse it now rather than when the connection times out. (A
    // CR that is the last byte so far may yet be followed by its LF.)
    let lone = buf.iter().enumerate().any(|(at, &b)| match b {
        b'\n' => at == 0 || buf[at - 1] != b'\r',
        b'\r' => buf.get(at + 1).is_some_and(|&next| next != b'\n'),
        _ => false,
    });
    if lone {
        return Parsed::Bad(400, "a line ends in LF or CR alone");
    }
    let Some(end) = find(buf, b"\r\n\r\n") else {
        if buf.len() >= MAX_REQUEST {
            return Parsed::Bad(431, "request headers too large");
        }
        // A request line without a version (HTTP/0.9) ends at the first
        // line break; refuse it then rather than wait for headers.
        if let Some(line_end) = find(buf, b"\r\n") {
            if let Err(bad) = parse_request_line(&buf[..line_end]) {
                return bad;
            }
        }
        return Parsed::Incomplete;
    };
    if end + 4 > MAX_REQUEST {
        return Parsed::Bad(431, "request headers too large");
    }
    let Ok(head) = std::str::from_utf8(&buf[..end]) else {
        return Parsed::Bad(400, "request head is not UTF-8");
    };
    let mut lines = head.split("\r\n");
    let RequestLine {
        method,
        path,
        authority,
        version,
    } = match parse_request_line(lines.next().unwrap_or("").as_bytes()) {
        Ok(v) => v,
        Err(p) => return p,
    };
    let mut host = None;
    let mut authorization = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Parsed::Bad(400, "header line without a colon");
        };
        if name.is_empty() || name.bytes().any(|b| !b.is_ascii_graphic()) {
            return Parsed::Bad(400, "malformed header name");
        }
        if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Parsed::Bad(400, "control character in a header value");
        }
        if name.eq_ignore_ascii_case("authorization") {
            if authorization.is_some() {
                return Parsed::Bad(400, "more than one Authorization header");
            }
            authorization = Some(Secret::new(trim_ows(value)));
        } else if name.eq_ignore_ascii_case("host") {
            // RFC 9112 section 3.2: more than one is a 400, as is none in
            // HTTP/1.1 (below).
            if host.is_some() {
                return Parsed::Bad(400, "more than one Host header");
            }
            host = Some(trim_ows(value).to_string());
        }
    }
    if host.is_none() && version == HttpVersion::Http11 {
        return Parsed::Bad(400, "HTTP/1.1 requires a Host header");
    }
    // An absolute-form target's authority is the host asked for (RFC 9112
    // section 3.2.2); a `Host` naming another is refused rather than
    // ignored, so no check or log line ever sees one host and not the other.
    if let (Some(a), Some(h)) = (&authority, &host) {
        if !a.eq_ignore_ascii_case(h) {
            return Parsed::Bad(
                400,
                "the Host header differs from the request target's host",
            );
        }
    }
    let host = authority.or(host);
    Parsed::Request(Request {
        method,
        path,
        host,
        to: None,
        authorization,
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HttpVersion {
    Http10,
    Http11,
}

fn parse_request_line(line: &[u8]) -> Result<RequestLine, Parsed> {
    let line =
        std::str::from_utf8(line).map_err(|_| Parsed::Bad(400, "request line is not UTF-8"))?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Parsed::Bad(400, "malformed request line"));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Parsed::Bad(400, "malformed method"));
    }
    if target.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err(Parsed::Bad(400, "malformed request target"));
    }
    let (authority, target) = absolute_form(target)?;
    if !target.starts_with('/') {
        return Err(Parsed::Bad(400, "malformed request target"));
    }
    let version = match version {
        "HTTP/1.1" => HttpVersion::Http11,
        "HTTP/1.0" => HttpVersion::Http10,
        v if v.starts_with("HTTP/") => {
            return Err(Parsed::Bad(505, "only HTTP/1.0 and HTTP/1.1 are served"))
        }
        _ => return Err(Parsed::Bad(400, "malformed HTTP version")),
    };
    // A fragment never goes into a request (RFC 9112 section 3.2).
    if target.contains('#') {
        return Err(Parsed::Bad(400, "malformed request target"));
    }
    let path = target.split('?').next().unwrap_or(target);
    Ok(RequestLine {
        method: method.to_string(),
        path: path.to_string(),
        authority: authority.map(str::to_string),
        version,
    })
}

/// A request target in absolute form (`http://host[:port]/path`, RFC 9112
/// section 3.2.2, which a server must accept though only proxies are sent
/// it) as its authority and the rest (`/` when there is none); any other
/// target as it is, with no authority. A user name in the authority is a
/// 400 (RFC 9110 section 4.2.4).
fn absolute_form(target: &str) -> Result<(Option<&str>, &str), Parsed> {
    let scheme = target
        .get(..7)
        .filter(|s| s.eq_ignore_ascii_case("http://"));
    let Some(rest) = scheme.map(|s| &target[s.len()..]) else {
        return Ok((None, target));
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() || authority.contains('@') {
        return Err(Parsed::Bad(400, "malformed request target"));
    }
    Ok((Some(authority), if path.is_empty() { "/" } else { path }))
}

/// A header value without the spaces and tabs around it: HTTP's only
/// padding (RFC 9110 section 5.6.3). Other blanks, such as a no-break
/// space, stay part of the value and so never pass for a token or a host.
fn trim_ows(value: &str) -> &str {
    value.trim_matches([' ', '\t'])
}

/// What the request line says.
struct RequestLine {
    method: String,
    path: String,
    /// The authority of an absolute-form target, which stands for `Host`.
    authority: Option<String>,
    version: HttpVersion,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// An answer: status, content type and body.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Answer {
    /// A JSON answer.
    pub fn json(status: u16, body: String) -> Answer {
        Answer {
            status,
            content_type: "application/json",
            body,
        }
    }

    /// A JSON error, `{"code": .., "message": ..}`, the shape the SDKs'
    /// container providers read from a failing endpoint.
    pub fn json_error(status: u16, code: &str, message: &str) -> Answer {
        let mut body = json::Object::start();
        body.string("code", code).string("message", message);
        Answer::json(status, body.end())
    }
}

/// The error code of a JSON error answer for a request that could not be
/// read: the status's reason phrase in one word (`BadRequest`,
/// `HTTPVersionNotSupported`).
pub fn error_code(status: u16) -> String {
    reason(status).replace(' ', "")
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// The bytes on the wire for an answer.
pub fn render(a: &Answer) -> Vec<u8> {
    let allow = if a.status == 405 {
        "Allow: GET\r\n"
    } else {
        ""
    };
    format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n{allow}Connection: close\r\n\r\n{}",
        a.status,
        reason(a.status),
        a.content_type,
        a.body.len(),
        a.body
    )
    .into_bytes()
}
