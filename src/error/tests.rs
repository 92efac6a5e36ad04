//! Unit tests of `error`.

use super::*;

#[test]
fn one_line_neutralises_controls_and_bidi() {
    assert_eq!(
        one_line("a\nb\u{1b}[2J \u{202E}evil\u{2066}x\u{2069}"),
        "a b?[2J ?evil?x?"
    );
    assert_eq!(one_line_within(&"x".repeat(10), 4), "x…xxx");
    // The middle goes: the end says what went wrong and what to do, and a
    // huge value quoted before it pushed that out.
    let long = format!(
        "AWS_REGION {:?} is not a region; give one",
        "a".repeat(5000)
    );
    let shown = one_line_within(&long, 300);
    assert!(
        shown.len() <= 303 && shown.starts_with("AWS_REGION \"aaa"),
        "{shown}"
    );
    assert!(shown.ends_with("is not a region; give one"), "{shown}");
    let wide = format!("{} end", "é".repeat(400));
    assert!(one_line_within(&wide, 301).ends_with("é end"));
}

#[test]
fn one_line_neutralises_what_shows_nothing() {
    // Zero-width characters, the soft hyphen, the byte order mark,
    // the word joiner and tag characters passed through.
    assert_eq!(
        one_line("Acc\u{200B}ess\u{200D}De\u{00AD}nied\u{FEFF}\u{2060}\u{E0041}\u{E007F}"),
        "Acc?ess?De?nied????"
    );
    // What is merely not ASCII stays.
    assert_eq!(
        one_line("Zugriff verweigert: Rôle ß 角色"),
        "Zugriff verweigert: Rôle ß 角色"
    );
}

#[test]
fn exit_codes() {
    assert_eq!(Error::Usage("x".into()).exit_code(), 2);
    assert_eq!(Error::Config("x".into()).exit_code(), 2);
    assert_eq!(Error::Stale("x".into()).exit_code(), 1);
    let sts = Error::Sts {
        action: "AssumeRoleWithWebIdentity",
        status: 403,
        code: "AccessDenied".into(),
        message: "no".into(),
    };
    assert_eq!(sts.exit_code(), 1);
    assert!(!sts.is_transient());
}

#[test]
fn transient_classification() {
    let sts = |status, code: &str| Error::Sts {
        action: "AssumeRoleWithWebIdentity",
        status,
        code: code.into(),
        message: String::new(),
    };
    assert!(sts(400, "Throttling").is_transient());
    assert!(sts(400, "IDPCommunicationError").is_transient());
    assert!(sts(503, "Whatever").is_transient());
    assert!(sts(429, "Whatever").is_transient());
    assert!(!sts(400, "InvalidParameterValue").is_transient());
    // An agent's throttling code counts as STS's does, whatever the
    // status (a 400 `Throttling` was a denial, round 32).
    let agent = |status, message: &str| Error::Endpoint {
        url: "http://127.0.0.1/creds".into(),
        status,
        message: message.into(),
    };
    assert!(agent(400, "Throttling: slow down").is_transient());
    assert!(agent(400, "Throttling").is_transient());
    assert_eq!(agent(400, "Throttling: slow down").reason(), "throttled");
    assert!(!agent(400, "AccessDenied: no").is_transient());
    assert_eq!(
        agent(400, "AccessDenied: Throttling: no").reason(),
        "denied"
    );
    assert!(Error::Network {
        url: "u".into(),
        detail: "reset".into(),
        timed_out: false,
        reach: crate::error::Reach::Unreached,
    }
    .is_transient());
    // An untrusted certificate, a proxy that refuses: no retry mends them.
    let lasting = Error::Network {
        url: "u".into(),
        detail: "the server's TLS certificate is not trusted: it has expired".into(),
        timed_out: false,
        reach: crate::error::Reach::Lasting,
    };
    assert!(!lasting.is_transient());
    assert_eq!(lasting.reason(), "network");
    let broken = Error::Network {
        url: "https://sts.example".into(),
        detail: "the answer is not valid HTTP/1.1 (bad chunk)".into(),
        timed_out: false,
        reach: crate::error::Reach::Broken,
    };
    assert!(broken.is_transient());
    assert!(
        broken
            .to_string()
            .starts_with("no usable answer from https://sts.example: "),
        "{broken}"
    );
    assert!(!Error::Config("x".into()).is_transient());
}

#[test]
fn reasons_follow_the_status_before_the_body() {
    let bad = |status| Error::BadResponse {
        from: "u".into(),
        status,
        detail: "an HTML page".into(),
    };
    assert_eq!(bad(200).reason(), "bad_response");
    assert_eq!(bad(502).reason(), "server_error");
    assert_eq!(bad(429).reason(), "throttled");
    let sts = |status, code: &str| Error::Sts {
        action: "AssumeRoleWithWebIdentity",
        status,
        code: code.into(),
        message: String::new(),
    };
    assert_eq!(sts(400, "InvalidIdentityToken").reason(), "denied");
    assert_eq!(sts(400, "IDPCommunicationError").reason(), "server_error");
    assert_eq!(sts(400, "RequestLimitExceeded").reason(), "throttled");
}

#[test]
fn messages_are_one_line() {
    let e = Error::Sts {
        action: "AssumeRoleWithWebIdentity",
        status: 403,
        code: "AccessDenied".into(),
        message: "Not authorized\nto perform\r\n sts:AssumeRoleWithWebIdentity".into(),
    };
    let shown = e.to_string();
    assert!(!shown.contains('\n') && !shown.contains('\r'), "{shown}");
    assert!(shown.contains("AccessDenied"));
    assert!(shown.contains("trust policy"));
    assert!(one_line(&"x".repeat(1000)).chars().count() <= 301);
}

#[test]
fn a_program_that_cannot_start_for_want_of_resources_is_a_runtime_failure() {
    let spawn = |errno| Error::Spawn {
        program: "app".into(),
        source: io::Error::from_raw_os_error(errno),
    };
    for errno in [libc::EMFILE, libc::ENFILE, libc::EAGAIN, libc::ENOMEM] {
        let err = spawn(errno);
        assert_eq!(err.exit_code(), 1, "{err}");
        assert!(err.to_string().contains("raise the limit"), "{err}");
    }
    assert_eq!(spawn(libc::EACCES).exit_code(), 126);
    assert_eq!(spawn(libc::ENOENT).exit_code(), 127);
    // Too long a command line was blamed on the program.
    let long = spawn(libc::E2BIG);
    assert_eq!(long.exit_code(), 126);
    assert!(
        long.to_string().contains("longer than the system allows"),
        "{long}"
    );
}

/// Some lines named what failed but not what to do: a timeout or a
/// refused connection, a file too large for `ulimit -f` (which also named
/// the temporary file). Each now says where to look.
#[test]
fn failures_outside_aws_credfile_say_where_to_look() {
    let net = |detail: &str| {
        Error::Network {
            url: "http://127.0.0.1:1/creds".into(),
            detail: detail.into(),
            timed_out: false,
            reach: crate::error::Reach::Unreached,
        }
        .to_string()
    };
    assert!(net("timed out (global)")
        .contains("; check that the server runs and that this pod may reach it"));
    assert!(net("io: Connection refused (os error 111)").contains("; nothing listens there"));
    assert!(net("host not found (DNS)").contains("; check the host name"));
    assert!(net("invalid peer certificate: UnknownIssuer").contains("AWS_CA_BUNDLE"));
    let io = |errno| {
        Error::io(
            "write",
            "/x/credentials",
            io::Error::from_raw_os_error(errno),
        )
        .to_string()
    };
    assert!(io(libc::EFBIG)
        .ends_with("; the file size limit (ulimit -f) is below what the file needs; raise it"));
    assert!(io(libc::ENOSPC).contains("full"));
    // Out of inodes with space to spare is ENOSPC too (round 32).
    assert!(io(libc::ENOSPC).contains("df -i"));
    assert!(io(libc::EROFS).contains("read-only"));
    // chattr +a or +i: no mode or owner explains it (round 32).
    assert!(io(libc::EPERM).contains("lsattr"));
    // A directory, a named pipe or a file where it does not belong, and a
    // loop of links, were bare errnos (round 32).
    for errno in [libc::EISDIR, libc::ENXIO, libc::ENOTDIR, libc::ELOOP] {
        assert!(io(errno).contains("; "), "{}", io(errno));
    }
    assert!(!io(libc::EEXIST).contains(';'), "{}", io(libc::EEXIST));
}

/// With `--role-arn` both calls go to the same STS: the message names the
/// call STS refused, and what to look at for it.
#[test]
fn an_sts_refusal_names_the_call_and_its_trust_policy() {
    let refused = |action| {
        Error::Sts {
            action,
            status: 403,
            code: "AccessDenied".into(),
            message: "Not authorized".into(),
        }
        .to_string()
    };
    let web = refused(crate::sts::ACTION_WEB_IDENTITY);
    let chained = refused(crate::sts::ACTION_ASSUME_ROLE);
    assert!(
        web.starts_with("STS refused AssumeRoleWithWebIdentity: AccessDenied: "),
        "{web}"
    );
    assert!(!web.contains("--role-arn"), "{web}");
    assert!(
        chained.starts_with("STS refused AssumeRole: AccessDenied: "),
        "{chained}"
    );
    assert!(
        chained.contains("--role-arn role's trust policy"),
        "{chained}"
    );
}

/// The advice fits the call: AssumeRoleWithWebIdentity is not signed, so a
/// signature error on it came from something in the way; AssumeRole sends no
/// identity token, so an identity-token error on it did too.
#[test]
fn an_sts_hint_fits_the_call_it_came_from() {
    let hint = |action, code: &str| {
        Error::Sts {
            action,
            status: 400,
            code: code.into(),
            message: "m".into(),
        }
        .to_string()
    };
    let (web, chained) = (
        crate::sts::ACTION_WEB_IDENTITY,
        crate::sts::ACTION_ASSUME_ROLE,
    );
    for code in ["InvalidClientTokenId", "SignatureDoesNotMatch"] {
        let on_web = hint(web, code);
        assert!(on_web.contains("this call is not signed"), "{on_web}");
        assert!(on_web.contains("AWS_ENDPOINT_URL_STS"), "{on_web}");
        let on_chain = hint(chained, code);
        assert!(on_chain.contains("source credentials"), "{on_chain}");
        assert!(!on_chain.contains("not signed"), "{on_chain}");
    }
    for code in ["InvalidIdentityToken", "IDPRejectedClaim"] {
        let on_chain = hint(chained, code);
        assert!(on_chain.contains("sends no identity token"), "{on_chain}");
        assert!(!on_chain.contains("OIDC"), "{on_chain}");
    }
    assert!(hint(web, "InvalidIdentityToken").contains("OIDC provider"));
    let claim = hint(web, "IDPRejectedClaim");
    assert!(claim.contains("trust policy conditions"), "{claim}");
}

#[test]
fn a_network_failures_own_words_are_never_cut() {
    // Round 35: through a proxy, the CA certificate's hint lost its middle,
    // the part saying what to do.
    let detail = "the server's TLS certificate is not trusted: it is a CA certificate, not a server's (openssl req -x509 makes one by default; as a server's it is refused even in AWS_CA_BUNDLE): give the server a certificate that CA signs, or one made with basicConstraints CA:FALSE (through the proxy http://***@proxy.internal:3128; check HTTPS_PROXY and NO_PROXY)";
    let err = Error::Network {
        url: "https://sts.us-east-1.amazonaws.com/".into(),
        detail: detail.into(),
        timed_out: false,
        reach: Reach::Lasting,
    };
    assert!(err.to_string().contains(detail), "{err}");
    // What comes from elsewhere is still capped, the line kept one.
    let huge = Error::Network {
        url: "https://sts.us-east-1.amazonaws.com/".into(),
        detail: "x\n".repeat(5000),
        timed_out: false,
        reach: Reach::Broken,
    };
    let shown = huge.to_string();
    assert!(shown.len() < 1300 && !shown.contains('\n'), "{shown}");
}

/// A secret cut in two, one half STS's `<Code>` and the other its
/// `<Message>`, was taken out of neither: each half alone is under the 12
/// characters a piece must have, and the message printed them side by side.
#[test]
fn a_secret_split_between_code_and_message_is_taken_out() {
    let token = "eyJhbGciOiJSUzI1NiJ9.IDTOKENPAYLOADmnbvcxz135792468.SIGPART";
    let e = Error::Sts {
        action: crate::sts::ACTION_WEB_IDENTITY,
        status: 400,
        code: "IDTOKENPAYL".into(),
        message: "OADmnbvcxz1 (request id r-1)".into(),
    };
    let shown = e
        .map_quoted(|text| crate::credentials::hide_pieces(text, &[token], "***"))
        .to_string();
    assert!(!shown.contains("IDTOKENPAYL"), "{shown}");
    assert!(!shown.contains("OADmnbvcxz1"), "{shown}");
    assert!(shown.contains("(request id r-1)"), "{shown}");
    // Apart, code and message stay what they were.
    let e = Error::Sts {
        action: crate::sts::ACTION_WEB_IDENTITY,
        status: 403,
        code: "AccessDenied".into(),
        message: "Not authorized (request id r-2)".into(),
    };
    let shown = e.map_quoted(|text| text.to_string()).to_string();
    assert!(
        shown.contains("AccessDenied: Not authorized (request id r-2)"),
        "{shown}"
    );
}

/// A server with no TLS version or cipher in common is told to update its
/// TLS settings, not to check its certificate.
#[test]
fn no_common_tls_gets_its_own_hint() {
    let e = Error::Network {
        url: "https://sts.example".into(),
        detail: format!("{NO_COMMON_TLS} (received fatal alert: ProtocolVersion)"),
        timed_out: false,
        reach: Reach::Lasting,
    };
    let shown = e.to_string();
    assert!(shown.contains("update its TLS settings"), "{shown}");
    assert!(!shown.contains("AWS_CA_BUNDLE"), "{shown}");
}
