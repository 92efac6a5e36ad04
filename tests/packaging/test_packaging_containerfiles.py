"""The two Containerfiles: the from-source one people build with `docker
build .` and the prebuilt one `make image` uses must produce the same image
(same final stage but for the COPY source), FROM scratch, non-root."""

import re

from packaging_support import ROOT, cargo_version


def instructions(text):
    """Instructions with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [
        line.strip()
        for line in joined.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def final_stage(path):
    lines = instructions(path.read_text())
    starts = [i for i, line in enumerate(lines) if line.upper().startswith("FROM ")]
    return lines[starts[-1]:]


# The COPY lines of each final stage: from the build stage's /out, or from
# the context make image stages.
COPIES = {
    "COPY --from=build /out/licenses/ /licenses/": "COPY licenses/ /licenses/",
    "COPY --from=build /out/aws-credfile /aws-credfile": "COPY aws-credfile /aws-credfile",
}


def test_final_stages_match_but_for_the_copy_source():
    source = final_stage(ROOT / "Containerfile")
    prebuilt = final_stage(ROOT / "Containerfile.prebuilt")
    assert len(source) == len(prebuilt)
    assert [a for a in source if a.startswith("COPY")] == list(COPIES)
    for a, b in zip(source, prebuilt):
        if a.startswith("COPY"):
            assert b == COPIES[a]
        else:
            assert a == b


def test_final_stage_is_scratch_nonroot_with_the_binary_as_entrypoint():
    stage = final_stage(ROOT / "Containerfile.prebuilt")
    assert stage[0] == "FROM scratch"
    assert "USER 65532:65532" in stage
    assert stage[-1] == 'ENTRYPOINT ["/aws-credfile"]'
    assert not any(line.startswith(("RUN", "CMD", "ADD")) for line in stage)


def test_labels_and_default_version():
    stage = " ".join(final_stage(ROOT / "Containerfile"))
    # A release bumps Cargo.toml; the from-source default must follow.
    assert f"ARG VERSION={cargo_version()}" in stage
    for label in ("source", "version", "description", "licenses", "title"):
        assert f"org.opencontainers.image.{label}=" in stage
    assert 'org.opencontainers.image.licenses="Apache-2.0"' in stage


def test_ignore_files_agree_and_keep_target_out():
    ci = instructions((ROOT / ".containerignore").read_text())
    di = instructions((ROOT / ".dockerignore").read_text())
    assert ci == di
    assert ci[0] == "*"
    copied = {"Cargo.toml", "Cargo.lock", "LICENSE", "src/", "scripts/packaging/"}
    assert {line.lstrip("!") for line in ci[1:]} == copied
