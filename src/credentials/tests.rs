//! Unit tests of `credentials`.

use super::*;

#[test]
fn debug_never_shows_secrets() {
    let creds = Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG"),
        session_token: Some(Secret::new("FwoGZXIvYXdzEBYaDSESSION")),
        expiration: Timestamp::from_unix(1_700_000_000),
        account_id: Some("123456789012".into()),
        role_arn: None,
    };
    let shown = format!("{creds:?} {creds:#?}");
    assert!(!shown.contains("wJalrXUtnFEMI"), "{shown}");
    assert!(!shown.contains("FwoGZXIvYXdz"), "{shown}");
    assert!(shown.contains("AKIDEXAMPLE"));
    assert!(shown.contains("** redacted **"));
    assert_eq!(format!("{}", Secret::new("x")), "** redacted **");
}

#[test]
fn scrub_hides_every_secret_given() {
    let (a, b) = (Secret::new("SECRETKEY"), Secret::new("TOKEN"));
    assert_eq!(
        scrub("x SECRETKEY y TOKEN z".into(), &[Some(&a), None, Some(&b)]),
        "x *** y TOKEN z"
    );
}

#[test]
fn fit_values_are_base64_or_jwt_characters() {
    assert!(is_fit_value("AKIDEXAMPLE") && is_fit_value("wJal/K7+MDENG=="));
    assert!(
        is_fit_value("eyJhbGciOi.eyJzdWIi-_.c2ln"),
        "a JWT session token"
    );
    for unfit in ["", "a b", "a\nb", "a\0b", "caf\u{e9}", "a\tb", "\u{1b}[2J"] {
        assert!(!is_fit_value(unfit), "{unfit:?}");
    }
    // What aws-sdk-go v1 fails the whole file at, what Ruby drops the
    // profile for, what parsers unquote differently.
    for unfit in [
        ";x", "#x", "[evil]", "ASIA;FOO", "]x", "\"abc\"", "'x'", "a%b", "a:b",
    ] {
        assert!(!is_fit_value(unfit), "{unfit:?}");
    }
    // A 300 kB session token was taken, and a --print of it to a
    // pipe nobody read blocked, deaf to SIGTERM.
    assert!(is_fit_value(&"T".repeat(MAX_VALUE)));
    assert!(!is_fit_value(&"T".repeat(MAX_VALUE + 1)));
}

#[test]
fn a_secret_is_hidden_however_a_message_spells_it() {
    let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJlU0VDUkVU";
    let spread = |sep: &str| {
        let chars: Vec<String> = token.chars().map(String::from).collect();
        chars.join(sep)
    };
    let every = |n: usize, sep: &str| {
        token
            .as_bytes()
            .chunks(n)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(sep)
    };
    let encoded = |f: &dyn Fn(u8) -> String| token.bytes().map(f).collect::<String>();
    let cases = [
        spread("\u{200b}"),
        spread("\u{ad}"),
        spread("\u{1}"),
        spread("\u{7f}"),
        every(10, "\t"),
        every(10, "\n"),
        every(8, "\u{1b}[0m"),
        every(15, " "),
        encoded(&|b| format!("%{b:02X}")),
        encoded(&|b| format!("&#{b};")),
        encoded(&|b| format!("&#x{b:x};")),
        encoded(&|b| format!("\\u{b:04x}")),
        format!("{token:?}")
            .trim_matches('"')
            .replace('.', "\\u{200b}."),
        token.to_uppercase(),
        token.replace('.', "&#46;"),
    ];
    for quoted in cases {
        let shown = hide_pieces(&format!("bad token <{quoted}> sent"), &[token], "***");
        assert_eq!(shown, "bad token <***> sent", "{quoted:?}");
    }
    // A secret key quoted JSON-escaped (`\/`, as HTML-safe JSON
    // encoders write `/`), then escaped again in a quoted body (`\\/`).
    let key = "wJalrXUt/nFEMI/K7MDENG+bPxRfi/CYEXAMPL+EKEY";
    for quoted in [
        key.replace('/', "\\/"),
        key.replace('/', "\\\\/"),
        format!("{:?}", key.replace('/', "\\/"))
            .trim_matches('"')
            .to_string(),
    ] {
        let shown = hide_pieces(&format!("body <{quoted}> end"), &[key], "***");
        assert_eq!(shown, "body <***> end", "{quoted:?}");
    }
    // A piece from the middle, encoded, goes too; the rest stays.
    let middle = encoded(&|b| format!("%{b:02x}"))[30..150].to_string();
    assert_eq!(
        hide_pieces(&format!("x {middle} y"), &[token], "***"),
        "x *** y"
    );
    // Split by dashes, dots or the `?` a log shows for an invisible
    // character, twelve of its letters and digits in order go too.
    for split in ["-", ".", "?", "_", "/ "] {
        let piece: Vec<String> = token[41..59].chars().map(String::from).collect();
        let quoted = format!("tok {} end", piece.join(split));
        assert_eq!(
            hide_pieces(&quoted, &[token], "***"),
            "tok *** end",
            "{quoted:?}"
        );
    }
    // Text that spells no 12 characters of it is left as it is, `%`, `&`
    // and `\` included.
    let plain = "100% & \\ &#; %zz \\u{zz} eyJhbGciOiJ \u{e9}t\u{e9}";
    assert_eq!(hide_pieces(plain, &[token], "***"), plain);
}

#[test]
fn hiding_pieces_never_panics_on_odd_text() {
    // Text made of what the decoding looks at, cut anywhere: no slice may
    // fall inside a character, and text spelling no secret comes back as
    // it was.
    const ALPHABET: [&str; 16] = [
        "%", "&", "#", "x", ";", "\\", "u", "{", "}", "4", "1", "\u{e9}", "\u{200b}", "\u{1b}",
        "[", "a",
    ];
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let len = (next() % 24) as usize;
        let text: String = (0..len)
            .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
            .collect();
        assert_eq!(
            hide_pieces(&text, &["SECRETKEYSECRETKEYSECRET"], "***"),
            text
        );
        let _ = hide_pieces(&text, &["%&#x;\\u{}41aaaa"], "***");
    }
}

/// Credentials that expire at `expiration`, for the expiry rules.
fn creds(expiration: Timestamp) -> Credentials {
    Credentials {
        access_key_id: "ASIA".into(),
        secret_access_key: Secret::new("s"),
        session_token: None,
        expiration,
        account_id: None,
        role_arn: None,
    }
}

/// An expiry of 9999-12-31 was handed on as it came (`credential_process`,
/// `--print env`, the endpoint), so an SDK never asked again and failed
/// with ExpiredToken when the real keys expired. Nothing is handed on as
/// lasting longer than the longest session STS issues.
#[test]
fn no_expiry_is_believed_beyond_the_longest_session() {
    let now = Timestamp::from_unix(1_800_000_000);
    let far = Timestamp::parse_rfc3339("9999-12-31T23:59:59Z").unwrap();
    assert_eq!(
        creds(far).believed(now).expiration,
        now.plus(LONGEST_SESSION)
    );
    let hour = now.plus(Duration::from_secs(3600));
    assert_eq!(creds(hour).believed(now).expiration, hour);
}

/// A clock 25 minutes behind the server's took 15-minute credentials for
/// valid for 40: the lifetime the server meant is counted from now.
#[test]
fn the_expiry_is_read_on_our_clock() {
    let now = Timestamp::from_unix(1_800_000_000);
    let server_now = now.plus(Duration::from_secs(25 * 60));
    let expires = server_now.plus(Duration::from_secs(15 * 60));
    assert_eq!(
        creds(expires)
            .on_our_clock(Some(server_now), now)
            .expiration,
        now.plus(Duration::from_secs(15 * 60))
    );
    // A clock ahead of the server's sees the expiry sooner already; no
    // date, nothing to go by.
    let behind = Timestamp::from_unix(now.unix() - 600);
    let expires = now.plus(Duration::from_secs(900));
    assert_eq!(
        creds(expires).on_our_clock(Some(behind), now).expiration,
        expires
    );
    assert_eq!(creds(expires).on_our_clock(None, now).expiration, expires);
    // Expired by the server's own clock: expired now.
    let after = expires.plus(Duration::from_secs(1));
    assert_eq!(
        creds(expires).on_our_clock(Some(after), now).expiration,
        now
    );
}

#[test]
fn an_http_date_is_read() {
    assert_eq!(
        Timestamp::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
        Some(Timestamp::from_unix(784_111_777))
    );
    for obsolete in ["Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"] {
        assert_eq!(
            Timestamp::parse_http_date(obsolete),
            Some(Timestamp::from_unix(784_111_777)),
            "{obsolete}"
        );
    }
    assert_eq!(
        Timestamp::parse_http_date("Saturday, 28-Nov-26 19:12:28 GMT"),
        Timestamp::parse_http_date("Sat, 28 Nov 2026 19:12:28 GMT")
    );
    for bad in [
        "",
        "yesterday",
        "1994-11-06T08:49:37Z",
        "Sunday, 06-Nov-1994 08:49:37 GMT",
    ] {
        assert_eq!(Timestamp::parse_http_date(bad), None, "{bad}");
    }
}

/// Every value aws-sdk-go v1 v1.44 was tried with: the ones it failed the
/// file at are unfit, the look-alikes it read are fit.
#[test]
fn values_aws_sdk_go_v1_takes_for_broken_numbers_are_unfit() {
    for unfit in [
        "-1", "-0", "-1.2", "-12.34", "00x1", "12x3", "00b1", "00o7", "99o1", "12x3a", "-12x3",
        "-1x1", "-00b1", "a=12x3", "e1", "E5", "e-1", ".5", "-.5", "-x1f", "-b1", "a=e1", "a=-1",
        "a=.5",
    ] {
        assert!(!is_fit_value(unfit), "{unfit}");
    }
    for fit in [
        "-1abc", "e1x", ".5a", "-", "--1", "+1", "1e5", "0x1", "x1", "b1", "e-", ".", "-.", "..5",
        "1-", "5e", "e5e", "=abc", "abc=", "a=b", "==", "=1", "a=1", "abc/e1", "a.e1", "a-.5",
        "a/-1", "-a", "-1/x", "-1.", "-1.2.3", "-1..2", "-00.1.", "00x", "12b3", "1x12", "12x",
        "12xg", "12bz", "12x3.5", "00X1",
    ] {
        assert!(is_fit_value(fit), "{fit}");
    }
}

/// Words shaped like a secret key or a token go from a server's message;
/// what an operator needs from it stays.
#[test]
fn secret_shaped_words_are_hidden_and_the_rest_stays() {
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY";
    let token =
        "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDyY2Gx4M5Kf0sH0DkXl6sYtq1Vw8nYq9vR";
    let kept = [
        "User: arn:aws:sts::123456789012:assumed-role/MyServiceRole2024/botocore-session-1700000000",
        "assumed-role/HarborRegistryS3AccessRoleForProductionCluster01/aws-credfile-harbor",
        "arn:aws:iam::210987654321:role/PartnerCrossAccountReadOnlyAccessRole2024",
        "role/service-role/AmazonEKSPodIdentityAgentRoleForCluster01abc",
        "is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/Target",
        "(request id c0ffee12-3456-7890-abcd-ef0123456789)",
        "key ASIAQUOTED0000000001",
        "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
    ];
    // As a URL spells it, too.
    let encoded = "wJalrXUtnFEMI%2FK7MDENG%2bbPxRfiCYzPLANTEDkey";
    let message = format!(
        "{} secret {secret} url {encoded} token {token} {}",
        kept.join(" "),
        "end"
    );
    let shown = hide_secret_shaped(&message);
    assert!(
        !shown.contains(secret) && !shown.contains(&token[..40]),
        "{shown}"
    );
    assert!(shown.contains("url ** redacted ** token"), "{shown}");
    for part in kept {
        assert!(shown.contains(part), "{part} went: {shown}");
    }
    assert!(shown.ends_with("token ** redacted ** end"), "{shown}");
}

/// Random keys change kind far more often than names do: of 10,000
/// random 40-character secret keys, all but about one in a thousand (9
/// here) are hidden; longer tokens, all.
#[test]
fn random_secret_keys_are_secret_shaped() {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let missed = (0..10_000)
        .filter(|_| {
            let key: String = (0..40)
                .map(|_| B64[(next() % 64) as usize] as char)
                .collect();
            hide_secret_shaped(&format!("secret {key} end")) != "secret ** redacted ** end"
        })
        .count();
    assert!(missed <= 20, "{missed} of 10000 random keys shown");
}
