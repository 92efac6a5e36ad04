#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time, replays the saved
# reproducers first, saves any new crash under fuzz/regressions/<target>/,
# and writes the figures as a markdown section to $FUZZ_RESULTS.
#
#   scripts/stress/fuzz.sh [seconds-per-target] [target...]
#
# Needs the nightly toolchain and cargo-fuzz (installed if missing).
# Exits non-zero when a target crashed or a saved reproducer still fails.
set -uo pipefail

cd "$(dirname "$0")/../.."
SECONDS_PER_TARGET="${1:-${FUZZ_TIME:-60}}"
shift || true
FUZZ_RESULTS="${FUZZ_RESULTS:-bench/fuzz-results.md}"
# cargo-fuzz builds into fuzz/target; an inherited CARGO_TARGET_DIR would
# put sanitizer builds among the normal ones.
unset CARGO_TARGET_DIR

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "cargo-fuzz missing: installing it" >&2
    cargo install --locked cargo-fuzz || exit 1
fi
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "the nightly toolchain is missing: rustup toolchain install nightly" >&2
    exit 1
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list --fuzz-dir fuzz)
fi

cargo +nightly fuzz build -O --fuzz-dir fuzz || exit 1

status=0
rows=()
for t in "${targets[@]}"; do
    log="fuzz/target/fuzz-$t.log"
    mkdir -p "fuzz/corpus/$t" "fuzz/regressions/$t"
    # Reproducers saved earlier must not crash any more.
    replay="none saved"
    if compgen -G "fuzz/regressions/$t/*" >/dev/null; then
        if cargo +nightly fuzz run --fuzz-dir fuzz -O "$t" fuzz/regressions/"$t"/* -- -runs=1 \
            >"fuzz/target/replay-$t.log" 2>&1; then
            replay="all pass"
        else
            replay="**still crash** (see fuzz/target/replay-$t.log)"
            status=1
        fi
    fi
    seeds=()
    [ -d "fuzz/seeds/$t" ] && seeds=("fuzz/seeds/$t")
    # Fork mode with crashes ignored: one known crash must not end the run
    # and hide everything else. Each crash input lands in fuzz/artifacts/.
    before=$(ls fuzz/artifacts/"$t" 2>/dev/null | wc -l)
    cargo +nightly fuzz run --fuzz-dir fuzz -O "$t" "fuzz/corpus/$t" "${seeds[@]}" -- \
        -max_total_time="$SECONDS_PER_TARGET" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 \
        -ignore_ooms=1 -timeout=10 -rss_limit_mb=2048 >"$log" 2>&1
    last=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1)
    runs=$(sed -E 's/^#([0-9]+):.*/\1/' <<<"$last")
    # Fork mode's own exec/s column stays 0; the average is what counts.
    speed=$(( ${runs:-0} / SECONDS_PER_TARGET ))
    total=$(ls fuzz/artifacts/"$t" 2>/dev/null | wc -l)
    findings="none"
    if [ "$total" -gt "$before" ]; then
        status=1
        # Fork mode keeps the children's output to itself: replay (up to 20 of) each
        # new crash once to learn what failed.
        # At most three (the smallest) are kept as reproducers: one bug
        # tends to be found many times over.
        : >"$log.crashes"
        new=$(ls -t fuzz/artifacts/"$t" | head -n $((total - before)))
        for a in $(cd fuzz/artifacts/"$t" && ls -S -r $new | head -3); do
            cp "fuzz/artifacts/$t/$a" "fuzz/regressions/$t/"
        done
        for a in $(printf "%s\n" $new | head -20); do
            cargo +nightly fuzz run --fuzz-dir fuzz -O "$t" "fuzz/artifacts/$t/$a" -- -runs=1 2>&1 \
                | grep -A1 -E 'panicked at' | grep -vE '^(--|thread)' | head -1 >>"$log.crashes"
        done
        kinds=$(sort "$log.crashes" | uniq -c | sort -rn | head -3 \
            | sed -E 's/^ *([0-9]+) (.*)/\2 (x\1)/' | cut -c1-120 | sed 's/|/\\|/g' | paste -sd';' -)
        findings="**$((total - before)) crash inputs**: ${kinds:-see $log}; saved in \`fuzz/regressions/$t/\`"
    fi
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
    corpus=$(ls "fuzz/corpus/$t" | wc -l)
    rows+=("| \`$t\` | ${SECONDS_PER_TARGET} s | ${runs:-?} | ${speed:-?} | ${cov:-?} | $corpus | $findings | $replay |")
    echo "$t: runs=${runs:-?} exec/s=${speed:-?} findings=$findings" >&2
done

{
    echo "## Fuzzing"
    echo
    echo "\`make fuzz\` (\`scripts/stress/fuzz.sh\`) runs each cargo-fuzz target for a bounded time with"
    echo "the nightly toolchain, after replaying the reproducers saved in \`fuzz/regressions/<target>/\`."
    echo "Rerun: \`make fuzz FUZZ_TIME=${SECONDS_PER_TARGET}\`. Machine: $(nproc) cores of"
    echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), shared with other jobs;"
    echo "$(rustc +nightly --version), $(date -u +%Y-%m-%d)."
    echo
    echo "| target | time | executions | exec/s | coverage (edges) | corpus | findings | saved reproducers |"
    echo "|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
    echo "Targets: \`sts_xml\` (STS answers, both actions: no panic, one-line errors, no secret quoted),"
    echo "\`container_json\` (agent answers, any status: same), \`ini_merge\` (never loses or reorders"
    echo "another section's header or key line, idempotent), \`serve_request\` (the loopback endpoint's"
    echo "request parser: a definite status for anything complete, oversized heads refused)."
} >"$FUZZ_RESULTS"
echo "wrote $FUZZ_RESULTS" >&2
exit $status
