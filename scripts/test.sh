#!/usr/bin/env bash
# The one test command: set-up, formatting, lints, every Rust test, then the desktop tests
# (real window under Xvfb, real D-Bus), the clock runs and fuzzing. Used by CI as is.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

echo "== rustfmt"
cargo fmt --all -- --check
echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== docs"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked -q
echo "== workflows (actionlint; the macOS and Windows jobs cannot run here)"
actionlint
echo "== the settings pane's generated types and its type check"
bash scripts/check-ui.sh

# Always: a lost executable bit (a Windows checkout, core.fileMode=false) must not skip them.
echo "== desktop tests (Xvfb, D-Bus, WebDriver)"
bash scripts/ci-gui.sh

echo "== the clock-sensitive tests at 23:30 and 00:30 (faketime)"
bash scripts/test-clock.sh

echo "== fuzzing (FUZZ_SECONDS each target)"
bash scripts/fuzz.sh

# Windows (scripts/test-windows.sh) and macOS (scripts/check-macos.sh) are not run here yet:
# no run of them has finished within CI's 90-minute budget on this machine kind (their first
# cold run was measured only under heavy load). Run them by hand; docs/platforms.md.

echo "== tests"
# Last, so that nextest's summary closes the output.
cargo nextest run --workspace --locked --no-fail-fast
