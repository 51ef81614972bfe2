#!/usr/bin/env bash
# Builds the installable bundles with the `headroom` CLI inside: Tauri's `externalBin` sidecar
# (src-tauri/tauri.bundle.conf.json), which the bundler installs beside the tray app, where the
# pane's "Install statusline" looks for it (src-tauri/src/cli_path.rs).
#
# The sidecar is named in a config merged for bundling only (`--config`): tauri-build copies
# every externalBin at build time and fails when one is missing, so naming it in tauri.conf.json
# would break every plain `cargo build` of the app.
#
# Usage: bash scripts/bundle.sh BUNDLES [TARGET]   e.g. deb,appimage; msi,nsis; dmg
# Needs the Tauri CLI (`cargo install tauri-cli`, the version .github/workflows/ci.yml pins).
set -euo pipefail
cd "$(dirname "$0")/.."
bundles=${1:?usage: bundle.sh BUNDLES [TARGET]}
target=${2:-$(rustc -vV | sed -n 's/^host: //p')}
target_dir=${CARGO_TARGET_DIR:-target}

echo "== the CLI, release build for $target"
cargo build --release --locked -p headroom-cli --bin headroom --target "$target"
exe=""
case "$target" in *windows*) exe=.exe ;; esac
# The name Tauri expects: the binary's name, the target triple, the platform's extension.
mkdir -p src-tauri/binaries
cp "$target_dir/$target/release/headroom$exe" "src-tauri/binaries/headroom-$target$exe"

echo "== the app and its bundles ($bundles)"
cd src-tauri
cargo tauri build --config tauri.bundle.conf.json --target "$target" --bundles "$bundles"
