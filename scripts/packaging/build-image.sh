#!/bin/sh
# Builds the FROM-scratch image for linux/amd64 and linux/arm64 from the
# prebuilt static binaries and exports both as one OCI archive whose image
# index names the two platforms (ref aws-credfile:VERSION):
#   scripts/packaging/build-image.sh VERSION OUT.oci.tar AMD64_BIN ARM64_BIN LICENSES_DIR
#
# Each image holds /aws-credfile and /licenses/ (LICENSES_DIR: the project's
# licence and the third-party notices), built from Containerfile.prebuilt.
# With SOURCE_DATE_EPOCH set (mk/release.mk sets the commit time), the same
# inputs give the same index digest and the same archive bytes, wherever and
# whenever they are built by the same buildah version.
#
# buildah only: it assembles the index (`buildah manifest`) from Debian's
# package, which is installed when missing. It works in a private store under
# the output's directory, created afresh, so builds from other checkouts on
# this machine cannot mix in and no stale list gains a third entry.
set -eu

usage="usage: build-image.sh VERSION OUT.oci.tar AMD64_BIN ARM64_BIN LICENSES_DIR"
version=${1:?$usage}
out=${2:?$usage}
amd64_bin=${3:?$usage}
arm64_bin=${4:?$usage}
licenses=${5:?$usage}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
name=${IMAGE_NAME:-aws-credfile}

command -v buildah >/dev/null 2>&1 || "$here/ensure-apt.sh" buildah

mkdir -p "$(dirname "$out")"
work=$(cd "$(dirname "$out")" && pwd)/image-build
rm -rf "$work"
mkdir -p "$work"
# vfs and chroot isolation work as root inside a container too (overlay on
# overlay is often refused there); a FROM scratch build with only COPY runs
# nothing, so chroot isolation is plenty.
set -- --root "$work/storage" --runroot "$work/run" --storage-driver vfs
export BUILDAH_ISOLATION=chroot

# Timestamps of the config, the history and every file in the layer.
stamp=""
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
    stamp="--timestamp $SOURCE_DATE_EPOCH"
fi

for arch in amd64 arm64; do
    case $arch in
        amd64) binary=$amd64_bin ;;
        arm64) binary=$arm64_bin ;;
    esac
    # The build context holds exactly what the image gets, with modes set
    # here rather than inherited from the umask, so they are the same
    # everywhere.
    context=$work/context-$arch
    mkdir -p "$context/licenses"
    install -m 0755 "$binary" "$context/aws-credfile"
    for f in "$licenses"/*; do
        install -m 0644 "$f" "$context/licenses/"
    done
    chmod 0755 "$context" "$context/licenses"

    echo "build-image: $name:$version for linux/$arch" >&2
    # shellcheck disable=SC2086 # $stamp is two words on purpose
    buildah "$@" bud --quiet $stamp \
        --platform "linux/$arch" \
        --manifest "$name:$version" \
        --file "$root/Containerfile.prebuilt" \
        --build-arg "VERSION=$version" \
        "$context" >/dev/null
done

# The index and both images into an OCI layout, in OCI media types.
buildah "$@" manifest push --quiet --all --format oci \
    "$name:$version" "oci:$work/layout:$name:$version"

# The archive is a tar of that layout. GNU tar with sorted names, one mtime
# and root ownership makes it byte for byte reproducible, which an archive
# written by buildah (file mtimes of the moment) is not.
mtime=${SOURCE_DATE_EPOCH:-$(date +%s)}
rm -f "$out"
tar --create --file "$out" --directory "$work/layout" \
    --sort=name --format=gnu --mtime="@$mtime" \
    --owner=0 --group=0 --numeric-owner --mode='u=rwX,go=rX' \
    oci-layout index.json blobs
rm -rf "$work"

echo "build-image: $out: $(stat -c %s "$out") bytes" >&2
