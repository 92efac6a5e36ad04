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

Only keys' ids are printed, never a secret. The tests give it AWS_EC2_METADATA_DISABLED=true
and explicit endpoints; it refuses an endpoint that is not on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
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


def main() -> None:
    mode, *args = sys.argv[1:]
    report = refresh() if mode == "refresh" else calls(*args)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
