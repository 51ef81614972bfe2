#!/usr/bin/env bash
# Installs what building and testing Headroom needs on a fresh Debian/Ubuntu machine.
# Idempotent and quick when everything is there already. Run as root or with sudo available.
set -euo pipefail

# System libraries for the tray app (WebKitGTK, appindicator), and the tools its tests use:
# a virtual display, a session bus, a tray host, a notification server, the WebKit
# WebDriver, screenshots, timing. The core and the CLI need none of them.
packages=(
    build-essential pkg-config libssl-dev
    libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev
    xvfb xauth dbus-x11 dbus webkit2gtk-driver imagemagick
    haskell-status-notifier-item-utils dunst
    python3 hyperfine time sqlite3 curl
    # scripts/test-clock.sh runs the tests again with the wall clock at 23:30 and 00:30.
    faketime
    # The keychain crate links libdbus (Secret Service); its tests run a real gnome-keyring.
    libdbus-1-dev gnome-keyring
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
    echo "setup: Rust is missing; install it with rustup (https://rustup.rs) and run this again" >&2
    exit 2
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
if ! command -v cargo-nextest >/dev/null; then
    cargo install cargo-nextest --locked
fi
# The WebDriver bridge for the settings pane's end-to-end test (2.1.x; not the 3.0 alphas).
if ! command -v tauri-driver >/dev/null; then
    cargo install tauri-driver --version "^2.1" --locked
fi
# The fuzzing targets (scripts/fuzz.sh) need cargo-fuzz and a nightly toolchain; without
# nightly they are skipped, so cargo-fuzz is not installed either.
if rustup toolchain list 2>/dev/null | grep -q '^nightly' && ! command -v cargo-fuzz >/dev/null; then
    cargo install cargo-fuzz --locked
fi
