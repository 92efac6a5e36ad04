//! Unit tests of `source`.

use super::*;

#[test]
fn session_name_defaults_to_the_pod() {
    assert_eq!(
        default_session_name(Some("harbor-registry-7d9f-x2x")),
        "aws-credfile-harbor-registry-7d9f-x2x"
    );
    assert_eq!(
        default_session_name(Some("weird host!")),
        "aws-credfile-weirdhost"
    );
    assert_eq!(default_session_name(Some(&"h".repeat(100))).len(), 64);
    let long = format!("{}-statefulset-7", "very-long-deployment-name".repeat(3));
    let name = default_session_name(Some(&long));
    assert_eq!(name.len(), 64);
    assert!(name.ends_with("-statefulset-7"), "{name}");
    assert_eq!(default_session_name(None), "aws-credfile");
}
