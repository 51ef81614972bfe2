#!/usr/bin/env bash
# The ledger contention test at full size: a cold ingest of 1 GB of generated transcripts in one
# process, `headroom daily --json` in a second and 100 `headroom statusline` calls in a third,
# on a release build (see crates/headroom-cli/tests/it/contention.rs for what it checks).
#
#   scripts/contention.sh             # 1000 MB
#   SIZE_MB=300 scripts/contention.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
shared=${SHARED_DIR:-$root/../shared}
export HEADROOM_BENCH_GEN=${HEADROOM_BENCH_GEN:-$shared/bench/gen_claude_logs.py}
export HEADROOM_CONTENTION_MB=${SIZE_MB:-1000}
[ -f "$HEADROOM_BENCH_GEN" ] || { echo "contention: no generator at $HEADROOM_BENCH_GEN (set SHARED_DIR or HEADROOM_BENCH_GEN)" >&2; exit 2; }
cargo test --release -p headroom-cli --manifest-path "$root/Cargo.toml" --test it contention:: -- --nocapture
