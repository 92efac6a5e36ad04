"""The chained sts:AssumeRole, its SigV4 signature checked by botocore's own signer, through
STS endpoint overrides moto cannot stand behind: one with a path (a proxy that routes
`/sts/` to STS), one on an IPv6 loopback address.

A request is signed for one path, host and body; if any of them differs from what is sent,
STS answers SignatureDoesNotMatch. moto mounts STS at `/` only, so behind a path it cannot
be the judge. Here the judge is `BotocoreCheckedSts`: it takes the request exactly as it
arrived (method, path, Host, the signed headers, the body), signs it again with botocore's
`SigV4Auth` for the secret it expects, at the time in `X-Amz-Date`, and answers credentials
only when the two `Authorization` headers are identical.

The source is a fake Pod Identity agent serving fixed keys, so the judge knows the secret.
"""

from __future__ import annotations

import datetime as dt
import http.server
import socket
import threading
import urllib.parse
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from harness import ACCOUNT_ID, REGION, Creds, base_env, describe, ini_profile, rfc3339, run_credfile

SOURCE = Creds("ASIASOURCEKEY0000001", "source/secret+key=with/slashes0000000000", "FwoSOURCEsessionTOKEN//+/=")
CHAINED = Creds("ASIACHAINEDKEY000001", "chained-secret-0000000000000000000000000", "FwoCHAINEDsessionTOKEN")
TARGET_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/partner"


class BotocoreCheckedSts:
    """An STS AssumeRole endpoint at `base_path` on `host` that accepts only requests whose
    SigV4 signature botocore computes identically. Every decision is recorded."""

    def __init__(self, host: str, base_path: str):
        owner = self
        self.base_path = base_path
        self.decisions: list[str] = []
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = owner.judge(self.path, self.headers, body)
                data = answer.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        family = socket.AF_INET6 if ":" in host else socket.AF_INET

        class Server(http.server.ThreadingHTTPServer):
            address_family = family

        self.httpd = Server((host, 0), Handler)
        self.httpd.daemon_threads = True
        port = self.httpd.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}{base_path}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def judge(self, path: str, headers, body: bytes) -> tuple[int, str]:
        verdict = self._verdict(path, headers, body)
        with self.lock:
            self.decisions.append(verdict)
        if verdict != "ok":
            return 403, _error("SignatureDoesNotMatch", verdict)
        form = urllib.parse.parse_qs(body.decode())
        if form.get("Action") != ["AssumeRole"] or form.get("RoleArn") != [TARGET_ROLE]:
            return 400, _error("InvalidParameterValue", f"unexpected form {sorted(form)}")
        session = form["RoleSessionName"][0]
        expiration = rfc3339(dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1))
        return 200, f"""<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser><Arn>arn:aws:sts::{ACCOUNT_ID}:assumed-role/partner/{session}</Arn>
      <AssumedRoleId>AROACHAINED:{session}</AssumedRoleId></AssumedRoleUser>
    <Credentials><AccessKeyId>{CHAINED.access_key}</AccessKeyId>
      <SecretAccessKey>{CHAINED.secret_key}</SecretAccessKey>
      <SessionToken>{CHAINED.token}</SessionToken><Expiration>{expiration}</Expiration></Credentials>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>botocore-checked</RequestId></ResponseMetadata>
</AssumeRoleResponse>"""

    def _verdict(self, path: str, headers, body: bytes) -> str:
        if path != self.base_path:
            return f"sent to {path}, expected {self.base_path}"
        given = headers.get("Authorization", "")
        if not given.startswith("AWS4-HMAC-SHA256 "):
            return "not SigV4-signed"
        signed_names = given.split("SignedHeaders=")[1].split(",")[0].split(";")
        if "host" not in signed_names:
            return "Host is not signed"
        # The request as it arrived: the URL from the Host header received and the path,
        # and every signed header as received, Host included (botocore then signs its
        # value as is, as a strict server would, instead of the lowercase host of the URL).
        url = f"http://{headers['Host']}{path}"
        copy = AWSRequest(
            method="POST",
            url=url,
            data=body,
            headers={name: headers[name] for name in signed_names},
        )
        when = dt.datetime.strptime(headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
        creds = Credentials(SOURCE.access_key, SOURCE.secret_key, SOURCE.token)
        signer = SigV4Auth(creds, "sts", REGION)
        # botocore reads the clock through this function; pin it to the request's own time.
        with mock.patch("botocore.auth.get_current_datetime", return_value=when):
            signer.add_auth(copy)
        expected = copy.headers["Authorization"]
        return "ok" if expected == given else f"signature differs (botocore: {expected})"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


def _error(code: str, message: str) -> str:
    return (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
        "</Error><RequestId>botocore-checked</RequestId></ErrorResponse>"
    )


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.parametrize(
    "host, base_path, written_as",
    [
        ("127.0.0.1", "/sts/", None),
        ("127.0.0.1", "/deeper/sts/", None),
        # Without a trailing slash botocore sends to the path as written, and so must we.
        ("127.0.0.1", "/sts", None),
        # Host names are case-insensitive; the Host sent must be the one signed.
        ("127.0.0.1", "/", "LOCALHOST"),
        pytest.param("::1", "/", None, marks=pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback here")),
    ],
)
def test_chained_signature_matches_botocore_through_override(
    fake_container_endpoint, tmp_path, home, host, base_path, written_as
):
    sts = BotocoreCheckedSts(host, base_path)
    url = sts.url if written_as is None else sts.url.replace(host, written_as, 1)
    try:
        agent = fake_container_endpoint
        agent.serve(SOURCE)
        path = tmp_path / "credentials"
        env = base_env(home)
        env.update(
            {
                "AWS_CONTAINER_CREDENTIALS_FULL_URI": agent.url,
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(agent.token_file),
                "AWS_REGION": REGION,
                # What a person writes, trailing slash and all.
                "AWS_ENDPOINT_URL_STS": url,
            }
        )
        result = run_credfile(
            ["--once", "--source", "container", "--file", str(path), "--role-arn", TARGET_ROLE], env
        )
        assert sts.decisions and set(sts.decisions) == {"ok"}, sts.decisions
        assert result.returncode == 0, describe(result)
        written = ini_profile(path, "default")
        assert written is not None and written.access_key == CHAINED.access_key
        for secret in (SOURCE.secret_key, SOURCE.token, CHAINED.secret_key, CHAINED.token):
            assert secret not in result.stderr + result.stdout
    finally:
        sts.stop()


def test_the_judge_refuses_a_request_signed_for_another_path(tmp_path):
    """The check above can fail: botocore signing for `/` and sending to `/sts/` (what the
    binary did before it signed the URL it sends) is refused."""
    sts = BotocoreCheckedSts("127.0.0.1", "/sts/")
    try:
        body = f"Action=AssumeRole&Version=2011-06-15&RoleArn={urllib.parse.quote(TARGET_ROLE, safe='')}&RoleSessionName=s1"
        req = AWSRequest(method="POST", url=sts.url.replace("/sts/", "/"), data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        SigV4Auth(Credentials(SOURCE.access_key, SOURCE.secret_key, SOURCE.token), "sts", REGION).add_auth(req)
        headers = req.headers  # case-insensitive, as the server's are
        headers["Host"] = urllib.parse.urlsplit(sts.url).netloc
        status, answer = sts.judge("/sts/", headers, body.encode())
        assert status == 403 and "SignatureDoesNotMatch" in answer, answer
        assert sts.decisions[-1].startswith("signature differs")
    finally:
        sts.stop()

