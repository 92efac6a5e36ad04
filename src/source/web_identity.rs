//! IRSA: the projected service-account token, read fresh at every refresh
//! (the kubelet rotates it), exchanged with STS AssumeRoleWithWebIdentity.

use std::path::Path;
use std::time::Instant;

use crate::config::{Network, WebIdentity, ENV_WEB_IDENTITY_TOKEN_FILE};
use crate::credentials::{Credentials, Secret};
use crate::error::Error;
use crate::http::Client;
use crate::sts::{self, WebIdentityParams};

use super::{read_token_text, TokenFileError};

/// Defaults to 64 KiB: service-account JWTs are one or two KiB; a larger
/// file is the wrong file.
pub const MAX_TOKEN_BYTES: u64 = 64 * 1024;

pub struct WebIdentityProvider {
    cfg: WebIdentity,
    net: Network,
}

impl WebIdentityProvider {
    pub fn new(cfg: WebIdentity, net: &Network) -> Result<Self, Error> {
        // Built once here only to fail at start on a bad proxy or CA bundle.
        Client::new(&cfg.sts.post_url(), net)?;
        Ok(WebIdentityProvider {
            cfg,
            net: net.clone(),
        })
    }

    /// The token file must be usable at start; after that, a failure to
    /// read it is a refresh failure like any other.
    pub fn preflight(&self) -> Result<(), Error> {
        read_token(&self.cfg.token_file).map(drop).map_err(|e| {
            Error::Config(format!(
                "{ENV_WEB_IDENTITY_TOKEN_FILE}: {e}; check the projected token volume is mounted"
            ))
        })
    }

    pub fn fetch(&self, deadline: Option<Instant>) -> Result<Credentials, Error> {
        let token = read_token(&self.cfg.token_file)?;
        let body = sts::web_identity_body(&WebIdentityParams {
            role_arn: &self.cfg.role_arn,
            session_name: &self.cfg.session_name,
            token: &token,
            duration: self.cfg.duration,
        });
        super::call_sts(
            &Client::new(&self.cfg.sts.post_url(), &self.net)?,
            sts::ACTION_WEB_IDENTITY,
            &[],
            &body,
            deadline,
        )
    }

    pub fn describe(&self) -> String {
        format!(
            "web identity {} via {}",
            self.cfg.role_arn, self.cfg.sts.url
        )
    }
}

/// Reads the token: trimmed, non-empty, text, of a sane size.
pub fn read_token(path: &Path) -> Result<Secret, Error> {
    let invalid = |why: &str| {
        Error::io(
            "use the web identity token file",
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string()),
        )
    };
    let token = read_token_text(path, MAX_TOKEN_BYTES).map_err(|e| match e {
        TokenFileError::Io(e) => Error::io("read the web identity token file", path, e),
        TokenFileError::TooLarge => {
            invalid("it is larger than 64 KiB, which no service-account token is")
        }
        TokenFileError::NotText => invalid("it is not text"),
    })?;
    if token.is_empty() {
        return Err(invalid("it is empty"));
    }
    if token.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid(
            "it holds whitespace or control characters inside the token",
        ));
    }
    Ok(Secret::new(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str, content: &[u8]) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("aws-credfile-wi-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn token_is_trimmed() {
        let p = scratch("trim", b"  eyJhbGciOi.payload.sig\n");
        assert_eq!(read_token(&p).unwrap().expose(), "eyJhbGciOi.payload.sig");
    }

    #[test]
    fn bad_tokens_are_refused_without_echoing_them() {
        for (name, content) in [
            ("empty", b"  \n".to_vec()),
            ("binary", vec![0xff, 0xfe, 0x00, 0x41]),
            ("huge", vec![b'a'; 70_000]),
            ("inner", b"secret-part one\ttwo".to_vec()),
        ] {
            let p = scratch(name, &content);
            let e = read_token(&p).expect_err(name).to_string();
            assert!(!e.contains("secret-part"), "{e}");
            assert!(e.contains(&p.display().to_string()), "{e}");
        }
        let missing = read_token(Path::new("/nonexistent/token")).unwrap_err();
        assert!(missing.to_string().contains("/nonexistent/token"));
    }
}
