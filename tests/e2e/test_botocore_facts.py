"""Facts about botocore's container provider (the pinned version) that --serve's users meet,
checked against the fake agent without the binary, so an upgrade that changes them fails
here with a clear name."""

from __future__ import annotations

import botocore.session
import pytest

from harness import REGION, Creds


def app_credentials():
    session = botocore.session.Session()
    session.set_config_variable("region", REGION)
    return session.get_credentials()


def test_botocore_needs_a_token_in_the_container_json(fake_container_endpoint, monkeypatch):
    """A long-term key served without "Token" breaks botocore with a bare KeyError; with a
    Token it loads."""
    agent = fake_container_endpoint
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", agent.url)
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", agent.token_file.read_text())

    agent.serve(Creds("AKIAFACTS00000000000", "facts-secret", None))
    with pytest.raises(KeyError, match="Token"):
        app_credentials()

    agent.serve(Creds("ASIAFACTS00000000000", "facts-secret", "facts-token"))
    assert app_credentials().get_frozen_credentials().token == "facts-token"


def test_botocore_sends_a_token_file_raw_and_refuses_a_trailing_newline(fake_container_endpoint, monkeypatch, tmp_path):
    """aws-credfile trims its --serve-token-file, botocore does not trim
    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: the same file with a newline cannot serve both."""
    agent = fake_container_endpoint
    agent.serve(Creds("ASIAFACTS00000000000", "facts-secret", "facts-token"))
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", agent.url)
    with_newline = tmp_path / "token-with-newline"
    with_newline.write_text(agent.token_file.read_text() + "\n")
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", str(with_newline))

    with pytest.raises(ValueError, match="not a legal header value"):
        app_credentials()

    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", str(agent.token_file))
    assert app_credentials().method == "container-role"
