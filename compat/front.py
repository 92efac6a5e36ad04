"""The front: what stands between every client of `make compat` and moto, playing the two parts
of real AWS that moto does not.

- Credentials expire. moto never enforces expiry, and STS will not issue anything shorter than
  900 s (aws-credfile refuses `--duration` under that too), so a rotation would take 15 minutes
  or more. The front rewrites `<Expiration>` in every STS answer that carries credentials to
  `lifetime` seconds from now, remembers which access key expires when, and answers
  `ExpiredToken` (S3's or the Query APIs' error shape, as AWS does) to any request signed with
  a key past its expiry. The SDKs only know what the answer says, so they see ~2-minute
  credentials exactly as they would see 1-hour ones.
- Web identity is unsigned. With signature checks on, moto answers an unsigned
  AssumeRoleWithWebIdentity with a 500, while every other call must be checked. The front signs
  that one call with a relay user's keys before passing it on, so one moto server verifies
  every signature of every client and still issues IRSA sessions (tests/e2e works around the
  same limit with a second server or a call counter, neither of which fits many parallel
  clients).

Each client gets a listener of its own (`listen(tag)`), so every request can be attributed to
the cell that made it: the tag, the access key used, the status and the error code are
recorded. Everything binds to 127.0.0.1.
"""

from __future__ import annotations

import http.client
import http.server
import re
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional

import botocore.auth
import botocore.awsrequest
import botocore.credentials

# The error texts AWS sends for an expired session, per protocol.
S3_EXPIRED = "The provided token has expired."
QUERY_EXPIRED = "The security token included in the request is expired"

# Headers that describe one hop, not the message; http.client sets its own.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
}

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/[^/]+/([^/]+)/")
_ISSUED = re.compile(r"<Credentials>.*?</Credentials>", re.S)
_ACCESS_KEY = re.compile(r"<AccessKeyId>([^<]+)</AccessKeyId>")
_EXPIRATION = re.compile(r"<Expiration>[^<]*</Expiration>")
_ERROR_CODE = re.compile(r"<Code>([^<]+)</Code>")


@dataclass(frozen=True)
class Call:
    """One request through the front."""

    t: float
    tag: str
    method: str
    access_key: Optional[str]
    status: int
    code: Optional[str]  # the error code of a non-2xx answer, when it has one


@dataclass(frozen=True)
class Issued:
    """Credentials an STS answer carried, as the front shortened them."""

    access_key: str
    expires: float  # epoch seconds, whole (as written into the answer)
    tag: str  # the listener that asked for them


def iso8601(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def signing_key_and_service(headers, path: str) -> tuple[Optional[str], Optional[str]]:
    """The access key and service a SigV4 request was signed for, from the Authorization header
    or a presigned URL's X-Amz-Credential; (None, None) for an unsigned request."""
    m = _CREDENTIAL.search(headers.get("Authorization") or "")
    if m:
        return m.group(1), m.group(2)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    cred = (query.get("X-Amz-Credential") or [""])[0].split("/")
    if len(cred) == 5:
        return cred[0], cred[3]
    return None, None


class Front:
    """A reverse proxy in front of one moto server (`upstream`, signature checks on)."""

    def __init__(self, upstream: str, relay_access_key: str, relay_secret_key: str, lifetime: float, region: str):
        parts = urllib.parse.urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname, parts.port
        self.relay = botocore.credentials.Credentials(relay_access_key, relay_secret_key)
        self.lifetime = lifetime
        self.region = region
        self.lock = threading.Lock()
        self.calls: list[Call] = []
        self.issued: dict[str, Issued] = {}
        self._servers: list[tuple[http.server.ThreadingHTTPServer, threading.Thread]] = []

    # --- listeners -------------------------------------------------------------------------

    def listen(self, tag: str) -> str:
        """A new listener on 127.0.0.1 whose requests are recorded under `tag`; returns its URL."""
        front = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 60  # an idle kept-alive client must not hold a thread forever

            def do_any(self) -> None:
                front._handle(self, tag)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_any  # noqa: N815

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass  # the record is self.calls

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        thread.start()
        self._servers.append((httpd, thread))
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    def stop(self) -> None:
        for httpd, thread in self._servers:
            httpd.shutdown()
            httpd.server_close()
            thread.join(5)

    # --- what was seen ---------------------------------------------------------------------

    def calls_for(self, tag: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.tag == tag]

    def expiry_of(self, access_key: str) -> Optional[float]:
        with self.lock:
            issued = self.issued.get(access_key)
        return issued.expires if issued else None

    # --- one request -----------------------------------------------------------------------

    def _handle(self, req: http.server.BaseHTTPRequestHandler, tag: str) -> None:
        body = self._read_body(req)
        access_key, service = signing_key_and_service(req.headers, req.path)
        form = {}
        if req.command == "POST" and "x-www-form-urlencoded" in (req.headers.get("Content-Type") or ""):
            form = urllib.parse.parse_qs(body.decode(errors="replace"))
        action = (form.get("Action") or [""])[0]

        expires = self.expiry_of(access_key) if access_key else None
        if expires is not None and time.time() >= expires:
            status, headers, answer = self._expired(service, action, req.command)
            self._record(tag, req.command, access_key, status, "ExpiredToken")
            self._reply(req, status, headers, answer)
            return

        headers = [(k, v) for k, v in req.headers.items() if k.lower() not in HOP_BY_HOP]
        if access_key is None and action == "AssumeRoleWithWebIdentity":
            headers = self._relay_signed(req.path, headers, body)

        try:
            status, reply_headers, answer = self._forward(req.command, req.path, headers, body)
        except OSError as e:
            self._record(tag, req.command, access_key, 502, type(e).__name__)
            self._reply(req, 502, [("Content-Type", "text/plain")], f"front: upstream failed: {e}".encode())
            return

        if status == 200 and b"<Credentials>" in answer:
            answer = self._shorten(answer, tag)
        code = None
        if status >= 300:
            m = _ERROR_CODE.search(answer.decode(errors="replace"))
            code = m.group(1) if m else None
        self._record(tag, req.command, access_key, status, code)
        self._reply(req, status, reply_headers, answer)

    @staticmethod
    def _read_body(req: http.server.BaseHTTPRequestHandler) -> bytes:
        if (req.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks = []
            while True:
                size = int(req.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while req.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(req.rfile.read(size))
                req.rfile.readline()
        length = int(req.headers.get("Content-Length") or 0)
        return req.rfile.read(length) if length else b""

    def _relay_signed(self, path: str, headers: list[tuple[str, str]], body: bytes) -> list[tuple[str, str]]:
        """The same form, signed by the relay user for moto (see the module docstring)."""
        url = f"http://{self.upstream_host}:{self.upstream_port}{path}"
        content_type = dict((k.lower(), v) for k, v in headers).get("content-type", "application/x-www-form-urlencoded")
        aws_req = botocore.awsrequest.AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": content_type})
        botocore.auth.SigV4Auth(self.relay, "sts", self.region).add_auth(aws_req)
        return list(aws_req.headers.items())

    def _forward(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes):
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=60)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            has_host = False
            for k, v in headers:
                has_host |= k.lower() == "host"
                conn.putheader(k, v)
            if not has_host:
                conn.putheader("Host", f"{self.upstream_host}:{self.upstream_port}")
            if body or method in ("POST", "PUT"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            resp = conn.getresponse()
            answer = resp.read()
            reply_headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP]
            if method == "HEAD":
                # A HEAD answer's Content-Length describes the GET body; keep it.
                reply_headers += [(k, v) for k, v in resp.getheaders() if k.lower() == "content-length"]
            return resp.status, reply_headers, answer
        finally:
            conn.close()

    def _shorten(self, answer: bytes, tag: str) -> bytes:
        """Every credentials block gets an Expiration `lifetime` from now, and is remembered."""
        expires = float(int(time.time() + self.lifetime))
        text = answer.decode()

        def rewrite(block: re.Match) -> str:
            m = _ACCESS_KEY.search(block.group(0))
            if m:
                with self.lock:
                    self.issued[m.group(1)] = Issued(m.group(1), expires, tag)
            return _EXPIRATION.sub(f"<Expiration>{iso8601(expires)}</Expiration>", block.group(0))

        return _ISSUED.sub(rewrite, text).encode()

    def _expired(self, service: Optional[str], action: str, method: str):
        request_id = secrets.token_hex(8).upper()
        if service == "s3":
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>ExpiredToken</Code><Message>{S3_EXPIRED}</Message>"
                f"<RequestId>{request_id}</RequestId><HostId>front</HostId></Error>"
            ).encode()
            content_type = "application/xml"
        else:
            body = (
                '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
                f"<Type>Sender</Type><Code>ExpiredToken</Code><Message>{QUERY_EXPIRED}</Message>"
                f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
            ).encode()
            content_type = "text/xml"
        headers = [("Content-Type", content_type), ("x-amz-request-id", request_id)]
        if method == "HEAD":
            # S3 answers HEAD errors with the status alone.
            headers.append(("Content-Length", "0"))
            body = b""
        return 400, headers, body

    def _record(self, tag: str, method: str, access_key: Optional[str], status: int, code: Optional[str]) -> None:
        with self.lock:
            self.calls.append(Call(time.time(), tag, method, access_key, status, code))

    @staticmethod
    def _reply(req, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        req.send_response(status)
        for k, v in headers:
            if k.lower() not in ("date", "server"):  # send_response wrote ours
                req.send_header(k, v)
        if req.command != "HEAD":  # a HEAD answer carries the upstream's length, no body
            req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        if req.command != "HEAD":
            req.wfile.write(body)
