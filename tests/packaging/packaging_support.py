"""Helpers of the packaging tests: where the artifacts are, fake AWS
endpoints on 127.0.0.1, reading the OCI archive, and running the binary
(directly, under qemu-user or inside a chroot) with a clean environment.
conftest.py turns them into fixtures. (A module of its own, not conftest,
so that `import` cannot pick another test directory's conftest.)

The artifacts come from `make static static-arm64 image release
repro-build`; `make test-packaging` builds them first and sets AWS_CREDFILE_PACKAGING_STRICT=1,
which turns a missing artifact or tool into a failure. Run by hand, such a
test is skipped with the make target that would provide it.

Nothing here talks to anything but the servers it starts on 127.0.0.1.
"""

import datetime
import hashlib
import http.server
import importlib
import io
import json
import os
import pathlib
import platform
import shutil
import subprocess
import tarfile
import threading
import urllib.parse

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
STRICT = os.environ.get("AWS_CREDFILE_PACKAGING_STRICT") == "1"

STATIC_BIN = pathlib.Path(
    os.environ.get(
        "AWS_CREDFILE_STATIC_BIN",
        ROOT / "target/x86_64-unknown-linux-musl/release/aws-credfile",
    )
)
ARM64_BIN = pathlib.Path(
    os.environ.get(
        "AWS_CREDFILE_ARM64_BIN",
        ROOT / "target/aarch64-unknown-linux-musl/release/aws-credfile",
    )
)
IMAGE_ARCHIVE = pathlib.Path(
    os.environ.get("AWS_CREDFILE_IMAGE_ARCHIVE", ROOT / "target/aws-credfile.oci.tar")
)
# `make release` and the second build of `make reproducible`.
RELEASE_DIR = pathlib.Path(
    os.environ.get("AWS_CREDFILE_RELEASE_DIR", ROOT / "target/release-artifacts")
)
REPRO_RELEASE_DIR = pathlib.Path(
    os.environ.get(
        "AWS_CREDFILE_REPRO_RELEASE_DIR",
        ROOT / "target/reproducible/src/target/release-artifacts",
    )
)
RUST_AUDIT_INFO = pathlib.Path(
    os.environ.get("AWS_CREDFILE_RUST_AUDIT_INFO", ROOT / "target/tools/bin/rust-audit-info")
)

# The image's platforms and, for each, the static binary it must carry.
IMAGE_ARCHES = ["amd64", "arm64"]
BINARY_OF_ARCH = {"amd64": STATIC_BIN, "arm64": ARM64_BIN}
TARGET_OF_ARCH = {"amd64": "x86_64-unknown-linux-musl", "arm64": "aarch64-unknown-linux-musl"}

# The size budgets: the binary (as BENCHMARKS.md checks it) and the image.
BINARY_BUDGET = 2 * 1024 * 1024  # bytes, stripped static binary
IMAGE_BUDGET = 2_500_000  # bytes, uncompressed image content (binary and licences)

ROLE_ARN = "arn:aws:iam::123456789012:role/x"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.fake-projected-service-account-token.sig"
# Where EKS projects the tokens; the chroot tests put them at the same paths.
IRSA_TOKEN_PATH = "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"
POD_IDENTITY_TOKEN_PATH = (
    "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token"
)

ACCESS_KEY_ID = "ASIAFAKEPACKAGING001"
SECRET_ACCESS_KEY = "fakeSecretKeyForPackagingTests0123456789"
SESSION_TOKEN = "FakeSessionTokenForPackagingTests//+=="


def cargo_version():
    """The version in Cargo.toml's [package] section."""
    in_package = False
    for line in (ROOT / "Cargo.toml").read_text().splitlines():
        if line.startswith("["):
            in_package = line.strip() == "[package]"
        elif in_package and line.startswith("version"):
            return line.split('"')[1]
    raise AssertionError("no version in Cargo.toml [package]")


def missing(what, how):
    """Fail (strict, under make) or skip (by hand) for a missing prerequisite."""
    message = f"{what} is missing; run `{how}` first"
    if STRICT:
        pytest.fail(message)
    pytest.skip(message)


def require_module(name, how="make test-packaging"):
    """The Python module `name`, or missing() (a failure under make, a skip by hand)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing(f"the Python module {name}", how)


def require_file(path, how):
    if not path.is_file():
        missing(str(path), how)
    return path


def require_root():
    if os.geteuid() != 0:
        missing("root (chroot needs it)", "sudo make test-packaging")


def expiration(seconds_ahead=3600):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
        seconds=seconds_ahead
    )
    return t.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeServer:
    """An HTTP server on 127.0.0.1:0 in a thread, recording every request."""

    def __init__(self, answer):
        self.requests = []
        self._answer = answer
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                request = {
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body,
                    "form": {
                        k: v[0] for k, v in urllib.parse.parse_qs(body).items()
                    },
                }
                outer.requests.append(request)
                status, content_type, payload = outer._answer(request)
                data = payload.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _handle
            do_POST = _handle

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def sts_answer(request):
    form = request["form"]
    if (
        request["method"] != "POST"
        or form.get("Action") != "AssumeRoleWithWebIdentity"
        or form.get("Version") != "2011-06-15"
        or form.get("RoleArn") != ROLE_ARN
        or form.get("WebIdentityToken") != TOKEN
    ):
        return (
            400,
            "text/xml",
            "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameterValue</Code>"
            f"<Message>fake STS got an unexpected request: {form!r}</Message></Error>"
            "<RequestId>fake</RequestId></ErrorResponse>",
        )
    session = form.get("RoleSessionName", "s")
    return (
        200,
        "text/xml",
        '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        "<AssumeRoleWithWebIdentityResult>"
        "<Credentials>"
        f"<AccessKeyId>{ACCESS_KEY_ID}</AccessKeyId>"
        f"<SecretAccessKey>{SECRET_ACCESS_KEY}</SecretAccessKey>"
        f"<SessionToken>{SESSION_TOKEN}</SessionToken>"
        f"<Expiration>{expiration()}</Expiration>"
        "</Credentials>"
        "<AssumedRoleUser>"
        f"<Arn>arn:aws:sts::123456789012:assumed-role/x/{session}</Arn>"
        f"<AssumedRoleId>AROAFAKE:{session}</AssumedRoleId>"
        "</AssumedRoleUser>"
        "</AssumeRoleWithWebIdentityResult>"
        "<ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata>"
        "</AssumeRoleWithWebIdentityResponse>",
    )


def container_answer(request):
    if request["path"] != "/v1/credentials" or request["headers"].get(
        "authorization"
    ) != TOKEN:
        return 403, "application/json", '{"code":"AccessDeniedException","message":"fake agent: bad token or path"}'
    return (
        200,
        "application/json",
        json.dumps(
            {
                "AccessKeyId": ACCESS_KEY_ID,
                "SecretAccessKey": SECRET_ACCESS_KEY,
                "Token": SESSION_TOKEN,
                "AccountId": "123456789012",
                "Expiration": expiration(),
            }
        ),
    )


def irsa_env(sts_url, token_file):
    """A clean environment holding only what EKS (and the test) would set."""
    return {
        "AWS_ROLE_ARN": ROLE_ARN,
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
        "AWS_ENDPOINT_URL_STS": sts_url,
        "AWS_REGION": "us-east-1",
    }


def pod_identity_env(agent_url, token_file):
    return {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{agent_url}/v1/credentials",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(token_file),
        "AWS_REGION": "us-east-1",
    }


def run(cmd, env, timeout=90):
    """Run a command with exactly `env`; return the CompletedProcess."""
    return subprocess.run(
        [str(c) for c in cmd],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def explain(proc):
    return f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"


def assert_credentials_file(path):
    """The file holds the fake credentials in the default profile, and only
    whole-line comments besides key = value lines (what old parsers accept)."""
    text = pathlib.Path(path).read_text()
    assert "[default]" in text, text
    keys = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#") or line.startswith("["):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not key = value: {line!r}"
        keys[key.strip()] = value.strip()
    assert keys["aws_access_key_id"] == ACCESS_KEY_ID
    assert keys["aws_secret_access_key"] == SECRET_ACCESS_KEY
    assert keys["aws_session_token"] == SESSION_TOKEN
    mode = pathlib.Path(path).stat().st_mode & 0o777
    assert mode == 0o600, oct(mode)


def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


class OciArchive:
    """An OCI archive read with tarfile and json only: index.json, the one
    image index it points at (tagged aws-credfile:VERSION), and through it
    each platform's image."""

    def __init__(self, archive):
        self._tar = tarfile.open(archive)
        self.layout_index = self.json("index.json")
        assert len(self.layout_index["manifests"]) == 1, self.layout_index
        self.ref = self.layout_index["manifests"][0]
        self.index = self.blob_json(self.ref["digest"])

    def member(self, name):
        for candidate in (name, "./" + name):
            try:
                return self._tar.extractfile(candidate)
            except KeyError:
                continue
        raise AssertionError(f"{name} missing from the OCI archive")

    def json(self, name):
        return json.load(self.member(name))

    def blob(self, digest):
        """The blob's bytes, checked against its digest."""
        algorithm, hexdigest = digest.split(":", 1)
        data = self.member(f"blobs/{algorithm}/{hexdigest}").read()
        assert hashlib.sha256(data).hexdigest() == hexdigest, digest
        return data

    def blob_json(self, digest):
        return json.loads(self.blob(digest))

    def platforms(self):
        return sorted(
            (m["platform"]["os"], m["platform"]["architecture"])
            for m in self.index["manifests"]
        )

    def image(self, architecture):
        [descriptor] = [
            m for m in self.index["manifests"]
            if m["platform"] == {"os": "linux", "architecture": architecture}
        ]
        return OciImage(self, descriptor, architecture)


class OciImage:
    """One platform's image of the archive: its manifest, config and layers."""

    def __init__(self, archive, descriptor, architecture):
        self.archive = archive
        self.descriptor = descriptor
        self.arch = architecture
        self.manifest = archive.blob_json(descriptor["digest"])
        self.config = archive.blob_json(self.manifest["config"]["digest"])

    def layers(self):
        """Each layer as an open tarfile (gzip or plain, detected)."""
        for layer in self.manifest["layers"]:
            data = self.archive.blob(layer["digest"])
            yield tarfile.open(fileobj=io.BytesIO(data), mode="r:*")

    def extract_rootfs(self, dest):
        """Apply the layers in order into dest (a FROM scratch image has no
        whiteouts to honour; the test of the layer contents checks that)."""
        for layer in self.layers():
            layer.extractall(dest, filter="tar")


def make_dir(rootfs, path, uid, gid, mode=0o755):
    """A directory inside rootfs (given as seen from inside), owned by uid:gid,
    like an emptyDir the kubelet prepares for the pod's fsGroup."""
    full = rootfs / path.lstrip("/")
    full.mkdir(parents=True, exist_ok=True)
    os.chown(full, uid, gid)
    full.chmod(mode)
    return full


def put_token(rootfs, path, uid, gid):
    """The projected token at its EKS path inside rootfs, readable by uid."""
    full = rootfs / path.lstrip("/")
    full.parent.mkdir(parents=True, exist_ok=True)
    full.write_text(TOKEN)
    os.chown(full, uid, gid)
    full.chmod(0o600)
    return full


# Where image_rootfs puts the static qemu-user emulator in the root filesystem
# of an image for another architecture than the host's.
EMULATOR_IN_ROOTFS = "/.qemu-user-static"
HOST_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}[platform.machine()]


def qemu_static(arch):
    """The static qemu-user emulator for an image architecture (Debian's
    qemu-user-static): static, so it runs inside a chroot holding nothing
    else, which the dynamically linked one of qemu-user cannot."""
    name = {"arm64": "qemu-aarch64-static", "amd64": "qemu-x86_64-static"}[arch]
    path = shutil.which(name)
    if path is None:
        missing(f"{name} (Debian's qemu-user-static)", "make test-packaging")
    return path


def chroot_cmd(rootfs, uid, gid, argv):
    """argv run inside rootfs as uid:gid. When the root filesystem holds an
    emulator (an image for another architecture, see image_rootfs), the
    program runs under it, still inside the chroot."""
    chroot = shutil.which("chroot") or "/usr/sbin/chroot"
    emulator = [EMULATOR_IN_ROOTFS] if (rootfs / EMULATOR_IN_ROOTFS[1:]).exists() else []
    return [chroot, f"--userspec={uid}:{gid}", str(rootfs), *emulator, *argv]
