# mk/release.mk: static release binaries, the FROM-scratch image, and the
# tests of what users receive (binaries, image, Kubernetes manifests).
#
# Included by the top-level Makefile (`include mk/release.mk`), or run alone
# from the repository root:
#
#   make -f mk/release.mk static image test-packaging
#
# Every tool a target needs is installed by it when missing (Debian packages
# through scripts/packaging/ensure-apt.sh, Rust targets through rustup), so a
# fresh machine needs nothing beforehand; on a machine that has them the
# checks cost a fraction of a second. Variables use ?= so the including
# Makefile may set them first.

PKG_ROOT ?= $(CURDIR)
PKG_SCRIPTS := $(PKG_ROOT)/scripts/packaging

# The version in [package], which the image tag and its version label use.
PKG_VERSION := $(shell awk -F'"' '/^\[/ { pkg = ($$0 == "[package]") } pkg && /^version *=/ { print $$2; exit }' $(PKG_ROOT)/Cargo.toml)

STATIC_TARGET ?= x86_64-unknown-linux-musl
ARM64_TARGET ?= aarch64-unknown-linux-musl
# Build into the default target/ unless the caller redirects it.
PKG_TARGET_DIR ?= $(if $(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR),$(PKG_ROOT)/target)
STATIC_BIN := $(PKG_TARGET_DIR)/$(STATIC_TARGET)/release/aws-credfile
ARM64_BIN := $(PKG_TARGET_DIR)/$(ARM64_TARGET)/release/aws-credfile
IMAGE_NAME ?= aws-credfile
IMAGE_ARCHIVE ?= $(PKG_TARGET_DIR)/aws-credfile.oci.tar

# The project's virtual environment (another target, `make venv`, creates it
# from requirements-test.txt); the packaging tests add
# requirements-packaging.txt to it.
VENV ?= $(PKG_ROOT)/.venv
VENV_PYTHON ?= $(VENV)/bin/python
# Installed only when the environment has no pytest at all (running this file
# alone, before `make venv`), so it never fights requirements-test.txt's pin.
PACKAGING_PYTEST_PIN ?= pytest==9.2.0
PACKAGING_STAMP := $(VENV)/.aws-credfile-packaging.stamp

# Debian packages the packaging tests need: qemu-aarch64 for the arm64 binary,
# chroot (coreutils, always there) for the image's root filesystem, musl-gcc
# for the static application the embedding test runs under aws-credfile.
PACKAGING_TEST_DEBS ?= qemu-user musl-tools

.PHONY: static static-arm64 image test-packaging packaging-venv packaging-sizes

# The x86_64 static musl binary.
static:
	$(PKG_SCRIPTS)/build-static.sh $(STATIC_TARGET)

# The aarch64 static musl binary, for EKS Graviton nodes.
static-arm64:
	$(PKG_SCRIPTS)/build-static.sh $(ARM64_TARGET)

# The FROM-scratch image from the x86_64 binary, tagged $(IMAGE_NAME):VERSION
# and :latest, exported as an OCI archive.
image: static
	IMAGE_NAME=$(IMAGE_NAME) $(PKG_SCRIPTS)/build-image.sh $(PKG_VERSION) $(STATIC_BIN) $(IMAGE_ARCHIVE)

# pytest and kubernetes-validate in the project's virtual environment.
packaging-venv: $(PACKAGING_STAMP)

$(PACKAGING_STAMP): $(PKG_ROOT)/requirements-packaging.txt
	test -x $(VENV_PYTHON) || python3 -m venv $(VENV)
	$(VENV_PYTHON) -c 'import pytest' 2>/dev/null || $(VENV_PYTHON) -m pip install -q $(PACKAGING_PYTEST_PIN)
	$(VENV_PYTHON) -m pip install -q -r $(PKG_ROOT)/requirements-packaging.txt
	touch $@

# Everything users receive, tested: both static binaries (a real --once
# against a local fake STS, the arm64 one under qemu-user), the image
# (unpacked and run with chroot as 65532), the binary embedded in another
# root filesystem and as the entrypoint supervising a static application
# (`/aws-credfile -- /app`), and the Kubernetes manifests against the Kubernetes
# schemas. PACKAGING_STRICT turns a missing artifact into a failure instead
# of a skip.
test-packaging: static static-arm64 image packaging-venv
	$(PKG_SCRIPTS)/ensure-apt.sh $(PACKAGING_TEST_DEBS)
	AWS_CREDFILE_PACKAGING_STRICT=1 \
	AWS_CREDFILE_STATIC_BIN=$(STATIC_BIN) \
	AWS_CREDFILE_ARM64_BIN=$(ARM64_BIN) \
	AWS_CREDFILE_IMAGE_ARCHIVE=$(IMAGE_ARCHIVE) \
	$(VENV_PYTHON) -m pytest -q $(PKG_ROOT)/tests/packaging

# The measured sizes, for release notes and the budgets in docs/deploying.md.
packaging-sizes:
	@for f in $(STATIC_BIN) $(ARM64_BIN) $(IMAGE_ARCHIVE); do \
	    if [ -f $$f ]; then echo "$$(stat -c %s $$f) bytes  $$f"; else echo "missing  $$f"; fi; \
	done
