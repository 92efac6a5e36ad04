//! Unit tests of `metrics`.

use super::*;

fn get(path: &str) -> Request {
    Request {
        method: "GET".into(),
        path: path.into(),
        host: Some("10.0.0.5:9912".into()),
        to: None,
        authorization: None,
    }
}

fn status() -> Shared {
    Rc::new(RefCell::new(Status {
        min_valid: Duration::from_secs(300),
        endpoint: Some(BTreeMap::new()),
        ..Status::default()
    }))
}

#[test]
fn before_the_first_success() {
    let m = Metrics { status: status() };
    let now = Timestamp::from_unix(1_000);
    let text = m.answer(&get("/metrics"), now).body;
    assert!(text.contains("aws_credfile_credentials_expiry_timestamp_seconds NaN\n"));
    assert!(text.contains("aws_credfile_build_info{version=\""));
    assert!(text.contains("aws_credfile_refresh_failures_total{reason=\"network\"} 0\n"));
    assert!(text.contains("aws_credfile_endpoint_requests_total{code=\"200\"} 0\n"));
    assert_eq!(m.answer(&get("/healthz"), now).status, 200);
    let not_ready = m.answer(&get("/readyz"), now);
    assert_eq!(not_ready.status, 503);
    assert!(not_ready.body.contains("no credentials"));
    assert_eq!(m.answer(&get("/v1/credentials"), now).status, 404);
}

#[test]
fn counts_and_readiness() {
    let shared = status();
    let m = Metrics {
        status: Rc::clone(&shared),
    };
    let now = Timestamp::from_unix(10_000);
    {
        let mut s = shared.borrow_mut();
        s.succeeded(now.plus(Duration::from_secs(3600)), now);
        s.failed(&Error::Network {
            url: "u".into(),
            detail: "reset".into(),
            timed_out: false,
            reach: crate::error::Reach::Unreached,
        });
        s.answered(200);
        s.answered(401);
    }
    let text = m.answer(&get("/metrics"), now).body;
    assert!(text.contains("aws_credfile_credentials_expiry_timestamp_seconds 13600\n"));
    assert!(text.contains("aws_credfile_refreshes_total 2\n"));
    assert!(text.contains("aws_credfile_refresh_failures_total{reason=\"network\"} 1\n"));
    assert!(text.contains("aws_credfile_endpoint_requests_total{code=\"401\"} 1\n"));
    assert_eq!(m.answer(&get("/readyz"), now).status, 200);
    // Four minutes left is less than --min-valid 5m.
    let late = now.plus(Duration::from_secs(3600 - 240));
    let answer = m.answer(&get("/readyz"), late);
    assert_eq!(answer.status, 503);
    assert!(
        answer
            .body
            .contains("less than --min-valid 5m; refreshing is failing"),
        "{}",
        answer.body
    );
    // Credentials issued for less than --min-valid are not ready
    // either, but nothing is failing, and the reason must not say so.
    shared
        .borrow_mut()
        .succeeded(late.plus(Duration::from_secs(240)), late);
    let answer = m.answer(&get("/readyz"), late);
    assert_eq!(answer.status, 503);
    assert!(!answer.body.contains("failing"), "{}", answer.body);
}

#[test]
fn every_reason_is_in_the_fixed_set() {
    let errors = [
        Error::Sts {
            action: "AssumeRoleWithWebIdentity",
            status: 400,
            code: "Throttling".into(),
            message: String::new(),
        },
        Error::Sts {
            action: "AssumeRoleWithWebIdentity",
            status: 403,
            code: "AccessDenied".into(),
            message: String::new(),
        },
        Error::Sts {
            action: "AssumeRoleWithWebIdentity",
            status: 503,
            code: "X".into(),
            message: String::new(),
        },
        Error::Network {
            url: "u".into(),
            detail: "d".into(),
            timed_out: true,
            reach: crate::error::Reach::Unreached,
        },
        Error::Config("x".into()),
        Error::Stale("x".into()),
    ];
    let reasons: Vec<&str> = errors.iter().map(Error::reason).collect();
    assert_eq!(
        reasons,
        [
            "throttled",
            "denied",
            "server_error",
            "timeout",
            "config",
            "file"
        ]
    );
    assert!(reasons.iter().all(|r| REASONS.contains(r)));
}
