"""The Kubernetes manifests in deploy/ and the IAM policies in docs/iam/:
valid against the Kubernetes schemas, shaped as the issue asks (native
sidecar, probes, non-root, read-only root, no capabilities, shared
directory), and run: each aws-credfile container is executed as its manifest
says (image entrypoint + args, as the manifest's uid) in the unpacked image
with chroot, against a fake STS or a fake Pod Identity agent, and its probes
are executed too, exec probes as the kubelet runs them in the container and
httpGet probes as the kubelet sends them; its --metrics listener is scraped
and the scrape judged by `promtool check metrics`. The Prometheus Operator's
kinds (deploy/monitoring/) are not in the Kubernetes schemas:
test_packaging_monitoring.py checks them."""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from packaging_support import (
    IRSA_TOKEN_PATH,
    POD_IDENTITY_TOKEN_PATH,
    ROOT,
    assert_credentials_file,
    cargo_version,
    chroot_cmd,
    explain,
    irsa_env,
    make_dir,
    missing,
    pod_identity_env,
    put_token,
    run,
    require_module,
)

kubernetes_validate = require_module("kubernetes_validate")
yaml = require_module("yaml")

DEPLOY = ROOT / "deploy"
MANIFESTS = sorted(DEPLOY.rglob("*.yaml"))
# Native sidecars (initContainers with restartPolicy: Always) are on by
# default from 1.29; check the oldest such version and the newest schemas.
KUBERNETES_VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]
SIDECAR = "aws-credfile"
HARBOR_UID = 10000
CHECK_COMMAND_HEAD = ["/aws-credfile", "--check", "--file"]
# Custom resources of the Prometheus Operator; no Kubernetes schema has them.
OPERATOR_API = "monitoring.coreos.com/v1"


def documents(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def pod_spec(doc):
    if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return doc["spec"]["template"]["spec"]
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if doc["kind"] == "Pod":
        return doc["spec"]
    return None


def workloads():
    for path in MANIFESTS:
        for doc in documents(path):
            spec = pod_spec(doc)
            if spec is not None:
                yield path, doc, spec


def aws_credfile_container(spec):
    [container] = [c for c in spec.get("initContainers", []) if c["name"] == SIDECAR]
    return container


def manifest_id(path):
    return str(path.relative_to(ROOT))


def test_there_are_manifests():
    names = {manifest_id(p) for p in MANIFESTS}
    assert "deploy/irsa/harbor-registry.yaml" in names
    assert "deploy/pod-identity/harbor-registry.yaml" in names
    assert "deploy/batch-job-once.yaml" in names
    assert "deploy/monitoring/harbor-registry-http-probes.yaml" in names
    assert "deploy/monitoring/podmonitor.yaml" in names
    assert "deploy/monitoring/prometheus-rule.yaml" in names


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=manifest_id)
def test_manifest_is_valid_against_the_kubernetes_schemas(path, version):
    """Strict: an unknown or misspelt field fails too. The Prometheus
    Operator's kinds are left to test_packaging_monitoring.py."""
    for doc in documents(path):
        if doc["apiVersion"] == OPERATOR_API:
            assert doc["kind"] in ("PodMonitor", "PrometheusRule"), doc["kind"]
            continue
        kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize(
    "path",
    [p for p in MANIFESTS if "harbor" in p.name],
    ids=manifest_id,
)
def test_harbor_sidecar_shape(path):
    [(_, _, spec)] = [w for w in workloads() if w[0] == path]
    sidecar = aws_credfile_container(spec)
    [registry] = [c for c in spec["containers"] if c["name"] == "registry"]

    # A native sidecar: keeps running beside the registry, started first.
    assert sidecar["restartPolicy"] == "Always"
    assert "command" not in sidecar, "use the image's entrypoint"
    args = sidecar["args"]
    cred_file = args[args.index("--file") + 1]
    assert cred_file == "/home/harbor/.aws/credentials"
    assert "--once" not in args

    if "exec" in sidecar["startupProbe"]:
        # Probes run the binary's own --check on the same file (no shell).
        for probe in ("startupProbe", "livenessProbe"):
            command = sidecar[probe]["exec"]["command"]
            assert command == CHECK_COMMAND_HEAD + [cred_file], command
    else:
        # The alternative: the kubelet asks the --metrics listener, the
        # --check rule as /readyz for startup and readiness, /healthz (the
        # loop answers) for liveness.
        for probe, path in (
            ("startupProbe", "/readyz"),
            ("readinessProbe", "/readyz"),
            ("livenessProbe", "/healthz"),
        ):
            assert sidecar[probe]["httpGet"] == {"path": path, "port": "metrics"}, probe
            assert "exec" not in sidecar[probe]
    # The first STS call gets time, with its retries, before the kubelet
    # gives up: at least a minute.
    startup = sidecar["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60
    # --check needs --min-valid (5m) left; the daemon refreshes no later than
    # 10 minutes before expiry. The liveness probe may restart the sidecar
    # only after several minutes of failed refreshes, not on one blip.
    live = sidecar["livenessProbe"]
    assert live["periodSeconds"] * live["failureThreshold"] >= 120

    # Least privilege, as the registry's own user.
    ctx = sidecar["securityContext"]
    assert ctx["runAsNonRoot"] is True
    assert ctx["runAsUser"] == HARBOR_UID and ctx["runAsGroup"] == HARBOR_UID
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"]["drop"] == ["ALL"]
    assert sidecar["resources"]["requests"] == {"cpu": "5m", "memory": "8Mi"}

    # One shared directory, never the file through subPath.
    [mount] = sidecar["volumeMounts"]
    assert mount["mountPath"] == os.path.dirname(cred_file)
    assert "subPath" not in mount
    [app_mount] = [m for m in registry["volumeMounts"] if m["name"] == mount["name"]]
    assert app_mount["mountPath"] == "/home/harbor/.aws"
    assert "subPath" not in app_mount and "subPathExpr" not in app_mount
    [volume] = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    assert "emptyDir" in volume

    # The registry needs no environment change to find the file.
    env_names = {e["name"] for e in registry.get("env", [])}
    assert not env_names & {"AWS_SHARED_CREDENTIALS_FILE", "HOME"}


def test_irsa_manifest_annotates_the_service_account():
    docs = documents(DEPLOY / "irsa/harbor-registry.yaml")
    [sa] = [d for d in docs if d["kind"] == "ServiceAccount"]
    [deployment] = [d for d in docs if d["kind"] == "Deployment"]
    role = sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert role.startswith("arn:aws:iam::") and ":role/" in role
    assert pod_spec(deployment)["serviceAccountName"] == sa["metadata"]["name"]


def test_pod_identity_manifest_needs_no_annotation():
    docs = documents(DEPLOY / "pod-identity/harbor-registry.yaml")
    [sa] = [d for d in docs if d["kind"] == "ServiceAccount"]
    assert "eks.amazonaws.com/role-arn" not in (sa["metadata"].get("annotations") or {})


def test_batch_job_uses_a_one_shot_init_container():
    [(_, job, spec)] = [w for w in workloads() if w[1]["kind"] == "Job"]
    init = aws_credfile_container(spec)
    assert "restartPolicy" not in init, "a one-shot init container, not a sidecar"
    assert "--once" in init["args"]
    assert init["securityContext"]["readOnlyRootFilesystem"] is True
    assert init["securityContext"]["capabilities"]["drop"] == ["ALL"]
    cred_file = init["args"][init["args"].index("--file") + 1]
    [app] = spec["containers"]
    app_dirs = {m["mountPath"] for m in app["volumeMounts"]}
    assert os.path.dirname(cred_file) in app_dirs
    home = {e["name"]: e.get("value") for e in app.get("env", [])}.get("HOME")
    assert cred_file == f"{home}/.aws/credentials"


def test_every_manifest_uses_the_released_image_version():
    for path, _doc, spec in workloads():
        image = aws_credfile_container(spec)["image"]
        assert image.endswith(f"/aws-credfile:{cargo_version()}"), (path, image)


# -- Running the manifests' containers ------------------------------------


def container_argv(container, oci_image):
    """What the container runtime executes: the image's entrypoint (unless
    the manifest sets command) followed by args."""
    command = container.get("command") or oci_image.config["config"]["Entrypoint"]
    return list(command) + list(container.get("args", []))


def user_of(container, spec):
    ctx = {**spec.get("securityContext", {}), **container.get("securityContext", {})}
    return ctx["runAsUser"], ctx["runAsGroup"]


def prepare_pod_rootfs(rootfs, container, spec, token_path):
    """The container's view: its volume mounts as directories owned by the
    pod's fsGroup (as the kubelet prepares an emptyDir), the projected token."""
    uid, gid = user_of(container, spec)
    fs_group = spec.get("securityContext", {}).get("fsGroup", gid)
    for mount in container.get("volumeMounts", []):
        make_dir(rootfs, mount["mountPath"], 0, fs_group, mode=0o2777)
    put_token(rootfs, token_path, uid, gid)
    return uid, gid


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def on_free_port(container):
    """The container with its --metrics moved to a free loopback port, and
    that port for the names its ports section gives it. A pod has a network
    namespace of its own, so the manifest's fixed port is always free there;
    this test shares the machine's with whatever else runs, so it takes a
    port that is free here instead."""
    args = list(container.get("args", []))
    if "--metrics" not in args:
        return container, {}
    port = free_port()
    declared = args[args.index("--metrics") + 1].rpartition(":")[2]
    args[args.index("--metrics") + 1] = f"127.0.0.1:{port}"
    names = {p["name"]: port for p in container.get("ports", []) if str(p["containerPort"]) == declared}
    return {**container, "args": args}, {**names, int(declared): port}


def http_probe_once(probe, ports):
    """What the kubelet's httpGet probe does: a GET of the path on the pod's
    address and the named (or numbered) port; success is 200-399."""
    get = probe["httpGet"]
    port = ports[get["port"]]
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{get['path']}", timeout=probe.get("timeoutSeconds", 1)) as r:
            return 200 <= r.status < 400, f"{r.status} {r.read().decode()}"
    except urllib.error.HTTPError as e:
        return False, f"{e.code} {e.read().decode()}"
    except OSError as e:
        return False, repr(e)


def wait_for_probe(rootfs, uid, gid, probe, env, deadline_s, ports=None):
    deadline = time.monotonic() + deadline_s
    while True:
        if "httpGet" in probe:
            ok, what = http_probe_once(probe, ports)
        else:
            proc = run(chroot_cmd(rootfs, uid, gid, probe["exec"]["command"]), env)
            ok, what = proc.returncode == 0, explain(proc)
        if ok:
            return
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def assert_scrape_passes_promtool(port):
    """The sidecar's own exposition, judged by Prometheus's linter."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        body = r.read().decode()
    assert "aws_credfile_credentials_expiry_timestamp_seconds NaN" not in body, body
    promtool = shutil.which("promtool")
    if promtool is None:
        missing("promtool (Debian's prometheus package)", "make test-packaging")
    proc = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and not (proc.stdout + proc.stderr).strip(), proc.stdout + proc.stderr + body


def run_sidecar_as_in_manifest(path, image_rootfs, oci_image, env, token_path, fake):
    [(_, _, spec)] = [w for w in workloads() if w[0] == path]
    sidecar, ports = on_free_port(aws_credfile_container(spec))
    uid, gid = prepare_pod_rootfs(image_rootfs, sidecar, spec, token_path)
    argv = container_argv(sidecar, oci_image)
    daemon = subprocess.Popen(
        chroot_cmd(image_rootfs, uid, gid, argv),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The kubelet runs exec probes in the container, as its user, with
        # the container's environment; httpGet probes from outside it.
        wait_for_probe(image_rootfs, uid, gid, sidecar["startupProbe"], env, 30, ports)
        for probe in ("readinessProbe", "livenessProbe"):
            if probe in sidecar:
                wait_for_probe(image_rootfs, uid, gid, sidecar[probe], env, 0, ports)
        if "metrics" in ports:
            assert_scrape_passes_promtool(ports["metrics"])
        assert daemon.poll() is None, daemon.communicate()
    finally:
        # What the kubelet sends when the pod stops.
        daemon.send_signal(signal.SIGTERM)
        _out, err = daemon.communicate(timeout=10)
    assert daemon.returncode == 0, err
    assert fake.requests, "the fake endpoint was never asked"
    cred_file = sidecar["args"][sidecar["args"].index("--file") + 1]
    written = image_rootfs / cred_file.lstrip("/")
    assert_credentials_file(written)
    assert (written.stat().st_uid, written.stat().st_gid) == (uid, gid)


def test_irsa_harbor_sidecar_runs_as_written(image_rootfs, oci_image, fake_sts):
    env = irsa_env(fake_sts.url, IRSA_TOKEN_PATH)
    run_sidecar_as_in_manifest(
        DEPLOY / "irsa/harbor-registry.yaml",
        image_rootfs, oci_image, env, IRSA_TOKEN_PATH, fake_sts,
    )


def test_http_probes_harbor_sidecar_runs_as_written(image_rootfs, oci_image, fake_sts):
    run_sidecar_as_in_manifest(
        DEPLOY / "monitoring/harbor-registry-http-probes.yaml",
        image_rootfs, oci_image, irsa_env(fake_sts.url, IRSA_TOKEN_PATH), IRSA_TOKEN_PATH, fake_sts,
    )


def test_pod_identity_harbor_sidecar_runs_as_written(
    image_rootfs, oci_image, fake_pod_identity_agent
):
    env = pod_identity_env(fake_pod_identity_agent.url, POD_IDENTITY_TOKEN_PATH)
    run_sidecar_as_in_manifest(
        DEPLOY / "pod-identity/harbor-registry.yaml",
        image_rootfs, oci_image, env, POD_IDENTITY_TOKEN_PATH, fake_pod_identity_agent,
    )
    [request] = fake_pod_identity_agent.requests[:1]
    assert request["headers"]["authorization"] != ""


def test_batch_job_init_container_runs_as_written(image_rootfs, oci_image, fake_sts):
    [(_, _, spec)] = [w for w in workloads() if w[1]["kind"] == "Job"]
    init = aws_credfile_container(spec)
    uid, gid = prepare_pod_rootfs(image_rootfs, init, spec, IRSA_TOKEN_PATH)
    env = irsa_env(fake_sts.url, IRSA_TOKEN_PATH)
    proc = run(chroot_cmd(image_rootfs, uid, gid, container_argv(init, oci_image)), env)
    assert proc.returncode == 0, explain(proc)
    cred_file = init["args"][init["args"].index("--file") + 1]
    assert_credentials_file(image_rootfs / cred_file.lstrip("/"))


# -- IAM policies ----------------------------------------------------------

IAM = ROOT / "docs/iam"


def statements(name):
    policy = json.loads((IAM / name).read_text())
    assert policy["Version"] == "2012-10-17"
    return policy["Statement"]


def actions(statement):
    a = statement["Action"]
    return {a} if isinstance(a, str) else set(a)


def test_no_policy_needs_the_role_to_trust_itself():
    """The blog sidecar's self-assume statement is not needed: no trust
    policy names an AWS principal."""
    for path in IAM.glob("*trust*.json"):
        for statement in statements(path.name):
            assert "AWS" not in statement["Principal"], path


def test_irsa_trust_policy_matches_the_manifest_service_account():
    [statement] = statements("irsa-trust-policy.json")
    assert statement["Effect"] == "Allow"
    assert actions(statement) == {"sts:AssumeRoleWithWebIdentity"}
    provider = statement["Principal"]["Federated"]
    assert ":oidc-provider/" in provider
    issuer = provider.split(":oidc-provider/", 1)[1]
    conditions = statement["Condition"]["StringEquals"]
    assert conditions[f"{issuer}:aud"] == "sts.amazonaws.com"
    [sa] = [
        d for d in documents(DEPLOY / "irsa/harbor-registry.yaml")
        if d["kind"] == "ServiceAccount"
    ]
    expected = (
        f"system:serviceaccount:{sa['metadata']['namespace']}:{sa['metadata']['name']}"
    )
    assert conditions[f"{issuer}:sub"] == expected


def test_pod_identity_trust_policy():
    [statement] = statements("pod-identity-trust-policy.json")
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert actions(statement) == {"sts:AssumeRole", "sts:TagSession"}


def test_permission_policy_is_scoped_to_one_bucket():
    for statement in statements("harbor-registry-s3-policy.json"):
        assert all(a.startswith("s3:") and "*" not in a for a in actions(statement))
        assert statement["Resource"].startswith("arn:aws:s3:::")
        assert statement["Resource"] not in ("*", "arn:aws:s3:::*")


def test_docs_name_every_manifest_and_policy():
    text = (ROOT / "docs/deploying.md").read_text()
    for path in [*MANIFESTS, *IAM.glob("*.json")]:
        assert manifest_id(path) in text, f"docs/deploying.md does not mention {path}"
    assert "subPath" in text
