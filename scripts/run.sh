#!/usr/bin/env bash
# The one run command: set-up, build, start Headroom.
# With a display: the tray app. Without one (a server, an SSH session): the CLI's daily report.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
bash scripts/setup.sh
if [ -d src-tauri ] && { [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; }; then
    cargo build --release --locked -p headroom-app
    exec "$target"/release/headroom-app "$@"
fi
if [ -d src-tauri ]; then
    echo "run: no display (DISPLAY/WAYLAND_DISPLAY unset): showing the CLI instead; see 'headroom watch' for alerts without a tray" >&2
fi
cargo build --release --locked -p headroom-cli
exec "$target"/release/headroom "${@:-daily}"
