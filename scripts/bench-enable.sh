#!/usr/bin/env bash
# Benchmark: from the trap notification's "Enable Extra Usage" to the account's confirmation
# on screen (the budget: under ten seconds). Each round starts the settings window at the Extra
# Usage section as the notification's action does, types a $50 cap, flips the switch,
# confirms, and waits for the verified result, against a loopback account. Needs what
# scripts/ci-gui.sh needs (run scripts/setup.sh first). BENCH_ROUNDS=N (default 5).
# Results: stderr and target/gui-artifacts/bench-enable.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${HEADROOM_GUI_SESSION:-}" ]; then
    exec env HEADROOM_GUI_SESSION=1 xvfb-run -a -s "-screen 0 1280x800x24" \
        dbus-run-session -- bash "$0" "$@"
fi

target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
export HEADROOM_ARTIFACTS="${HEADROOM_ARTIFACTS:-$PWD/target/gui-artifacts}"
mkdir -p "$HEADROOM_ARTIFACTS"

profile="${BENCH_PROFILE:-debug}"
if [ "$profile" = release ]; then
    cargo build -p headroom-app --bin headroom-app --release --locked
else
    cargo build -p headroom-app --bin headroom-app --locked
fi
export HEADROOM_APP_BIN="$target/$profile/headroom-app"
echo "bench-enable: $profile app, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
cargo nextest run -p headroom-tests --run-ignored only --locked \
    -E 'test(/^extra_usage_webdriver::bench_/)' --no-capture
echo "bench-enable: load after $(cut -d' ' -f1-3 /proc/loadavg)" >&2
