#!/bin/sh
# Writes a CycloneDX SBOM (JSON, spec 1.5) for each shipped binary, from
# Cargo metadata for that target (the crates compiled into it, with versions,
# licences, purls and Cargo.lock checksums; build scripts' own dependencies
# left out), with cargo-cyclonedx:
#   scripts/packaging/sbom.sh OUT_DIR TARGET...
# -> OUT_DIR/aws-credfile-TARGET.cdx.json
#
# cargo-cyclonedx honours SOURCE_DATE_EPOCH (mk/release.mk sets it): the
# timestamp is that one and the random serial number is left out. The one
# path it writes, the checkout's in the root crate's bom-ref (a name local
# to the document), is mapped as build-static.sh maps it for rustc, so two
# builds of a commit write the same SBOM wherever they are checked out.
set -eu

out=${1:?usage: sbom.sh OUT_DIR TARGET...}
shift
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
target_dir=$(cargo metadata --no-deps --format-version 1 | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
tools=${AWS_CREDFILE_TOOLS:-$target_dir/tools}
"$here/install-tools.sh" "$tools" cargo-cyclonedx

mkdir -p "$out"
for target in "$@"; do
    # It writes aws-credfile_bin.cdx.json beside Cargo.toml; moved out at once.
    PATH="$tools/bin:$PATH" cargo cyclonedx --quiet --format json --spec-version 1.5 \
        --describe binaries --no-build-deps --target "$target"
    sed "s|path+file://$root#|path+file:///aws-credfile#|g" aws-credfile_bin.cdx.json \
        > "$out/aws-credfile-$target.cdx.json"
    rm aws-credfile_bin.cdx.json
    echo "sbom: $out/aws-credfile-$target.cdx.json" >&2
done
