#!/usr/bin/env bash
# The desktop tests, as CI runs them: a real X display (Xvfb), a real D-Bus session bus, the
# real webview driven over WebDriver (tauri-driver + Debian's WebKitWebDriver).
# Re-runs itself inside `xvfb-run ... dbus-run-session` when not already there, so
# `bash scripts/ci-gui.sh` is all anyone types. Screenshots and logs: target/gui-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${HEADROOM_GUI_SESSION:-}" ]; then
    exec env HEADROOM_GUI_SESSION=1 xvfb-run -a -s "-screen 0 1280x800x24" \
        dbus-run-session -- bash "$0" "$@"
fi

for tool in tauri-driver WebKitWebDriver; do
    if ! command -v "$tool" >/dev/null; then
        echo "ci-gui: $tool is missing; run scripts/setup.sh" >&2
        exit 2
    fi
done

target="${CARGO_TARGET_DIR:-target}"
# Absolute: the tests run with their package folder (tests/) as the working directory.
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
export HEADROOM_ARTIFACTS="${HEADROOM_ARTIFACTS:-$PWD/target/gui-artifacts}"
mkdir -p "$HEADROOM_ARTIFACTS"

echo "== build the tray app"
cargo build -p headroom-app --bin headroom-app --locked
export HEADROOM_APP_BIN="$target/debug/headroom-app"

echo "== settings pane in the real webview"
# The tests are #[ignore]d in plain runs (they need this session); here they are the only ones
# run: the pane (settings_webdriver) and Extra Usage written from it (extra_usage_webdriver).
# They share one session bus (one dbus-run-session). The tray app is single-instance per bus,
# but these tests start it with `--settings` (the settings window alone), which skips that
# check, so an app a previous test left behind cannot swallow the next launch.
# The benchmark in extra_usage_webdriver (bench_*) is scripts/bench-enable.sh's, not a test.
# One test binary (tests/tests/it): an area is picked by its module, `area::test`.
dbus-run-session -- cargo nextest run -p headroom-tests --run-ignored only --locked --test-threads 1 \
    -E '(test(/^settings_webdriver::/) | test(/^extra_usage_webdriver::/)) & not test(/::bench_/)' \
    --no-fail-fast --success-output immediate

echo "== tray over D-Bus (StatusNotifierItem, dbusmenu)"
# Its own tray host in this session: the test starts status-notifier-watcher if none runs.
# One test at a time: the tray app is single-instance per bus, and each test quits its own.
dbus-run-session -- cargo nextest run -p headroom-tests --run-ignored only --locked \
    -E 'test(/^tray_dbus::/)' --test-threads 1 \
    --no-fail-fast --success-output immediate

echo "== tray faults, no tray host, first launch (each test on a bus of its own)"
cargo nextest run -p headroom-tests --run-ignored only --locked -E 'test(/^tray_desktop::/)' \
    --no-fail-fast --success-output immediate --test-threads 2
