# shellcheck shell=bash disable=SC2034  # sourced: the variables are used by the scripts that source it
# Sourced by scripts/setup-xbuild.sh, test-windows.sh and check-macos.sh: where the cross-build
# tools live and the environment that points cargo at them. Nothing here is inside the clone:
# the tools and the Windows/macOS target folders are kept in a cache folder, so a later run on
# the same machine is incremental.
#
# The toolchain is Debian's rustc-web (bookworm-security), unpacked, not installed: rustup
# cannot download other targets' std on a machine that reaches only the package registries,
# so std is built from the same package's source with -Zbuild-std (RUSTC_BOOTSTRAP=1 lets that
# stable compiler take -Z flags).

XBUILD_HOME=${HEADROOM_XBUILD_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/headroom-xbuild}
XBUILD_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The unpacked toolchain (setup-xbuild.sh points this link at rust-web-<version>).
RUST_WEB=$XBUILD_HOME/rust-web
ZIG_VERSION=0.17.1
ZIG_HOME=$XBUILD_HOME/zig-$ZIG_VERSION
export WINEPREFIX=$XBUILD_HOME/wine-prefix
# One target folder for both targets, so that they share the build scripts and proc macros
# (built for the host once). It is not the clone's target/: those are built with rustup's
# toolchain, these with Debian's, so nothing in target/ could be reused anyway.
XBUILD_TARGET=$XBUILD_HOME/target

xbuild_env() {
    export PATH=$RUST_WEB/usr/bin:$PATH
    # librustc_driver: Debian's build has no rpath.
    export LD_LIBRARY_PATH=$RUST_WEB/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export RUSTC_BOOTSTRAP=1
    # rustup's proxies would pick rustup's toolchain for a rust-toolchain file or this variable.
    unset RUSTUP_TOOLCHAIN
    export RUSTC=$RUST_WEB/usr/bin/rustc CARGO=$RUST_WEB/usr/bin/cargo
    export CLIPPY_DRIVER=$RUST_WEB/usr/bin/clippy-driver
    # Windows: link with mingw-w64; C code of build scripts (ring, the bundled SQLite) with its gcc.
    export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
    export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=$XBUILD_SCRIPTS/wine-runner
    export CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc
    export CXX_x86_64_pc_windows_gnu=x86_64-w64-mingw32-g++
    export AR_x86_64_pc_windows_gnu=x86_64-w64-mingw32-ar
    # macOS: zig's clang with its macOS libc headers (no SDK frameworks; check only).
    export ZIG=$ZIG_HOME/ziglang/zig
    export CC_aarch64_apple_darwin=$XBUILD_SCRIPTS/zigcc-aarch64-macos
    export CXX_aarch64_apple_darwin=$XBUILD_SCRIPTS/zigcxx-aarch64-macos
    export AR_aarch64_apple_darwin=$XBUILD_SCRIPTS/zigar
    # Incremental compilation of the workspace's crates: the whole point of the cache folder.
    export CARGO_INCREMENTAL=1
    # No debug info in the cross builds: nobody debugs them here, and it is most of their
    # link time and of their size on disk (panics still name file and line).
    export CARGO_PROFILE_DEV_DEBUG=0
}

# A Linux path as Wine's Z: drive sees it.
wine_path() { printf 'Z:%s' "${1//\//\\}"; }
