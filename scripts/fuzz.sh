#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time: FUZZ_SECONDS each (60 by default).
# Needs a nightly toolchain and cargo-fuzz (scripts/setup.sh installs cargo-fuzz when nightly is
# there). Without either it fails: a green scripts/test.sh means the targets were built and run.
# A contributor without nightly says so explicitly with HEADROOM_SKIP_FUZZ=1, and the run then
# says "skipped" and exits 0 (CI never sets it; docs/fuzzing.md).
# Usage: bash scripts/fuzz.sh [target...]   (all targets when none is named)
# A crash fails the run and leaves its input in fuzz/artifacts/<target>/; see docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${FUZZ_SECONDS:-60}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
    echo "fuzz: FUZZ_SECONDS must be a whole number of seconds above 0, not '$seconds'" >&2
    exit 2
fi
if [ "${HEADROOM_SKIP_FUZZ:-}" = 1 ]; then
    echo "fuzz: skipped: HEADROOM_SKIP_FUZZ=1 (no target was built or run)"
    exit 0
fi
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "fuzz: no nightly Rust toolchain (libFuzzer's sanitizer flags need one):" >&2
    echo "      'rustup toolchain install nightly' then 'bash scripts/setup.sh' to fuzz," >&2
    echo "      or HEADROOM_SKIP_FUZZ=1 to run the other tests without fuzzing" >&2
    exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz: cargo-fuzz is not installed ('cargo install cargo-fuzz --locked', or" >&2
    echo "      'bash scripts/setup.sh'); HEADROOM_SKIP_FUZZ=1 runs the other tests without it" >&2
    exit 2
fi

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
if [ ${#targets[@]} -eq 0 ]; then
    echo "fuzz: 'cargo fuzz list' names no target" >&2
    exit 1
fi

# One build, with AddressSanitizer (cargo-fuzz's default) and debug assertions, hence overflow
# checks: the runs below reuse it, as `cargo fuzz run` rebuilds only when the flags change.
build_flags=(--debug-assertions)
mkdir -p logs
echo "== fuzz: building every target (nightly, ASan, debug assertions)"
if ! cargo +nightly fuzz build "${build_flags[@]}" >logs/build.log 2>&1; then
    tail -n 30 logs/build.log >&2
    echo "fuzz: the build failed (full output in fuzz/logs/build.log)" >&2
    exit 1
fi

failed=()
for target in "${targets[@]}"; do
    # New inputs go to corpus/ (not committed); the committed seeds are read, never written.
    mkdir -p "corpus/$target" "seeds/$target"
    log="logs/$target.log"
    if cargo +nightly fuzz run "${build_flags[@]}" "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -dict=json.dict -print_final_stats=1 >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
        size=$(find "corpus/$target" -type f | wc -l)
        echo "fuzz: $target: ok, ${seconds} s, ${runs:-?} runs, ${rate:-?} runs/s, corpus $size inputs"
    else
        failed+=("$target")
        echo "fuzz: $target: FAILED (full output in fuzz/$log):"
        grep -E "panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer|SUMMARY:|Test unit written to" "$log" |
            head -n 20 | sed 's/^/    /'
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: crashes in ${failed[*]}; turn each input in fuzz/artifacts/<target>/ into a regular test (docs/fuzzing.md)" >&2
    exit 1
fi
