"""The facts about moto this suite (and the issues after it) stand on, checked without the
binary, so an upgrade of the pinned moto that changes them fails here with a clear name
instead of somewhere confusing."""

from __future__ import annotations

from datetime import datetime, timezone

import re
import urllib.error
import urllib.parse
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import ACCOUNT_ID, REGION, Creds, aws_client, caller_arn


def assume_role_with_web_identity(url: str, role_arn: str) -> tuple[int, str]:
    """The unsigned form POST aws-credfile sends for IRSA."""
    body = urllib.parse.urlencode(
        {
            "Action": "AssumeRoleWithWebIdentity",
            "Version": "2011-06-15",
            "RoleArn": role_arn,
            "RoleSessionName": "facts",
            "WebIdentityToken": "not-a-real-jwt",
            "DurationSeconds": "900",
        }
    ).encode()
    req = urllib.request.Request(url + "/", data=body, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def test_without_auth_moto_answers_unsigned_web_identity_and_checks_signatures_on_demand(moto_server):
    moto = moto_server(auth=False)
    role_arn = moto.create_role("facts")

    status, body = assume_role_with_web_identity(moto.url, role_arn)
    assert status == 200, body
    assert "<AssumeRoleWithWebIdentityResponse" in body and "<SessionToken>" in body
    # moto honours DurationSeconds (900 asked; its default would be 3600).
    expiration = re.search(r"<Expiration>([^<.]+)", body).group(1).rstrip("Z")
    left = datetime.fromisoformat(expiration).replace(tzinfo=timezone.utc) - datetime.now(timezone.utc)
    assert 0 < left.total_seconds() <= 900, expiration
    (creds,) = moto.issued_credentials()
    assert creds.access_key in body and creds.secret_key in body

    # Without auth moto takes any secret; after set_auth(True) it verifies SigV4 for real.
    wrong = Creds(creds.access_key, "wrong-secret", creds.token)
    assert caller_arn(moto.url, wrong).endswith(":assumed-role/facts/facts")
    moto.set_auth(True)
    assert caller_arn(moto.url, creds) == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/facts/facts"
    with pytest.raises(ClientError) as e:
        caller_arn(moto.url, wrong)
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as e:
        caller_arn(moto.url, Creds(creds.access_key, creds.secret_key, "wrong-token"))
    assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"


def test_with_auth_moto_fails_unsigned_web_identity_with_500(moto_server):
    moto = moto_server(auth=True)
    role_arn = moto.create_role("facts")  # set-up runs unauthenticated

    status, _ = assume_role_with_web_identity(moto.url, role_arn)
    assert status == 500


def test_require_signatures_after_lets_exactly_that_many_unsigned_calls_through(moto_server):
    moto = moto_server(auth=False)
    role_arn = moto.create_role("facts")

    moto.require_signatures_after(1)
    assert assume_role_with_web_identity(moto.url, role_arn)[0] == 200
    assert assume_role_with_web_identity(moto.url, role_arn)[0] == 500
    # Signed calls with keys moto issued still work, and are checked.
    (creds,) = moto.issued_credentials()
    assert caller_arn(moto.url, creds).endswith(":assumed-role/facts/facts")
    with pytest.raises(ClientError):
        caller_arn(moto.url, Creds(creds.access_key, "wrong-secret", creds.token))


def test_with_auth_moto_checks_user_keys_trust_principals_s3_signatures_and_error_shape(moto_server):
    moto = moto_server(auth=True)
    user = moto.create_user("base")
    mine = moto.create_role("trusts-base", trusted=f"arn:aws:iam::{ACCOUNT_ID}:user/base")
    account = moto.create_role("trusts-account", trusted=f"arn:aws:iam::{ACCOUNT_ID}:root")
    sts = aws_client("sts", moto.url, user)

    assert caller_arn(moto.url, user) == f"arn:aws:iam::{ACCOUNT_ID}:user/base"
    # A literal user ARN in the trust policy works; the account root does not (real IAM would).
    assert sts.assume_role(RoleArn=mine, RoleSessionName="facts")["Credentials"]["AccessKeyId"].startswith("ASIA")
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=account, RoleSessionName="facts")
    assert e.value.response["Error"]["Code"] == "AccessDenied"

    # Its signature errors carry an extra <Errors> level that real STS does not have.
    raw: list[bytes] = []
    wrong = aws_client("sts", moto.url, Creds(user.access_key, "wrong-secret", None))
    wrong.meta.events.register("after-call.sts.AssumeRole", lambda http_response, **_: raw.append(http_response.content))
    with pytest.raises(ClientError) as e:
        wrong.assume_role(RoleArn=mine, RoleSessionName="facts")
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert b"<ErrorResponse><Errors><Error><Code>SignatureDoesNotMatch</Code>" in raw[0], raw

    # S3 checks signatures too.
    aws_client("s3", moto.url, user).create_bucket(Bucket="facts-bucket")
    with pytest.raises(ClientError) as e:
        aws_client("s3", moto.url, Creds(user.access_key, "wrong-secret", None)).list_objects_v2(Bucket="facts-bucket")
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_moto_issues_credentials_shorter_than_real_stss_900_second_minimum(moto_server):
    """moto takes DurationSeconds=4 (botocore only refuses it client-side), but aws-credfile
    refuses --duration under 900 s, so the 4-second tests use a fake STS instead."""
    moto = moto_server(auth=False)
    role_arn = moto.create_role("facts")
    sts = boto3.Session(aws_access_key_id="AKIAFACTS", aws_secret_access_key="x", region_name=REGION).client(
        "sts", endpoint_url=moto.url, config=Config(parameter_validation=False)
    )
    expiration = sts.assume_role(RoleArn=role_arn, RoleSessionName="facts", DurationSeconds=4)["Credentials"]["Expiration"]
    left = (expiration - datetime.now(timezone.utc)).total_seconds()
    assert 0 < left <= 4, expiration
