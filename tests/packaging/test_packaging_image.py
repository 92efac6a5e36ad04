"""The OCI archive `make image` exports: an image index of linux/amd64 and
linux/arm64 that skopeo reads as any container tool does; each platform's
config, that it holds nothing but its binary and the licence texts, and its
root filesystem run with chroot as 65532 doing a real --once against a fake
STS and a --check (arm64 under qemu-user): proof it needs no shell, no libc
and no /etc. Then the same static binary embedded at another path of
another empty root filesystem, as users of other base images do."""

import json
import shutil
import subprocess
import tarfile

from packaging_support import (
    BINARY_OF_ARCH,
    EMULATOR_IN_ROOTFS,
    IMAGE_ARCHES,
    IMAGE_ARCHIVE,
    IMAGE_BUDGET,
    IRSA_TOKEN_PATH,
    RELEASE_DIR,
    STATIC_BIN,
    assert_credentials_file,
    cargo_version,
    chroot_cmd,
    explain,
    irsa_env,
    make_dir,
    missing,
    put_token,
    require_file,
    require_root,
    run,
)

NONROOT = 65532
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
# What each image holds besides directories: the binary and the licence texts.
IMAGE_FILES = ["aws-credfile", "licenses/LICENSE", "licenses/THIRD-PARTY-NOTICES"]


def test_index_holds_linux_amd64_and_arm64(oci_archive):
    assert oci_archive.ref["mediaType"] == OCI_INDEX
    assert oci_archive.index["mediaType"] == OCI_INDEX
    assert oci_archive.platforms() == [("linux", a) for a in IMAGE_ARCHES]
    for descriptor in oci_archive.index["manifests"]:
        assert descriptor["mediaType"] == OCI_MANIFEST


def test_archive_is_tagged_with_the_version(oci_archive):
    ref = oci_archive.ref.get("annotations", {})
    assert ref.get("org.opencontainers.image.ref.name", "").endswith(cargo_version())


def test_config_runs_the_binary_as_nonroot(oci_image):
    config = oci_image.config
    assert config["os"] == "linux"
    assert config["architecture"] == oci_image.arch
    assert config["config"]["User"] == f"{NONROOT}:{NONROOT}"
    assert config["config"]["Entrypoint"] == ["/aws-credfile"]
    assert not config["config"].get("Cmd")


def test_config_carries_the_oci_labels(oci_image):
    labels = oci_image.config["config"]["Labels"]
    assert labels["org.opencontainers.image.source"].startswith("https://")
    assert labels["org.opencontainers.image.version"] == cargo_version()
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert labels["org.opencontainers.image.description"]


def test_platforms_share_labels_user_and_entrypoint(oci_archive):
    """One Containerfile.prebuilt for both: the same runtime config (labels,
    user, entrypoint) and the same build steps; only the architecture and
    the copied content differ."""
    amd64, arm64 = (oci_archive.image(a).config for a in IMAGE_ARCHES)
    assert amd64["config"] == arm64["config"]

    def steps(config):
        # A COPY step names its content's hash ("COPY file:<sha256> in ...").
        return [h["created_by"].split(" file:")[0].split(" dir:")[0] for h in config["history"]]

    assert steps(amd64) == steps(arm64)


def test_image_holds_only_the_binary_and_licences_within_budget(oci_image):
    """Regular files /aws-credfile, executable, byte for byte the platform's
    `make static`/`make static-arm64` binary, and /licenses/, the texts `make
    release` ships beside the binaries; directories besides. No shell, libc,
    /etc."""
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
            data = layer.extractfile(member).read()
            if name == "aws-credfile":
                static = require_file(BINARY_OF_ARCH[oci_image.arch], "make static static-arm64")
                assert data == static.read_bytes(), f"not the {static} binary"
            else:
                shipped = require_file(RELEASE_DIR / name.split("/")[-1], "make release")
                assert data == shipped.read_bytes(), f"{name} differs from {shipped}"
    assert sorted(files) == IMAGE_FILES, sorted(files)
    assert files["aws-credfile"].mode & 0o7777 == 0o755
    for name in IMAGE_FILES[1:]:
        assert files[name].mode & 0o7777 == 0o644, name
    print(f"image content ({oci_image.arch}): {content} bytes")
    assert content <= IMAGE_BUDGET, f"image content {content} bytes > {IMAGE_BUDGET}"


def skopeo():
    path = shutil.which("skopeo")
    if path is None:
        missing("skopeo (Debian's skopeo)", "make test-packaging")
    return path


def test_skopeo_reads_the_index_and_picks_each_platform(oci_archive):
    """A container tool's view (containers/image, as in podman and buildah):
    the raw index is the archive's, each architecture resolves to its own
    image, and `skopeo copy --all` takes both."""
    source = f"oci-archive:{IMAGE_ARCHIVE}"
    raw = subprocess.run([skopeo(), "inspect", "--raw", source],
                         capture_output=True, check=True)
    assert json.loads(raw.stdout) == oci_archive.index
    for arch in IMAGE_ARCHES:
        proc = subprocess.run(
            [skopeo(), "--override-os", "linux", "--override-arch", arch,
             "inspect", "--config", source],
            capture_output=True, text=True, check=True,
        )
        assert json.loads(proc.stdout) == oci_archive.image(arch).config


def test_skopeo_copies_both_platforms(oci_archive, tmp_path):
    proc = subprocess.run(
        [skopeo(), "copy", "--quiet", "--all", "--preserve-digests",
         f"oci-archive:{IMAGE_ARCHIVE}", f"oci:{tmp_path / 'copy'}:copied"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    [copied] = json.loads((tmp_path / "copy/index.json").read_text())["manifests"]
    assert copied["digest"] == oci_archive.ref["digest"]


def test_rootfs_runs_once_and_check_as_65532_via_chroot(image_rootfs, fake_sts):
    """The unpacked image, and nothing else (but the emulator for arm64),
    with the IRSA token at its EKS path: --once writes the file, --check
    accepts it."""
    rootfs = image_rootfs
    names = sorted(p.name for p in rootfs.iterdir() if p.name != EMULATOR_IN_ROOTFS[1:])
    assert names == ["aws-credfile", "licenses"]
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
    """Everything in the layer belongs to root and is not writable by the
    nonroot user the binary runs as, so a compromised process cannot replace
    it or the notices."""
    for layer in oci_image.layers():
        for member in layer.getmembers():
            assert isinstance(member, tarfile.TarInfo)
            assert member.uid == 0 and member.gid == 0, member.name
            assert member.mode & 0o022 == 0, (member.name, oct(member.mode))

