#!/bin/sh
# Installs the named Debian packages that are not installed yet, and nothing else.
#
# The CI machine starts fresh, so every tool the packaging needs (musl-tools, the
# aarch64 cross compiler, qemu-user, buildah) is installed by the targets that use
# it. Checking first keeps the targets idempotent and quick on a machine that
# already has them; `apt-get update` runs only when something is missing, because
# apt cannot find packages before it.
set -eu

# `make -j` may run two of these at once; dpkg allows one at a time.
if command -v flock >/dev/null 2>&1 && [ -w /run/lock ]; then
    exec 9>/run/lock/aws-credfile-ensure-apt.lock
    flock 9
fi

missing=""
for pkg in "$@"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [ "$status" != "install ok installed" ]; then
        missing="$missing $pkg"
    fi
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-apt: missing Debian packages:$missing; install them as root (apt-get install$missing)" >&2
    exit 1
fi

echo "ensure-apt: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # word splitting of the package list is wanted
apt-get install -y -qq --no-install-recommends $missing >/dev/null
