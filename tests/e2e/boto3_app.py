"""The application the end-to-end tests run under aws-credfile (`aws-credfile -- python3
boto3_app.py ...`, or after `eval "$(aws-credfile --print env)"`): boto3 configured by nothing
but its environment, as an application in a container would be. It prints one JSON report on
stdout and exits 0, or fails with a traceback (exit 1).

    python3 boto3_app.py refresh
        Keeps one boto3 session (as a long-running server does) and records every AccessKeyId
        its credentials show, until it has seen three or 60 seconds pass; meanwhile also
        records what a brand-new session finds each time, and stops once those have shown
        five (so a session that never changes does not take the whole minute). Makes no AWS
        call.

    python3 boto3_app.py calls ENDPOINT BUCKET
        sts:GetCallerIdentity and an S3 round trip (create bucket, put, get) against ENDPOINT
        (moto on 127.0.0.1), signed with whatever the default chain found.

    python3 boto3_app.py calls-across-refresh ENDPOINT BUCKET READY
        A long-running program signing real calls across a refresh. Keeps one boto3 session
        and its STS and S3 clients (as a server does); makes sts:GetCallerIdentity and an S3
        round trip against ENDPOINT with them; then writes READY (a JSON file: its parent's
        pid, which is aws-credfile's, and the key its session holds) for the test to trigger a
        refresh (it counts the SIGHUP aws-credfile forwards instead of dying of it); waits up
        to 60 seconds for a brand-new session to show another key (that wait makes no AWS
        call); then calls again with the same session and clients, and with a brand-new
        session. Reports the AccessKeyId every request was signed with, read from its
        Authorization header as it was sent.

Only keys' ids are printed, never a secret. The tests give it AWS_EC2_METADATA_DISABLED=true
and explicit endpoints; it refuses an endpoint that is not on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import boto3
from botocore.config import Config

REGION = "us-east-1"
WANTED = 3
# Fresh sessions may see a key one loop before the long-lived one does; this many keys seen
# by them while the long-lived session still lags means it is not refreshing.
FRESH_ENOUGH = WANTED + 2
PATIENCE = 60.0


def aws_names() -> list[str]:
    return sorted(name for name in os.environ if name.startswith("AWS_"))


def refresh() -> dict:
    session = boto3.Session(region_name=REGION)
    creds = session.get_credentials()
    assert creds is not None, "boto3 found no credentials"
    long_lived = [creds.get_frozen_credentials().access_key]
    fresh: list[str] = []
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline and len(long_lived) < WANTED and len(fresh) < FRESH_ENOUGH:
        time.sleep(0.2)
        key = creds.get_frozen_credentials().access_key
        if key != long_lived[-1]:
            long_lived.append(key)
        new = boto3.Session(region_name=REGION).get_credentials().get_frozen_credentials()
        if not fresh or new.access_key != fresh[-1]:
            fresh.append(new.access_key)
    return {"method": creds.method, "long_lived": long_lived, "fresh": fresh, "env": aws_names()}


def calls(endpoint: str, bucket: str) -> dict:
    assert endpoint.startswith("http://127.0.0.1:"), endpoint
    session = boto3.Session(region_name=REGION)
    creds = session.get_credentials()
    assert creds is not None, "boto3 found no credentials"
    config = Config(retries={"max_attempts": 2, "mode": "standard"}, s3={"addressing_style": "path"})
    arn = session.client("sts", endpoint_url=endpoint, config=config).get_caller_identity()["Arn"]
    s3 = session.client("s3", endpoint_url=endpoint, config=config)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"supervised\n")
    body = s3.get_object(Bucket=bucket, Key="k")["Body"].read().decode()
    return {
        "method": creds.method,
        "access_key": creds.get_frozen_credentials().access_key,
        "arn": arn,
        "body": body,
        "env": aws_names(),
    }


def signing_key(request) -> str:
    """The AccessKeyId a request was signed with, from its SigV4 Authorization header as
    sent (AWS4-HMAC-SHA256 Credential=ASIA.../DATE/REGION/SERVICE/aws4_request, ...): what
    moto checked, not what the session says it holds."""
    authorization = request.headers.get("Authorization", b"")
    if isinstance(authorization, bytes):
        authorization = authorization.decode()
    return authorization.split("Credential=", 1)[1].split("/", 1)[0]


class Clients:
    """An STS and an S3 client of one session, recording the key of every request they send
    (retries included)."""

    def __init__(self, session: boto3.Session, endpoint: str, bucket: str):
        config = Config(retries={"max_attempts": 2, "mode": "standard"}, s3={"addressing_style": "path"})
        self.sts = session.client("sts", endpoint_url=endpoint, config=config)
        self.s3 = session.client("s3", endpoint_url=endpoint, config=config)
        self.bucket = bucket
        self.keys: list[str] = []
        for client in (self.sts, self.s3):
            client.meta.events.register("before-send", self._record)

    def _record(self, request, **_kwargs) -> None:
        # None: a before-send handler that returns something replaces the response.
        self.keys.append(signing_key(request))

    def round_trip(self, name: str) -> dict:
        """sts:GetCallerIdentity, then put and get an object called name: the keys they were
        signed with, who moto says the caller is, and the body read back."""
        self.keys.clear()
        arn = self.sts.get_caller_identity()["Arn"]
        self.s3.put_object(Bucket=self.bucket, Key=name, Body=name.encode())
        body = self.s3.get_object(Bucket=self.bucket, Key=name)["Body"].read().decode()
        return {"signed_with": sorted(set(self.keys)), "arn": arn, "body": body}


def calls_across_refresh(endpoint: str, bucket: str, ready: str) -> dict:
    assert endpoint.startswith("http://127.0.0.1:"), endpoint
    hups = 0

    def on_hup(_sig: int, _frame: object) -> None:
        nonlocal hups
        hups += 1

    # aws-credfile forwards the SIGHUP that refreshes it to this program, which would die of
    # it by default; a server reloading on SIGHUP does the same.
    signal.signal(signal.SIGHUP, on_hup)
    session = boto3.Session(region_name=REGION)
    creds = session.get_credentials()
    assert creds is not None, "boto3 found no credentials"
    kept = Clients(session, endpoint, bucket)
    kept.s3.create_bucket(Bucket=bucket)
    before = kept.round_trip("before")

    first = creds.get_frozen_credentials().access_key
    # Renamed into place, so the test never reads half of it.
    with open(f"{ready}.tmp", "w") as f:
        json.dump({"pid": os.getppid(), "key": first}, f)
    os.replace(f"{ready}.tmp", ready)
    # A new session reads the file or asks the endpoint: no AWS call while moto waits for
    # aws-credfile's.
    deadline = time.monotonic() + PATIENCE
    while boto3.Session(region_name=REGION).get_credentials().get_frozen_credentials().access_key == first:
        assert time.monotonic() < deadline, f"no new credentials {PATIENCE:.0f}s after {ready}"
        time.sleep(0.2)

    return {
        "method": creds.method,
        "before": before,
        "after": kept.round_trip("after"),
        "fresh": Clients(boto3.Session(region_name=REGION), endpoint, bucket).round_trip("fresh"),
        "hups": hups,
        "env": aws_names(),
    }


def main() -> None:
    mode, *args = sys.argv[1:]
    if mode == "refresh":
        report = refresh()
    elif mode == "calls-across-refresh":
        report = calls_across_refresh(*args)
    else:
        report = calls(*args)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
