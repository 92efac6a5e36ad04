//! `--metrics ADDR:PORT`: Prometheus metrics and HTTP probes on a listener
//! of their own, served from the same wait as everything else (see
//! `serve`), so a fleet can be paged before credentials expire rather than
//! after the app fails. It never serves credentials, so it may listen on the
//! pod's address for scraping while the credentials stay on loopback.
//!
//! - `GET /metrics`: the text exposition format 0.0.4;
//! - `GET /healthz`: 200 while the loop answers;
//! - `GET /readyz`: 200 iff the current credentials are valid for at least
//!   `--min-valid` (the rule of `--check`), else 503 with the reason.
//!
//! What is counted lives in [`Status`], shared (one thread, so `Rc`) between
//! the refresh loop, the credentials endpoint and this listener.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use crate::error::Error;
use crate::log::Logger;
use crate::serve::http1::{Answer, Request};
use crate::serve::{Handler, Server};
use crate::time::{format_duration, Timestamp};

/// `--metrics`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub addr: SocketAddr,
}

/// Every `reason` label of the failure counter: a small fixed set (see
/// `Error::reason`), each always present so that `rate()` sees a zero.
pub const REASONS: [&str; 10] = [
    "throttled",
    "denied",
    "server_error",
    "timeout",
    "network",
    "bad_response",
    "expired_on_arrival",
    "file",
    "config",
    "other",
];

/// The content type of the 0.0.4 text format.
const EXPOSITION: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the metrics report, kept up to date by the refresh loop and the
/// credentials endpoint.
#[derive(Debug, Default)]
pub struct Status {
    /// When the current credentials expire: those of the file found at
    /// start if it was fit, then the last written; `None` till either.
    pub expiry: Option<Timestamp>,
    pub last_success: Option<Timestamp>,
    pub next_refresh: Option<Timestamp>,
    /// Refresh attempts, failed or not.
    pub refreshes: u64,
    /// Failures by reason, in [`REASONS`] order.
    pub failures: [u64; REASONS.len()],
    /// Answers of the credentials endpoint by status code; `None` without
    /// `--serve`.
    pub endpoint: Option<BTreeMap<u16, u64>>,
    /// `--min-valid`, for `/readyz`.
    pub min_valid: Duration,
    /// The reason the last refresh failed for, if it did (for `/readyz`).
    pub failing: Option<&'static str>,
    /// Why the file is not fit for the app, as the last refresh found it by
    /// the rule of `--check` (a directory or a link put at the path, the
    /// file deleted or rewritten, a line of another profile's an SDK fails
    /// the whole file at): `/readyz` says so whatever was written.
    pub file_unfit: Option<String>,
}

/// The status, shared by the parts of the one thread.
pub type Shared = Rc<RefCell<Status>>;

impl Status {
    /// Counts a refresh that failed with `err`.
    pub fn failed(&mut self, err: &Error) {
        self.refreshes += 1;
        let reason = err.reason();
        let i = REASONS
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(REASONS.len() - 1);
        self.failures[i] += 1;
        self.failing = Some(REASONS[i]);
    }

    /// Counts a refresh that brought credentials expiring at `expiry`.
    pub fn succeeded(&mut self, expiry: Timestamp, now: Timestamp) {
        self.refreshes += 1;
        self.expiry = Some(expiry);
        self.last_success = Some(now);
        self.failing = None;
    }

    /// Counts an answer of the credentials endpoint.
    pub fn answered(&mut self, status: u16) {
        if let Some(counts) = &mut self.endpoint {
            *counts.entry(status).or_default() += 1;
        }
    }

    /// `/readyz`'s verdict at `now`: `Ok` iff the credentials stay valid for
    /// `min_valid`, else the reason in one line.
    pub fn ready(&self, now: Timestamp) -> Result<(), String> {
        let Some(expiry) = self.expiry else {
            // The file is what this is about: said so with the reason
            // (the metrics' label, `file` when only the write failed).
            return Err(match self.failing {
                Some(reason) => format!(
                    "no credentials written yet: every refresh so far has failed, the last for reason {reason} (see the log)"
                ),
                None => "no credentials obtained yet".into(),
            });
        };
        if let Some(why) = &self.file_unfit {
            return Err(why.clone());
        }
        if expiry >= now.plus(self.min_valid) {
            return Ok(());
        }
        let when = if expiry <= now {
            format!("expired at {expiry}")
        } else {
            format!(
                "expire at {expiry}, in {}",
                format_duration(now.until(expiry))
            )
        };
        // Only said when it is so: credentials issued for less than
        // --min-valid are not ready either, with nothing failing.
        let why = if self.failing.is_some() {
            "; refreshing is failing (see the log)"
        } else {
            ""
        };
        Err(format!(
            "the credentials {when}, less than --min-valid {}{why}",
            format_duration(self.min_valid)
        ))
    }
}

/// The listener's handler.
pub struct Metrics {
    pub status: Shared,
}

impl Handler for Metrics {
    fn answer(&self, req: &Request, now: Timestamp) -> Answer {
        let text = |status: u16, body: String| Answer {
            status,
            content_type: "text/plain; charset=utf-8",
            body,
        };
        if req.method != "GET" {
            return Answer::json_error(405, "MethodNotAllowed", "only GET is served");
        }
        let status = self.status.borrow();
        match req.path.as_str() {
            "/metrics" => Answer {
                status: 200,
                content_type: EXPOSITION,
                body: exposition(&status),
            },
            "/healthz" => text(200, "ok\n".into()),
            "/readyz" => match status.ready(now) {
                Ok(()) => text(200, "ready\n".into()),
                Err(why) => text(503, format!("not ready: {why}\n")),
            },
            _ => Answer::json_error(404, "NotFound", "served: /metrics, /healthz, /readyz"),
        }
    }
}

/// Binds `--metrics` (any address: it holds no secret) and says where.
pub fn start(cfg: &Settings, status: Shared, log: Logger) -> Result<Server<Metrics>, Error> {
    let server = Server::bind(cfg.addr, "--metrics", "metrics", Metrics { status }, log)?;
    let addr = server.local_addr().unwrap_or(cfg.addr);
    log.info("metrics_listening", &[("addr", &addr)]);
    Ok(server)
}

/// The metrics in the text exposition format 0.0.4.
pub fn exposition(s: &Status) -> String {
    let mut out = String::with_capacity(2048);
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let seconds = |t: Option<Timestamp>| {
        t.map(|t| t.unix().to_string())
            .unwrap_or_else(|| "NaN".into())
    };
    metric(
        "aws_credfile_build_info",
        "gauge",
        "Always 1; the version is in the label.",
        &[(
            format!("{{version=\"{}\"}}", env!("CARGO_PKG_VERSION")),
            "1".into(),
        )],
    );
    metric(
        "aws_credfile_credentials_expiry_timestamp_seconds",
        "gauge",
        "When the current credentials expire (Unix time); NaN until the first success.",
        &[(String::new(), seconds(s.expiry))],
    );
    metric(
        "aws_credfile_last_refresh_success_timestamp_seconds",
        "gauge",
        "When credentials were last obtained (Unix time); NaN until the first success.",
        &[(String::new(), seconds(s.last_success))],
    );
    metric(
        "aws_credfile_next_refresh_timestamp_seconds",
        "gauge",
        "When the next refresh or retry is planned (Unix time).",
        &[(String::new(), seconds(s.next_refresh))],
    );
    metric(
        "aws_credfile_refreshes_total",
        "counter",
        "Refresh attempts, failed or not.",
        &[(String::new(), s.refreshes.to_string())],
    );
    let failures: Vec<(String, String)> = REASONS
        .iter()
        .zip(s.failures)
        .map(|(reason, n)| (format!("{{reason=\"{reason}\"}}"), n.to_string()))
        .collect();
    metric(
        "aws_credfile_refresh_failures_total",
        "counter",
        "Refresh attempts that failed, by reason.",
        &failures,
    );
    if let Some(counts) = &s.endpoint {
        // 200 always, so a rate can be taken before the first request.
        let mut counts = counts.clone();
        counts.entry(200).or_default();
        let samples: Vec<(String, String)> = counts
            .iter()
            .map(|(code, n)| (format!("{{code=\"{code}\"}}"), n.to_string()))
            .collect();
        metric(
            "aws_credfile_endpoint_requests_total",
            "counter",
            "Requests the credentials endpoint (--serve) answered, by status code.",
            &samples,
        );
    }
    out
}

#[cfg(test)]
mod tests;
