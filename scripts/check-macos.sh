#!/usr/bin/env bash
# macOS (aarch64-apple-darwin), type-checked on this Linux machine: `cargo check` and
# `clippy -D warnings` of every target of every crate, std included. It proves the types, the
# cfg(target_os = "macos") paths and the lints; it cannot link (no Apple SDK here), so the
# Keychain, notifications and the tray at run time are the GitHub macOS runner's to prove
# (docs/platforms.md). Run by hand (not yet in scripts/test.sh); it runs scripts/setup-xbuild.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-xbuild.sh
# shellcheck source=scripts/xbuild/env.sh
source scripts/xbuild/env.sh
xbuild_env
export CARGO_TARGET_DIR=$XBUILD_TARGET
target=aarch64-apple-darwin

echo "== macOS: clippy -D warnings, every target of every crate ($(date -u +%T))"
# clippy checks everything `cargo check` does (the same compiler front end), and more.
cargo clippy -Zbuild-std --target "$target" --locked --workspace --all-targets -- -D warnings
