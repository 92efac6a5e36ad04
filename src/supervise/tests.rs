//! Unit tests of `supervise`.

use super::*;

#[test]
fn statuses_read_as_a_shell_reads_them() {
    // Built as the kernel builds them: exit code in the second byte,
    // the signal in the low seven bits.
    let code = |status| exit_status(status).status;
    assert_eq!(code(0), 0);
    assert_eq!(code(3 << 8), 3);
    assert_eq!(code(libc::SIGKILL), 137);
    assert_eq!(code(libc::SIGTERM), 143);
    assert_eq!(code(libc::SIGINT), 130);
    assert!(exit_status(libc::SIGINT).interrupted);
    assert!(!exit_status(130 << 8).interrupted);
    assert!(!exit_status(libc::SIGTERM).interrupted);
}

#[test]
fn endpoint_urls_name_a_loopback_address() {
    for (bound, url) in [
        ("127.0.0.1:9911", "http://127.0.0.1:9911/v1/credentials"),
        ("0.0.0.0:9911", "http://127.0.0.1:9911/v1/credentials"),
        ("[::1]:9911", "http://[::1]:9911/v1/credentials"),
        ("[::]:9911", "http://[::1]:9911/v1/credentials"),
    ] {
        assert_eq!(endpoint_url(bound.parse().unwrap()), url, "{bound}");
    }
}

#[test]
fn handoff_variables() {
    let both = Handoff {
        file: Some((PathBuf::from("/shared/credentials"), "app".into())),
        endpoint: Some((
            "http://127.0.0.1:9911/v1/credentials".into(),
            Secret::new("tok"),
        )),
    };
    assert_eq!(
        both.variables(),
        vec![
            (
                ENV_SHARED_CREDENTIALS_FILE,
                "/shared/credentials".to_string()
            ),
            (
                ENV_CREDENTIAL_PROFILES_FILE,
                "/shared/credentials".to_string()
            ),
            (ENV_PROFILE, "app".to_string()),
            (ENV_SDK_LOAD_CONFIG, "1".to_string()),
            (
                ENV_CONTAINER_CREDENTIALS_FULL_URI,
                "http://127.0.0.1:9911/v1/credentials".to_string()
            ),
            (ENV_CONTAINER_AUTHORIZATION_TOKEN, "tok".to_string()),
        ]
    );
    let default_profile = Handoff {
        file: Some((PathBuf::from("/c"), "default".into())),
        endpoint: None,
    };
    assert_eq!(
        default_profile.variables(),
        vec![
            (ENV_SHARED_CREDENTIALS_FILE, "/c".to_string()),
            (ENV_CREDENTIAL_PROFILES_FILE, "/c".to_string()),
            (ENV_SDK_LOAD_CONFIG, "1".to_string())
        ]
    );
}
