"""Monitoring as shipped: `--metrics` of the released static binary judged by
`promtool check metrics` (Debian's prometheus package), and the manifests in
deploy/monitoring/: the PrometheusRule's groups pass `promtool check rules`
and fire (and stay quiet) as they should in the scenarios of
prometheus-rule-tests.yaml (`promtool test rules`), every metric they name
is one the binary exposes, and the PrometheusRule and PodMonitor, whose
kinds the Kubernetes schemas do not know, have the structure the Prometheus
Operator's CRDs define and point at what the workloads expose. The httpGet
probe alternative is run as written in test_packaging_manifests.py."""

import pathlib
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from packaging_support import (
    ROOT,
    SECRET_ACCESS_KEY,
    SESSION_TOKEN,
    STATIC_BIN,
    TOKEN,
    FakeServer,
    irsa_env,
    missing,
    require_file,
    require_module,
)

yaml = require_module("yaml")

DEPLOY = ROOT / "deploy"
MONITORING = DEPLOY / "monitoring"
RULE = MONITORING / "prometheus-rule.yaml"
POD_MONITOR = MONITORING / "podmonitor.yaml"
RULE_TESTS = pathlib.Path(__file__).with_name("prometheus-rule-tests.yaml")
# The workloads whose sidecar the PodMonitor scrapes.
HARBOR_MANIFESTS = [
    DEPLOY / "irsa/harbor-registry.yaml",
    DEPLOY / "pod-identity/harbor-registry.yaml",
    MONITORING / "harbor-registry-http-probes.yaml",
]
SIDECAR = "aws-credfile"
OPERATOR_API = "monitoring.coreos.com/v1"

# The fields the Prometheus Operator's CRDs (monitoring.coreos.com/v1) define
# at each level used here; anything else would be refused by the API server
# (structural schemas prune or reject unknown fields).
RULE_GROUP_FIELDS = {
    "name", "interval", "rules", "limit", "partial_response_strategy",
    "query_offset", "labels",
}
RULE_FIELDS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
POD_MONITOR_SPEC_FIELDS = {
    "selector", "namespaceSelector", "podMetricsEndpoints", "jobLabel",
    "podTargetLabels", "sampleLimit", "targetLimit", "labelLimit",
    "labelNameLengthLimit", "labelValueLengthLimit", "attachMetadata",
    "scrapeProtocols", "fallbackScrapeProtocol", "keepDroppedTargets",
    "scrapeClass", "bodySizeLimit",
}
POD_METRICS_ENDPOINT_FIELDS = {
    "port", "portNumber", "targetPort", "path", "scheme", "params",
    "interval", "scrapeTimeout", "honorLabels", "honorTimestamps",
    "trackTimestampsStaleness", "relabelings", "metricRelabelings",
    "followRedirects", "enableHttp2", "filterRunning", "proxyUrl",
    "basicAuth", "bearerTokenSecret", "authorization", "oauth2", "tlsConfig",
}
DURATION = re.compile(r"^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$")


@pytest.fixture(scope="session")
def promtool():
    path = shutil.which("promtool")
    if path is None:
        missing("promtool (Debian's prometheus package)", "make test-packaging")
    return path


def documents(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def rule_groups():
    [rule] = documents(RULE)
    return rule["spec"]["groups"]


def write_rules(directory):
    """The PrometheusRule's groups as a Prometheus rules file, which is what
    the operator hands Prometheus."""
    path = directory / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule_groups()}, sort_keys=False))
    return path


def promtool_run(promtool, *args, stdin=None, cwd=None):
    return subprocess.run(
        [promtool, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


# -- The binary's exposition --------------------------------------------------


def denying_sts(request):
    return (
        403,
        "text/xml",
        "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
        "<Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message></Error>"
        "<RequestId>fake</RequestId></ErrorResponse>",
    )


def get(url):
    """(status, content type, body) of a GET, error statuses included."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


class MetricsDaemon:
    """The static binary as a daemon with --metrics on a port of its own
    choosing (127.0.0.1:0), read back from its metrics_listening line."""

    def __init__(self, env, args, log):
        self.log = log
        with open(log, "wb") as f:
            self.proc = subprocess.Popen(
                [str(STATIC_BIN), "--metrics", "127.0.0.1:0", *args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=f,
                stderr=subprocess.STDOUT,
            )
        self.url = f"http://{self._listening()}"

    def _listening(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.proc.poll() is None:
            m = re.search(r"metrics_listening addr=(\S+)\n", self.log.read_text())
            if m:
                return m.group(1)
            time.sleep(0.05)
        raise AssertionError(f"no metrics_listening line:\n{self.log.read_text()}")

    def scrape(self):
        status, content_type, body = get(f"{self.url}/metrics")
        assert status == 200, body
        assert content_type == "text/plain; version=0.0.4; charset=utf-8"
        return body

    def wait_until(self, what, cond, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            body = self.scrape()
            if cond(body):
                return body
            assert time.monotonic() < deadline, f"never {what}:\n{body}\n{self.log.read_text()}"
            time.sleep(0.1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        assert self.proc.returncode == 0, self.log.read_text()
        return self.log.read_text()


def check_metrics(promtool, body):
    """promtool's linter: names, types, units, help; no problem at all."""
    proc = promtool_run(promtool, "check", "metrics", stdin=body)
    assert proc.returncode == 0 and not proc.stdout.strip() and not proc.stderr.strip(), (
        f"promtool check metrics: exit {proc.returncode}\n{proc.stdout}{proc.stderr}\n{body}"
    )


@pytest.fixture
def static_bin():
    return require_file(STATIC_BIN, "make static")


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN)
    return path


def test_promtool_accepts_a_scrape_of_the_static_binary(
    static_bin, fake_sts, token_file, tmp_path, promtool
):
    cred_file = tmp_path / "aws/credentials"
    daemon = MetricsDaemon(
        irsa_env(fake_sts.url, token_file),
        ["--file", str(cred_file), "--serve", "127.0.0.1:0"],
        tmp_path / "daemon.log",
    )
    try:
        body = daemon.wait_until(
            "a success", lambda b: "aws_credfile_refreshes_total 1\n" in b
        )
        assert cred_file.is_file()
        check_metrics(promtool, body)
        for path in ("/metrics", "/healthz", "/readyz", "/v1/credentials"):
            _, _, answer = get(daemon.url + path)
            assert SECRET_ACCESS_KEY not in answer and SESSION_TOKEN not in answer
        assert get(daemon.url + "/readyz")[0] == 200
    finally:
        log = daemon.stop()
    assert SECRET_ACCESS_KEY not in log and SESSION_TOKEN not in log


def test_promtool_accepts_a_scrape_before_any_success(
    static_bin, token_file, tmp_path, promtool
):
    """NaN gauges and a moving failure counter are valid exposition too."""
    sts = FakeServer(denying_sts)
    daemon = MetricsDaemon(
        irsa_env(sts.url, token_file),
        ["--file", str(tmp_path / "credentials")],
        tmp_path / "daemon.log",
    )
    try:
        body = daemon.wait_until(
            "a denied refresh",
            lambda b: 'aws_credfile_refresh_failures_total{reason="denied"} 0\n' not in b,
        )
        assert "aws_credfile_credentials_expiry_timestamp_seconds NaN\n" in body
        check_metrics(promtool, body)
        assert get(daemon.url + "/readyz")[0] == 503
    finally:
        daemon.stop()
        sts.close()


def test_every_metric_the_rules_use_is_exposed(static_bin, fake_sts, token_file, tmp_path):
    daemon = MetricsDaemon(
        irsa_env(fake_sts.url, token_file),
        ["--file", str(tmp_path / "credentials")],
        tmp_path / "daemon.log",
    )
    try:
        body = daemon.wait_until("a success", lambda b: "aws_credfile_refreshes_total 1\n" in b)
    finally:
        daemon.stop()
    exposed = set(re.findall(r"^# TYPE (\S+) ", body, re.MULTILINE))
    used = set()
    for group in rule_groups():
        for rule in group["rules"]:
            used |= set(re.findall(r"\baws_credfile_[a-z_]+", rule["expr"]))
    assert used, "the rules use no aws-credfile metric"
    assert used <= exposed, f"not exposed: {sorted(used - exposed)}"


# -- The PrometheusRule -------------------------------------------------------


def test_prometheus_rule_has_the_operators_structure():
    [rule] = documents(RULE)
    assert rule["apiVersion"] == OPERATOR_API
    assert rule["kind"] == "PrometheusRule"
    assert set(rule) == {"apiVersion", "kind", "metadata", "spec"}
    assert rule["metadata"]["name"] and rule["metadata"]["namespace"]
    assert set(rule["spec"]) == {"groups"}
    alerts = []
    for group in rule["spec"]["groups"]:
        assert set(group) <= RULE_GROUP_FIELDS, set(group) - RULE_GROUP_FIELDS
        assert group["name"] and group["rules"]
        for r in group["rules"]:
            assert set(r) <= RULE_FIELDS, set(r) - RULE_FIELDS
            assert isinstance(r["expr"], str) and r["expr"].strip()
            assert "alert" in r and "record" not in r, r
            assert DURATION.match(r["for"]) and r["for"] != "", r["for"]
            assert r["labels"]["severity"] in ("warning", "critical")
            assert {"summary", "description"} <= set(r["annotations"])
            assert all(isinstance(v, str) for v in r["labels"].values())
            assert all(isinstance(v, str) for v in r["annotations"].values())
            alerts.append(r["alert"])
    assert len(alerts) == len(set(alerts)), alerts
    # The two conditions worth paging about: expiry near, refreshes failing.
    assert set(alerts) == {"AwsCredfileCredentialsExpiringSoon", "AwsCredfileRefreshFailing"}


def test_prometheus_rule_passes_promtool_check_rules(tmp_path, promtool):
    rules = write_rules(tmp_path)
    proc = promtool_run(promtool, "check", "rules", str(rules))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 2 rules found" in proc.stdout, proc.stdout


def test_prometheus_rule_fires_as_the_scenarios_say(tmp_path, promtool):
    write_rules(tmp_path)
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    proc = promtool_run(promtool, "test", "rules", RULE_TESTS.name, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout, proc.stdout


# -- The PodMonitor and the workloads it scrapes -------------------------------


def harbor_deployment(path):
    [deployment] = [d for d in documents(path) if d["kind"] == "Deployment"]
    return deployment


def sidecar_of(deployment):
    spec = deployment["spec"]["template"]["spec"]
    [sidecar] = [c for c in spec["initContainers"] if c["name"] == SIDECAR]
    return sidecar


@pytest.mark.parametrize("path", HARBOR_MANIFESTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_sidecar_exposes_its_metrics_port(path):
    sidecar = sidecar_of(harbor_deployment(path))
    args = sidecar["args"]
    addr = args[args.index("--metrics") + 1]
    host, _, port = addr.rpartition(":")
    # The pod's address, where Prometheus and the kubelet reach it.
    assert host in ("0.0.0.0", "[::]"), addr
    [named] = [p for p in sidecar["ports"] if p["name"] == "metrics"]
    assert named["containerPort"] == int(port)
    assert named.get("protocol", "TCP") == "TCP"


def test_pod_monitor_has_the_operators_structure_and_finds_the_sidecars():
    [monitor] = documents(POD_MONITOR)
    assert monitor["apiVersion"] == OPERATOR_API
    assert monitor["kind"] == "PodMonitor"
    assert set(monitor) == {"apiVersion", "kind", "metadata", "spec"}
    spec = monitor["spec"]
    assert set(spec) <= POD_MONITOR_SPEC_FIELDS, set(spec) - POD_MONITOR_SPEC_FIELDS
    selector = spec["selector"]["matchLabels"]
    [endpoint] = spec["podMetricsEndpoints"]
    assert set(endpoint) <= POD_METRICS_ENDPOINT_FIELDS, set(endpoint) - POD_METRICS_ENDPOINT_FIELDS
    assert endpoint["path"] == "/metrics"
    assert DURATION.match(endpoint["interval"]) and DURATION.match(endpoint["scrapeTimeout"])
    for path in HARBOR_MANIFESTS:
        deployment = harbor_deployment(path)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), (path, selector, labels)
        # Without a namespaceSelector a PodMonitor looks in its own namespace.
        assert monitor["metadata"]["namespace"] == deployment["metadata"]["namespace"]
        ports = {p["name"] for p in sidecar_of(deployment)["ports"]}
        assert endpoint["port"] in ports, (path, ports)


def test_prometheus_rule_lives_beside_what_it_watches():
    [rule] = documents(RULE)
    [monitor] = documents(POD_MONITOR)
    assert rule["metadata"]["namespace"] == monitor["metadata"]["namespace"]
    # Both carry the label a kube-prometheus-stack Prometheus selects by.
    assert rule["metadata"]["labels"]["release"] == monitor["metadata"]["labels"]["release"]
