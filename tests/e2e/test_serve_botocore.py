"""--serve end to end: botocore, as the application, reads aws-credfile's loopback endpoint
through its own container provider (the default chain, AWS_CONTAINER_CREDENTIALS_FULL_URI)
and picks up refreshed credentials in the same process, with no restart.

The daemon gets its web identity credentials from a fake STS that issues 4-second
credentials whatever is asked (aws-credfile refuses --duration under 900 s and so does real
STS), so a refresh happens within seconds. botocore refreshes container credentials in the
15 minutes before expiry, which for 4-second credentials means at every access; each access
is a GET to the endpoint.

botocore runs in this test process, which conftest.py scrubbed: no shared file or config
(both /dev/null), no metadata service. monkeypatch sets the container variables for the
test's duration only (botocore re-reads the token variable at every refresh).
"""

from __future__ import annotations

from pathlib import Path

import boto3
import botocore.session
import pytest
from botocore.exceptions import CredentialRetrievalError

from harness import (
    ACCOUNT_ID,
    REGION,
    Creds,
    Daemon,
    base_env,
    eventually,
    free_port,
    http_get_json,
    irsa_env,
)

ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/app"


def start_serving(credfile_daemon, args: list[str], env: dict[str, str], token: str | None = None) -> tuple[Daemon, str]:
    """Starts aws-credfile --serve on a free loopback port; returns it once the endpoint
    answers 200. A port taken between free_port() and bind is retried on another."""
    headers = {"Authorization": token} if token else {}
    for _ in range(3):
        url = f"http://127.0.0.1:{free_port()}/v1/credentials"
        daemon = credfile_daemon([*args, "--serve", url.split("/")[2]], env)

        def ready_or_dead():
            if not daemon.alive():
                return "dead"
            return http_get_json(url, headers, timeout=5)[0] == 200 and "ready"

        if eventually(f"{url} to answer 200", ready_or_dead) == "ready":
            return daemon, url
        if "in use" not in daemon.output().lower():
            break
    raise AssertionError(f"aws-credfile --serve exited {daemon.proc.returncode}:\n{daemon.output()}")


def botocore_app_credentials():
    """What an app's botocore resolves through the default chain, as a fresh process would."""
    session = botocore.session.Session()
    session.set_config_variable("region", REGION)
    creds = session.get_credentials()
    assert creds is not None, "botocore found no credentials"
    return creds


def issued_to(fake_sts, frozen) -> int:
    """The index of the fake STS's answer that frozen credentials came from; they must match
    it byte for byte (key, secret and token)."""
    issued = fake_sts.snapshot()
    got = Creds(frozen.access_key, frozen.secret_key, frozen.token)
    assert got in issued, f"{got!r} is not among what the fake STS issued: {issued!r}"
    return issued.index(got)


def assert_log_clean(daemon: Daemon, fake_sts, *more: str) -> None:
    log = daemon.output()
    for c in fake_sts.snapshot():
        assert c.secret_key not in log and c.token not in log, "a secret reached the daemon's log"
    for secret in more:
        assert secret not in log, "a token reached the daemon's log"


def test_botocore_gets_refreshed_credentials_from_the_endpoint_in_the_same_process(
    fake_sts, credfile_daemon, monkeypatch, home, token_file
):
    sts = fake_sts(lifetime=4)
    env = irsa_env(home, sts, ROLE_ARN, token_file)
    daemon, url = start_serving(credfile_daemon, [], env)
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url)

    creds = botocore_app_credentials()

    assert creds.method == "container-role"
    first = creds.get_frozen_credentials()
    first_index = issued_to(sts, first)

    # Same credentials object, same process: botocore refetches from the endpoint, and
    # aws-credfile has refreshed from STS in the meantime (every ~2 s for 4-second ones).
    second = eventually(
        "botocore to see a new access key",
        lambda: (f := creds.get_frozen_credentials()).access_key != first.access_key and f,
    )
    second_index = issued_to(sts, second)
    assert second_index > first_index
    # And again: it keeps refreshing, not just once.
    third = eventually(
        "botocore to see yet another access key",
        lambda: (f := creds.get_frozen_credentials()).access_key != second.access_key and f,
    )
    assert issued_to(sts, third) > second_index
    assert daemon.alive(), daemon.output()

    # With --serve and no --file, aws-credfile writes no file (the app would read it first).
    assert not (home / ".aws").exists()
    assert_log_clean(daemon, sts, token_file.read_text().strip())


@pytest.fixture
def serve_token(tmp_path: Path) -> tuple[Path, str]:
    """A --serve-token-file as a Kubernetes Secret or `echo` writes it, with a newline; the
    value the app sends is the line itself."""
    value = "e2e-serve-token-3b7f0c9d2a"
    path = tmp_path / "serve-token"
    path.write_text(value + "\n")
    return path, value


def test_botocore_with_the_serve_token_succeeds(
    fake_sts, credfile_daemon, monkeypatch, home, token_file, serve_token
):
    path, value = serve_token
    sts = fake_sts(lifetime=4)
    env = irsa_env(home, sts, ROLE_ARN, token_file)
    daemon, url = start_serving(credfile_daemon, ["--serve-token-file", str(path)], env, token=value)
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url)
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", value)

    creds = botocore_app_credentials()

    assert creds.method == "container-role"
    first = creds.get_frozen_credentials()
    issued_to(sts, first)
    later = eventually(
        "botocore, sending the token, to see a new access key",
        lambda: (f := creds.get_frozen_credentials()).access_key != first.access_key and f,
    )
    issued_to(sts, later)
    assert_log_clean(daemon, sts, value, token_file.read_text().strip())


@pytest.mark.parametrize("sent", [None, "e2e-serve-token-wrong"], ids=["no-token", "wrong-token"])
def test_botocore_without_the_serve_token_is_refused(
    fake_sts, credfile_daemon, monkeypatch, home, token_file, serve_token, sent
):
    """The compatibility rule in the README: with --serve-token-file, an SDK that sends no
    Authorization (aws-sdk-go v1 before 1.15.41) gets nothing; botocore raises."""
    path, value = serve_token
    sts = fake_sts(lifetime=4)
    env = irsa_env(home, sts, ROLE_ARN, token_file)
    daemon, url = start_serving(credfile_daemon, ["--serve-token-file", str(path)], env, token=value)
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url)
    if sent:
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", sent)

    with pytest.raises(CredentialRetrievalError) as e:
        botocore_app_credentials()

    assert "401" in str(e.value), e.value
    assert http_get_json(url)[0] == 401  # the same from a plain GET
    assert daemon.alive(), daemon.output()
    assert_log_clean(daemon, sts, value, token_file.read_text().strip())


def test_boto3_calls_moto_with_served_credentials_signature_checked(
    moto_server, credfile_daemon, monkeypatch, home, token_file
):
    """The endpoint's secret and token reach boto3 byte for byte: moto verifies the SigV4
    signature of an S3 round trip made with them."""
    moto = moto_server(auth=False)  # the web identity call is unsigned
    role_arn = moto.create_role("served")
    env = irsa_env(home, moto, role_arn, token_file, AWS_ROLE_SESSION_NAME="e2e-served")
    daemon, url = start_serving(credfile_daemon, [], env)
    # moto's one-hour credentials are next refreshed in about half an hour: no more unsigned
    # calls during the test, so checking every signature from here on is safe.
    moto.set_auth(True)
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url)

    session = boto3.Session(region_name=REGION)
    creds = session.get_credentials()
    assert creds.method == "container-role"
    frozen = creds.get_frozen_credentials()
    assert Creds(frozen.access_key, frozen.secret_key, frozen.token) == moto.issued_credentials()[-1]

    sts = session.client("sts", endpoint_url=moto.url)
    assert sts.get_caller_identity()["Arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/served/e2e-served"
    s3 = session.client("s3", endpoint_url=moto.url)
    s3.create_bucket(Bucket="e2e-served")
    s3.put_object(Bucket="e2e-served", Key="k", Body=b"served\n")
    assert s3.get_object(Bucket="e2e-served", Key="k")["Body"].read() == b"served\n"
    assert daemon.alive(), daemon.output()
    log = daemon.output()
    assert frozen.secret_key not in log and frozen.token not in log


# A long-term key (Pod Identity agents never serve one, a custom https endpoint may) has no
# session token. botocore 1.44.8 fails with KeyError('Token') when "Token" is missing
# (test_botocore_facts.py), so aws-credfile always serves it, empty for such a key.
def test_botocore_reads_a_served_long_term_key(fake_container_endpoint, credfile_daemon, monkeypatch, home):
    agent = fake_container_endpoint
    key = Creds("AKIASERVEDUSERKEY000", "served-user-secret-0000000000000000000000", None)
    agent.serve(key)
    env = base_env(home)
    env.update(
        {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": agent.url,
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(agent.token_file),
            "AWS_REGION": REGION,
        }
    )
    daemon, url = start_serving(credfile_daemon, ["--source", "container"], env)
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url)

    frozen = botocore_app_credentials().get_frozen_credentials()

    assert (frozen.access_key, frozen.secret_key) == (key.access_key, key.secret_key)
    assert not frozen.token
    assert daemon.alive(), daemon.output()
