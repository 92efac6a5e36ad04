#!/bin/sh
# Gathers what a release publishes into one directory, named by version and
# target, with SHA256SUMS over every file and IMAGE-DIGESTS, the digests a
# registry shows for the image:
#   scripts/packaging/release-dir.sh OUT_DIR VERSION ARCHIVE LICENSES_DIR SBOM_DIR TARGET=BINARY...
#
# OUT_DIR/aws-credfile-VERSION-TARGET            the static binary
# OUT_DIR/aws-credfile-VERSION-TARGET.cdx.json   its CycloneDX SBOM
# OUT_DIR/aws-credfile-VERSION.oci.tar           the multi-arch image archive
# OUT_DIR/LICENSE, OUT_DIR/THIRD-PARTY-NOTICES   the licence texts
# OUT_DIR/IMAGE-DIGESTS                          index and per-platform digests
# OUT_DIR/BUILDINFO                              the toolchain a rebuild must match
# OUT_DIR/SHA256SUMS                             `sha256sum -c SHA256SUMS` checks all
#
# Every file is reproducible (SOURCE_DATE_EPOCH fixes the SBOMs' timestamp),
# so a rebuild's SHA256SUMS equals the published one.
set -eu

usage="usage: release-dir.sh OUT_DIR VERSION ARCHIVE LICENSES_DIR SBOM_DIR TARGET=BINARY..."
out=${1:?$usage}
version=${2:?$usage}
archive=${3:?$usage}
licenses=${4:?$usage}
sbom=${5:?$usage}
shift 5
[ $# -gt 0 ] || { echo "$usage" >&2; exit 2; }

rm -rf "$out"
mkdir -p "$out"
for pair in "$@"; do
    target=${pair%%=*}
    binary=${pair#*=}
    install -m 0755 "$binary" "$out/aws-credfile-$version-$target"
    install -m 0644 "$sbom/aws-credfile-$target.cdx.json" "$out/aws-credfile-$version-$target.cdx.json"
done
install -m 0644 "$archive" "$out/aws-credfile-$version.oci.tar"
install -m 0644 "$licenses"/* "$out/"

# The index is the blob index.json points at; its digest is what
# `skopeo inspect --raw docker://REPO:TAG | sha256sum` shows for the tag.
tar -xOf "$archive" index.json | python3 -c '
import json, sys, tarfile
archive = tarfile.open(sys.argv[1])
blob = lambda d: json.load(archive.extractfile("blobs/" + d.replace(":", "/")))
[top] = json.load(sys.stdin)["manifests"]
print(top["digest"], "index", top["annotations"]["org.opencontainers.image.ref.name"])
for m in blob(top["digest"])["manifests"]:
    p = m["platform"]
    print(m["digest"], "manifest", p["os"] + "/" + p["architecture"])
' "$archive" > "$out/IMAGE-DIGESTS"

# The same sources give the same bytes with the same compilers, linkers and
# tools: what a user needs to match when checking a release (README).
{
    echo "SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-unset}"
    rustc --version
    cargo --version
    # The tools whose output is in the release (not the ones that only check).
    python3 -c 'import json, sys; [print(k.split(" (")[0]) for k in sorted(json.load(open(sys.argv[1]))["installs"])]' \
        "${AWS_CREDFILE_TOOLS:?set by mk/release.mk}/.crates2.json" \
        | grep -E '^(cargo-auditable|cargo-about|cargo-cyclonedx) '
    gcc --version | head -n 1
    ld --version | head -n 1
    aarch64-linux-gnu-gcc --version | head -n 1
    aarch64-linux-gnu-ld --version | head -n 1
    buildah --version
    echo "Debian $(cat /etc/debian_version)"
} > "$out/BUILDINFO"

(cd "$out" && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%f\n' | LC_ALL=C sort \
    | xargs sha256sum > SHA256SUMS)
echo "release-dir: $out"
(cd "$out" && ls -l)
