//! The daemon's log lines: where the credentials go, and what each refresh
//! did.

use std::time::Duration;

use super::Refresher;
use crate::credentials::Credentials;
use crate::credentials_file::Written;
use crate::error::Error;
use crate::serve::Server;
use crate::time::format_duration_ms;

impl Refresher {
    pub(super) fn log_started(&self) {
        self.log_with_destination(
            "started",
            &[
                ("version", &env!("CARGO_PKG_VERSION")),
                ("source", &self.provider.describe()),
            ],
        );
    }

    /// Where the credentials go, as log fields: `profile` and `file` when
    /// writing the file, `endpoint` when serving.
    fn destination(&self) -> Vec<(&'static str, String)> {
        let mut fields = Vec::new();
        if let Some(sink) = &self.sink {
            fields.push(("profile", sink.profile.clone()));
            fields.push(("file", sink.path.display().to_string()));
        }
        if let Some(addr) = self.server.as_ref().and_then(Server::local_addr) {
            // As a client uses it: 0.0.0.0 reached through loopback.
            fields.push(("endpoint", crate::supervise::endpoint_url(addr)));
        }
        fields
    }

    /// Logs `event` with the destination fields followed by `extra`.
    pub(super) fn log_with_destination(
        &self,
        event: &str,
        extra: &[(&str, &dyn std::fmt::Display)],
    ) {
        let dest = self.destination();
        let mut fields: Vec<(&str, &dyn std::fmt::Display)> = dest
            .iter()
            .map(|(k, v)| (*k, v as &dyn std::fmt::Display))
            .collect();
        fields.extend_from_slice(extra);
        self.log.info(event, &fields);
    }

    /// Logs a refresh that succeeded: the new credentials written, or the
    /// newer ones another aws-credfile process wrote kept (not a failure:
    /// the file is as fresh as it can be).
    pub(super) fn log_written(
        &self,
        creds: &Credentials,
        written: Written,
        next: Option<Duration>,
    ) {
        let next = next
            .map(format_duration_ms)
            .unwrap_or_else(|| "none".into());
        match written {
            Written::Replaced => self.log_with_destination(
                "credentials_refreshed",
                &[
                    ("access_key_id", &creds.access_key_id),
                    ("expires", &creds.expiration),
                    ("next_refresh_in", &next),
                ],
            ),
            Written::KeptNewer { expires } => self.log_with_destination(
                "newer_credentials_kept",
                &[
                    ("expires", &expires),
                    ("fetched_expires", &creds.expiration),
                    ("next_refresh_in", &next),
                ],
            ),
        }
    }

    /// The source has answered only credentials about to expire, `in_a_row`
    /// times: the refreshes are spaced out.
    pub(super) fn log_short_lived(&self, lifetime: Duration, in_a_row: u32, next: Duration) {
        self.log.warn(
            "credentials_short_lived",
            &[
                ("lasting", &format_duration_ms(lifetime)),
                ("in_a_row", &in_a_row),
                ("next_refresh_in", &format_duration_ms(next)),
                (
                    "effect",
                    &"the source answers only credentials that expire within a minute (is this machine's clock ahead?); refreshes are spaced out, up to a minute apart, until it answers longer ones",
                ),
            ],
        );
    }

    /// A one-shot run got credentials lasting only `left`, and will not
    /// refresh them.
    pub(super) fn log_expiring_unrefreshed(&self, left: Duration) {
        self.log.warn(
            "credentials_short_lived",
            &[
                ("lasting", &format_duration_ms(left)),
                (
                    "effect",
                    &"nothing refreshes them after this run: what uses them next may find them expired (is this machine's clock ahead?)",
                ),
            ],
        );
    }

    /// Credentials lasting `lifetime` cannot stay valid for `min_valid`
    /// until the next refresh.
    pub(super) fn log_too_short(&self, lifetime: Duration, min_valid: Duration, short: Duration) {
        self.log.warn(
            "credentials_shorter_than_min_valid",
            &[
                ("lasting", &format_duration_ms(lifetime)),
                ("min_valid", &format_duration_ms(min_valid)),
                ("failing_for", &format_duration_ms(short)),
                (
                    "effect",
                    &"/readyz and --check probes with this --min-valid fail for this long before each refresh; lower --min-valid, or have the source issue longer-lived credentials (--duration, for STS)",
                ),
            ],
        );
    }

    pub(super) fn log_failure(&self, err: &Error, attempt: u32, retry_in: Duration) {
        self.log.warn(
            "refresh_failed",
            &[
                ("attempt", &attempt),
                ("retry_in", &format_duration_ms(retry_in)),
                // The metrics' label, for alerts on the log alone.
                ("reason", &err.reason()),
                ("error", err),
            ],
        );
    }
}
