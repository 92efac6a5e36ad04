#!/bin/sh
# Builds the FROM-scratch image from the prebuilt static binary, tags it
# aws-credfile:VERSION and aws-credfile:latest, and exports it as an OCI
# archive:
#   scripts/packaging/build-image.sh VERSION BINARY OUT.oci.tar
#
# Uses whichever of podman, buildah or docker works here (CONTAINER_TOOL=...
# picks one), and installs buildah from Debian when none does. A docker CLI
# without a reachable daemon does not count. The build context is a directory
# holding only the binary, so nothing else can slip into the image.
set -eu

version=${1:?usage: build-image.sh VERSION BINARY OUT.oci.tar}
binary=${2:?usage: build-image.sh VERSION BINARY OUT.oci.tar}
out=${3:?usage: build-image.sh VERSION BINARY OUT.oci.tar}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
name=${IMAGE_NAME:-aws-credfile}

usable() {
    case "$1" in
        podman) command -v podman >/dev/null 2>&1 && podman info >/dev/null 2>&1 ;;
        buildah) command -v buildah >/dev/null 2>&1 ;;
        docker) command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 ;;
        *) return 1 ;;
    esac
}

tool=${CONTAINER_TOOL:-}
if [ -n "$tool" ]; then
    usable "$tool" || { echo "build-image: CONTAINER_TOOL=$tool is not usable here" >&2; exit 1; }
else
    for candidate in podman buildah docker; do
        if usable "$candidate"; then tool=$candidate; break; fi
    done
fi
if [ -z "$tool" ]; then
    echo "build-image: no usable podman, buildah or docker; installing buildah" >&2
    "$here/ensure-apt.sh" buildah
    tool=buildah
fi

# Storage and isolation that work as root inside a container too: overlay on
# overlay is often refused there, and a FROM scratch build with only COPY
# runs nothing, so chroot isolation is plenty. Override with the usual
# STORAGE_DRIVER and BUILDAH_ISOLATION variables.
if [ "$tool" != docker ]; then
    export STORAGE_DRIVER="${STORAGE_DRIVER:-vfs}"
    export BUILDAH_ISOLATION="${BUILDAH_ISOLATION:-chroot}"
fi

context=$root/target/image-context
rm -rf "$context"
mkdir -p "$context" "$(dirname "$out")"
cp "$binary" "$context/aws-credfile"
chmod 0755 "$context/aws-credfile"

echo "build-image: building $name:$version with $tool" >&2
case "$tool" in
    buildah) build="buildah bud" ;;
    *) build="$tool build" ;;
esac
# Reproducible timestamps when the caller sets SOURCE_DATE_EPOCH (docker's
# BuildKit reads the variable itself).
stamp=""
if [ -n "${SOURCE_DATE_EPOCH:-}" ] && [ "$tool" != docker ]; then
    stamp="--timestamp $SOURCE_DATE_EPOCH"
fi
# shellcheck disable=SC2086 # $build and $stamp are words on purpose
$build $stamp \
    --file "$root/Containerfile.prebuilt" \
    --build-arg "VERSION=$version" \
    --tag "$name:$version" --tag "$name:latest" \
    "$context"

rm -f "$out"
case "$tool" in
    buildah) buildah push --quiet "$name:$version" "oci-archive:$out:$name:$version" ;;
    podman) podman save --quiet --format oci-archive --output "$out" "$name:$version" ;;
    # docker 25 and later write an OCI image layout (index.json, blobs/) into
    # `docker save`; older ones write only their own format.
    docker) docker save --output "$out" "$name:$version" ;;
esac
echo "build-image: $out: $(stat -c %s "$out") bytes" >&2
