#!/bin/sh
# Builds the static release binary for one musl target:
#   scripts/packaging/build-static.sh x86_64-unknown-linux-musl
#   scripts/packaging/build-static.sh aarch64-unknown-linux-musl
# and prints where it is and how big.
#
# The build is reproducible: the same commit gives the same bytes wherever
# the checkout, CARGO_HOME and target directory are (`make reproducible`
# proves it), and cargo-auditable embeds the dependency list in a `.dep-v0`
# section, the format Trivy, Grype and Syft read in Rust binaries.
#
# Used by `make static`/`make static-arm64` and by the from-source stage of the
# Containerfile, so both paths build the binary the same way. Installs what the
# build needs when it is missing (the CI machine starts fresh): the Rust target
# with rustup, and a C compiler for the target, because ring (under rustls)
# compiles C and assembly. Debian's musl-tools gives musl-gcc for the native
# target; a cross build uses Debian's gcc-<arch>-linux-gnu as compiler and
# linker. ring's C needs only freestanding headers, and the Rust musl targets
# link their own bundled musl libc and start files, so a glibc cross
# toolchain is enough.
set -eu

target=${1:?usage: build-static.sh TARGET (for example x86_64-unknown-linux-musl)}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
host_arch=$(uname -m)
arch=${target%%-*}

case "$target" in
    *-unknown-linux-musl) ;;
    *) echo "build-static: $target is not a *-unknown-linux-musl target" >&2; exit 2 ;;
esac

# The variable names cc-rs and cargo read for this target.
target_var=$(echo "$target" | tr 'a-z-' 'A-Z_')
cc_var=CC_$(echo "$target" | tr '-' '_')
ar_var=AR_$(echo "$target" | tr '-' '_')

if [ "$arch" = "$host_arch" ]; then
    "$here/ensure-apt.sh" musl-tools
    export "$cc_var=${CC_OVERRIDE:-musl-gcc}"
else
    case "$arch" in
        aarch64) deb_arch=arm64 ;;
        x86_64) deb_arch=amd64 ;;
        *) echo "build-static: no cross toolchain known for $arch" >&2; exit 2 ;;
    esac
    # The C headers ring includes come from the libc6-dev cross package.
    "$here/ensure-apt.sh" "gcc-$arch-linux-gnu" "libc6-dev-$deb_arch-cross"
    export "$cc_var=${CC_OVERRIDE:-$arch-linux-gnu-gcc}"
    export "$ar_var=$arch-linux-gnu-ar"
    export "CARGO_TARGET_${target_var}_LINKER=$arch-linux-gnu-gcc"
fi

# Size, without giving up anything that protects the running program (budget: 2 MiB for
# the x86_64 binary; every option is measured in bench/variants-results.md):
# - Pack the relative relocations of the static-pie binary into DT_RELR (binutils >= 2.38,
#   understood by the musl >= 1.2.4 that Rust bundles): the binary stays position
#   independent, so ASLR still applies, and is 73 KB smaller on x86_64 than with the classic
#   RELA table. `-C relocation-model=static` would save about as much but give up ASLR.
# - No unwind tables (no-unwind-tables.ld) and no index over them (--no-eh-frame-hdr):
#   the program is built with panic = "abort" and never unwinds; see the .ld file for what
#   is lost (panic backtrace addresses, DWARF unwinding in gdb/perf).
# - ring's page-aligned P-256 table first in the read-only data (page-aligned-first.ld), so
#   no padding precedes it; the same bytes in another order.
#
# rustc writes source paths into the binary (the panic locations of the
# dependencies, file!() in their code, files a build script generated), so
# the checkout, CARGO_HOME and the target directory get fixed names. The
# target directory comes last: when it lies inside the checkout, the last
# matching prefix wins. (RUSTFLAGS are split at spaces: none of these paths
# may contain one.)
#
# PACKAGING_RUSTFLAGS replaces the size flags; RUSTFLAGS, when set, overrides them all.
if [ -n "${RUSTFLAGS:-}" ]; then
    echo "build-static: RUSTFLAGS is set; the size flags and path remapping are not applied" >&2
fi
cd "$root"
target_dir=$(cargo metadata --no-deps --format-version 1 | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
remap="--remap-path-prefix=$root=/aws-credfile --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo --remap-path-prefix=$target_dir=/target"
size_flags="-C link-arg=-Wl,-z,pack-relative-relocs -C link-arg=-Wl,--no-eh-frame-hdr -C link-arg=-Wl,-T,$here/no-unwind-tables.ld -C link-arg=-Wl,-T,$here/page-aligned-first.ld"
export "CARGO_TARGET_${target_var}_RUSTFLAGS=${PACKAGING_RUSTFLAGS:-$size_flags} $remap"

if ! rustup target list --installed | grep -qx "$target"; then
    echo "build-static: adding Rust target $target" >&2
    rustup target add "$target"
fi

# cargo-auditable, pinned and built once into the tools directory, runs as
# cargo's workspace wrapper. Cargo mixes the wrapper's path into the crate's
# metadata hash, hence into its symbol names and, through LTO, the code
# layout; `cargo auditable build` would pass its own absolute path, which
# differs between checkouts. So this is what it does, with the wrapper
# named bare and found on PATH: RUSTC_WORKSPACE_WRAPPER, and the record of
# the cargo flags its own `cargo metadata` call repeats.
tools=${AWS_CREDFILE_TOOLS:-$target_dir/tools}
"$here/install-tools.sh" "$tools" cargo-auditable
PATH="$tools/bin:$PATH" RUSTC_WORKSPACE_WRAPPER=cargo-auditable \
CARGO_AUDITABLE_ORIG_ARGS='{"offline":false,"locked":true,"frozen":false,"config":[]}' \
    cargo build --release --locked --target "$target"

bin=$target_dir/$target/release/aws-credfile
size=$(stat -c %s "$bin")
echo "build-static: $bin: $size bytes ($(awk "BEGIN { printf \"%.2f\", $size / 1048576 }") MiB)"
