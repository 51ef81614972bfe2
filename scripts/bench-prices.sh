#!/usr/bin/env bash
# Benchmark: peak memory of `headroom prices update --from FILE` (audit N11: a 30 MiB answer
# once peaked at 1.1 GB). Budget: 64 MiB maximum resident set for every file.
#
#   scripts/bench-prices.sh                       # release build
#   PROFILE=debug scripts/bench-prices.sh
#   LITELLM_JSON=/tmp/ll/litellm/model_prices_and_context_window_backup.json scripts/bench-prices.sh
#
# Files (generated under target/bench/prices/):
#   bomb        a 30 MiB {"x":[0,0,…]} (refused: no Claude model; skipped unread)
#   claude-bomb a 30 MiB array inside a Claude entry (refused after reading; the array unread)
#   litellm     LiteLLM's real file, when LITELLM_JSON names it (accepted)
# Measures the maximum resident set of each run with GNU time (/usr/bin/time -f %M).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
profile=${PROFILE:-release}
budget_kib=$((64 * 1024))
work=$root/target/bench/prices
mkdir -p "$work"
[ -x /usr/bin/time ] || { echo "bench: GNU time is missing (apt-get install time)" >&2; exit 2; }

if [ "$profile" = release ]; then
    cargo build --release -q -p headroom-cli --manifest-path "$root/Cargo.toml"
else
    cargo build -q -p headroom-cli --manifest-path "$root/Cargo.toml"
fi
headroom=$root/target/$profile/headroom

python3 - "$work" <<'PY'
import sys, pathlib
work = pathlib.Path(sys.argv[1])
zeros = "0," * (15 << 20) + "0"
(work / "bomb.json").write_text('{"x":[' + zeros + ']}')
entry = '"input_cost_per_token":1e-06,"output_cost_per_token":5e-06,"litellm_provider":"anthropic"'
(work / "claude-bomb.json").write_text('{"claude-opus-9":{' + entry + ',"junk":[' + zeros + ']}}')
PY

files=("$work/bomb.json" "$work/claude-bomb.json")
if [ -n "${LITELLM_JSON:-}" ]; then
    files+=("$LITELLM_JSON")
fi

home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
worst=0
printf '%-40s %10s %12s  %s\n' file size "peak RSS" outcome
for file in "${files[@]}"; do
    size=$(stat -c %s "$file")
    set +e
    HEADROOM_HOME=$home CLAUDE_CONFIG_DIR=$home/claude /usr/bin/time -f %M -o "$work/rss" \
        "$headroom" prices update --from "$file" >"$work/out" 2>&1
    status=$?
    set -e
    rss=$(tail -1 "$work/rss")
    outcome=$([ "$status" = 0 ] && echo accepted || echo "refused: $(head -c 90 "$work/out")")
    printf '%-40s %7.1f MiB %8.1f MiB  %s\n' "$(basename "$file")" \
        "$(echo "$size / 1048576" | bc -l)" "$(echo "$rss / 1024" | bc -l)" "$outcome"
    [ "$rss" -gt "$worst" ] && worst=$rss
done
echo "worst peak: $((worst / 1024)) MiB (budget 64 MiB, $profile build)"
[ "$worst" -le "$budget_kib" ]
