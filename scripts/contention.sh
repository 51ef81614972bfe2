#!/usr/bin/env bash
# The ledger contention test at full size: a cold ingest of 1 GB of generated transcripts in one
# process, `headroom daily --json` in a second and 100 `headroom statusline` calls in a third,
# on a release build (see crates/headroom-cli/tests/it/contention.rs for what it checks).
#
#   scripts/contention.sh             # 1000 MB
#   SIZE_MB=300 scripts/contention.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# The test's own generator (tests/gen/bulk_transcripts.py) unless HEADROOM_BENCH_GEN names another.
export HEADROOM_CONTENTION_MB=${SIZE_MB:-1000}
cargo test --release -p headroom-cli --manifest-path "$root/Cargo.toml" --test it contention:: -- --nocapture
