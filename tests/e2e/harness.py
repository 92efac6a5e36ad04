"""Helpers for the end-to-end suite: a moto server per test, the aws-credfile binary run in a
scrubbed environment, and boto3 clients that can only ever reach 127.0.0.1.

Nothing here trusts the parent environment: this machine (and CI) may have AWS_* variables,
proxies or ~/.aws files, and a test that fell through to them could reach real AWS or the
link-local metadata address. conftest.py scrubs os.environ for the boto3 side; the binary gets
an environment built from nothing by credfile_env().
"""

from __future__ import annotations

import configparser
import contextlib
import http.server
import itertools
import json
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import Message
from pathlib import Path
from typing import Callable, Iterator, Optional, TypeVar

import boto3
from botocore.config import Config

# moto's default account; every ARN it issues lives there.
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
# Keys for test set-up calls (IAM) while moto is not checking signatures.
SETUP_ACCESS_KEY = "AKIAE2ESETUP00000000"
SETUP_SECRET_KEY = "e2e-setup-secret-not-checked"

# Generous on purpose: a loaded 2-core CI machine must not fail on time. Tests wait
# "until it happens or this many seconds", never assert on how long something took.
START_TIMEOUT = 60.0
WAIT_TIMEOUT = 60.0
RUN_TIMEOUT = 180.0
EXIT_TIMEOUT = 10.0

T = TypeVar("T")


def eventually(what: str, probe: Callable[[], Optional[T]], timeout: float = WAIT_TIMEOUT) -> T:
    """Calls probe until it returns something truthy, or fails the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    last_error: Optional[BaseException] = None
    while True:
        try:
            value = probe()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - reported below if it never succeeds
            last_error = e
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f}s waiting for {what}"
                + (f" (last error: {last_error!r})" if last_error else "")
            )
        time.sleep(0.1)


def free_port() -> int:
    """A loopback port nobody listens on right now (the server is started right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(home: Path) -> dict[str, str]:
    """The minimal environment for a child process; nothing is inherited."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TZ": "UTC",
    }


def _stop(proc: subprocess.Popen, timeout: float = EXIT_TIMEOUT) -> None:
    """Ends a child we started (its own process group), politely first."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class MotoServer:
    """moto's standalone server on 127.0.0.1, one per test.

    auth=False: moto checks no signatures. It answers the unsigned AssumeRoleWithWebIdentity
    that IRSA uses (with signature checks on, moto answers that call with a 500).
    auth=True: started with INITIAL_NO_AUTH_ACTION_COUNT=0, so every call must be SigV4-signed
    with keys moto issued; use `with server.unauthenticated():` for set-up calls.
    Either way set_auth() switches checks at run time through moto's /moto-api/reset-auth.
    """

    def __init__(self, workdir: Path, auth: bool = False):
        self.workdir = workdir
        self.auth = auth
        self.log = workdir / "moto.log"
        self.proc: Optional[subprocess.Popen] = None
        self.url = ""
        self._start()

    def _start(self) -> None:
        env = base_env(self.workdir)
        if self.auth:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
        # A port can be taken between free_port() and bind; try a few.
        for _ in range(3):
            port = free_port()
            self.url = f"http://127.0.0.1:{port}"
            with open(self.log, "ab") as log:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                    env=env,
                    cwd=self.workdir,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and self.proc.poll() is None:
                if self._ready():
                    return
                time.sleep(0.1)
            _stop(self.proc)
        raise RuntimeError(f"moto server did not start; log:\n{tail(self.log)}")

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/moto-api/data.json", timeout=5) as r:
                return r.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)

    # --- moto's control API -------------------------------------------------------------

    def set_auth(self, enabled: bool) -> None:
        """Turns SigV4 checking on (from the next call) or off, and resets moto's call count."""
        self._reset_auth(b"0" if enabled else b"inf")

    def require_signatures_after(self, unsigned_calls: int) -> None:
        """Lets the next unsigned_calls AWS calls through unchecked, then verifies SigV4.

        moto counts only the calls it let through, so with 1 the unsigned web identity call
        passes and every call after it (a chained sts:AssumeRole, say) must be signed right.
        Only deterministic while nothing else talks to this server in between.
        """
        self._reset_auth(str(unsigned_calls).encode())

    def _reset_auth(self, body: bytes) -> None:
        # text/plain: moto reads the raw body; a form content type would leave it empty.
        req = urllib.request.Request(
            f"{self.url}/moto-api/reset-auth",
            data=body,
            headers={"Content-Type": "text/plain"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 200, r.read()

    @contextlib.contextmanager
    def unauthenticated(self) -> Iterator[None]:
        """Set-up calls without signature checks, then back to how the server was started."""
        self.set_auth(False)
        try:
            yield
        finally:
            self.set_auth(self.auth)

    def state(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/moto-api/data.json", timeout=30) as r:
            return json.load(r)

    def issued_credentials(self) -> list["Creds"]:
        """Every STS session moto has handed out, oldest first: the ground truth to compare with."""
        roles = self.state().get("sts", {}).get("AssumedRole", [])
        return [
            Creds(r["access_key_id"], r["secret_access_key"], r["session_token"]) for r in roles
        ]

    # --- set-up through the AWS API -----------------------------------------------------

    def client(self, service: str, creds: Optional["Creds"] = None):
        creds = creds or Creds(SETUP_ACCESS_KEY, SETUP_SECRET_KEY, None)
        return aws_client(service, self.url, creds)

    def create_role(self, name: str = "app", policy_actions: str = "*", trusted: str = "*") -> str:
        """A role the web identity or the AWS principal `trusted` (any, by default) can assume,
        allowed to do policy_actions; returns its ARN.

        With signature checks on, moto checks an AssumeRole against the trust policy and
        crashes (500) on a statement without an "AWS" principal; it also compares that
        principal with the caller's assumed-role ARN literally, so "*" is what works for a
        chained role.
        """
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {
                        "Federated": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/oidc.e2e.example",
                        "AWS": trusted,
                    },
                    "Action": ["sts:AssumeRoleWithWebIdentity", "sts:AssumeRole"],
                }
            ],
        }
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": policy_actions, "Resource": "*"}],
        }
        with self.unauthenticated():
            iam = self.client("iam")
            arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))[
                "Role"
            ]["Arn"]
            iam.put_role_policy(RoleName=name, PolicyName="e2e", PolicyDocument=json.dumps(policy))
        return arn

    def create_user(self, name: str, policy_actions: str = "*") -> "Creds":
        """An IAM user allowed to do policy_actions, with a long-term access key (AKIA…, no
        session token); returns the key. With signature checks on, moto checks the user's
        policy too: without one, its sts:AssumeRole is denied."""
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": policy_actions, "Resource": "*"}],
        }
        with self.unauthenticated():
            iam = self.client("iam")
            iam.create_user(UserName=name)
            iam.put_user_policy(UserName=name, PolicyName="e2e", PolicyDocument=json.dumps(policy))
            key = iam.create_access_key(UserName=name)["AccessKey"]
        return Creds(key["AccessKeyId"], key["SecretAccessKey"], None)


@dataclass(frozen=True)
class Creds:
    access_key: str
    secret_key: str
    token: Optional[str]

    def __repr__(self) -> str:  # keep secrets out of assertion messages
        return f"Creds({self.access_key}, secret={self.secret_key[:4]}…, token={'set' if self.token else None})"


def aws_client(service: str, endpoint_url: str, creds: Creds):
    """A boto3 client with explicit keys and endpoint; it cannot reach anything else."""
    assert endpoint_url.startswith("http://127.0.0.1:"), endpoint_url
    session = boto3.Session(
        aws_access_key_id=creds.access_key,
        aws_secret_access_key=creds.secret_key,
        aws_session_token=creds.token,
        region_name=REGION,
    )
    return session.client(
        service,
        endpoint_url=endpoint_url,
        config=Config(
            retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=10, read_timeout=60
        ),
    )


def caller_arn(endpoint_url: str, creds: Creds) -> str:
    return aws_client("sts", endpoint_url, creds).get_caller_identity()["Arn"]


def boto3_profile_credentials(path: Path, profile: str) -> Creds:
    """What boto3, as an application would, loads from the shared credentials file.

    os.environ was scrubbed by conftest.py; AWS_SHARED_CREDENTIALS_FILE is set only for the
    time it takes to build the session, the way an app container would have it.
    """
    old = os.environ.get("AWS_SHARED_CREDENTIALS_FILE")
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(path)
    try:
        session = boto3.Session(profile_name=profile, region_name=REGION)
        creds = session.get_credentials()
        assert creds is not None, f"boto3 found no credentials for profile {profile} in {path}"
        assert creds.method == "shared-credentials-file", creds.method
        frozen = creds.get_frozen_credentials()
    finally:
        if old is None:
            del os.environ["AWS_SHARED_CREDENTIALS_FILE"]
        else:
            os.environ["AWS_SHARED_CREDENTIALS_FILE"] = old
    return Creds(frozen.access_key, frozen.secret_key, frozen.token)


def boto3_profile_client(path: Path, profile: str, service: str, endpoint_url: str):
    """A boto3 client an application would make from the shared credentials file: the
    profile's keys are loaded while AWS_SHARED_CREDENTIALS_FILE points at path, and the
    client can only reach endpoint_url on 127.0.0.1."""
    assert endpoint_url.startswith("http://127.0.0.1:"), endpoint_url
    old = os.environ.get("AWS_SHARED_CREDENTIALS_FILE")
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(path)
    try:
        session = boto3.Session(profile_name=profile, region_name=REGION)
        creds = session.get_credentials()
        assert creds is not None, f"boto3 found no credentials for profile {profile} in {path}"
        assert creds.method == "shared-credentials-file", creds.method
        return session.client(
            service,
            endpoint_url=endpoint_url,
            config=Config(
                retries={"max_attempts": 2, "mode": "standard"},
                connect_timeout=10,
                read_timeout=60,
                s3={"addressing_style": "path"},
            ),
        )
    finally:
        if old is None:
            del os.environ["AWS_SHARED_CREDENTIALS_FILE"]
        else:
            os.environ["AWS_SHARED_CREDENTIALS_FILE"] = old


def ini_profile(path: Path, profile: str) -> Optional[Creds]:
    """The profile's keys as a plain INI parser reads them, or None if absent or incomplete."""
    parser = configparser.RawConfigParser(comment_prefixes=("#", ";"), strict=False)
    try:
        parser.read_string(path.read_text())
    except (OSError, configparser.Error):
        return None
    if not parser.has_section(profile):
        return None
    section = parser[profile]
    if "aws_access_key_id" not in section or "aws_secret_access_key" not in section:
        return None
    return Creds(
        section["aws_access_key_id"],
        section["aws_secret_access_key"],
        section.get("aws_session_token"),
    )


# --- the binary ---------------------------------------------------------------------------


def credfile_bin() -> Path:
    path = os.environ.get("AWS_CREDFILE_BIN", "")
    if not path:
        raise RuntimeError("AWS_CREDFILE_BIN is not set; run the suite with `make e2e`")
    p = Path(path)
    if not os.access(p, os.X_OK):
        raise RuntimeError(f"AWS_CREDFILE_BIN={path} is not an executable file; `cargo build` first")
    return p


def irsa_env(home: Path, moto: MotoServer, role_arn: str, token_file: Path, **extra: str) -> dict[str, str]:
    """What EKS injects into a pod for IRSA, with STS pointed at the local moto server."""
    env = base_env(home)
    env.update(
        {
            "AWS_ROLE_ARN": role_arn,
            "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL_STS": moto.url,
        }
    )
    env.update(extra)
    return env


def run_credfile(args: list[str], env: dict[str, str], timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(credfile_bin()), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def describe(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


class Daemon:
    """aws-credfile started without --once; stderr goes to a file so it can never block."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.log = log
        with open(log, "wb") as f:
            self.proc = subprocess.Popen(
                [str(credfile_bin()), *args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=f,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def signal(self, sig: int) -> None:
        assert self.proc.poll() is None, f"daemon already exited {self.proc.returncode}:\n{self.output()}"
        self.proc.send_signal(sig)

    def wait(self, timeout: float = EXIT_TIMEOUT) -> int:
        return self.proc.wait(timeout)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        return tail(self.log, 200)

    def stop(self) -> None:
        _stop(self.proc)


# --- small fakes on 127.0.0.1 -------------------------------------------------------------


class _LoopbackServer:
    """An http.server on 127.0.0.1:0 answering from threads; subclasses implement handle()
    and guard what they record with `lock`.

    A thread per connection, because the binary's HTTP client keeps connections alive: with
    one thread an idle kept-alive connection would stall the next one.
    """

    def __init__(self) -> None:
        owner = self
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                owner._dispatch(self)

            do_POST = do_GET  # noqa: N815

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass  # the tests look at what was recorded, not at a log

            # An idle client must not hold a handler thread past the test.
            timeout = 30

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def _dispatch(self, req: http.server.BaseHTTPRequestHandler) -> None:
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        # req.headers looks names up case-insensitively (the binary sends them lowercase).
        status, content_type, answer = self.handle(req.command, req.path, req.headers, body)
        data = answer.encode()
        req.send_response(status)
        req.send_header("Content-Type", content_type)
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)

    def handle(self, method: str, path: str, headers: Message, body: bytes) -> tuple[int, str, str]:
        raise NotImplementedError

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(EXIT_TIMEOUT)


def rfc3339(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeContainerEndpoint(_LoopbackServer):
    """The EKS Pod Identity agent (or ECS's) as aws-credfile sees it: GET /v1/credentials
    answers `answer` as JSON only when the Authorization header equals the token file's
    content, read at every request like the agent's rotating token.

    `answer` is the container-credentials JSON to serve; set it before the binary runs.
    """

    PATH = "/v1/credentials"

    def __init__(self, token_file: Path):
        self.token_file = token_file
        self.answer: dict[str, str] = {}
        self.requests: list[tuple[str, str, bool]] = []  # method, path, authorized
        super().__init__()
        self.url = f"http://127.0.0.1:{self.port}{self.PATH}"

    def serve(self, creds: Creds, lifetime: float = 3600) -> None:
        """Serve creds (Token only when they have one, as for a long-term IAM user key)."""
        answer = {
            "AccessKeyId": creds.access_key,
            "SecretAccessKey": creds.secret_key,
            "Expiration": rfc3339(datetime.fromtimestamp(time.time() + lifetime, timezone.utc)),
        }
        if creds.token:
            answer["Token"] = creds.token
        self.answer = answer

    def handle(self, method, path, headers, body):
        authorized = headers.get("Authorization") == self.token_file.read_text()
        with self.lock:
            self.requests.append((method, path, authorized))
        if method != "GET" or path != self.PATH:
            return 404, "text/plain", "not found"
        if not authorized:
            return 401, "application/json", json.dumps({"code": "AccessDenied", "message": "bad token"})
        return 200, "application/json", json.dumps(self.answer)

    def authorized_requests(self) -> int:
        with self.lock:
            return sum(1 for _, _, ok in self.requests if ok)


class FakeSts(_LoopbackServer):
    """An STS that answers AssumeRoleWithWebIdentity with new credentials living `lifetime`
    seconds whatever DurationSeconds asks (aws-credfile refuses --duration under 900 s, and
    real STS too, so only a fake gives credentials that expire within a test).

    Every answer has a new AccessKeyId; `issued` lists them oldest first. Set `failure` to
    (status, code, message) to answer every request with that STS error instead (a role whose
    trust no longer allows the pod, say), and back to None to issue again; `refused` counts
    the requests answered with it.
    """

    def __init__(self, lifetime: float = 4, account_id: str = ACCOUNT_ID):
        self.lifetime = lifetime
        self.account_id = account_id
        self.failure: Optional[tuple[int, str, str]] = None
        self.refused = 0
        self.issued: list[Creds] = []
        self.expirations: list[datetime] = []
        self._serial = itertools.count(1)
        super().__init__()
        self.url = f"http://127.0.0.1:{self.port}"

    def handle(self, method, path, headers, body):
        form = urllib.parse.parse_qs(body.decode(errors="replace"))
        action = form.get("Action", [""])[0]
        if method != "POST" or action != "AssumeRoleWithWebIdentity":
            return 400, "text/xml", self._error("InvalidAction", f"fake STS answers only AssumeRoleWithWebIdentity, not {action!r}")
        with self.lock:
            failure = self.failure
            if failure:
                self.refused += 1
        if failure:
            status, code, message = failure
            return status, "text/xml", self._error(code, message)
        role_arn = form.get("RoleArn", [""])[0]
        session = form.get("RoleSessionName", ["fake"])[0]
        serial = next(self._serial)
        creds = Creds(f"ASIAFAKESTS{serial:09d}", secrets.token_urlsafe(30), "FAKESTSTOKEN" + secrets.token_urlsafe(60))
        # Whole seconds, as STS writes them, rounded up so the lifetime is never shorter.
        expiration = datetime.fromtimestamp(math.ceil(time.time() + self.lifetime), timezone.utc)
        with self.lock:
            self.issued.append(creds)
            self.expirations.append(expiration)
        role_name = role_arn.rsplit("/", 1)[-1]
        xml = f"""<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:e2e:app</SubjectFromWebIdentityToken>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::{self.account_id}:assumed-role/{role_name}/{session}</Arn>
      <AssumedRoleId>AROAFAKESTS000000000:{session}</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>{creds.token}</SessionToken>
      <SecretAccessKey>{creds.secret_key}</SecretAccessKey>
      <Expiration>{rfc3339(expiration)}</Expiration>
      <AccessKeyId>{creds.access_key}</AccessKeyId>
    </Credentials>
    <Provider>oidc.e2e.example</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>fake-{serial}</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>
"""
        return 200, "text/xml", xml

    @staticmethod
    def _error(code: str, message: str) -> str:
        return (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{code}</Code><Message>{message}</Message></Error>"
            "<RequestId>fake</RequestId></ErrorResponse>"
        )

    def snapshot(self) -> list[Creds]:
        with self.lock:
            return list(self.issued)


def http_get_json(url: str, headers: Optional[dict[str, str]] = None, timeout: float = 10) -> tuple[int, dict]:
    """A plain GET of a loopback JSON endpoint: (status, parsed body or {})."""
    assert url.startswith("http://127.0.0.1:"), url
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"{}")
        except ValueError:
            return e.code, {}
