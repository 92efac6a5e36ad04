# aws-credfile: build, test, lint and demo.
#
#   make build   release binary (cargo build --locked --release)
#   make test    Debian packages and the Python venv if missing, then cargo test, then the
#                end-to-end suite against a local moto server, then the check that the README's
#                SDK table agrees with the last `make compat` run, then the packaging tests
#                (static x86_64 and arm64 binaries, the multi-arch image, the release
#                directory, its reproducibility, the manifests)
#   make demo    watch aws-credfile write and refresh a credentials file against moto
#   make lint    cargo fmt --check, clippy with warnings as errors, and cargo deny's
#                licence, ban and source checks (deny.toml)
#   make venv    .venv with requirements-test.txt (instant when already up to date)
#   make deps    Debian packages the build and tests need (apt only when one is missing)
#   make clean   cargo clean and remove .venv
#
# From the mk/*.mk fragments:
#   make static, make static-arm64   the static musl release binaries (mk/release.mk)
#   make image                       the linux/amd64 + linux/arm64 FROM-scratch image as
#                                    target/aws-credfile.oci.tar
#   make release                     binaries, image, SBOMs, notices and SHA256SUMS in
#                                    target/release-artifacts/
#   make reproducible                rebuilds all of it elsewhere and compares
#   make bench                       figures and budgets into BENCHMARKS.md (mk/bench.mk)
#   make compat                      real SDKs against every mode, docs/compatibility.md (mk/compat.mk)
#   make stress, make fuzz           the long robustness runs (mk/stress.mk)
#
# Works from a fresh clone on Debian 12 with Rust (rustup) and python3. Every variable
# below can be overridden on the command line, e.g. `make test PYTHON=/usr/bin/python3`.

SHELL := /bin/bash
.DEFAULT_GOAL := build

CARGO ?= cargo
# The interpreter the venv is made from: whatever python3 is first on PATH (pyenv's or Debian's).
PYTHON ?= python3
VENV ?= .venv
VENV_PY := $(VENV)/bin/python
# Touched after a successful install; newer than requirements-test.txt means nothing to do.
VENV_STAMP := $(VENV)/.installed
REQUIREMENTS := requirements-test.txt
# Debian packages `make deps` installs when missing: strace, which holds a process in a race
# window so that a race test hits it every time; iproute2, whose `ip` takes 127.0.0.1 away in a
# private network namespace (an IPv6-only loopback); and what scripts/deps.sh checks itself
# (python3-venv, only when python3 lacks ensurepip). The mk/*.mk fragments install their own
# (musl-tools, buildah, ...) when their targets run.
APT_PACKAGES ?= strace iproute2
PYTEST_ARGS ?=

# Where cargo puts binaries, honouring CARGO_TARGET_DIR and .cargo/config; asked lazily so
# targets that don't need it don't pay for it.
TARGET_DIR = $(shell $(CARGO) metadata --no-deps --format-version 1 \
	| $(PYTHON) -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
DEBUG_BIN = $(TARGET_DIR)/debug/aws-credfile

.PHONY: all build test test-rust e2e demo lint fmt venv deps clean

all: lint test

build:
	$(CARGO) build --locked --release

# Sequential on purpose, also under make -j: the Rust tests first, then end to end, then
# what users receive (static binaries, the image, the manifests; mk/release.mk).
test: deps venv
	@$(MAKE) --no-print-directory test-rust
	@$(MAKE) --no-print-directory e2e
	@$(MAKE) --no-print-directory compat-check
	@$(MAKE) --no-print-directory test-packaging

# Unit tests beside the code and the integration tests under tests/, in a temp directory
# of their own (made like /tmp, so tests that run as another user work as before) that must
# be empty afterwards: a passing run leaves nothing behind. Strict: a test that needs root, a
# namespace or a terminal fails rather than skips (CI runs as root), so it cannot pass unrun.
test-rust:
	@set -e; d="$$(mktemp -d "$${TMPDIR:-/tmp}/aws-credfile-test-rust.XXXXXX")"; chmod 1777 "$$d"; \
	echo "TMPDIR=$$d AWS_CREDFILE_TEST_STRICT=1 $(CARGO) test --locked"; TMPDIR="$$d" AWS_CREDFILE_TEST_STRICT=1 $(CARGO) test --locked; \
	left="$$(ls -A "$$d")"; if [ -n "$$left" ]; then \
		echo "make test-rust: the tests left these in their temp directory $$d: $$left" >&2; exit 1; fi; \
	rmdir "$$d"

# End-to-end: the debug binary against moto's server, read back by boto3.
e2e: venv
	$(CARGO) build --locked
	AWS_CREDFILE_BIN="$(DEBUG_BIN)" $(VENV_PY) -m pytest tests/e2e $(PYTEST_ARGS)

demo: deps venv
	$(CARGO) build --locked
	AWS_CREDFILE_BIN="$(DEBUG_BIN)" VENV="$(VENV)" scripts/demo.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --locked -- -D warnings
	@$(MAKE) --no-print-directory deny

fmt:
	$(CARGO) fmt --all

venv: $(VENV_STAMP)

# A venv whose interpreter is gone (python3 upgraded or removed) is rebuilt, not trusted.
ifneq ($(shell $(VENV_PY) -c 'print("ok")' 2>/dev/null),ok)
.PHONY: $(VENV_STAMP)
endif

# Created from scratch when the requirements change, so removed pins don't linger.
$(VENV_STAMP): $(REQUIREMENTS)
	@$(MAKE) --no-print-directory deps
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check -r $(REQUIREMENTS)
	$(VENV_PY) -m pip check
	touch $@

deps:
	PYTHON="$(PYTHON)" scripts/deps.sh $(APT_PACKAGES)

clean:
	$(CARGO) clean
	rm -rf $(VENV)

# Further targets live in fragments, one file per concern (packaging, fuzzing and stress
# runs, benchmarks), so each can grow without touching this file.
include $(sort $(wildcard mk/*.mk))
