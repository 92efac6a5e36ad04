"""A stand-in container credentials agent for `make compat`'s long-term-keys mode: it answers
`GET` with an IAM user's long-term keys (AKIA…) and no `Token`, as an agent handing out a
user's keys would (the ECS agent and EKS Pod Identity always send temporary ones).

aws-credfile takes such an answer as credentials without a session token, and its `--serve`
endpoint then answers `"Token": ""` (always present: botocore needs the key). That is the
answer this mode puts in front of every client: the AWS SDK for JavaScript v2, for one,
refuses it.

aws-credfile refuses an agent answer without `Expiration`, so the stand-in states one,
`lifetime` seconds after each request: the clients re-fetch the same keys as that time nears,
so each goes through the refreshes an endpoint makes it do. The keys themselves never expire
(the front only expires the keys STS issued), so a client that accepts the answer works.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from typing import Optional

from front import iso8601


class LongTermAgent:
    def __init__(self, access_key: str, secret_key: str, lifetime: float):
        self.access_key, self.secret_key, self.lifetime = access_key, secret_key, lifetime
        self.lock = threading.Lock()
        self.first_expiration: Optional[float] = None  # the Expiration of the first answer
        self.answers = 0
        agent = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                expires = float(int(time.time() + agent.lifetime))
                with agent.lock:
                    agent.answers += 1
                    if agent.first_expiration is None:
                        agent.first_expiration = expires
                body = json.dumps({"AccessKeyId": agent.access_key, "SecretAccessKey": agent.secret_key,
                                   "Expiration": iso8601(expires)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/credentials"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
