//! Unit tests of STS endpoint selection: every partition, the legacy and
//! FIPS switches, overrides, and what is refused.

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
        // A path stays as written, as botocore sends it.
        ("http://localhost:4566/sts/", "http://localhost:4566/sts/"),
        ("http://localhost:4566/sts", "http://localhost:4566/sts"),
        ("https://127.0.0.1:8443", "https://127.0.0.1:8443"),
        ("https://[::1]:8443", "https://[::1]:8443"),
        ("https://localhost:8443", "https://localhost:8443"),
        ("http://127.1:8080", "http://127.1:8080"),
        // Only a path of one slash is dropped.
        ("http://localhost//", "http://localhost//"),
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
        // Addresses TLS cannot check a certificate against.
        "https://127.1:8443",
        "https://2130706433:8443",
        "https://127.0.0.1.:8443",
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
    // A path is the SDKs' as written: botocore posts to `/sts` for
    // `https://proxy.internal/sts`, not `/sts/`.
    for path in ["/sts", "/sts/", "/a/b"] {
        let e = StsEndpoint {
            url: format!("https://proxy.internal{path}"),
            signing_region: "us-east-1".into(),
        };
        assert_eq!(e.post_url(), format!("https://proxy.internal{path}"));
    }
}

#[test]
fn plain_http_beyond_this_machine_is_cleartext() {
    let at = |url: &str| StsEndpoint {
        url: url.into(),
        signing_region: "us-east-1".into(),
    };
    for url in [
        "http://192.0.2.1",
        "http://sts.internal:8080/sts",
        "HTTP://[2001:db8::1]",
    ] {
        assert!(at(url).is_cleartext(), "{url}");
    }
    for url in [
        "https://sts.amazonaws.com",
        "HTTPS://192.0.2.1",
        "http://127.0.0.1:4566",
        "http://localhost:4566",
        "http://[::1]:8080",
    ] {
        assert!(!at(url).is_cleartext(), "{url}");
    }
}
