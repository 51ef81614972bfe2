#!/usr/bin/env bash
# The tests again at the two hours that catch a clock-dependent expectation: 23:30 (a reset
# three hours ahead falls "tomorrow") and 00:30 (the last hour's transcript lines fall
# "yesterday"), with the wall clock faked by Debian's libfaketime. The children the tests
# start (the CLI, the tray app, the webview) inherit the faked clock, so the app, the loopback
# servers and the expectations all agree on one clock. A third run puts the same tests in a zone
# east of UTC at its local 00:30.
#
# Every package whose behaviour reads the wall clock runs at each hour: the core (windows,
# days, resets), the service (the round: wake-ups, resets, `next_wake`), the metrics (sample
# times), the CLI, the tray app and the cross-crate tests. headroom-notify and
# headroom-keychain never read the wall clock (a grep for chrono/SystemTime finds nothing), so
# they run once, in the plain run.
#
# Only the test binaries run faked (cargo's target runner, scripts/clock-runner.sh): cargo and
# rustc hang under libfaketime, so everything is built first and the tests find the built
# binaries through HEADROOM_BIN / HEADROOM_APP_BIN instead of calling cargo.
#
# Usage: bash scripts/test-clock.sh [--no-gui]    (scripts/test.sh calls it)
set -euo pipefail
cd "$(dirname "$0")/.."

gui=1
[ "${1:-}" = "--no-gui" ] && gui=0

if ! command -v faketime >/dev/null; then
    echo "test-clock: faketime is missing; run scripts/setup.sh" >&2
    exit 2
fi

target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac

echo "== build for the clock runs"
# The whole workspace, as the final test run builds it (one feature resolution, so nothing is
# built twice); it builds the two binaries too, for their packages' integration tests.
cargo nextest run --workspace --locked --no-run

export HEADROOM_BIN="$target/debug/headroom"
export HEADROOM_APP_BIN="$target/debug/headroom-app"
# Cargo reads the runner of the host's own target triple, so it is set for that triple: set for
# another one, the runs below would use the real clock and pass without proving anything.
host=$(rustc -vV | sed -n 's/^host: //p')
case "$host" in
    x86_64-unknown-linux-gnu | aarch64-unknown-linux-gnu) ;;
    *)
        echo "test-clock: no faked clock for host $host (libfaketime runs on x86_64 and aarch64 Linux)" >&2
        exit 2
        ;;
esac
runner_var="CARGO_TARGET_$(echo "$host" | tr 'a-z-' 'A-Z_')_RUNNER"
export "$runner_var=$PWD/scripts/clock-runner.sh"

packages='package(headroom-tests) | package(headroom-app) | package(headroom-core) | package(headroom-cli) | package(headroom-service) | package(headroom-metrics)'

# The date is today's, whatever the real hour: only the time of day matters here.
today=$(date -u +%F)
tomorrow=$(date -u -d "$today + 1 day" +%F)

# The runner really moves the clock (a libfaketime that loads but does nothing would make every
# run below a plain one).
seen=$(HEADROOM_FAKETIME="$today 23:30:00 UTC" TZ=UTC bash scripts/clock-runner.sh date -u +%H:%M)
if [ "$seen" != "23:30" ]; then
    echo "test-clock: the faked clock reads $seen, not 23:30; libfaketime is not working here" >&2
    exit 1
fi

for at in "$today 23:30:00 UTC" "$tomorrow 00:30:00 UTC"; do
    echo "== core, service, metrics, CLI, app and cross-crate tests with the clock at $at"
    HEADROOM_FAKETIME="$at" TZ=UTC cargo nextest run --workspace --locked --no-fail-fast \
        -E "$packages"
    if [ "$gui" = 1 ]; then
        echo "== desktop tests with the clock at $at"
        HEADROOM_FAKETIME="$at" TZ=UTC bash scripts/ci-gui.sh
    fi
done

echo "== the same tests at 00:30 in Asia/Kathmandu (UTC+05:45)"
HEADROOM_FAKETIME="$tomorrow 00:30:00 +0545" TZ=Asia/Kathmandu \
    cargo nextest run --workspace --locked --no-fail-fast \
    -E "$packages"
