#!/usr/bin/env bash
# Benchmark: how long `/metrics` takes to answer, and how long a round takes to build the
# figures it serves, with the 1 GB benchmark history ingested (../shared/bench/gen_claude_logs.py
# --size-mb 1000 --seed 12 --days 60, the data of scripts/bench-ingest.sh, reused when
# present). The budget: answers under 10 ms at any history size.
#
#   scripts/bench-metrics.sh
#   SIZE_MB=200 PROFILE=debug scripts/bench-metrics.sh
#
# The answer time is curl's `time_total` (connect to last byte, no process start-up) over
# REQUESTS scrapes; the frame's build time is what `headroom serve` logs at debug level for
# each round and each scrape-triggered refresh (`metrics frame built in …`). Nothing is sent
# anywhere: the account API points at a closed loopback port.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
shared=${SHARED_DIR:-$root/../shared}
size=${SIZE_MB:-1000}
profile=${PROFILE:-release}
requests=${REQUESTS:-200}
work=$root/target/bench
data=$work/claude-${size}mb
home=$work/metrics-home-${size}mb
target_dir=${CARGO_TARGET_DIR:-$root/target}
export TZ=UTC

command -v curl >/dev/null || { echo "bench: curl is missing (scripts/setup.sh)" >&2; exit 2; }
mkdir -p "$work"
if [ ! -d "$data/projects" ]; then
    echo "generating ${size} MB of transcripts in $data ..."
    python3 "$shared/bench/gen_claude_logs.py" "$data" --size-mb "$size" --seed 12 --days 60
fi

if [ "$profile" = release ]; then
    cargo build --release -q -p headroom-cli --manifest-path "$root/Cargo.toml"
else
    cargo build -q -p headroom-cli --manifest-path "$root/Cargo.toml"
fi
headroom=$target_dir/$profile/headroom
export CLAUDE_CONFIG_DIR=$data HEADROOM_HOME=$home NO_COLOR=1
export HEADROOM_ANTHROPIC_API=http://127.0.0.1:9 HEADROOM_CLAUDE_AI=http://127.0.0.1:9

if [ ! -f "$home/ledger.sqlite3" ]; then
    echo "ingesting the history once ..."
    "$headroom" daily --json >/dev/null
fi
echo "ledger: $(du -h "$home/ledger.sqlite3" | cut -f1), $(du -sh "$data/" | cut -f1) of transcripts ingested ($profile build)"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$work/metrics-serve.log
HEADROOM_LOG=debug "$headroom" serve --metrics "127.0.0.1:$port" >/dev/null 2>"$log" &
serve=$!
trap 'kill $serve 2>/dev/null || true' EXIT
url=http://127.0.0.1:$port/metrics
for _ in $(seq 1 600); do
    if curl -sf "$url" 2>/dev/null | grep -c "^headroom_local_tokens{" >/dev/null; then break; fi
    sleep 0.5
done
curl -sf "$url" | grep -c "^headroom_local_tokens{" >/dev/null || { echo "bench: serve never published (see $log)" >&2; exit 1; }
echo "page: $(curl -sf "$url" | wc -l) lines, $(curl -sf "$url" | wc -c) bytes"

times=$work/metrics-times.txt
: >"$times"
for _ in $(seq 1 "$requests"); do
    curl -s -o /dev/null -w '%{time_total}\n' "$url" >>"$times"
done
sort -n "$times" | awk -v n="$requests" '
    { t[NR] = $1 * 1000 }
    END {
        printf "/metrics over %d scrapes: median %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
            n, t[int(n * 0.5)], t[int(n * 0.9)], t[int(n * 0.99)], t[n]
    }'
builds=$(grep -o 'metrics frame built in [0-9.]* ms' "$log" | awk '{ print $5 }' | sort -n)
if [ -n "$builds" ]; then
    n=$(echo "$builds" | wc -l)
    echo "frame builds (round, scrape-triggered refreshes): $n, median $(echo "$builds" | sed -n "$(( (n + 1) / 2 ))p") ms, max $(echo "$builds" | tail -1) ms"
else
    echo "frame: no build logged"
fi
rss=$(awk '/VmRSS/ { print $2 }' /proc/$serve/status)
echo "serve: ${rss} KiB resident"
