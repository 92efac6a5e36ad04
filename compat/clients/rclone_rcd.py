"""rclone as a long-running server (`rclone rcd`), as `make compat` runs it: the daemon is
started once with the environment compat/run.py built (RCLONE_S3_* with env_auth, so its S3
backend uses aws-sdk-go's own chain), and asked every --interval seconds to list the prefix
through its remote-control API (operations/list). rclone keeps the S3 backend it made for the
first call, credentials included, the way a long-running mount or server does.

Prints the same JSON lines as the other probes. rcd listens on 127.0.0.1 only, without
authentication, and is stopped when the probe ends.
"""

import argparse
import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rc(port: int, method: str, params: dict, timeout: float = 90) -> dict:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/{method}",
        data=json.dumps(params).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        return json.loads(e.read() or b"{}") or {"error": f"HTTP {e.code}"}


def clean(message: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r",?\s*request id:.*", "", message, flags=re.I | re.S)).strip()[:400]


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rclone", default="rclone")
    p.add_argument("--bucket", required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--interval", type=float, required=True)
    p.add_argument("--until", type=float, required=True)
    args = p.parse_args()

    version = subprocess.run([args.rclone, "version"], capture_output=True, text=True, timeout=60)
    emit(version=version.stdout.splitlines()[0] + " (rcd)")
    port = free_port()
    daemon = subprocess.Popen(
        [args.rclone, "rcd", "--rc-addr", f"127.0.0.1:{port}", "--rc-no-auth"],
        stdin=subprocess.DEVNULL,
        stdout=sys.stderr,
        stderr=sys.stderr,
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                rc(port, "rc/noop", {}, timeout=5)
                break
            except OSError:
                time.sleep(0.2)
        while time.time() < args.until:
            started = time.time()
            try:
                answer = rc(port, "operations/list", {"fs": f":s3:{args.bucket}", "remote": args.prefix})
                if "error" in answer:
                    emit(t=started, ok=False, error=clean(answer["error"]))
                else:
                    emit(t=started, ok=True)
            except OSError as e:
                emit(t=started, ok=False, error=f"rc call failed: {e}")
            time.sleep(max(0.0, started + args.interval - time.time()))
    finally:
        daemon.terminate()
        try:
            daemon.wait(10)
        except subprocess.TimeoutExpired:
            daemon.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
