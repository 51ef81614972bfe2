#!/usr/bin/env bash
# The one test command: set-up, formatting, lints, every Rust test, then the desktop tests
# (real window under Xvfb, real D-Bus) when their script exists. Used by CI as is.
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

if [ -x scripts/ci-gui.sh ]; then
    echo "== desktop tests (Xvfb, D-Bus, WebDriver)"
    bash scripts/ci-gui.sh
fi

echo "== the clock-sensitive tests at 23:30 and 00:30 (faketime)"
bash scripts/test-clock.sh

echo "== fuzzing (FUZZ_SECONDS each target)"
bash scripts/fuzz.sh

echo "== Windows: cross-built and linted, tests under Wine (scripts/test-windows.sh)"
bash scripts/test-windows.sh

echo "== macOS: type-checked and linted (scripts/check-macos.sh)"
bash scripts/check-macos.sh

echo "== tests"
# Last, so that nextest's summary closes the output.
cargo nextest run --workspace --locked --no-fail-fast
