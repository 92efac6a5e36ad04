"""Pod Identity / ECS source chained into sts:AssumeRole, end to end with SigV4 checked.

A fake container endpoint on 127.0.0.1 stands in for the EKS Pod Identity agent: it serves
keys that moto issued (an IAM user's long-term key, or a session with a token) and answers
only when Authorization equals the agent token file. aws-credfile signs sts:AssumeRole with
those keys; moto runs with signature checks on all the time, so a wrong byte in the signature,
the secret or the session token is refused. boto3 then uses the written file against moto's
S3, still checking signatures.

What these tests rely on from the binary: exit codes, the file, and that an STS failure names
the STS error code on stderr. Nothing else in its log format.
"""

from __future__ import annotations

import stat

import pytest
from botocore.exceptions import ClientError

from harness import (
    ACCOUNT_ID,
    REGION,
    Creds,
    aws_client,
    base_env,
    boto3_profile_client,
    boto3_profile_credentials,
    caller_arn,
    describe,
    run_credfile,
)


def container_env(home, endpoint, moto, **extra: str) -> dict[str, str]:
    """What EKS Pod Identity injects into a pod, with the agent and STS on 127.0.0.1."""
    env = base_env(home)
    env.update(
        {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": endpoint.url,
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(endpoint.token_file),
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL_STS": moto.url,
        }
    )
    env.update(extra)
    return env


def chain(path, role_arn: str, session: str = "e2e-chain") -> list[str]:
    return [
        "--once",
        "--source",
        "container",
        "--file",
        str(path),
        "--role-arn",
        role_arn,
        "--session-name",
        session,
    ]


def assert_no_secrets(output: str, *secrets_: str | None) -> None:
    for secret in secrets_:
        if secret:
            assert secret not in output, "a secret or token reached aws-credfile's output"


def test_user_key_from_agent_signs_assume_role_moto_verifies_and_boto3_uses_s3(
    moto_server, fake_container_endpoint, tmp_path, home
):
    moto = moto_server(auth=True)
    user = moto.create_user("base")
    # The role trusts exactly this user (moto compares the principal literally); moto would
    # deny the AssumeRole to anyone else, so acceptance also proves whose keys signed it.
    target = moto.create_role("chained-target", trusted=f"arn:aws:iam::{ACCOUNT_ID}:user/base")
    agent = fake_container_endpoint
    agent.serve(user)  # a long-term key: no Token in the JSON
    path = tmp_path / "credentials"

    result = run_credfile(chain(path, target), container_env(home, agent, moto))

    assert result.returncode == 0, describe(result)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert agent.authorized_requests() >= 1
    assert all(ok for _, _, ok in agent.requests), agent.requests
    issued = moto.issued_credentials()
    assert len(issued) == 1, issued  # only the chained session: the user key is not a session
    written = boto3_profile_credentials(path, "default")
    assert written == issued[0]
    assert written.access_key.startswith("ASIA") and written.token
    # Signature checks are still on: these calls prove the secret and token are byte-exact.
    assert caller_arn(moto.url, written) == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/chained-target/e2e-chain"

    s3 = boto3_profile_client(path, "default", "s3", moto.url)
    body = b"written by boto3 with aws-credfile's chained credentials\n"
    s3.create_bucket(Bucket="e2e-chain")
    s3.put_object(Bucket="e2e-chain", Key="dir/object.txt", Body=body)
    assert s3.get_object(Bucket="e2e-chain", Key="dir/object.txt")["Body"].read() == body
    # ...and moto's S3 really checks them: the same call with a wrong secret is refused.
    wrong = aws_client("s3", moto.url, Creds(written.access_key, "wrong-secret", written.token))
    with pytest.raises(ClientError) as e:
        wrong.get_object(Bucket="e2e-chain", Key="dir/object.txt")
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"

    assert_no_secrets(
        result.stdout + result.stderr,
        user.secret_key,
        written.secret_key,
        written.token,
        agent.token_file.read_text(),
    )


def test_wrong_secret_from_agent_exits_1_and_leaves_files_alone(
    moto_server, fake_container_endpoint, tmp_path, home
):
    moto = moto_server(auth=True)
    user = moto.create_user("base")
    target = moto.create_role("chained-target", trusted=f"arn:aws:iam::{ACCOUNT_ID}:user/base")
    agent = fake_container_endpoint
    wrong_secret = "wrongWRONGwrong0000000000000000000000000"
    agent.serve(Creds(user.access_key, wrong_secret, None))
    env = container_env(home, agent, moto)

    # No file yet: none is created.
    absent = tmp_path / "absent" / "credentials"
    result = run_credfile(chain(absent, target), env)

    assert result.returncode == 1, describe(result)
    assert "403" in result.stderr, describe(result)  # the code itself: see the next test
    assert agent.authorized_requests() >= 1  # the agent answered; STS refused
    assert not absent.exists()
    assert not absent.parent.exists() or not any(absent.parent.iterdir()), list(absent.parent.iterdir())
    assert moto.issued_credentials() == []

    # A previous file: left byte for byte, same inode (not even rewritten).
    previous = tmp_path / "previous" / "credentials"
    previous.parent.mkdir()
    content = (
        "[default]\n"
        "aws_access_key_id = AKIAPREVIOUS00000000\n"
        "aws_secret_access_key = previous-secret\n"
        "[other]\n"
        "aws_access_key_id = AKIAOTHER00000000000\n"
        "aws_secret_access_key = other-secret\n"
    )
    previous.write_text(content)
    previous.chmod(0o600)
    before = previous.stat()
    result = run_credfile(chain(previous, target), env)

    assert result.returncode == 1, describe(result)
    assert previous.read_text() == content
    after = previous.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(p.name for p in previous.parent.iterdir()) == ["credentials"]  # no temp file left
    assert moto.issued_credentials() == []
    assert_no_secrets(result.stdout + result.stderr, wrong_secret, user.secret_key, agent.token_file.read_text())


def base_session(moto, user: Creds) -> Creds:
    """Temporary credentials moto issued (ASIA… with a session token), as the Pod Identity
    agent really serves them."""
    base_role = moto.create_role("pod-base", trusted=f"arn:aws:iam::{ACCOUNT_ID}:user/base")
    answer = aws_client("sts", moto.url, user).assume_role(RoleArn=base_role, RoleSessionName="pod-base")
    c = answer["Credentials"]
    return Creds(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])


def test_session_credentials_from_agent_sign_assume_role_with_their_token(
    moto_server, fake_container_endpoint, tmp_path, home
):
    moto = moto_server(auth=True)
    user = moto.create_user("base")
    base = base_session(moto, user)
    # moto compares the principal literally; the caller is the assumed-role session ARN.
    target = moto.create_role("chained-target", trusted="*")
    agent = fake_container_endpoint
    agent.serve(base)
    path = tmp_path / "credentials"

    result = run_credfile(chain(path, target, "e2e-token"), container_env(home, agent, moto))

    assert result.returncode == 0, describe(result)
    issued = moto.issued_credentials()
    assert len(issued) == 2, issued  # the agent's session, then the chained one
    assert issued[0] == base
    written = boto3_profile_credentials(path, "default")
    assert written == issued[1]
    assert caller_arn(moto.url, written) == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/chained-target/e2e-token"
    assert_no_secrets(
        result.stdout + result.stderr,
        base.secret_key,
        base.token,
        written.secret_key,
        written.token,
        agent.token_file.read_text(),
    )


def test_session_credentials_with_a_wrong_token_are_refused(
    moto_server, fake_container_endpoint, tmp_path, home
):
    moto = moto_server(auth=True)
    user = moto.create_user("base")
    base = base_session(moto, user)
    target = moto.create_role("chained-target", trusted="*")
    agent = fake_container_endpoint
    wrong_token = "FQoGZXIvYXdzE" + "wrongtoken" * 8
    agent.serve(Creds(base.access_key, base.secret_key, wrong_token))
    path = tmp_path / "credentials"

    result = run_credfile(chain(path, target), container_env(home, agent, moto))

    assert result.returncode == 1, describe(result)
    assert not path.exists()
    assert len(moto.issued_credentials()) == 1  # only the agent's own session
    assert_no_secrets(result.stdout + result.stderr, base.secret_key, wrong_token, base.token)


# moto's signature and token errors come as <ErrorResponse><Errors><Error><Code>… (an extra
# <Errors> level; real STS has none). botocore reads both, and so does aws-credfile.
@pytest.mark.parametrize("wrong, code", [("secret", "SignatureDoesNotMatch"), ("token", "InvalidClientTokenId")])
def test_a_refused_chained_assume_role_names_the_sts_error_code(
    moto_server, fake_container_endpoint, tmp_path, home, wrong, code
):
    moto = moto_server(auth=True)
    user = moto.create_user("base")
    target = moto.create_role("chained-target", trusted="*")
    agent = fake_container_endpoint
    if wrong == "secret":
        agent.serve(Creds(user.access_key, "wrongWRONGwrong0000000000000000000000000", None))
    else:
        base = base_session(moto, user)
        agent.serve(Creds(base.access_key, base.secret_key, "FQoGZXIvYXdzE" + "wrongtoken" * 8))

    result = run_credfile(chain(tmp_path / "credentials", target), container_env(home, agent, moto))

    assert result.returncode == 1, describe(result)
    assert code in result.stderr, describe(result)
