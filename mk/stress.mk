# Long-running robustness checks, kept out of `make test`:
#
#   make stress   the #[ignore]d long tests: 300 SIGKILLs of a rewriting
#                 daemon, then the fleet restart (300 sidecars against a
#                 throttling fake STS), which writes bench/fleet-results.md
#   make fuzz     every cargo-fuzz target for FUZZ_TIME seconds each (nightly),
#                 reproducers saved in fuzz/regressions/, figures in
#                 bench/fuzz-results.md
#
# The fast parts of the same tests (30 kills, the fault matrix, filesystem
# faults, bad input) run in `make test` as ordinary integration tests.

FUZZ_TIME ?= 60
FLEET_SIDECARS ?= 300
FLEET_RATE ?= 50

.PHONY: stress stress-crash fleet fuzz

stress: stress-crash fleet

stress-crash:
	$(CARGO) test --locked --release --test it -- --ignored --nocapture crash::

fleet:
	FLEET_SIDECARS=$(FLEET_SIDECARS) FLEET_RATE=$(FLEET_RATE) \
	FLEET_RESULTS="$(CURDIR)/bench/fleet-results.md" \
	$(CARGO) test --locked --release --test it -- --ignored --nocapture --test-threads=1 fleet::

fuzz:
	FUZZ_TIME=$(FUZZ_TIME) scripts/stress/fuzz.sh $(FUZZ_TIME)
