#!/usr/bin/env bash
# Installs the Debian packages the build and tests need, and nothing when they are all there.
#
# Usage: scripts/deps.sh [PACKAGE...]
#
# The packages named on the command line (the Makefile's APT_PACKAGES) are always required.
# python3-venv is added only when `python3 -m venv` cannot work: Debian's python3 splits
# ensurepip into that package, while a pyenv or python.org build carries it already.
#
# `dpkg -s` is checked first, so a machine that has everything never touches apt and a repeat
# run costs nothing; otherwise one `apt-get update` and one non-interactive install.
set -euo pipefail

PYTHON=${PYTHON:-python3}

missing=()
need() {
	local pkg
	for pkg in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$pkg")
		fi
	done
}

need "$@"

# `python3 -m venv` needs both modules; Debian's interpreter has venv but not ensurepip
# until python3-venv is installed.
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
	py=$(command -v "$PYTHON" || true)
	case "$(readlink -f "${py:-/nonexistent}")" in
	/usr/bin/*) need python3-venv ;;
	*)
		echo "deps: $PYTHON ($py) cannot create virtual environments (no ensurepip)," >&2
		echo "deps: and it is not Debian's python3; install its venv support or set PYTHON=/usr/bin/python3" >&2
		exit 1
		;;
	esac
fi

if [ "${#missing[@]}" -eq 0 ]; then
	echo "deps: all present${*:+ ($*)}"
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps: missing ${missing[*]} and no apt-get here; install them by hand" >&2
	exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo=(sudo)
	else
		echo "deps: missing ${missing[*]}; run as root (or install sudo)" >&2
		exit 1
	fi
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
