"""A long-running boto3 application, as `make compat` runs it: one session and one S3 client
made at start through boto3's default credential chain (whatever the environment, the shared
files or the container endpoint offer), then a ListObjectsV2 every --interval seconds until
--until.

Prints JSON lines on stdout: first {"version": ...}, then one {"t", "ok", "error"} per call.
The endpoint is explicit and the environment comes from compat/run.py, which sets
AWS_EC2_METADATA_DISABLED and nothing that could reach beyond 127.0.0.1.
"""

import argparse
import json
import sys
import time

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--bucket", required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--interval", type=float, required=True)
    p.add_argument("--until", type=float, required=True)
    args = p.parse_args()

    emit(version=f"boto3 {boto3.__version__}, botocore {botocore.__version__}")
    s3 = boto3.Session().client(
        "s3",
        endpoint_url=args.endpoint,
        # Path-style because the endpoint is an IP address; retries as the user would have them.
        config=Config(s3={"addressing_style": "path"}, connect_timeout=5, read_timeout=20),
    )
    while time.time() < args.until:
        started = time.time()
        try:
            s3.list_objects_v2(Bucket=args.bucket, Prefix=args.prefix)
            emit(t=started, ok=True)
        except ClientError as e:
            err = e.response.get("Error", {})
            emit(t=started, ok=False, error=f"{err.get('Code')}: {err.get('Message')}")
        except BotoCoreError as e:
            emit(t=started, ok=False, error=f"{type(e).__name__}: {e}")
        except Exception as e:  # noqa: BLE001 - botocore raises others too (a RuntimeError when credentials
            # it refreshed are still expired): the call failed, and the probe goes on as an app would
            emit(t=started, ok=False, error=f"{type(e).__name__}: {e}")
        time.sleep(max(0.0, started + args.interval - time.time()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
