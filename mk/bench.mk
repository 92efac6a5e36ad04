# Benchmarks and budgets: aws-credfile next to the shell-loop sidecar it replaces.
#
#   make bench           measure on this machine, write BENCHMARKS.md and bench/chart.svg,
#                        check the budgets (exit 1 when one is missed, after writing the report)
#   make bench-variants  static binary size of build options and dependencies, each built in a
#                        scratch copy (slow: one LTO build per variant) -> bench/variants-results.md,
#                        which the next `make bench` includes
#   make bench-venv      .venv-bench with the AWS CLI (requirements-bench.txt); apart from .venv
#                        so the test venv stays lean
#
# Not part of `make test`: timings belong in benchmarks, not tests. Only 127.0.0.1 is contacted.
# BENCH_RUNS (refreshes per client and transport) and BENCH_IDLE (seconds) trade time for spread.

BENCH_RUNS ?= 30
BENCH_IDLE ?= 60
BENCH_VENV ?= .venv-bench
BENCH_VENV_STAMP := $(BENCH_VENV)/.installed
BENCH_REQUIREMENTS := requirements-bench.txt
BENCH_TRIPLE := x86_64-unknown-linux-musl
# The launcher that times each run; static, so its own RSS does not leak into the figures.
BENCH_CC ?= musl-gcc
CARGO_BLOAT_VERSION ?= 0.12.1

# Asked once per recipe line (TARGET_DIR runs cargo metadata).
BENCH_DIRS = td="$(TARGET_DIR)"; static="$$td/$(BENCH_TRIPLE)/release/aws-credfile"

.PHONY: bench bench-static bench-bloat bench-variants bench-venv bench-deps

bench: bench-deps bench-static bench-venv bench-bloat
	@$(BENCH_DIRS); mkdir -p "$$td/bench" \
	&& $(BENCH_CC) -static -Os -Wall -o "$$td/bench/measure" bench/measure.c \
	&& $(BENCH_VENV)/bin/python bench/bench.py --binary "$$static" --measure "$$td/bench/measure" \
		--runs $(BENCH_RUNS) --idle $(BENCH_IDLE) \
		--image "$$td/aws-credfile.oci.tar" --image target/aws-credfile.oci.tar \
		--bloat-json "$$td/bloat/crates.json" \
		--bloat-cmd "cargo bloat --release --target $(BENCH_TRIPLE) --crates (strip off)"

# musl-tools for the static build and the launcher, openssl for the per-run test CA.
bench-deps:
	@PYTHON="$(PYTHON)" scripts/deps.sh musl-tools openssl
	@rustup target list --installed 2>/dev/null | grep -qx $(BENCH_TRIPLE) \
		|| rustup target add $(BENCH_TRIPLE)

# The static binary as shipped: `make static` once mk/release.mk provides it, else the same
# cargo build by hand.
bench-static:
	@if grep -qs '^static:' mk/*.mk; then \
		$(MAKE) --no-print-directory static; \
	else \
		$(CARGO) build --locked --release --target $(BENCH_TRIPLE); \
	fi

# Per-crate .text sizes of the same build, unstripped (cargo bloat needs the symbols), in its
# own target directory so the shipped binary is not rebuilt back and forth.
bench-bloat:
	@$(BENCH_DIRS); \
	if ! PATH="$$td/tools/bin:$$PATH" $(CARGO) bloat --version >/dev/null 2>&1; then \
		$(CARGO) install cargo-bloat --locked --version $(CARGO_BLOAT_VERSION) --root "$$td/tools"; \
	fi; \
	mkdir -p "$$td/bloat" \
	&& CARGO_PROFILE_RELEASE_STRIP=false PATH="$$td/tools/bin:$$PATH" \
		$(CARGO) bloat --release --locked --target $(BENCH_TRIPLE) --target-dir "$$td/bloat" \
		--crates -n 0 --message-format json > "$$td/bloat/crates.json.tmp" \
	&& mv "$$td/bloat/crates.json.tmp" "$$td/bloat/crates.json"

bench-variants: bench-deps
	@$(BENCH_DIRS); BENCH_VARIANTS_TARGET_DIR="$$td/variants" $(PYTHON) bench/variants.py --test

bench-venv: $(BENCH_VENV_STAMP)

ifneq ($(shell $(BENCH_VENV)/bin/python -c 'print("ok")' 2>/dev/null),ok)
.PHONY: $(BENCH_VENV_STAMP)
endif

# From scratch when the pins change, like .venv; the .gitignore inside keeps it out of git.
$(BENCH_VENV_STAMP): $(BENCH_REQUIREMENTS)
	@$(MAKE) --no-print-directory deps
	rm -rf $(BENCH_VENV)
	$(PYTHON) -m venv $(BENCH_VENV)
	echo '*' > $(BENCH_VENV)/.gitignore
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r $(BENCH_REQUIREMENTS)
	$(BENCH_VENV)/bin/python -m pip check
	touch $@
