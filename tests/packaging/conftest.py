"""Fixtures of the packaging tests; the helpers behind them are in
packaging_support.py."""

import shutil
import ssl
import subprocess

import pytest

from packaging_support import (
    EMULATOR_IN_ROOTFS,
    HOST_ARCH,
    IMAGE_ARCHES,
    IMAGE_ARCHIVE,
    OciArchive,
    FakeServer,
    container_answer,
    sts_answer,
    qemu_static,
    require_file,
    require_root,
)


@pytest.fixture
def fake_sts():
    """A fake STS answering AssumeRoleWithWebIdentity for ROLE_ARN and TOKEN."""
    server = FakeServer(sts_answer)
    yield server
    server.close()


@pytest.fixture
def fake_sts_tls(tmp_path):
    """The fake STS over https, with a certificate for IP 127.0.0.1 signed
    by a throwaway CA; yields (server, CA bundle path) for AWS_CA_BUNDLE.
    Exercises the static binary's TLS stack (ring's C and assembly, rustls)."""
    d = tmp_path / "pki"
    d.mkdir()

    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=aws-credfile packaging test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (d / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "extendedKeyUsage=serverAuth\n"
    )
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    server = FakeServer(sts_answer)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(d / "server.pem", d / "server.key")
    server.server.socket = context.wrap_socket(server.server.socket, server_side=True)
    server.url = server.url.replace("http://", "https://")
    yield server, d / "ca.pem"
    server.close()


@pytest.fixture
def fake_pod_identity_agent():
    """A fake EKS Pod Identity agent answering GET /v1/credentials for TOKEN."""
    server = FakeServer(container_answer)
    yield server
    server.close()


@pytest.fixture(scope="session")
def oci_archive():
    require_file(IMAGE_ARCHIVE, "make image")
    return OciArchive(IMAGE_ARCHIVE)


@pytest.fixture(scope="session", params=IMAGE_ARCHES)
def oci_image(request, oci_archive):
    """Each platform's image of the index in turn: a test using it runs once
    for linux/amd64 and once for linux/arm64."""
    return oci_archive.image(request.param)


@pytest.fixture
def image_rootfs(oci_image, tmp_path):
    """The image's root filesystem, unpacked into a fresh directory. For an
    architecture other than the host's, the static qemu-user emulator is put
    beside it (at EMULATOR_IN_ROOTFS, the only file added), and chroot_cmd
    runs the image's programs under it."""
    require_root()
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    oci_image.extract_rootfs(rootfs)
    if oci_image.arch != HOST_ARCH:
        emulator = rootfs / EMULATOR_IN_ROOTFS[1:]
        shutil.copy2(qemu_static(oci_image.arch), emulator)
        emulator.chmod(0o755)
    return rootfs
