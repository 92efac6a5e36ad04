"""IRSA end to end: aws-credfile exchanges a web identity token with moto's STS, writes the
shared credentials file, and boto3 (a real SDK) reads that file and makes calls with it.

What these tests rely on from the binary: exit codes and the file. Nothing in its log format.
"""

from __future__ import annotations

import signal
import stat

from harness import (
    ACCOUNT_ID,
    Daemon,
    boto3_profile_credentials,
    caller_arn,
    describe,
    eventually,
    ini_profile,
    irsa_env,
    run_credfile,
)


def assert_private(path):
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode == 0o600, f"{path} has mode {mode:o}, want 600"


def test_once_writes_what_sts_issued_and_boto3_can_sign_with_it(moto_server, home, token_file):
    moto = moto_server(auth=False)
    role_arn = moto.create_role("app")
    env = irsa_env(home, moto, role_arn, token_file, AWS_ROLE_SESSION_NAME="e2e-once")

    result = run_credfile(["--once"], env)

    assert result.returncode == 0, describe(result)
    # No --file, no AWS_SHARED_CREDENTIALS_FILE: the SDKs' default, $HOME/.aws/credentials.
    path = home / ".aws" / "credentials"
    assert path.is_file(), describe(result)
    assert_private(path)

    issued = moto.issued_credentials()
    assert len(issued) == 1, issued
    from_boto3 = boto3_profile_credentials(path, "default")
    assert from_boto3 == issued[0]
    assert from_boto3.access_key.startswith("ASIA")

    # The key step: with moto now verifying SigV4, a call signed with what boto3 read from the
    # file succeeds, so the secret and session token were written byte for byte.
    moto.set_auth(True)
    assert caller_arn(moto.url, from_boto3) == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/app/e2e-once"

    # The identity token is a secret too: not in the file, not in any output.
    token = token_file.read_text().strip()
    assert token not in path.read_text()
    assert token not in result.stdout + result.stderr
    assert from_boto3.secret_key not in result.stdout + result.stderr
    assert from_boto3.token not in result.stdout + result.stderr


def test_once_keeps_other_profiles_and_writes_the_named_one(moto_server, tmp_path, home, token_file):
    moto = moto_server(auth=False)
    role_arn = moto.create_role("registry")
    path = tmp_path / "shared" / "credentials"
    path.parent.mkdir()
    other = (
        "# hand-written, must survive\n"
        "[static]\n"
        "aws_access_key_id = AKIASTATIC0000000000\n"
        "aws_secret_access_key = static-secret\n"
        "\n"
    )
    path.write_text(other)
    path.chmod(0o600)
    env = irsa_env(home, moto, role_arn, token_file)

    result = run_credfile(["--once", "--file", str(path), "--profile", "registry"], env)

    assert result.returncode == 0, describe(result)
    assert_private(path)
    content = path.read_text()
    assert content.startswith(other), content
    assert boto3_profile_credentials(path, "static") == ini_profile(path, "static")
    assert ini_profile(path, "static").access_key == "AKIASTATIC0000000000"

    written = boto3_profile_credentials(path, "registry")
    assert written == moto.issued_credentials()[-1]
    moto.set_auth(True)
    # No AWS_ROLE_SESSION_NAME: the binary picks a session name of its own.
    assert caller_arn(moto.url, written).startswith(f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/registry/")


def test_daemon_writes_refreshes_on_sighup_and_exits_zero_on_sigterm(moto_server, tmp_path, home, token_file):
    moto = moto_server(auth=False)
    role_arn = moto.create_role("app")
    path = tmp_path / "creds" / "credentials"
    env = irsa_env(home, moto, role_arn, token_file, AWS_SHARED_CREDENTIALS_FILE=str(path))

    daemon = Daemon(["--duration", "15m"], env, tmp_path / "daemon.log")
    try:
        first = eventually("the daemon to write the file", lambda: ini_profile(path, "default"))
        assert_private(path)
        assert boto3_profile_credentials(path, "default") == first
        assert daemon.alive(), daemon.output()

        daemon.signal(signal.SIGHUP)
        second = eventually(
            "a new access key after SIGHUP",
            lambda: (c := ini_profile(path, "default")) and c.access_key != first.access_key and c,
        )
        assert second == moto.issued_credentials()[-1]
        assert boto3_profile_credentials(path, "default") == second
        assert daemon.alive(), daemon.output()

        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0, daemon.output()
    finally:
        daemon.stop()

    log = daemon.output()
    for secret in (first.secret_key, first.token, second.secret_key, second.token, token_file.read_text().strip()):
        assert secret not in log

    # The file outlives the daemon and still works.
    moto.set_auth(True)
    assert caller_arn(moto.url, second).startswith(f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/app/")


def test_check_judges_the_file_alone_against_min_valid(moto_server, tmp_path, home, token_file):
    moto = moto_server(auth=False)
    role_arn = moto.create_role("app")
    path = tmp_path / "credentials"
    env = irsa_env(home, moto, role_arn, token_file)

    once = run_credfile(["--once", "--file", str(path), "--duration", "15m"], env)
    assert once.returncode == 0, describe(once)

    # --check is the exec probe of a scratch image: it reads only the file, so it gives the
    # same answers with STS gone.
    moto.stop()
    check = run_credfile(["--check", "--file", str(path)], env)
    assert check.returncode == 0, describe(check)  # 15 minutes left, 5 asked by default
    stale = run_credfile(["--check", "--file", str(path), "--min-valid", "1h"], env)
    assert stale.returncode == 1, describe(stale)  # 15 minutes left, 1 hour asked
    other = run_credfile(["--check", "--file", str(path), "--profile", "absent"], env)
    assert other.returncode == 1, describe(other)
