#!/usr/bin/env bash
# What serving /metrics costs the tray (issue 17: under 1 MiB of memory, no measurable idle
# CPU): the release tray measured by scripts/measure-tray-idle.sh with the exporter off, on
# (nobody scraping: idle) and scraped every 15 s, in turn, twice each, in one run, so that the
# rows share the machine's state. The sampler's own python process is outside the tree.
# Usage: bash scripts/bench-tray-metrics.sh [SETTLE_S] [MEASURE_S]
set -euo pipefail
cd "$(dirname "$0")/.."
for round in 1 2; do
    for mode in off on scraped; do
        HEADROOM_MEASURE_METRICS=$mode HEADROOM_MEASURE_ONLY_FRESH=1 \
            bash scripts/measure-tray-idle.sh "${1:-20}" "${2:-60}" | sed "s/^/round $round: /"
    done
done
