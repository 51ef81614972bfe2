#!/usr/bin/env bash
# Benchmark: `headroom statusline` as Claude Code runs it on every render (a statusline payload
# with rate_limits on stdin, one line out), release build, against a ledger that already holds
# the 1 GB benchmark history (../shared/bench/gen_claude_logs.py --size-mb 1000 --seed 12
# --days 60, the data of scripts/bench-ingest.sh, reused when present). The budget: a median
# under 20 ms, so that Claude Code's status line never waits on Headroom.
#
#   scripts/bench-statusline.sh
#   SIZE_MB=200 scripts/bench-statusline.sh
#
# hyperfine 1.15 (Debian 12) has no --input, so each run is `sh -c 'headroom statusline <
# payload'`; the shell's own cost is measured too (`sh -c true`... on the same input) and
# printed, so the figure can be read with or without it.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
shared=${SHARED_DIR:-$root/../shared}
size=${SIZE_MB:-1000}
work=$root/target/bench
data=$work/claude-${size}mb
home=$work/statusline-home
target_dir=${CARGO_TARGET_DIR:-$root/target}
export TZ=UTC

command -v hyperfine >/dev/null || { echo "bench: hyperfine is missing (apt-get install hyperfine)" >&2; exit 2; }
mkdir -p "$work"
if [ ! -d "$data/projects" ]; then
    echo "generating ${size} MB of transcripts in $data ..."
    python3 "$shared/bench/gen_claude_logs.py" "$data" --size-mb "$size" --seed 12 --days 60
fi

cargo build --release -q -p headroom-cli --manifest-path "$root/Cargo.toml"
headroom=$target_dir/release/headroom
export CLAUDE_CONFIG_DIR=$data HEADROOM_HOME=$home NO_COLOR=1

if [ ! -f "$home/ledger.sqlite3" ]; then
    echo "ingesting the history once ..."
    "$headroom" daily --json >/dev/null
fi
echo "ledger: $(du -h "$home/ledger.sqlite3" | cut -f1), $(du -sh "$data" | cut -f1) of transcripts ingested"

now=$(date +%s)
payload=$work/statusline-payload.json
sed -e "s/@SESSION_RESET@/$((now + 4000))/" -e "s/@WEEKLY_RESET@/$((now + 300000))/" \
    -e "s|@TRANSCRIPT@|$data/projects/x/y.jsonl|" \
    "$root/tests/fixtures/account/statusline_with_limits.json" >"$payload"
echo "line: $("$headroom" statusline <"$payload")"

echo
hyperfine -N --warmup 5 --runs 100 --export-json "$work/statusline.json" \
    "sh -c '$headroom statusline < $payload'" \
    "sh -c 'cat < $payload >/dev/null'"

python3 - "$work/statusline.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
line, shell = r[0]["median"] * 1000, r[1]["median"] * 1000
print()
print("| run | median |")
print("|---|---|")
print(f"| `headroom statusline` (with sh -c) | {line:.1f} ms |")
print(f"| sh -c + cat baseline | {shell:.1f} ms |")
print(f"| `headroom statusline` alone (difference) | {line - shell:.1f} ms |")
print("requirement: median under 20 ms:", "met" if line < 20 else "NOT met")
EOF
