#!/usr/bin/env bash
# Benchmark: `headroom daily --json` against `ccusage claude daily --json --offline` on the same
# 1 GB of generated Claude Code transcripts (../shared/bench/gen_claude_logs.py), warm page cache.
#
#   scripts/bench-ingest.sh            # generates data once under target/bench/, then measures
#   SIZE_MB=200 scripts/bench-ingest.sh
#
# Measures:
#   cold vs ccusage  side by side: RUNS (default 5) rounds, each a cold `headroom daily --json`
#                    (empty ledger: read and store everything) then `ccusage claude daily --json
#                    --offline` 20.0.24 (native binary) on the same folder, alternating so that
#                    both see the same load; wall time (median and min) and peak memory
#                    (maximum resident set) of every run, with /usr/bin/time, and the load
#                    average before and after
#   warm             ledger up to date, nothing appended (hyperfine)
#   incremental      1 MB of new responses appended to one transcript since the last run (hyperfine)
# Needs: python3, hyperfine, GNU time, npm (apt-get install hyperfine time; npm is on the machine).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
shared=${SHARED_DIR:-$root/../shared}
size=${SIZE_MB:-1000}
work=$root/target/bench
data=$work/claude-${size}mb
extra=$work/extra-1mb
tools=$work/tools
export TZ=UTC

for tool in hyperfine python3 npm; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install hyperfine time)" >&2; exit 2; }
done
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time is missing (apt-get install time)" >&2; exit 2; }

mkdir -p "$work"
if [ ! -d "$data/projects" ]; then
    echo "generating ${size} MB of transcripts in $data ..."
    python3 "$shared/bench/gen_claude_logs.py" "$data" --size-mb "$size" --seed 12 --days 60
fi
if [ ! -d "$extra/projects" ]; then
    # Other sessions (another seed): every response in them is new to the ledger.
    python3 "$shared/bench/gen_claude_logs.py" "$extra" --size-mb 1.2 --seed 99 --days 1 >/dev/null
fi
ccusage=$tools/node_modules/@ccusage/ccusage-linux-x64/bin/ccusage
if [ ! -x "$ccusage" ]; then
    echo "installing ccusage 20.0.24 (reference) ..."
    mkdir -p "$tools"
    (cd "$tools" && npm i --silent --no-audit --no-fund ccusage@20.0.24 @ccusage/ccusage-linux-x64@20.0.24 >/dev/null)
    chmod +x "$ccusage"
fi

cargo build --release -q -p headroom-cli --manifest-path "$root/Cargo.toml"
headroom=$root/target/release/headroom
home=$work/headroom-home
export CLAUDE_CONFIG_DIR=$data HEADROOM_HOME=$home

# Warm the page cache.
cat "$data"/projects/*/*.jsonl >/dev/null

# The transcript the incremental run appends to, and 1 MB of new lines for it.
target=$(find "$data/projects" -name '*.jsonl' | sort | sed -n 1p)
cp "$target" "$work/target.orig"
python3 - "$extra" "$work/append.jsonl" <<'EOF'
import pathlib, sys
lines, size = [], 0
for path in sorted(pathlib.Path(sys.argv[1]).rglob("*.jsonl")):
    for line in path.read_text().splitlines(keepends=True):
        if size + len(line) > 1 << 20:
            break
        lines.append(line)
        size += len(line)
pathlib.Path(sys.argv[2]).write_text("".join(lines))
EOF

runs=${RUNS:-5}
echo
echo "== cold headroom vs ccusage 20.0.24 (native), $(du -sh "$data" | cut -f1) of transcripts, $runs alternating rounds"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$work/side-by-side.tsv"
for round in $(seq "$runs"); do
    rm -rf "$home"
    /usr/bin/time -o "$work/time.txt" -f "%e %M" "$headroom" daily --json >"$work/headroom.json"
    echo "headroom $(cat "$work/time.txt")" >>"$work/side-by-side.tsv"
    /usr/bin/time -o "$work/time.txt" -f "%e %M" "$ccusage" claude daily --json --offline >"$work/ccusage.json"
    echo "ccusage $(cat "$work/time.txt")" >>"$work/side-by-side.tsv"
    echo "  round $round: $(tail -2 "$work/side-by-side.tsv" | tr '\n' ' ')"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "== warm: ledger up to date"
"$headroom" daily --json >/dev/null
hyperfine -N --warmup 3 --runs 30 --export-json "$work/warm.json" "$headroom daily --json"
echo
echo "== incremental: $(wc -c <"$work/append.jsonl") bytes of new responses appended to one transcript"
# Each run starts from a ledger that is up to date and has never seen the appended responses:
# a fresh ledger, a cold ingest, then the append. Only the next `daily --json` is timed.
prepare="rm -rf $home && cp $work/target.orig $target && $headroom daily --json >/dev/null && cat $work/append.jsonl >> $target"
hyperfine -N --warmup 1 --runs 10 --prepare "sh -c '$prepare'" --export-json "$work/incremental.json" \
    "$headroom daily --json"
cp "$work/target.orig" "$target"

python3 - "$work" <<'EOF'
import json, os, statistics, sys
work = sys.argv[1]
med = lambda name: json.load(open(os.path.join(work, name + ".json")))["results"][0]["median"]
runs = {"headroom": [], "ccusage": []}
for line in open(os.path.join(work, "side-by-side.tsv")):
    tool, wall, kb = line.split()
    runs[tool].append((float(wall), int(kb)))
walls = {tool: sorted(w for w, _ in r) for tool, r in runs.items()}
peak = {tool: max(kb for _, kb in r) / 1024 for tool, r in runs.items()}
hr, cc = statistics.median(walls["headroom"]), statistics.median(walls["ccusage"])
warm, inc = med("warm"), med("incremental")
print()
print("| run | median | min | peak memory |")
print("|---|---|---|---|")
print(f"| headroom cold (empty ledger) | {hr:.2f} s | {walls['headroom'][0]:.2f} s | {peak['headroom']:.0f} MiB |")
print(f"| ccusage 20.0.24 | {cc:.2f} s | {walls['ccusage'][0]:.2f} s | {peak['ccusage']:.0f} MiB |")
print(f"| speed-up cold vs ccusage | {cc/hr:.1f}x (medians) | {walls['ccusage'][0]/walls['headroom'][0]:.1f}x (mins) | |")
print(f"| warm (nothing new) | {warm*1000:.1f} ms | | |")
print(f"| incremental (1 MB appended) | {inc*1000:.1f} ms | | |")
EOF
