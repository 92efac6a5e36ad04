"""Fixtures for the end-to-end suite: moto servers and a scrubbed environment.

Run with `make e2e` (or `make test`), which builds the binary and sets AWS_CREDFILE_BIN.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterator

import pytest

from harness import Daemon, FakeContainerEndpoint, FakeSts, MotoServer

# boto3 in this process reads os.environ, so scrub it before any test (or import) can make a
# client: no AWS_* from the machine (this one has AWS_CA_BUNDLE and more), no proxies, no
# ~/.aws files, and never the instance metadata service. Every client is built with explicit
# keys and an explicit http://127.0.0.1 endpoint on top of this.
for _name in list(os.environ):
    if (_name.startswith("AWS_") and _name != "AWS_CREDFILE_BIN") or _name.lower() in (
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
    ):
        del os.environ[_name]
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["NO_PROXY"] = "127.0.0.1,localhost"


@pytest.fixture
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., MotoServer]]:
    """Factory: moto_server(auth=False) or moto_server(auth=True); every server is stopped
    when the test ends. See MotoServer for what auth means."""
    servers: list[MotoServer] = []

    def start(auth: bool = False) -> MotoServer:
        server = MotoServer(tmp_path_factory.mktemp("moto-auth" if auth else "moto"), auth=auth)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """HOME for the binary: an empty directory of the test's own."""
    h = tmp_path / "home"
    h.mkdir()
    return h


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    """A projected service-account token as the kubelet writes it (moto does not verify it)."""
    path = tmp_path / "token"
    path.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZTJlIn0.e2e-signature\n")
    return path


@pytest.fixture
def container_token_file(tmp_path: Path) -> Path:
    """The Pod Identity agent's token as EKS projects it. No trailing newline: the fake agent
    compares Authorization with the file's exact content."""
    path = tmp_path / "eks-pod-identity-token"
    path.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwb2QtaWRlbnRpdHkifQ.e2e-agent-signature")
    return path


@pytest.fixture
def fake_container_endpoint(container_token_file: Path) -> Iterator[FakeContainerEndpoint]:
    """A fake Pod Identity agent on 127.0.0.1; stopped when the test ends."""
    endpoint = FakeContainerEndpoint(container_token_file)
    yield endpoint
    endpoint.stop()


@pytest.fixture
def fake_sts() -> Iterator[Callable[..., FakeSts]]:
    """Factory: fake_sts(lifetime=4) issues web identity credentials living that many
    seconds; every server is stopped when the test ends."""
    servers: list[FakeSts] = []

    def start(lifetime: float = 4) -> FakeSts:
        server = FakeSts(lifetime)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def credfile_daemon(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    """Factory: credfile_daemon(args, env) starts aws-credfile as a daemon logging to a file
    of the test's own; every one still running is stopped when the test ends."""
    daemons: list[Daemon] = []

    def start(args: list[str], env: dict[str, str]) -> Daemon:
        daemon = Daemon(args, env, tmp_path / f"daemon-{len(daemons)}.log")
        daemons.append(daemon)
        return daemon

    yield start
    for daemon in daemons:
        daemon.stop()
