#!/usr/bin/env bash
# Windows (x86_64-pc-windows-gnu), cross-built on this Linux machine: the whole workspace built
# and linted with `clippy -D warnings`; the tests of the core, the metrics, the notifications,
# the service and the CLI run under Wine; `headroom.exe` run on a generated Claude folder and
# its reports compared, byte for byte, with the Linux build's. scripts/test.sh calls it;
# scripts/setup-xbuild.sh installs what it needs. What this proves and what it cannot:
# docs/platforms.md.
#
# The target folder is outside the clone (scripts/xbuild/env.sh): a later run on the same
# machine is incremental.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-xbuild.sh
# The Linux build of the CLI, to compare the Windows build's reports with (rustup's toolchain,
# the clone's target folder: before the cross-build environment is set).
cargo build -p headroom-cli --bin headroom --locked -q
linux_target=${CARGO_TARGET_DIR:-target}
case "$linux_target" in /*) ;; *) linux_target=$PWD/$linux_target ;; esac
linux_headroom=$linux_target/debug/headroom

# shellcheck source=scripts/xbuild/env.sh
source scripts/xbuild/env.sh
xbuild_env
target=x86_64-pc-windows-gnu
export CARGO_TARGET_DIR=$XBUILD_TARGET
# For the Wine runner (scripts/xbuild/wine-runner): insta's workspace, WebView2Loader.dll.
export XBUILD_WORKSPACE=$PWD
export XBUILD_WINE_DLL_DIR=$CARGO_TARGET_DIR/$target/debug
# The in-process tests compare clock times in UTC; Wine takes the zone from TZ.
export TZ=UTC

xcargo() {
    local command=$1
    shift
    cargo "$command" -Zbuild-std --target "$target" --locked "$@"
}

step() { echo "== Windows: $* ($(date -u +%T))"; }

# Built and linted in one pass: clippy's driver compiles the workspace's crates (cargo's
# RUSTC_WORKSPACE_WRAPPER, as `cargo clippy` sets it, but for a build), and `-D warnings` turns
# every warning, rustc's and clippy's, into an error. A separate `cargo clippy` would check
# every dependency a second time (4.5 min cold on 2 cores). Dependencies are capped by cargo
# (`--cap-lints allow`), std included. Every cargo command below uses the same flags, so the
# tests reuse what this builds.
export RUSTC_WORKSPACE_WRAPPER=$CLIPPY_DRIVER
export RUSTFLAGS="-D warnings"

step "build and clippy -D warnings: the workspace, every target (the tray app included)"
xcargo build --workspace --all-targets

step "tests under Wine: core, metrics, notify, service, CLI"
# One Wine server for the whole run: starting it for each test binary costs seconds.
WINEDEBUG=-all /usr/lib/wine/wineserver -p 60 || true
wine_test() {
    # A bound on each run, so that a hang fails it instead of holding CI up.
    timeout "$1" cargo test -Zbuild-std --target "$target" --locked --no-fail-fast "${@:2}"
}
# Every test of these crates runs, except the ones below (each named, with its reason).
# No doc tests (`--lib --bins --tests`): cargo would compile them with rustdoc for the target,
# against the sysroot's std, which has no Windows std (it is built by -Zbuild-std).
wine_test 900 -p headroom-core -p headroom-metrics -p headroom-notify -p headroom-cli \
    --lib --bins --tests -- --test-threads=2 --skip cli::watch_reads_appended_lines_as_claude_code_writes_them
wine_test 300 -p headroom-service --lib -- --test-threads=2

# Not yet shown to pass under Wine: run, reported, not counted. Each was seen to hang there
# (the cross-build spike of 2026-12-07, ../shared/platforms/xbuild-spike.md):
# - headroom-service's integration tests (tests/it, all 7): the cause is not proved yet; see
#   docs/platforms.md, "Under Wine".
# - cli::watch_reads_appended_lines_as_claude_code_writes_them: it stopped the watch with a
#   `kill` program that Wine does not have and ignored the failure, then waited for ever;
#   now it ends the watch itself off Unix, but no Wine run has shown it passing yet.
# When a run prints "passes under Wine" for one of them, move it up into the runs above.
probe() {
    local name=$1
    shift
    if wine_test "$@" >"$probe_log" 2>&1; then
        echo "test-windows: $name passes under Wine"
    else
        echo "test-windows: $name still fails or hangs under Wine (not counted); its last lines:"
        tail -n 15 "$probe_log" | sed 's/^/    /'
    fi
}
probe_log=$(mktemp)
trap 'rm -f "$probe_log"' EXIT
step "tests not yet shown to pass under Wine (reported, not counted)"
probe "headroom-service tests/it" 180 -p headroom-service --test it -- --test-threads=2
probe "the CLI's watch test" 90 -p headroom-cli --test it -- --exact cli::watch_reads_appended_lines_as_claude_code_writes_them

step "headroom.exe on a generated Claude folder, against the Linux build"
bash scripts/xbuild/compare-cli.sh "$linux_headroom" "$CARGO_TARGET_DIR/$target/debug/headroom.exe"
