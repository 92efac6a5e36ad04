"""--metrics end to end: the Prometheus listener scraped during a daemon run against moto's
STS, and during a forced failure (a fake STS that starts denying), each scrape parsed by the
official Python client's parser (prometheus_client.parser), as a Prometheus server would.

What is shown: the expiry gauge equals the expiry the file records (its `# aws-credfile:
expires ...` line) before and after a refresh; the failure counter moves under the reason
`denied` and no other; /readyz turns 503 once the credentials have less than --min-valid left
and back to 200 after STS lets a refresh through; no answer of the listener ever holds a
credential.

The listener binds 127.0.0.1:0 and the test reads the port from the `metrics_listening
addr=...` line of the log, so no port is raced for.
"""

from __future__ import annotations

import math
import re
import signal
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from harness import (
    ACCOUNT_ID,
    REGION,
    Daemon,
    base_env,
    boto3_profile_credentials,
    eventually,
    ini_profile,
    irsa_env,
    run_credfile,
)

EXPOSITION = "text/plain; version=0.0.4; charset=utf-8"
REASONS = (
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
)
EXPECTED_TYPES = {
    "aws_credfile_build_info": "gauge",
    "aws_credfile_credentials_expiry_timestamp_seconds": "gauge",
    "aws_credfile_last_refresh_success_timestamp_seconds": "gauge",
    "aws_credfile_next_refresh_timestamp_seconds": "gauge",
    # The client's parser names a counter family without its _total suffix.
    "aws_credfile_refreshes": "counter",
    "aws_credfile_refresh_failures": "counter",
}


def metrics_url(daemon: Daemon) -> str:
    """The listener's base URL, from the log line that announces it."""

    def announced():
        assert daemon.alive(), daemon.output()
        m = re.search(r"metrics_listening addr=(127\.0\.0\.1:\d+)\n", daemon.output())
        return m and f"http://{m.group(1)}"

    return eventually("the metrics_listening line", announced)


def get(url: str) -> tuple[int, str, str]:
    """(status, content type, body); error statuses are answers too."""
    assert url.startswith("http://127.0.0.1:"), url
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


class Scrape:
    """One /metrics answer, parsed by prometheus_client: every sample by (name, labels)."""

    def __init__(self, url: str):
        status, content_type, self.text = get(f"{url}/metrics")
        assert status == 200, self.text
        assert content_type == EXPOSITION, content_type
        self.types: dict[str, str] = {}
        self.samples: dict[tuple[str, tuple], float] = {}
        for family in text_string_to_metric_families(self.text):
            self.types[family.name] = family.type
            for s in family.samples:
                key = (s.name, tuple(sorted(s.labels.items())))
                assert key not in self.samples, f"{key} twice:\n{self.text}"
                self.samples[key] = s.value

    def value(self, name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        assert key in self.samples, f"no {key} in:\n{self.text}"
        return self.samples[key]

    @property
    def expiry(self) -> float:
        return self.value("aws_credfile_credentials_expiry_timestamp_seconds")

    @property
    def last_success(self) -> float:
        return self.value("aws_credfile_last_refresh_success_timestamp_seconds")

    @property
    def next_refresh(self) -> float:
        return self.value("aws_credfile_next_refresh_timestamp_seconds")

    @property
    def refreshes(self) -> float:
        return self.value("aws_credfile_refreshes_total")

    def failures(self, reason: str) -> float:
        return self.value("aws_credfile_refresh_failures_total", reason=reason)

    def all_failures(self) -> float:
        return sum(self.failures(r) for r in REASONS)


def scrape_until(url: str, what: str, cond, timeout: float = 60) -> Scrape:
    def probe():
        s = Scrape(url)
        return cond(s) and s

    return eventually(what, probe, timeout)


def recorded_expiry(path: Path) -> float:
    """The expiry the file records for [default], as Unix time."""
    m = re.search(r"^# aws-credfile: expires (\S+?),", path.read_text(), re.MULTILINE)
    assert m, path.read_text()
    return datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


def assert_types_and_fixed_labels(s: Scrape, version: str) -> None:
    for name, kind in EXPECTED_TYPES.items():
        assert s.types.get(name) == kind, (name, s.types)
    assert s.value("aws_credfile_build_info", version=version) == 1
    for reason in REASONS:
        s.failures(reason)  # every reason is exposed, 0 or not
    assert "aws_credfile_endpoint_requests" not in s.types, "no endpoint counter without --serve"


def assert_no_credentials(url: str, secrets: list[str]) -> None:
    for path in ("/metrics", "/healthz", "/readyz", "/v1/credentials", "/"):
        _, _, body = get(url + path)
        for secret in secrets:
            assert secret not in body, f"{path} shows a credential"


def binary_version(env: dict[str, str]) -> str:
    result = run_credfile(["--version"], env)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()[-1]


def test_scrape_during_a_daemon_run_against_moto(moto_server, tmp_path, home, token_file, credfile_daemon):
    moto = moto_server(auth=False)
    role_arn = moto.create_role("app")
    path = tmp_path / "creds" / "credentials"
    env = irsa_env(home, moto, role_arn, token_file, AWS_SHARED_CREDENTIALS_FILE=str(path))
    started = math.floor(time.time())

    daemon = credfile_daemon(["--duration", "15m", "--metrics", "127.0.0.1:0"], env)
    url = metrics_url(daemon)
    first = eventually("the daemon to write the file", lambda: ini_profile(path, "default"))
    s = Scrape(url)
    assert_types_and_fixed_labels(s, binary_version(env))

    # The gauge is the expiry the file records, which is the one moto issued (15 minutes).
    expiry = s.expiry
    assert expiry == recorded_expiry(path)
    assert started + 14 * 60 <= expiry <= time.time() + 15 * 60 + 1, expiry
    assert started <= s.last_success <= time.time()
    assert s.last_success < s.next_refresh < expiry
    assert s.refreshes == 1 and s.all_failures() == 0, s.text
    assert boto3_profile_credentials(path, "default") == first == moto.issued_credentials()[-1]
    assert get(f"{url}/readyz")[::2] == (200, "ready\n")
    assert get(f"{url}/healthz")[::2] == (200, "ok\n")

    daemon.signal(signal.SIGHUP)
    second = eventually(
        "a new access key after SIGHUP",
        lambda: (c := ini_profile(path, "default")) and c.access_key != first.access_key and c,
    )
    s = scrape_until(url, "the refresh counted", lambda s: s.refreshes == 2)
    assert s.expiry == recorded_expiry(path) >= expiry
    assert s.all_failures() == 0
    assert second == moto.issued_credentials()[-1]

    token = token_file.read_text().strip()
    assert_no_credentials(url, [first.secret_key, first.token, second.secret_key, second.token, token])
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0, daemon.output()
    for secret in (first.secret_key, first.token, second.secret_key, second.token, token):
        assert secret not in daemon.output()


def test_forced_failure_moves_denied_and_readyz_follows_the_expiry(fake_sts, tmp_path, home, token_file, credfile_daemon):
    """Credentials living 60 s against --min-valid 40s: ready for their first 20 s. Then STS
    denies: /readyz turns 503 when 40 s are left, the refreshes due at half-life fail as
    `denied`, the file and the expiry gauge keep the last good credentials; once STS issues
    again, a SIGHUP refreshes and /readyz is 200."""
    sts = fake_sts(lifetime=60)
    path = tmp_path / "creds" / "credentials"
    env = base_env(home)
    env.update(
        {
            "AWS_ROLE_ARN": f"arn:aws:iam::{ACCOUNT_ID}:role/app",
            "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL_STS": sts.url,
            "AWS_SHARED_CREDENTIALS_FILE": str(path),
        }
    )
    daemon = credfile_daemon(["--metrics", "127.0.0.1:0", "--min-valid", "40s"], env)
    url = metrics_url(daemon)
    first = eventually("the daemon to write the file", lambda: ini_profile(path, "default"))
    sts.failure = (403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
    asked = time.time()
    status, _, body = get(f"{url}/readyz")
    s = Scrape(url)
    expiry = s.expiry
    assert expiry == recorded_expiry(path) == sts.expirations[0].timestamp()
    assert asked < expiry - 40, "too late to see the credentials ready (a very loaded machine?)"
    assert status == 200, body

    def not_ready():
        status, _, body = get(f"{url}/readyz")
        return status == 503 and body

    body = eventually("/readyz to answer 503", not_ready)
    assert time.time() >= expiry - 41, "503 while the credentials still had --min-valid left"
    assert body.startswith("not ready: the credentials expire at") and "--min-valid 40s" in body, body
    assert body.count("\n") == 1, body

    s = scrape_until(url, "two denied refreshes", lambda s: s.failures("denied") >= 2)
    for reason in REASONS:
        if reason != "denied":
            assert s.failures(reason) == 0, (reason, s.text)
    assert s.refreshes == 1 + s.all_failures(), s.text
    # A failure keeps the last good credentials, in the file and in the gauges.
    assert s.expiry == expiry == recorded_expiry(path)
    assert ini_profile(path, "default") == first
    assert sts.refused >= 2

    sts.failure = None
    daemon.signal(signal.SIGHUP)
    eventually("/readyz to answer 200 again", lambda: get(f"{url}/readyz")[0] == 200)
    # A SIGHUP that lands while a retry is in flight asks for one more refresh after it, so
    # wait for the gauge and the file to agree rather than count successes exactly.
    s = scrape_until(url, "the expiry gauge to equal the file's", lambda s: s.expiry == recorded_expiry(path))
    assert s.expiry > expiry
    assert s.expiry in [e.timestamp() for e in sts.expirations[1:]]
    assert s.last_success > expiry - 60
    assert s.failures("denied") >= 2 and s.refreshes >= s.all_failures() + 2, s.text
    assert ini_profile(path, "default") in sts.snapshot()[1:]

    assert_no_credentials(url, [c.secret_key for c in sts.snapshot()] + [c.token for c in sts.snapshot()])
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0, daemon.output()
    assert "refresh_failed" in daemon.output()
