#!/bin/sh
# Installs the release tools from the crates registry, at the versions pinned
# below, into ROOT/bin, and only those not installed yet:
#   scripts/packaging/install-tools.sh ROOT TOOL...
#   scripts/packaging/install-tools.sh target/tools cargo-auditable cargo-about
#
# The pins are part of the reproducible build: cargo-auditable's version
# decides the bytes it embeds in the binary, cargo-about's the notices file
# the image carries. Each tool is built with the fewest features that do the
# job, and all share one build directory (ROOT/build), so crates common to
# several tools (serde, clap, syn, ...) compile once. Debian 12 packages none
# of them. Already-installed tools cost one grep.
set -eu

root=${1:?usage: install-tools.sh ROOT TOOL...}
shift

# name, version, extra `cargo install` arguments.
pin() {
    case "$1" in
        # Embeds the dependency list in the binaries (make static).
        cargo-auditable) echo "0.7.7" ;;
        # Reads it back in the packaging tests; wasm support is not needed.
        rust-audit-info) echo "0.5.4 --no-default-features" ;;
        # The CycloneDX SBOM of each binary (make sbom).
        cargo-cyclonedx) echo "0.5.9" ;;
        # THIRD-PARTY-NOTICES (make notices); its command line is the cli feature.
        cargo-about) echo "0.9.3 --no-default-features --features cli" ;;
        # Licence, ban and source checks (make lint).
        cargo-deny) echo "0.20.2" ;;
        *) echo "install-tools: no pinned version for $1" >&2; return 1 ;;
    esac
}

for tool in "$@"; do
    spec=$(pin "$tool")
    version=${spec%% *}
    # cargo install records what it installed here; the exact name and version
    # means nothing to do.
    if grep -qs "\"$tool $version (" "$root/.crates2.json" && [ -x "$root/bin/$tool" ]; then
        continue
    fi
    echo "install-tools: building $tool $version (once; a few minutes)" >&2
    start=$(date +%s)
    # The tools' own release profiles ask for LTO (cargo-about and cargo-deny:
    # fat, with one codegen unit), which puts their slowest step on one core
    # for minutes; they run for seconds here, so light optimisation will do.
    # shellcheck disable=SC2086 # the extra arguments are words on purpose
    CARGO_TARGET_DIR="$root/build" CARGO_PROFILE_RELEASE_LTO=false \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
    cargo install --quiet --locked --root "$root" \
        --version "$version" ${spec#"$version"} "$tool"
    echo "install-tools: $tool $version built in $(($(date +%s) - start)) s" >&2
done
