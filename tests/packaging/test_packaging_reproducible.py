"""Reproducibility: `make release` here and the second build `make
repro-build` ran from a copy of the sources at another path, with another
CARGO_HOME and target directory, gave the same bytes: both static binaries,
the image archive (so the index and per-platform digests), the SBOMs and the
notices. And no path of the build machine is left in the binaries.
(tests/packaging cannot vary the toolchain: BUILDINFO names what another
machine must match.)"""

import os
import pathlib

import pytest

from packaging_support import (
    ARM64_BIN,
    RELEASE_DIR,
    REPRO_RELEASE_DIR,
    ROOT,
    STATIC_BIN,
    require_file,
)


def sums(directory):
    require_file(directory / "SHA256SUMS", "make release repro-build")
    return dict(
        reversed(line.split(None, 1)) for line in (directory / "SHA256SUMS").read_text().splitlines()
    )


def test_the_second_build_ran_elsewhere():
    """Another checkout path, crates unpacked under another CARGO_HOME, and
    the tools (cargo-auditable is cargo's workspace wrapper, whose path
    cargo hashes) run from another directory."""
    repro_src = REPRO_RELEASE_DIR.parents[1]
    assert repro_src.resolve() != ROOT.resolve()
    unpacked = list((repro_src.parent / "cargo-home/registry/src").glob("*/ureq-*"))
    assert unpacked, "the second build did not unpack its own crates"
    assert (repro_src.parent / "tools/bin/cargo-auditable").is_file()


def test_rebuild_elsewhere_is_identical_file_for_file():
    first, second = sums(RELEASE_DIR), sums(REPRO_RELEASE_DIR)
    assert sorted(first) == sorted(second)
    differ = [name for name in first if first[name] != second[name]]
    assert not differ, f"differ between the two builds: {differ}"
    # SHA256SUMS itself was checked by name; the bytes too, to be sure.
    for name in first:
        assert (RELEASE_DIR / name).read_bytes() == (REPRO_RELEASE_DIR / name).read_bytes(), name


@pytest.mark.parametrize("binary", [STATIC_BIN, ARM64_BIN], ids=["x86_64", "aarch64"])
def test_binary_holds_no_build_machine_path(binary):
    """What makes the rebuild identical: rustc's paths are remapped
    (scripts/packaging/build-static.sh), so neither the checkout, nor
    CARGO_HOME, nor the target directory is written into the binary."""
    data = require_file(binary, "make static static-arm64").read_bytes()
    cargo_home = os.environ.get("CARGO_HOME", str(pathlib.Path.home() / ".cargo"))
    for path in (str(ROOT), cargo_home):
        assert path.encode() not in data, f"{path} is in {binary}"
