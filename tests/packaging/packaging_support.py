"""Helpers of the packaging tests: where the artifacts are, fake AWS
endpoints on 127.0.0.1, reading the OCI archive, and running the binary
(directly, under qemu-user or inside a chroot) with a clean environment.
conftest.py turns them into fixtures. (A module of its own, not conftest,
so that `import` cannot pick another test directory's conftest.)

The artifacts come from `make static static-arm64 image`; `make
test-packaging` builds them first and sets AWS_CREDFILE_PACKAGING_STRICT=1,
which turns a missing artifact or tool into a failure. Run by hand, such a
test is skipped with the make target that would provide it.

Nothing here talks to anything but the servers it starts on 127.0.0.1.
"""

import datetime
import hashlib
import http.server
import io
import json
import os
import pathlib
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

# The budgets of issue 4.
BINARY_BUDGET = 2 * 1024 * 1024  # bytes, stripped static binary
IMAGE_BUDGET = 2_500_000  # bytes, uncompressed image content

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


class OciImage:
    """An OCI image archive read with tarfile and json only: index.json, the
    manifest, its config and its layers."""

    def __init__(self, archive):
        self._tar = tarfile.open(archive)
        self.index = self._json("index.json")
        assert len(self.index["manifests"]) == 1, self.index
        self.manifest = self._json(self._blob_path(self.index["manifests"][0]["digest"]))
        self.config = self._json(self._blob_path(self.manifest["config"]["digest"]))

    def _member(self, name):
        for candidate in (name, "./" + name):
            try:
                return self._tar.extractfile(candidate)
            except KeyError:
                continue
        raise AssertionError(f"{name} missing from the OCI archive")

    def _json(self, name):
        return json.load(self._member(name))

    @staticmethod
    def _blob_path(digest):
        algorithm, hexdigest = digest.split(":", 1)
        return f"blobs/{algorithm}/{hexdigest}"

    def layers(self):
        """Each layer as an open tarfile (gzip or plain, detected)."""
        for layer in self.manifest["layers"]:
            data = self._member(self._blob_path(layer["digest"])).read()
            assert hashlib.sha256(data).hexdigest() == layer["digest"].split(":")[1]
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


def chroot_cmd(rootfs, uid, gid, argv):
    chroot = shutil.which("chroot") or "/usr/sbin/chroot"
    return [chroot, f"--userspec={uid}:{gid}", str(rootfs), *argv]
