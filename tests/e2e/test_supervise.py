"""`aws-credfile -- PROGRAM`, `--credential-process` and `--print env` end to end, with
boto3/botocore as the application:

- `aws-credfile [FLAGS] -- python3 boto3_app.py` with no flags (the zero-configuration
  loopback endpoint), with `--file` and with `--serve`: the long-running program sees refreshed
  credentials (a fake STS issuing 4-second credentials), and its signed calls to moto's STS and
  S3 succeed with the credentials moto issued (moto verifies every signature after aws-credfile's
  one unsigned web identity call); and both at once: a program keeping one session signs moto
  calls, aws-credfile refreshes from moto on SIGHUP, and the same session (endpoint) or a new
  one (file) signs with the new key, which moto accepts;
- botocore with `credential_process = aws-credfile --credential-process` in its config file:
  it runs the process again as the credentials near their `Expiration`, and signs with them;
- `eval "$(aws-credfile --print env)"` in sh, then boto3 signing with those variables.

boto3_app.py is the program; it prints a JSON report of what it saw (key ids, never secrets).
Every SDK here gets AWS_EC2_METADATA_DISABLED=true, no config or credentials file of the
machine's, and explicit http://127.0.0.1 endpoints.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import botocore.session
import pytest

from harness import (
    ACCOUNT_ID,
    REGION,
    RUN_TIMEOUT,
    Creds,
    credfile_bin,
    describe,
    eventually,
    free_port,
    irsa_env,
)

APP = Path(__file__).with_name("boto3_app.py")
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/app"
MODES = ["zero-config", "file", "serve"]


def app_env(env: dict[str, str]) -> dict[str, str]:
    """env, plus what the application needs: this interpreter (which has boto3) first on PATH
    as `python3`, no metadata service, no config file of the machine's."""
    env = dict(env)
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["AWS_CONFIG_FILE"] = os.devnull
    return env


def flags_for(mode: str, tmp_path: Path) -> list[str]:
    if mode == "file":
        return ["--file", str(tmp_path / "shared" / "credentials")]
    if mode == "serve":
        return ["--serve", f"127.0.0.1:{free_port()}"]
    return []


def supervise(
    mode: str, tmp_path: Path, env: dict[str, str], *app_args: str, extra_flags: tuple[str, ...] = ()
) -> tuple[dict, str]:
    """Runs `aws-credfile FLAGS EXTRA_FLAGS -- python3 boto3_app.py APP_ARGS` to its end; the
    app's report and aws-credfile's log. A --serve port taken before aws-credfile bound it is
    retried."""
    for _ in range(3):
        result = subprocess.run(
            [str(credfile_bin()), *flags_for(mode, tmp_path), *extra_flags, "--", "python3", str(APP), *app_args],
            env=app_env(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
        if result.returncode == 2 and "cannot listen" in result.stderr:
            continue
        break
    assert result.returncode == 0, describe(result)
    # stdout is the program's alone: its one report line.
    lines = result.stdout.splitlines()
    assert len(lines) == 1, describe(result)
    return json.loads(lines[0]), result.stderr


def assert_handed_over(mode: str, names: list[str]) -> None:
    """What the program's environment says about where its credentials come from."""
    for gone in ("AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        assert gone not in names, names
    endpoint = {"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN"}
    if mode == "file":
        assert "AWS_SHARED_CREDENTIALS_FILE" in names and not endpoint & set(names), names
    else:
        assert endpoint <= set(names) and "AWS_SHARED_CREDENTIALS_FILE" not in names, names


def assert_in_issue_order(keys: list[str], issued: list[Creds]) -> None:
    ids = [c.access_key for c in issued]
    positions = [ids.index(k) for k in keys]  # ValueError: never issued
    assert positions == sorted(positions) and len(set(positions)) == len(positions), (keys, ids)


@pytest.mark.parametrize("mode", MODES)
def test_a_long_running_boto3_program_sees_refreshed_credentials(mode, fake_sts, home, token_file, tmp_path):
    sts = fake_sts(lifetime=4)
    env = irsa_env(home, sts, ROLE_ARN, token_file)

    report, log = supervise(mode, tmp_path, env, "refresh")

    assert_handed_over(mode, report["env"])
    issued = sts.snapshot()
    if mode == "file":
        assert report["method"] == "shared-credentials-file"
        # botocore reads the file once per session and never again: the session it keeps
        # shows the key it first read to the end, which is why the zero-configuration handoff
        # is the endpoint. A new session reads the refreshed file.
        assert len(report["long_lived"]) == 1, report
        assert_in_issue_order(report["long_lived"], issued)
        assert len(set(report["fresh"])) >= 3, report
        assert_in_issue_order(report["fresh"], issued)
    else:
        # The container provider: refreshed in the same session, from the endpoint, before
        # expiry (botocore asks again within 15 minutes of it: at every use, for 4 seconds).
        assert report["method"] == "container-role"
        assert len(report["long_lived"]) >= 3, report
        assert_in_issue_order(report["long_lived"], issued)
    for c in issued:
        assert c.secret_key not in log and c.token not in log, "a secret reached the log"
    assert token_file.read_text().strip() not in log


@pytest.mark.parametrize("mode", MODES)
def test_a_supervised_boto3_program_signs_moto_calls(mode, moto_server, home, token_file, tmp_path):
    moto = moto_server(auth=False)
    role_arn = moto.create_role("supervised")
    # aws-credfile's web identity call is unsigned; every call after it must be signed right.
    moto.require_signatures_after(1)
    env = irsa_env(home, moto, role_arn, token_file, AWS_ROLE_SESSION_NAME="e2e-supervised")

    report, log = supervise(mode, tmp_path, env, "calls", moto.url, f"e2e-supervised-{mode}")

    issued = moto.issued_credentials()
    assert len(issued) == 1, issued
    assert report["access_key"] == issued[0].access_key
    assert report["method"] == ("shared-credentials-file" if mode == "file" else "container-role")
    assert report["arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/supervised/e2e-supervised"
    assert report["body"] == "supervised\n"
    assert_handed_over(mode, report["env"])
    assert issued[0].secret_key not in log and issued[0].token not in log


@pytest.mark.parametrize("mode", MODES)
def test_a_long_running_boto3_program_signs_moto_calls_across_a_refresh(
    mode, moto_server, home, token_file, tmp_path
):
    moto = moto_server(auth=False)
    role_arn = moto.create_role("refreshed")
    moto.require_signatures_after(1)
    env = irsa_env(home, moto, role_arn, token_file, AWS_ROLE_SESSION_NAME="e2e-refreshed")
    ready = tmp_path / "ready.json"
    # 900 s, the shortest STS gives: botocore's container provider fetches again whenever the
    # credentials are within 15 minutes of expiry, so at every use; and aws-credfile's own
    # next refresh (near half-life) is minutes away, so the SIGHUP's is the only one.
    duration = ("--duration", "15m")

    with ThreadPoolExecutor(max_workers=1) as pool:
        app_args = ("calls-across-refresh", moto.url, f"e2e-refreshed-{mode}", str(ready))
        run = pool.submit(supervise, mode, tmp_path, env, *app_args, extra_flags=duration)
        eventually("the program's first calls", lambda: ready.exists() or run.done(), timeout=RUN_TIMEOUT)
        if not ready.exists():
            run.result()  # supervise's assertion: what aws-credfile and the program said
        handshake = json.loads(ready.read_text())
        pid = handshake["pid"]
        assert Path(f"/proc/{pid}/exe").resolve() == credfile_bin().resolve(), "the program's parent"
        # The refresh's AssumeRoleWithWebIdentity is unsigned, as IRSA's is: moto lets that one
        # call through, and checks every signature after it. The program makes no AWS call
        # until it sees the new key, so nothing else can take that one.
        moto.require_signatures_after(1)
        os.kill(pid, signal.SIGHUP)
        report, log = run.result()

    issued = moto.issued_credentials()
    # The first credentials and the SIGHUP's; any other web identity call would have been
    # refused for its missing signature.
    assert len(issued) == 2, issued
    old, new = issued[0].access_key, issued[1].access_key
    arn = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/refreshed/e2e-refreshed"
    assert handshake["key"] == old
    assert report["before"] == {"signed_with": [old], "arn": arn, "body": "before"}, report
    # A new session finds the new key either way, and moto accepts the calls signed with it.
    assert report["fresh"] == {"signed_with": [new], "arn": arn, "body": "fresh"}, report
    if mode == "file":
        assert report["method"] == "shared-credentials-file"
        # botocore reads the file once per session: the session the program kept goes on
        # signing with the first key (still valid, so moto accepts it) until it is restarted,
        # which is why the zero-configuration handoff is the endpoint.
        assert report["after"] == {"signed_with": [old], "arn": arn, "body": "after"}, report
    else:
        # The container provider asks the endpoint again, so the same session and the same
        # clients sign with the refreshed key.
        assert report["method"] == "container-role"
        assert report["after"] == {"signed_with": [new], "arn": arn, "body": "after"}, report
    assert report["hups"] >= 1, "aws-credfile forwards SIGHUP to the program"
    assert_handed_over(mode, report["env"])
    for c in issued:
        assert c.secret_key not in log and c.token not in log, "a secret reached the log"
    assert token_file.read_text().strip() not in log


def credential_process_config(tmp_path: Path, sts_url: str, role_arn: str, token_file: Path) -> Path:
    """An AWS config file whose default profile runs aws-credfile --credential-process, with
    the IRSA variables given to that process alone (in the application's own environment, a
    recent botocore would use web identity itself, before credential_process)."""
    command = shlex.join(
        [
            "/usr/bin/env",
            f"AWS_ROLE_ARN={role_arn}",
            f"AWS_WEB_IDENTITY_TOKEN_FILE={token_file}",
            f"AWS_REGION={REGION}",
            f"AWS_ENDPOINT_URL_STS={sts_url}",
            str(credfile_bin()),
            "--credential-process",
        ]
    )
    config = tmp_path / "config"
    config.write_text(f"[default]\nregion = {REGION}\ncredential_process = {command}\n")
    return config


def test_botocore_credential_process_refreshes_from_the_expiration(fake_sts, token_file, tmp_path, monkeypatch):
    sts = fake_sts(lifetime=4)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(credential_process_config(tmp_path, sts.url, ROLE_ARN, token_file)))

    session = botocore.session.Session()
    creds = session.get_credentials()

    assert creds is not None and creds.method == "custom-process"
    first = creds.get_frozen_credentials()
    assert Creds(first.access_key, first.secret_key, first.token) in sts.snapshot()
    # botocore runs the process again as Expiration nears (within 15 minutes: at every use,
    # for 4-second credentials); each run fetches anew.
    later = eventually(
        "botocore to run the process again for new credentials",
        lambda: (f := creds.get_frozen_credentials()).access_key != first.access_key and f,
    )
    assert Creds(later.access_key, later.secret_key, later.token) in sts.snapshot()


def test_botocore_signs_moto_calls_with_credential_process_credentials(
    moto_server, token_file, tmp_path, monkeypatch
):
    moto = moto_server(auth=False)
    role_arn = moto.create_role("process")
    moto.require_signatures_after(1)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(credential_process_config(tmp_path, moto.url, role_arn, token_file)))

    session = boto3.Session()
    assert session.get_credentials().method == "custom-process"
    arn = session.client("sts", endpoint_url=moto.url).get_caller_identity()["Arn"]
    assert arn.startswith(f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/process/"), arn
    s3 = session.client("s3", endpoint_url=moto.url)
    s3.create_bucket(Bucket="e2e-process")
    s3.put_object(Bucket="e2e-process", Key="k", Body=b"process\n")
    assert s3.get_object(Bucket="e2e-process", Key="k")["Body"].read() == b"process\n"


def test_print_env_eval_in_sh_gives_boto3_working_credentials(moto_server, home, token_file):
    moto = moto_server(auth=False)
    role_arn = moto.create_role("printed")
    moto.require_signatures_after(1)
    env = app_env(irsa_env(home, moto, role_arn, token_file, AWS_ROLE_SESSION_NAME="e2e-printed"))
    script = 'out=$("$0" --print env) || exit 9; eval "$out"; exec python3 "$1" calls "$2" "$3"'

    result = subprocess.run(
        ["sh", "-c", script, str(credfile_bin()), str(APP), moto.url, "e2e-printed"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )

    assert result.returncode == 0, describe(result)
    report = json.loads(result.stdout)
    # The environment keys come first in every SDK's chain.
    assert report["method"] == "env"
    assert report["access_key"] == moto.issued_credentials()[0].access_key
    assert report["arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/printed/e2e-printed"
    assert report["body"] == "supervised\n"
    assert result.stderr == "", describe(result)
