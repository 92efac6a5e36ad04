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
    # libFuzzer stops at the first crash: save it and go on with the rest
    # of the time, at most three crashes per target.
    runs=0; speed=""; crashes=0; findings="none"; left=$SECONDS_PER_TARGET
    : >"$log"
    while [ "$left" -gt 0 ] && [ $crashes -lt 3 ]; do
        started=$SECONDS
        before=$(ls fuzz/artifacts/"$t" 2>/dev/null | wc -l)
        cargo +nightly fuzz run --fuzz-dir fuzz -O "$t" "fuzz/corpus/$t" "${seeds[@]}" -- \
            -max_total_time="$left" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
            >"$log.part" 2>&1
        rc=$?
        cat "$log.part" >>"$log"
        n=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log.part" | grep -o '[0-9]*$' | tail -1)
        runs=$((runs + ${n:-0}))
        s=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log.part" | grep -o '[0-9]*$' | tail -1)
        [ -n "$s" ] && [ "$rc" -eq 0 ] && speed=$s
        [ -z "$speed" ] && speed=$s
        left=$((left - (SECONDS - started)))
        [ $rc -eq 0 ] && break
        status=1
        crashes=$((crashes + 1))
        total=$(ls fuzz/artifacts/"$t" 2>/dev/null | wc -l)
        for a in $(ls -t fuzz/artifacts/"$t" 2>/dev/null | head -n $((total - before))); do
            cp "fuzz/artifacts/$t/$a" "fuzz/regressions/$t/"
        done
        what=$(grep -m1 -A1 -E 'panicked at' "$log.part" | tail -1 | sed 's/|/\\|/g' | cut -c1-100)
        where=$(grep -m1 -oE 'panicked at [^ ]*' "$log.part" | sed 's/panicked at //; s/:$//')
        [ "$findings" = none ] && findings=""
        findings="${findings}**crash** at ${where:-?}: ${what:-exit $rc}; "
    done
    rm -f "$log.part"
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
    corpus=$(ls "fuzz/corpus/$t" | wc -l)
    [ "$findings" != none ] && findings="${findings}reproducers in \`fuzz/regressions/$t/\`"
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
