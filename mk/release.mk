# mk/release.mk: what users receive and its tests: the static release
# binaries, the multi-arch FROM-scratch image, the SBOMs, the licence texts,
# the release directory with its checksums, the proof that all of it is
# reproducible, and the licence/ban/source checks of the dependency tree.
#
# Included by the top-level Makefile (`include mk/release.mk`), or run alone
# from the repository root:
#
#   make -f mk/release.mk static image test-packaging
#
#   make static, static-arm64  the static musl binaries, with their dependency
#                        list embedded by cargo-auditable
#   make notices         LICENSE and THIRD-PARTY-NOTICES (cargo-about) into
#                        target/licenses/
#   make image           one OCI archive, target/aws-credfile.oci.tar, holding
#                        an image index of linux/amd64 and linux/arm64
#   make sbom            a CycloneDX SBOM per binary into target/sbom/
#   make release         all of the above into target/release-artifacts/,
#                        with SHA256SUMS, IMAGE-DIGESTS and BUILDINFO
#   make reproducible    builds the release again from a copy of the sources
#                        at another path with another CARGO_HOME and tools
#                        directory, and checks that every file is identical
#   make deny            cargo deny check licenses bans sources (deny.toml)
#   make test-packaging  the release and its rebuild, then tests/packaging
#
# Every tool a target needs is installed by it when missing (Debian packages
# through scripts/packaging/ensure-apt.sh, Rust targets through rustup, the
# crates-registry tools pinned in scripts/packaging/install-tools.sh into
# target/tools/), so a fresh machine needs nothing beforehand; on a machine
# that has them the checks cost a fraction of a second. Variables use ?= so
# the including Makefile may set them first.

PKG_ROOT ?= $(CURDIR)
PKG_SCRIPTS := $(PKG_ROOT)/scripts/packaging

# The version in [package], which the image tag, its version label and the
# release file names use.
PKG_VERSION := $(shell awk -F'"' '/^\[/ { pkg = ($$0 == "[package]") } pkg && /^version *=/ { print $$2; exit }' $(PKG_ROOT)/Cargo.toml)

STATIC_TARGET ?= x86_64-unknown-linux-musl
ARM64_TARGET ?= aarch64-unknown-linux-musl
# Build into the default target/ unless the caller redirects it.
PKG_TARGET_DIR ?= $(if $(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR),$(PKG_ROOT)/target)
STATIC_BIN := $(PKG_TARGET_DIR)/$(STATIC_TARGET)/release/aws-credfile
ARM64_BIN := $(PKG_TARGET_DIR)/$(ARM64_TARGET)/release/aws-credfile
IMAGE_NAME ?= aws-credfile
IMAGE_ARCHIVE ?= $(PKG_TARGET_DIR)/aws-credfile.oci.tar
LICENSES_DIR ?= $(PKG_TARGET_DIR)/licenses
SBOM_DIR ?= $(PKG_TARGET_DIR)/sbom
RELEASE_DIR ?= $(PKG_TARGET_DIR)/release-artifacts
# The second build of `make reproducible`: its own copy of the sources,
# CARGO_HOME and target directory.
REPRO_DIR ?= $(PKG_TARGET_DIR)/reproducible
# cargo-auditable, cargo-about, cargo-cyclonedx, cargo-deny, rust-audit-info;
# AWS_CREDFILE_TOOLS points elsewhere (the second build of `make
# reproducible` reuses the first one's).
TOOLS_DIR ?= $(or $(AWS_CREDFILE_TOOLS),$(PKG_TARGET_DIR)/tools)
export AWS_CREDFILE_TOOLS := $(TOOLS_DIR)
INSTALL_TOOLS := $(PKG_SCRIPTS)/install-tools.sh $(TOOLS_DIR)

# One timestamp for the image and the SBOMs: the commit's, so that two builds
# of a commit agree (the build time would not). Outside a git checkout it is
# left unset and the build time is used.
SOURCE_DATE_EPOCH ?= $(shell git -C $(PKG_ROOT) log -1 --format=%ct 2>/dev/null)
ifneq ($(SOURCE_DATE_EPOCH),)
export SOURCE_DATE_EPOCH
endif

# The project's virtual environment (another target, `make venv`, creates it
# from requirements-test.txt); the packaging tests add
# requirements-packaging.txt to it.
VENV ?= $(PKG_ROOT)/.venv
VENV_PYTHON ?= $(VENV)/bin/python
# Installed only when the environment has no pytest at all (running this file
# alone, before `make venv`), so it never fights requirements-test.txt's pin.
PACKAGING_PYTEST_PIN ?= pytest==9.2.0
PACKAGING_STAMP := $(VENV)/.aws-credfile-packaging.stamp

# Debian packages the packaging tests need: the static qemu-aarch64 for the
# arm64 binary and, inside its chroot, the arm64 image; skopeo to read the
# archive as container tools do; promtool (in Debian's prometheus package; it
# has no package of its own) for the metrics and the alert rules; musl-gcc for
# the static application the embedding test runs under aws-credfile; chroot
# (coreutils, always there) for the images' root filesystems. Installing
# prometheus also enables its server where services may start (`systemctl
# disable --now prometheus` if unwanted); the project's machines are
# containers whose policy-rc.d starts no service, so there only the files
# arrive.
PACKAGING_TEST_DEBS ?= qemu-user-static skopeo prometheus musl-tools

.PHONY: static static-arm64 notices image sbom release reproducible repro-build \
	deny tools test-packaging packaging-venv packaging-sizes

# The x86_64 static musl binary.
static:
	$(PKG_SCRIPTS)/build-static.sh $(STATIC_TARGET)

# The aarch64 static musl binary, for EKS Graviton nodes.
static-arm64:
	$(PKG_SCRIPTS)/build-static.sh $(ARM64_TARGET)

# The licence texts the image and the release carry, from the current tree.
notices:
	$(PKG_SCRIPTS)/notices.sh $(LICENSES_DIR)

# The FROM-scratch image for both platforms, as one OCI archive.
image: static static-arm64 notices
	IMAGE_NAME=$(IMAGE_NAME) $(PKG_SCRIPTS)/build-image.sh $(PKG_VERSION) $(IMAGE_ARCHIVE) \
		$(STATIC_BIN) $(ARM64_BIN) $(LICENSES_DIR)

# A CycloneDX SBOM for each shipped binary.
sbom:
	$(PKG_SCRIPTS)/sbom.sh $(SBOM_DIR) $(STATIC_TARGET) $(ARM64_TARGET)

# What a release publishes, in one directory.
release: image sbom
	$(PKG_SCRIPTS)/release-dir.sh $(RELEASE_DIR) $(PKG_VERSION) $(IMAGE_ARCHIVE) \
		$(LICENSES_DIR) $(SBOM_DIR) $(STATIC_TARGET)=$(STATIC_BIN) $(ARM64_TARGET)=$(ARM64_BIN)

# The second build, from a copy of the sources elsewhere (two LTO builds).
repro-build:
	$(PKG_SCRIPTS)/rebuild-elsewhere.sh $(REPRO_DIR)

# The proof: the release rebuilt elsewhere is identical, file for file.
reproducible: release repro-build packaging-venv
	AWS_CREDFILE_PACKAGING_STRICT=1 \
	AWS_CREDFILE_RELEASE_DIR=$(RELEASE_DIR) \
	AWS_CREDFILE_REPRO_RELEASE_DIR=$(REPRO_DIR)/src/target/release-artifacts \
	$(VENV_PYTHON) -m pytest -q $(PKG_ROOT)/tests/packaging/test_packaging_reproducible.py

# Licences against deny.toml's list, banned crates, crate sources. cargo
# fetch puts every crate of Cargo.lock on disk (a no-op when they are); the
# checks themselves then run offline (the advisories check would need the
# network for its database, so it is not one of them).
deny:
	$(INSTALL_TOOLS) cargo-deny
	cd $(PKG_ROOT) && cargo fetch --locked --quiet \
		&& $(TOOLS_DIR)/bin/cargo-deny deny --frozen check licenses bans sources

tools:
	$(INSTALL_TOOLS) cargo-auditable rust-audit-info cargo-about cargo-cyclonedx cargo-deny

# pytest, kubernetes-validate and cyclonedx-python-lib in the project's
# virtual environment.
packaging-venv: $(PACKAGING_STAMP)

$(PACKAGING_STAMP): $(PKG_ROOT)/requirements-packaging.txt
	test -x $(VENV_PYTHON) || python3 -m venv $(VENV)
	$(VENV_PYTHON) -c 'import pytest' 2>/dev/null || $(VENV_PYTHON) -m pip install -q $(PACKAGING_PYTEST_PIN)
	$(VENV_PYTHON) -m pip install -q -r $(PKG_ROOT)/requirements-packaging.txt
	touch $@

# Everything users receive, tested: both static binaries (a real --once
# against a local fake STS, the arm64 one under qemu-user), the image index
# and each platform's image (unpacked and run with chroot as 65532, arm64
# under qemu-user), the binary embedded in another root filesystem and as the
# entrypoint supervising a static application (`/aws-credfile -- /app`), the
# embedded dependency lists, the SBOMs against the CycloneDX schema, the
# release directory and its checksums, the second build elsewhere, and the
# Kubernetes manifests against the Kubernetes schemas. PACKAGING_STRICT turns
# a missing artifact into a failure instead of a skip.
test-packaging: release repro-build packaging-venv
	$(PKG_SCRIPTS)/ensure-apt.sh $(PACKAGING_TEST_DEBS)
	$(INSTALL_TOOLS) rust-audit-info
	AWS_CREDFILE_PACKAGING_STRICT=1 \
	AWS_CREDFILE_STATIC_BIN=$(STATIC_BIN) \
	AWS_CREDFILE_ARM64_BIN=$(ARM64_BIN) \
	AWS_CREDFILE_IMAGE_ARCHIVE=$(IMAGE_ARCHIVE) \
	AWS_CREDFILE_RELEASE_DIR=$(RELEASE_DIR) \
	AWS_CREDFILE_REPRO_RELEASE_DIR=$(REPRO_DIR)/src/target/release-artifacts \
	AWS_CREDFILE_RUST_AUDIT_INFO=$(TOOLS_DIR)/bin/rust-audit-info \
	$(VENV_PYTHON) -m pytest -q $(PKG_ROOT)/tests/packaging

# The measured sizes, for release notes and the budgets in docs/deploying.md.
packaging-sizes:
	@for f in $(STATIC_BIN) $(ARM64_BIN) $(IMAGE_ARCHIVE); do \
	    if [ -f $$f ]; then echo "$$(stat -c %s $$f) bytes  $$f"; else echo "missing  $$f"; fi; \
	done
