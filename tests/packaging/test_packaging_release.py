"""What `make release` publishes in target/release-artifacts/, and what
scanners read: the checksums and image digests, the dependency list
cargo-auditable embeds in each binary (read back with rust-audit-info), the
CycloneDX SBOM of each binary (validated against the CycloneDX schema that
cyclonedx-python-lib ships, offline), and THIRD-PARTY-NOTICES covering every
crate in the binaries."""

import json
import re
import subprocess
import tomllib

import pytest

from packaging_support import (
    ARM64_BIN,
    IMAGE_ARCHIVE,
    RELEASE_DIR,
    ROOT,
    RUST_AUDIT_INFO,
    STATIC_BIN,
    OciArchive,
    cargo_version,
    require_file,
    require_module,
)

TARGETS = {
    "x86_64-unknown-linux-musl": STATIC_BIN,
    "aarch64-unknown-linux-musl": ARM64_BIN,
}
SBOM_SPEC = "1.5"


def release_file(name):
    return require_file(RELEASE_DIR / name, "make release")


def binary_name(target):
    return f"aws-credfile-{cargo_version()}-{target}"


def locked_packages():
    """(name, version) of every package in Cargo.lock."""
    lock = tomllib.loads((ROOT / "Cargo.lock").read_text())
    return {(p["name"], p["version"]) for p in lock["package"]}


def audit_info(binary):
    """The dependency list cargo-auditable embedded, as rust-audit-info reads it."""
    tool = require_file(RUST_AUDIT_INFO, "make test-packaging (installs rust-audit-info)")
    proc = subprocess.run([tool, binary], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["packages"]


def test_release_holds_binaries_sboms_archive_notices_and_sums():
    version = cargo_version()
    expected = {
        *(binary_name(t) for t in TARGETS),
        *(binary_name(t) + ".cdx.json" for t in TARGETS),
        f"aws-credfile-{version}.oci.tar",
        "LICENSE",
        "THIRD-PARTY-NOTICES",
        "IMAGE-DIGESTS",
        "BUILDINFO",
        "SHA256SUMS",
    }
    require_file(RELEASE_DIR / "SHA256SUMS", "make release")
    assert {p.name for p in RELEASE_DIR.iterdir()} == expected


def test_sha256sums_cover_every_file_and_check():
    sums = release_file("SHA256SUMS")
    listed = [line.split(None, 1)[1] for line in sums.read_text().splitlines()]
    others = sorted(p.name for p in RELEASE_DIR.iterdir() if p.name != "SHA256SUMS")
    assert listed == others
    proc = subprocess.run(["sha256sum", "--check", "--strict", "SHA256SUMS"],
                          cwd=RELEASE_DIR, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("target", TARGETS)
def test_released_binary_is_the_built_one(target):
    built = require_file(TARGETS[target], "make static static-arm64")
    assert release_file(binary_name(target)).read_bytes() == built.read_bytes()


def test_released_archive_is_make_image_and_its_digests_are_listed():
    archive = release_file(f"aws-credfile-{cargo_version()}.oci.tar")
    assert archive.read_bytes() == require_file(IMAGE_ARCHIVE, "make image").read_bytes()
    oci = OciArchive(archive)
    expected = [f"{oci.ref['digest']} index aws-credfile:{cargo_version()}"]
    expected += [
        f"{m['digest']} manifest {m['platform']['os']}/{m['platform']['architecture']}"
        for m in oci.index["manifests"]
    ]
    assert release_file("IMAGE-DIGESTS").read_text().splitlines() == expected


def test_buildinfo_names_the_toolchain_a_rebuild_must_match():
    lines = release_file("BUILDINFO").read_text().splitlines()
    assert lines[0].startswith("SOURCE_DATE_EPOCH=")
    assert any(line.startswith("rustc 1.") for line in lines), lines
    for tool in ("cargo-auditable", "cargo-about", "cargo-cyclonedx"):
        assert any(line.startswith(tool + " ") for line in lines), (tool, lines)
    assert any(line.startswith("buildah version") for line in lines), lines


# -- The dependency list embedded by cargo-auditable ------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_binary_embeds_its_dependency_list(target):
    """What Trivy, Grype and Syft read from a Rust binary: aws-credfile at
    the Cargo.toml version as the root, and every package at the version
    Cargo.lock pins, from the crates registry."""
    packages = audit_info(release_file(binary_name(target)))
    [root] = [p for p in packages if p.get("root")]
    assert (root["name"], root["version"]) == ("aws-credfile", cargo_version())
    locked = locked_packages()
    for p in packages:
        assert (p["name"], p["version"]) in locked, p
        if p is not root:
            assert p["source"] == "crates.io", p
    names = {p["name"] for p in packages}
    # The TLS stack and HTTP client are what a scanner most needs to see.
    assert {"ureq", "rustls", "ring", "webpki-root-certs", "serde_json"} <= names
    # Dependencies are indices into the list, all resolvable.
    for p in packages:
        assert all(0 <= i < len(packages) for i in p.get("dependencies", []))


def test_dependency_lists_differ_only_where_the_targets_do():
    """Both binaries come from one Cargo.lock: the same runtime crates, but
    for target-specific ones (cpufeatures-like crates gated on the arch)."""
    amd64, arm64 = (
        {(p["name"], p["version"]) for p in audit_info(release_file(binary_name(t)))}
        for t in TARGETS
    )
    assert len(amd64 ^ arm64) <= 4, amd64 ^ arm64


# -- CycloneDX SBOMs ---------------------------------------------------------


@pytest.fixture(scope="module")
def cyclonedx_validator():
    """The strict JSON validator of cyclonedx-python-lib, whose schema files
    (and the SPDX and JSF schemas they reference) ship inside the package:
    no network."""
    validation = require_module("cyclonedx.validation.json")
    schema = require_module("cyclonedx.schema")
    version = schema.SchemaVersion.from_version(SBOM_SPEC)
    return validation.JsonStrictValidator(version)


def sbom(target):
    return json.loads(release_file(binary_name(target) + ".cdx.json").read_text())


@pytest.mark.parametrize("target", TARGETS)
def test_sbom_is_valid_cyclonedx(target, cyclonedx_validator):
    text = release_file(binary_name(target) + ".cdx.json").read_text()
    error = cyclonedx_validator.validate_str(text)
    assert error is None, error
    document = json.loads(text)
    assert document["bomFormat"] == "CycloneDX"
    assert document["specVersion"] == SBOM_SPEC


@pytest.mark.parametrize("target", TARGETS)
def test_sbom_lists_what_the_binary_embeds(target):
    """The SBOM (from Cargo metadata) and the binary (from the build) agree:
    every crate linked into the binary is a component with its version, a
    purl and a licence."""
    document = sbom(target)
    component = document["metadata"]["component"]
    assert (component["name"], component["version"]) == ("aws-credfile", cargo_version())
    components = {(c["name"], c["version"]): c for c in document["components"]}
    embedded = audit_info(release_file(binary_name(target)))
    for p in embedded:
        if p.get("root") or p.get("kind") == "build":
            continue
        c = components.get((p["name"], p["version"]))
        assert c is not None, f"{p['name']} {p['version']} is in the binary, not the SBOM"
        assert c["purl"] == f"pkg:cargo/{p['name']}@{p['version']}", c["purl"]
        assert c.get("licenses"), f"{p['name']}: no licence in the SBOM"


# -- Licences ----------------------------------------------------------------


def test_notices_name_every_crate_in_the_binaries():
    """THIRD-PARTY-NOTICES lists each crate linked into either binary under
    the licence text that covers it."""
    notices = release_file("THIRD-PARTY-NOTICES").read_text()
    listed = set(re.findall(r"^ {4}(\S+) (\S+)$", notices, re.M))
    for target in TARGETS:
        for p in audit_info(release_file(binary_name(target))):
            if p.get("root") or p.get("kind") == "build":
                continue
            assert (p["name"], p["version"]) in listed, f"{p['name']} {p['version']}"
    assert "Apache License" in notices and "Permission is hereby granted" in notices


def test_license_is_the_projects():
    assert release_file("LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes()


def test_accepted_licences_agree_between_deny_and_about():
    """deny.toml's allow list (make lint) and about.toml's accepted list
    (make notices) are one policy written twice."""
    deny = tomllib.loads((ROOT / "deny.toml").read_text())["licenses"]["allow"]
    about = tomllib.loads((ROOT / "scripts/packaging/about.toml").read_text())["accepted"]
    assert sorted(deny) == sorted(about)
