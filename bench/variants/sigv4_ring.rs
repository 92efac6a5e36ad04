pub fn sign(
    endpoint: &StsEndpoint,
    body: &str,
    creds: &Credentials,
    now: SystemTime,
) -> Result<Vec<(String, String)>, Error> {
    // Hand-written SigV4 (the bench's "no aws-sigv4" variant): the same
    // canonical request aws-sigv4 builds for this one shape of request
    // (POST, no query, four headers), with ring's SHA-256 and HMAC, which
    // rustls already links.
    use ring::{digest, hmac};
    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
    fn mac(key: &[u8], data: &str) -> hmac::Tag {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
    }
    let url = endpoint.post_url();
    let failed = |what: &str| {
        Error::Config(format!(
            "cannot sign the sts:AssumeRole request to {url}: {what} (the endpoint URL or the \
             source credentials contain characters that cannot be sent)"
        ))
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(|| failed("no scheme"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = match (scheme, authority.rsplit_once(':')) {
        ("https", Some((h, "443"))) | ("http", Some((h, "80"))) => h,
        _ => authority,
    };
    let stamp = Timestamp::from_system_time(now).to_rfc3339();
    let amz_date: String = stamp.chars().filter(|c| *c != '-' && *c != ':').collect();
    let date = &amz_date[..8];
    let token = creds.session_token.as_ref().map(|t| t.expose());
    if let Some(t) = token {
        if t.bytes().any(|b| b.is_ascii_control()) {
            return Err(failed("invalid header value"));
        }
    }
    let mut canonical_headers =
        format!("content-type:{CONTENT_TYPE}\nhost:{host}\nx-amz-date:{amz_date}\n");
    let mut signed = String::from("content-type;host;x-amz-date");
    if let Some(t) = token {
        canonical_headers.push_str(&format!("x-amz-security-token:{t}\n"));
        signed.push_str(";x-amz-security-token");
    }
    let body_hash = hex(digest::digest(&digest::SHA256, body.as_bytes()).as_ref());
    let canonical = format!("POST\n{path}\n\n{canonical_headers}\n{signed}\n{body_hash}");
    let scope = format!("{date}/{}/{SIGNING_NAME}/aws4_request", endpoint.signing_region);
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    );
    let k_date = mac(
        format!("AWS4{}", creds.secret_access_key.expose()).as_bytes(),
        date,
    );
    let k_region = mac(k_date.as_ref(), &endpoint.signing_region);
    let k_service = mac(k_region.as_ref(), SIGNING_NAME);
    let k_signing = mac(k_service.as_ref(), "aws4_request");
    let signature = hex(mac(k_signing.as_ref(), &to_sign).as_ref());
    let mut headers = vec![
        ("content-type".to_owned(), CONTENT_TYPE.to_owned()),
        ("x-amz-date".to_owned(), amz_date.clone()),
    ];
    if let Some(t) = token {
        headers.push(("x-amz-security-token".to_owned(), t.to_owned()));
    }
    headers.push((
        "authorization".to_owned(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
            creds.access_key_id
        ),
    ));
    Ok(headers)
}
