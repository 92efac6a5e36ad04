"""The OCI image `make image` exports: its config, that it holds nothing but
the binary, and its root filesystem run with chroot as 65532 doing a real
--once against a fake STS and a --check: proof it needs no shell, no libc
and no /etc. Then the same static binary embedded at another path of
another empty root filesystem, as users of other base images do."""

import shutil
import tarfile

from packaging_support import (
    IMAGE_BUDGET,
    IRSA_TOKEN_PATH,
    STATIC_BIN,
    assert_credentials_file,
    cargo_version,
    chroot_cmd,
    explain,
    irsa_env,
    make_dir,
    put_token,
    require_file,
    require_root,
    run,
)

NONROOT = 65532


def test_config_runs_the_binary_as_nonroot(oci_image):
    config = oci_image.config
    assert config["os"] == "linux"
    assert config["architecture"] == "amd64"
    assert config["config"]["User"] == f"{NONROOT}:{NONROOT}"
    assert config["config"]["Entrypoint"] == ["/aws-credfile"]
    assert not config["config"].get("Cmd")


def test_config_carries_the_oci_labels(oci_image):
    labels = oci_image.config["config"]["Labels"]
    assert labels["org.opencontainers.image.source"].startswith("https://")
    assert labels["org.opencontainers.image.version"] == cargo_version()
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert labels["org.opencontainers.image.description"]


def test_archive_is_tagged_with_the_version(oci_image):
    ref = oci_image.index["manifests"][0].get("annotations", {})
    assert ref.get("org.opencontainers.image.ref.name", "").endswith(cargo_version())


def test_image_holds_only_the_binary_within_budget(oci_image):
    """One regular file, /aws-credfile, executable, byte for byte the
    `make static` binary; at most directories besides. No shell, libc, /etc."""
    files = {}
    content = 0
    for layer in oci_image.layers():
        for member in layer.getmembers():
            name = member.name.lstrip("./").rstrip("/")
            if member.isdir():
                continue
            assert member.isfile(), f"{name}: not a regular file ({member.type!r})"
            assert not name.split("/")[-1].startswith(".wh."), f"whiteout {name}"
            files[name] = member
            content += member.size
            if name == "aws-credfile":
                data = layer.extractfile(member).read()
                static = require_file(STATIC_BIN, "make static")
                assert data == static.read_bytes(), "not the make static binary"
    assert sorted(files) == ["aws-credfile"], sorted(files)
    assert files["aws-credfile"].mode & 0o111 == 0o111
    assert files["aws-credfile"].mode & 0o6000 == 0, "setuid/setgid bit"
    print(f"image content: {content} bytes")
    assert content <= IMAGE_BUDGET, f"image content {content} bytes > {IMAGE_BUDGET}"


def test_rootfs_runs_once_and_check_as_65532_via_chroot(image_rootfs, fake_sts):
    """The unpacked image, and nothing else, with the IRSA token at its EKS
    path: --once writes the file, --check accepts it."""
    rootfs = image_rootfs
    assert sorted(p.name for p in rootfs.iterdir()) == ["aws-credfile"]
    put_token(rootfs, IRSA_TOKEN_PATH, NONROOT, NONROOT)
    make_dir(rootfs, "/creds", NONROOT, NONROOT)
    env = irsa_env(fake_sts.url, IRSA_TOKEN_PATH)

    once = run(
        chroot_cmd(rootfs, NONROOT, NONROOT,
                   ["/aws-credfile", "--once", "--file", "/creds/credentials"]),
        env,
    )
    assert once.returncode == 0, explain(once)
    assert len(fake_sts.requests) == 1
    written = rootfs / "creds" / "credentials"
    assert_credentials_file(written)
    assert written.stat().st_uid == NONROOT

    check = run(
        chroot_cmd(rootfs, NONROOT, NONROOT,
                   ["/aws-credfile", "--check", "--file", "/creds/credentials"]),
        {},
    )
    assert check.returncode == 0, explain(check)


def test_static_binary_embedded_in_another_rootfs(tmp_path, fake_sts):
    """Users of distroless, alpine or their own images copy the binary in
    (COPY --from=<image> /aws-credfile /usr/local/bin/). Here: another empty
    root filesystem, the binary at /usr/local/bin, run as Harbor's 10000."""
    require_root()
    static = require_file(STATIC_BIN, "make static")
    rootfs = tmp_path / "other-rootfs"
    binary = rootfs / "usr/local/bin/aws-credfile"
    binary.parent.mkdir(parents=True)
    shutil.copy2(static, binary)
    uid = gid = 10000
    put_token(rootfs, IRSA_TOKEN_PATH, uid, gid)
    make_dir(rootfs, "/home/app/.aws", uid, gid)
    env = irsa_env(fake_sts.url, IRSA_TOKEN_PATH)

    once = run(
        chroot_cmd(rootfs, uid, gid, ["/usr/local/bin/aws-credfile", "--once",
                                      "--file", "/home/app/.aws/credentials"]),
        env,
    )
    assert once.returncode == 0, explain(once)
    assert_credentials_file(rootfs / "home/app/.aws/credentials")
    check = run(
        chroot_cmd(rootfs, uid, gid, ["/usr/local/bin/aws-credfile", "--check",
                                      "--file", "/home/app/.aws/credentials"]),
        {},
    )
    assert check.returncode == 0, explain(check)


def test_layer_extraction_keeps_ownership_root(oci_image):
    """The binary in the layer belongs to root and is not writable by the
    nonroot user it runs as, so a compromised process cannot replace it."""
    for layer in oci_image.layers():
        member = layer.getmember(
            next(n for n in layer.getnames() if n.lstrip("./") == "aws-credfile")
        )
        assert isinstance(member, tarfile.TarInfo)
        assert member.uid == 0 and member.gid == 0
        assert member.mode & 0o022 == 0, oct(member.mode)

