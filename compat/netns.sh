#!/bin/sh
# Runs a command (compat/run.py) inside a network namespace of its own with only loopback up,
# so no client of `make compat` can reach anything but 127.0.0.1 and ::1 whatever it is
# configured to do (the instance metadata address included). Needs root or user namespaces; when
# the namespace cannot be made, runs the command on the host's network and says so, and the run
# records which it was (COMPAT_NETWORK ends up in docs/compatibility.md).
set -eu

if unshare --net true 2>/dev/null && command -v ip >/dev/null 2>&1; then
    export COMPAT_NETWORK="its own network namespace (unshare --net), loopback only"
    exec unshare --net \
        sh -c 'ip link set lo up && exec "$@"' sh "$@"
fi
echo "compat: cannot create a network namespace here (unshare --net, needs root or user namespaces," \
    "and ip from iproute2); running on the host's network, every client still pointed at 127.0.0.1" >&2
export COMPAT_NETWORK="the host's network (no namespace could be made); clients pointed at 127.0.0.1"
exec "$@"
