#!/bin/sh
# The second build of `make reproducible`: the same sources built again at
# another path, with another CARGO_HOME and another target directory, into
# DIR/src/target/release-artifacts/:
#   scripts/packaging/rebuild-elsewhere.sh DIR
#
# The sources are the files git knows of plus new ones it does not ignore, so
# uncommitted edits are rebuilt too. The crates come from a copy of this
# machine's download cache (registry index and .crate files), offline: cargo
# unpacks them anew under DIR/cargo-home, so every path rustc, cargo-about
# and cargo-cyclonedx see differs from the first build's. The pinned tools
# are copied to DIR/tools (their binaries, not their build), so they run
# from another path too; SOURCE_DATE_EPOCH is passed on, as a user would
# set it to the commit time.
set -eu

dir=${1:?usage: rebuild-elsewhere.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cargo_home=${CARGO_HOME:-$HOME/.cargo}
tools=${AWS_CREDFILE_TOOLS:?set by mk/release.mk}

git -C "$root" rev-parse --git-dir >/dev/null 2>&1 \
    || { echo "rebuild-elsewhere: $root is not a git checkout" >&2; exit 2; }
[ -n "${SOURCE_DATE_EPOCH:-}" ] \
    || { echo "rebuild-elsewhere: set SOURCE_DATE_EPOCH (mk/release.mk does)" >&2; exit 2; }

rm -rf "$dir"
mkdir -p "$dir/src" "$dir/cargo-home/registry"
(cd "$root" && git ls-files -z --cached --others --exclude-standard \
    | tar --create --null --files-from=- --ignore-failed-read) | tar --extract -C "$dir/src"
cp -a "$cargo_home/registry/index" "$cargo_home/registry/cache" "$dir/cargo-home/registry/"
# The tools the release needs, installed here first so that the copy never
# builds them again.
"$here/install-tools.sh" "$tools" cargo-auditable cargo-about cargo-cyclonedx
mkdir -p "$dir/tools"
cp -a "$tools/bin" "$tools/.crates.toml" "$tools/.crates2.json" "$dir/tools/"

echo "rebuild-elsewhere: building in $dir/src with CARGO_HOME=$dir/cargo-home" >&2
# A make of its own: nothing of this make's command line or target directory
# may leak into it.
cd "$dir/src"
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u CARGO_TARGET_DIR \
    CARGO_HOME="$dir/cargo-home" CARGO_NET_OFFLINE=true AWS_CREDFILE_TOOLS="$dir/tools" \
    make --no-print-directory -f mk/release.mk release
