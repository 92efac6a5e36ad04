#!/usr/bin/env python3
"""A small, fast fake STS for the benchmarks, on 127.0.0.1 only.

Answers the Query API actions the benchmark needs, `AssumeRoleWithWebIdentity`
and `AssumeRole`, with real-looking XML (namespace, AssumedRoleUser, request id,
an 800-character session token) and fresh unique keys per answer, expiring after
the requested DurationSeconds (default 3600). `AssumeRole` without a SigV4
`Authorization` header is refused, so a client that silently skipped signing
cannot look cheaper than it is.

Why not moto: moto's server takes tens of milliseconds per request and would
dominate aws-credfile's figures; this answers in well under a millisecond, so what
is measured is the client. Its own CPU time is not counted in any figure.

Usage: fake_sts.py [--cert PEM --key PEM]
Prints the port it listens on as one line on stdout once ready; serves until
killed. With --cert/--key it speaks HTTPS only.
"""

import argparse
import base64
import datetime
import http.server
import os
import socket
import socketserver
import ssl
import sys
import urllib.parse
import uuid

NS = "https://sts.amazonaws.com/doc/2011-06-15/"


def credentials_xml(duration):
    expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=duration)
    key_id = "ASIA" + base64.b32encode(os.urandom(10)).decode()[:16]
    secret = base64.b64encode(os.urandom(30)).decode()
    token = base64.b64encode(os.urandom(600)).decode()
    return (
        "<Credentials>"
        f"<AccessKeyId>{key_id}</AccessKeyId>"
        f"<SecretAccessKey>{secret}</SecretAccessKey>"
        f"<SessionToken>{token}</SessionToken>"
        f"<Expiration>{expiry:%Y-%m-%dT%H:%M:%SZ}</Expiration>"
        "</Credentials>"
    )


def answer(action, form):
    role = form.get("RoleArn", "arn:aws:iam::123456789012:role/bench")
    session = form.get("RoleSessionName", "bench")
    duration = int(form.get("DurationSeconds", "3600"))
    user = (
        "<AssumedRoleUser>"
        f"<Arn>{role.replace(':iam:', ':sts:').replace(':role/', ':assumed-role/')}/{session}</Arn>"
        f"<AssumedRoleId>AROAEXAMPLEBENCH0000:{session}</AssumedRoleId>"
        "</AssumedRoleUser>"
    )
    extra = ""
    if action == "AssumeRoleWithWebIdentity":
        extra = (
            "<SubjectFromWebIdentityToken>system:serviceaccount:bench:bench</SubjectFromWebIdentityToken>"
            "<Audience>sts.amazonaws.com</Audience>"
            "<Provider>arn:aws:iam::123456789012:oidc-provider/oidc.eks.example</Provider>"
        )
    return (
        f'<{action}Response xmlns="{NS}"><{action}Result>'
        f"{extra}{user}{credentials_xml(duration)}"
        f"</{action}Result><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId>"
        f"</ResponseMetadata></{action}Response>"
    )


def error(code, message):
    return (
        f'<ErrorResponse xmlns="{NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{message}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # An idle keep-alive connection is dropped after this long.
    timeout = 30

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        action = form.get("Action")
        status = 200
        if action == "AssumeRoleWithWebIdentity":
            body = answer(action, form)
        elif action == "AssumeRole":
            if not (self.headers.get("Authorization") or "").startswith("AWS4-HMAC-SHA256 "):
                status, body = 403, error("MissingAuthenticationToken", "Request is missing Authentication Token")
            else:
                body = answer(action, form)
        else:
            status, body = 400, error("InvalidAction", f"Could not find operation {action}")
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        # Head and body in one write: two small writes would meet Nagle's
        # algorithm and the client's delayed ACK, and add 40 ms of nothing.
        self._headers_buffer.append(b"\r\n")
        self.wfile.write(b"".join(self._headers_buffer) + data)
        self._headers_buffer = []


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, context):
        self.context = context
        super().__init__(("127.0.0.1", 0), Handler)

    def get_request(self):
        sock, addr = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.context:
            # The handshake happens on the handler's thread, at its first read.
            sock = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        pass  # a client that hung up mid-handshake is not news


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert")
    ap.add_argument("--key")
    args = ap.parse_args()
    context = None
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
    server = Server(context)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
